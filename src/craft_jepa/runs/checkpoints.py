"""Crash-safe checkpoints: atomic writes, latest + every N + keep last K + best.

A checkpoint is written to a temporary file in the same folder, flushed and fsync'ed,
then renamed over the target with `os.replace` (atomic on POSIX), and the folder is
fsync'ed. A crash at any point leaves either the old or the new file, never a torn one.
A failed write (full disk) removes the temporary file, keeps the previous checkpoint,
and raises an `OSError` that says so.

Checkpoints hold only weights-only-safe values (tensors, numbers, strings, lists,
dicts) and are loaded with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import errno
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from craft_jepa.configuration import require_range
from craft_jepa.runs.layout import BEST, LATEST, step_file_name

# Test hook: seconds to sleep between the temporary write and the rename, so a test can
# SIGKILL the process in the middle of a checkpoint write.
SLEEP_BEFORE_RENAME_ENV = "CRAFT_JEPA_TEST_CKPT_SLEEP"

_STEP_FILE = re.compile(r"^step_(\d{8})\.pt$")
_TMP_MARK = ".tmp-"


@dataclass
class CheckpointConfig:
    latest_every: int = 100  # optimizer steps between rewrites of latest.pt
    every: int = 1000  # a step_XXXXXXXX.pt is kept every N optimizer steps (0: never)
    keep_last: int = 3  # how many step_XXXXXXXX.pt files to keep (0: all)
    keep_best: bool = True  # best.pt tracks the lowest validation loss
    resume: bool = True  # resume from RUN_DIR/checkpoints/latest.pt when it exists

    def __post_init__(self) -> None:
        require_range("latest_every", self.latest_every, at_least=1)
        require_range("every", self.every, at_least=0)
        require_range("keep_last", self.keep_last, at_least=0)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some filesystems do not allow opening folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """torch.save to `path` atomically (temp file + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{_TMP_MARK}{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        delay = float(os.environ.get(SLEEP_BEFORE_RENAME_ENV, "0") or 0)
        if delay > 0:
            time.sleep(delay)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        reason = os.strerror(err.errno) if err.errno else str(err)
        hint = " (disk full?)" if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        raise OSError(
            err.errno,
            f"writing checkpoint {path} failed: {reason}{hint}; the previous checkpoint "
            f"at that path is unchanged",
        ) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _atomic_link(source: Path, target: Path) -> None:
    """Make `target` a second name of the finished file `source`, atomically."""
    tmp = target.with_name(f"{target.name}{_TMP_MARK}{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        # No hard links on this filesystem: copy the bytes instead.
        atomic_torch_save(torch.load(source, map_location="cpu", weights_only=True), target)
        return
    os.replace(tmp, target)
    _fsync_dir(target.parent)


class CheckpointManager:
    """Owns RUN_DIR/checkpoints: writes, prunes and finds checkpoints (rank 0 only)."""

    def __init__(self, folder: str | os.PathLike[str], cfg: CheckpointConfig) -> None:
        self.folder = Path(folder)
        self.cfg = cfg

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temp files left by a writer that was killed mid-write."""
        if not self.folder.is_dir():
            return []
        stale = [p for p in self.folder.iterdir() if _TMP_MARK in p.name]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def step_files(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _STEP_FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save(self, state: dict[str, Any], step: int, *, best: bool = False) -> Path:
        """Write latest.pt; also step_XXXXXXXX.pt every `cfg.every` steps and best.pt."""
        latest = self.folder / LATEST
        atomic_torch_save(state, latest)
        if self.cfg.every and step % self.cfg.every == 0:
            _atomic_link(latest, self.folder / step_file_name(step))
            self._prune()
        if best and self.cfg.keep_best:
            _atomic_link(latest, self.folder / BEST)
        return latest

    def save_best(self, state: dict[str, Any]) -> Path:
        """Write best.pt only (latest.pt stays on its own schedule)."""
        best = self.folder / BEST
        atomic_torch_save(state, best)
        return best

    def _prune(self) -> None:
        if self.cfg.keep_last == 0:
            return
        for _, path in self.step_files()[: -self.cfg.keep_last]:
            path.unlink(missing_ok=True)

    def resume_path(self) -> Path | None:
        """latest.pt, or the newest readable step file if latest.pt is missing."""
        latest = self.folder / LATEST
        if latest.is_file():
            return latest
        steps = self.step_files()
        return steps[-1][1] if steps else None


def load_checkpoint(path: str | os.PathLike[str], *, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint dict with weights_only=True (no code runs while loading).

    mmap=True maps the file instead of reading it: only the tensors a caller touches are paged
    in (the predictor of an export, not the optimizer state; one file shared by 8 ranks)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # a torn or foreign file: say which one
        raise RuntimeError(f"cannot load checkpoint {path}: {err}") from err
    if not isinstance(state, dict):
        raise RuntimeError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state


def require_keys(state: dict[str, Any], keys: list[str], path: str | os.PathLike[str]) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise RuntimeError(f"checkpoint {path} lacks {missing}; it is not a craft-jepa checkpoint")


def warn_stale(stale: list[Path]) -> None:
    if stale:
        names = ", ".join(p.name for p in stale)
        warnings.warn(f"removed unfinished checkpoint writes: {names}", stacklevel=2)
