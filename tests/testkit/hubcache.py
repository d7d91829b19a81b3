"""Write files into a Hugging Face hub cache exactly as huggingface_hub lays it out.

    CACHE/models--ORG--NAME/blobs/<sha256 of the file>
    CACHE/models--ORG--NAME/snapshots/<commit>/<path in repo> -> ../../blobs/<sha256> (relative link)
    CACHE/models--ORG--NAME/refs/<branch or tag>                (holds the commit hash)

Tests then resolve through huggingface_hub's own `snapshot_download` / `hf_hub_download`
with `local_files_only` or HF_HUB_OFFLINE, as a user's machine would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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


# Our (Meta) encoder keys -> transformers' VJEPA2Model keys: the inverse of encoders/checkpoint.py's
# table, written out so a Hub snapshot in transformers' layout can be made without transformers.
TO_HF = ((r"patch_embed\.proj\.(weight|bias)", r"encoder.embeddings.patch_embeddings.proj.\1"),
         (r"blocks\.(\d+)\.norm1\.(weight|bias)", r"encoder.layer.\1.norm1.\2"),
         (r"blocks\.(\d+)\.norm2\.(weight|bias)", r"encoder.layer.\1.norm2.\2"),
         (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"encoder.layer.\1.attention.proj.\2"),
         (r"blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", r"encoder.layer.\1.mlp.fc1.\2"),
         (r"blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", r"encoder.layer.\1.mlp.fc2.\2"),
         (r"norm\.(weight|bias)", r"encoder.layernorm.\1"))


def hf_snapshot_files(encoder, tmp: Path) -> dict[str, Path]:
    """config.json + model.safetensors of `encoder` in transformers' VJEPA2Model layout."""
    from safetensors.torch import save_file

    state = {}
    for key, value in encoder.encoder.state_dict().items():
        qkv = re.fullmatch(r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", key)
        if qkv:
            for name, part in zip(("query", "key", "value"), value.chunk(3, dim=0)):
                state[f"encoder.layer.{qkv[1]}.attention.{name}.{qkv[2]}"] = part.contiguous()
            continue
        for pattern, template in TO_HF:
            if re.fullmatch(pattern, key):
                state[re.sub(pattern, template, key)] = value.contiguous()
                break
        else:
            raise AssertionError(f"no transformers name for {key}")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(state, str(tmp / "model.safetensors"))
    spec = encoder.encoder.spec
    (tmp / "config.json").write_text(json.dumps({
        "model_type": "vjepa2", "hidden_size": spec.dim, "num_hidden_layers": spec.depth,
        "num_attention_heads": spec.heads, "patch_size": spec.patch_size, "tubelet_size": spec.tubelet_size}))
    return {"config.json": tmp / "config.json", "model.safetensors": tmp / "model.safetensors",
            "README.md": b"# a V-JEPA 2 stand-in\n"}
