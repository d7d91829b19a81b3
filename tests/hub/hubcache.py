"""Write files into a Hugging Face hub cache exactly as huggingface_hub lays it out.

    CACHE/models--ORG--NAME/blobs/<sha256 of the file>
    CACHE/models--ORG--NAME/snapshots/<commit>/<path in repo> -> ../../blobs/<sha256> (relative link)
    CACHE/models--ORG--NAME/refs/<branch or tag>                (holds the commit hash)

Tests then resolve through huggingface_hub's own `snapshot_download` / `hf_hub_download`
with `local_files_only` or HF_HUB_OFFLINE, as a user's machine would.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def commit_hash(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()  # 40 hex digits, like a git commit


def write_hub_cache(cache: str | os.PathLike[str], repo_id: str, files: dict[str, bytes | Path] | Path, *,
                    refs: tuple[str, ...] = ("main",), commit: str | None = None) -> Path:
    """Put `files` (repo path -> bytes or a file to copy; or a folder, copied whole) into the cache
    as one commit of `repo_id`, named by `refs`; -> the snapshot folder."""
    if isinstance(files, Path):
        folder = files
        files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    commit = commit or commit_hash(repo_id + "".join(sorted(files)))
    storage = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (storage / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot
