"""Hugging Face Hub references: `hf://org/name[@revision][/path/in/repo]` and bare `org/name`.

Wherever craft-jepa reads weights or a model from a path (`encoder.checkpoint`,
`WorldModel.from_pretrained`, `craft-jepa eval|plan RUN_DIR`), it also takes a Hub repo id:

- `hf://org/name` is always a Hub reference: `@revision` picks a branch, tag or commit
  (default `main`); a path after the repo name picks one file of the repo
  (`hf://org/name@v1/weights/vitl.pt`), else the whole repo (a snapshot folder) is used.
- a bare `org/name` (or `org/name@revision`) is a Hub reference only when no file or folder of
  that name exists here: an existing local path always stays a path. It must look like a repo
  id (two parts of letters, digits, `-`, `_`, `.`) and not end in a weights suffix (`.pt`,
  `.safetensors`, ...), so that a mistyped local file is reported as a missing file.

Resolution goes through `huggingface_hub` (`snapshot_download` / `hf_hub_download`), so its cache
(`HF_HOME`, `HF_HUB_CACHE`), offline mode (`HF_HUB_OFFLINE=1`) and token (`HF_TOKEN`,
`hf auth login`) work as the user configured them. A reference that is not cached while offline
raises `HubNotFoundError` naming the repo, the revision and the command to run.

On a multi-process run (torch.distributed initialized), local rank 0 of each node downloads,
every rank waits for it (a collective that also carries its failure, so no rank hangs), then the
other ranks read the same files from the cache with `local_files_only`.

This module has no stage (like `configuration.py`): any stage may use it; it imports no other
craft-jepa module. `huggingface_hub` (and torch.distributed) are imported inside the functions that
use them: parsing a reference, which every config does, stays free of their import time.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch.distributed as dist

logger = logging.getLogger(__name__)

SCHEME = "hf://"
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"{_PART}/{_PART}")
_REVISION = re.compile(r"[A-Za-z0-9._-]+")
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".json", ".yaml", ".yml", ".tar")
# A local Hugging Face cache folder of a model repo: .../models--org--name/snapshots/<commit>
_CACHE_SNAPSHOT = re.compile(r"models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]([0-9a-f]{40})")


class HubNotFoundError(FileNotFoundError):
    """A Hub reference could not be resolved to local files (not cached offline, no such repo...)."""


@dataclass(frozen=True)
class HubRef:
    repo_id: str
    revision: str | None = None  # None: the default branch (main)
    filename: str | None = None  # one file of the repo; None: the whole repo
    bare: bool = field(default=False, compare=False)  # written as org/name, without hf://

    def __str__(self) -> str:
        text = SCHEME + self.repo_id
        if self.revision:
            text += f"@{self.revision}"
        if self.filename:
            text += f"/{self.filename}"
        return text

    def download_command(self) -> str:
        """The shell command that puts this reference into the cache."""
        parts = ["hf", "download", self.repo_id]
        if self.filename:
            parts.append(self.filename)
        if self.revision:
            parts += ["--revision", self.revision]
        return " ".join(parts)


def _split_revision(text: str, original: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    repo, revision = text.split("@", 1)
    if not _REVISION.fullmatch(revision):
        raise ValueError(f"{original!r}: bad revision {revision!r} (a branch, tag or commit: letters, digits, "
                         f"'-', '_', '.'; a revision with '/' is not supported)")
    return repo, revision


def parse_hub_ref(text: str | os.PathLike[str] | None, *, base: str | os.PathLike[str] | None = None,
                  allow_bare: bool = True) -> HubRef | None:
    """The Hub reference `text` names, or None when it is a local path (see the module docstring).

    `base`: the folder a relative local path would be relative to (default: the working
    directory); a bare `org/name` that exists there stays a path. Raises ValueError for a
    malformed `hf://` reference.
    """
    if text is None:
        return None
    text = os.fspath(text)
    if text.startswith(SCHEME):
        rest = text[len(SCHEME):]
        parts = rest.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{text!r}: a Hub reference is hf://ORG/NAME[@REVISION][/FILE]")
        name, revision = _split_revision(parts[1], text)
        repo_id = f"{parts[0]}/{name}"
        if not _REPO_ID.fullmatch(repo_id):
            raise ValueError(f"{text!r}: {repo_id!r} is not a Hugging Face repo id (ORG/NAME of letters, digits, "
                             f"'-', '_', '.')")
        filename = parts[2].strip("/") if len(parts) == 3 else None
        return HubRef(repo_id, revision, filename or None)
    if not allow_bare or "://" in text or text.startswith(("pipe:", "/", ".", "~")):
        return None
    candidate = Path(base) / text if base is not None else Path(text)
    if os.path.lexists(candidate):
        return None  # an existing local path always stays a path
    try:
        repo_id, revision = _split_revision(text, text)
    except ValueError:
        return None
    if not _REPO_ID.fullmatch(repo_id) or repo_id.lower().endswith(WEIGHT_SUFFIXES):
        return None
    return HubRef(repo_id, revision, bare=True)


def repo_id_of(text: str | os.PathLike[str] | None) -> str | None:
    """The repo id a reference or a local Hub-cache snapshot path points at, when there is one."""
    if text is None:
        return None
    try:
        ref = parse_hub_ref(text)
    except ValueError:
        return None
    if ref is not None:
        return ref.repo_id
    match = _CACHE_SNAPSHOT.search(os.fspath(text))
    return f"{match.group(1)}/{match.group(2)}" if match else None


def is_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (at its import)."""
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)
    return bool(check()) if callable(check) else bool(constants.HF_HUB_OFFLINE)


def download(ref: HubRef, local_files_only: bool = False) -> str:
    """Local path of `ref` (a snapshot folder, or one file in it), downloading when allowed."""
    import huggingface_hub

    if ref.filename:
        return huggingface_hub.hf_hub_download(ref.repo_id, ref.filename, revision=ref.revision,
                                               local_files_only=local_files_only)
    return huggingface_hub.snapshot_download(ref.repo_id, revision=ref.revision, local_files_only=local_files_only)


def _explain(ref: HubRef, err: Exception, what: str, local_files_only: bool) -> HubNotFoundError:
    from huggingface_hub import constants
    from huggingface_hub.utils import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    revision = ref.revision or "main"
    head = f"{what} {ref} (repo {ref.repo_id}, revision {revision})"
    if ref.bare:
        head += f" (no local path {ref.repo_id!r} exists here, so it was taken as a Hub repo id)"
    if isinstance(err, RevisionNotFoundError):
        return HubNotFoundError(f"{head}: the repo has no revision {revision!r} on the Hub")
    if isinstance(err, RepositoryNotFoundError):
        return HubNotFoundError(f"{head}: no such repo on the Hub, or it is private or gated and no valid token "
                                f"was sent (set HF_TOKEN or run `hf auth login`)")
    if isinstance(err, LocalEntryNotFoundError):
        if local_files_only:
            why = "this process may only read the cache (another process downloads)"
        elif is_offline():
            why = "HF_HUB_OFFLINE is set"
        else:
            why = "the Hub could not be reached"
        return HubNotFoundError(
            f"{head}: not in the Hugging Face cache {constants.HF_HUB_CACHE} and {why}. Run "
            f"`{ref.download_command()}` on a machine with network access (with the same HF_HOME), "
            f"or unset HF_HUB_OFFLINE to download it now. ({type(err).__name__}: {err})")
    return HubNotFoundError(f"{head}: {type(err).__name__}: {err}")


def _fetch(ref: HubRef, what: str, local_files_only: bool) -> str:
    from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return download(ref, local_files_only=local_files_only)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        raise _explain(ref, err, what, local_files_only) from None


def _distributed() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _all_gather(value: object) -> list:
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def resolve(ref: HubRef, what: str = "Hub reference") -> Path:
    """Local path of `ref`. Collective when torch.distributed is initialized (call it on every rank)."""
    if not _distributed():
        path = _fetch(ref, what, local_files_only=False)
        logger.info("%s %s -> %s", what, ref, path)
        return Path(path)

    rank = dist.get_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    path, error, failure = None, None, None
    if local_rank == 0:  # one download per node; the others wait for the cache
        try:
            path = _fetch(ref, what, local_files_only=False)
        except Exception as err:  # every rank must hear of it before anyone raises
            failure, error = err, str(err) if isinstance(err, HubNotFoundError) else f"{type(err).__name__}: {err}"
    failures = [e for e in _all_gather(error) if e]  # everyone waits here for the downloads
    if failures:
        if failure is not None:
            raise failure
        raise HubNotFoundError(f"rank {rank}: local rank 0 could not fetch {ref}: {failures[0]}")
    if path is None:
        try:
            path = _fetch(ref, what, local_files_only=True)
        except Exception as err:
            failure = err
            error = (f"rank {rank} (local rank {local_rank}) cannot read {ref} from its cache after its "
                     f"node's local rank 0 downloaded it (is LOCAL_RANK set, and HF_HOME the same for the "
                     f"node's processes?): {err}")
    failures = [e for e in _all_gather(error) if e]
    if failures:
        if failure is not None:
            raise HubNotFoundError(error) from failure
        raise HubNotFoundError(f"rank {rank}: another rank could not read {ref}: {failures[0]}")
    logger.info("%s %s -> %s", what, ref, path)
    return Path(path)


def local_path(text: str | os.PathLike[str], what: str = "path", *,
               base: str | os.PathLike[str] | None = None) -> str:
    """`text` itself when it is a local path, else the local files of the Hub reference it names."""
    ref = parse_hub_ref(text, base=base)
    return os.fspath(text) if ref is None else str(resolve(ref, what))


__all__ = ["HubNotFoundError", "HubRef", "download", "is_offline", "local_path", "parse_hub_ref", "repo_id_of",
           "resolve"]
