"""`data:` of a run config: where the shards are, batch size, workers, the action scaler file.

`resolve_shards(cfg)` expands the shard specs into (train urls, val urls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from craft_jepa.configuration import require_range
from craft_jepa.data.droid_config import DroidConfig, read_path_list
from craft_jepa.data.shards import expand_urls, split_train_val


@dataclass
class DataConfig:
    source: Literal["video", "features", "droid"] = "video"
    train_shards: str | list[str] = ""  # shard spec (glob, braces, dir, URL, list); droid: path-list file(s)
    val_shards: str | list[str] | None = None  # None: take val_fraction of train_shards
    val_fraction: float = 0.0
    batch_size: int = 8  # clips per GPU (per process) per micro-batch
    num_workers: int = 4
    shuffle_buffer_clips: int = 1000
    scaler: str | None = None  # ActionScaler JSON; None: fit on the training shards first
    scaler_fit_max_steps: int = 200_000  # budget for that fit (action steps read)
    chunk_steps: int | None = None  # data-stream reseed period; None: checkpoint.latest_every
    # Seconds to wait for one batch from the loader workers (video source) before failing: a
    # stalled `pipe:`/network read then stops the run instead of hanging it. Generous, because a
    # worker's first batch waits for its shuffle buffer to fill. 0 waits forever. (A worker that
    # dies or raises fails fast without it.)
    worker_timeout_s: float = 1800.0

    droid: DroidConfig = field(default_factory=DroidConfig)  # source droid only

    def __post_init__(self) -> None:
        if not self.train_shards:
            raise ValueError("train_shards is empty: set data.train_shards (e.g. ${VPT_DATA_PATH}/*.tar)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_shards is not None and self.val_fraction > 0:
            raise ValueError("set either val_shards or val_fraction, not both")
        require_range("batch_size", self.batch_size, at_least=1)
        require_range("num_workers", self.num_workers, at_least=0)
        require_range("shuffle_buffer_clips", self.shuffle_buffer_clips, at_least=0)
        require_range("scaler_fit_max_steps", self.scaler_fit_max_steps, at_least=1)
        if self.chunk_steps is not None and self.chunk_steps < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {self.chunk_steps}")
        if not math.isfinite(self.worker_timeout_s):
            raise ValueError(f"worker_timeout_s must be a finite number (0 = wait forever), got {self.worker_timeout_s}")
        require_range("worker_timeout_s", self.worker_timeout_s, at_least=0, note=" (0 = wait forever)")
        if self.source == "droid" and self.droid.tubelet_size != 1:
            raise ValueError(f"data.droid.tubelet_size must be 1 for training (one state per frame, as Meta's "
                             f"training passes), got {self.droid.tubelet_size}")

def resolve_shards(cfg: DataConfig) -> tuple[list[str], list[str]]:
    """(train urls, val urls); val is empty when neither val_shards nor val_fraction is set.
    Source droid: the trajectory directories the path-list file(s) name."""
    expand = _trajectory_dirs if cfg.source == "droid" else expand_urls
    urls = expand(cfg.train_shards)
    if cfg.val_shards is not None:
        return urls, expand(cfg.val_shards)
    if cfg.val_fraction > 0:
        return split_train_val(urls, cfg.val_fraction)
    return urls, []


def _trajectory_dirs(path_lists: str | list[str]) -> list[str]:
    """The directories of one or more DROID path-list files, in order."""
    return [d for path in ([path_lists] if isinstance(path_lists, str) else path_lists) for d in read_path_list(path)]
