"""Where training batches come from: shard lists, loaders, a resumable stream, the scaler.

The training data order is a deterministic function of (seed, step): the stream is cut
into chunks of `chunk_batches` micro-batches and chunk c reads shards and windows seeded
with `data.carry_buffer.chunk_seed(seed, c)`. The loader is built ONCE and its workers run chunk
after chunk, keeping their shuffle buffer (data/carry_buffer.py); a checkpoint stores
(chunk, batches consumed in it) and a resume builds one loader that starts there (each
worker re-reads the previous chunk to rebuild its buffer, then skips the consumed batches).
This holds with worker processes because the loader derives every worker's randomness from
its seed, chunk and role (DataLoader returns worker batches in a fixed round-robin order).

`data.source` picks the loader: `video` (decoded clips, frames pass through the frozen
encoder), `features` (tokens pre-encoded by `craft-jepa encode`, data/features.py) or `droid`
(DROID-format robot trajectories, data/droid_loader.py: `train_shards` / `val_shards` name
path-list files, one trajectory directory per line; settings in `data.droid`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from craft_jepa.data.droid_config import DroidConfig, read_path_list
from craft_jepa.data.shards import expand_urls, split_train_val
from craft_jepa.vpt.scaler import ActionScaler

log = logging.getLogger(__name__)

Batch = dict[str, Any]
LoaderFactory = Callable[[int, int, int], Iterable["Batch"]]  # (seed, start_batch, chunk_batches) -> loader


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
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.shuffle_buffer_clips < 0:
            raise ValueError(f"shuffle_buffer_clips must be >= 0, got {self.shuffle_buffer_clips}")
        if self.scaler_fit_max_steps < 1:
            raise ValueError(f"scaler_fit_max_steps must be >= 1, got {self.scaler_fit_max_steps}")
        if self.chunk_steps is not None and self.chunk_steps < 1:
            raise ValueError(f"chunk_steps must be >= 1, got {self.chunk_steps}")
        if not math.isfinite(self.worker_timeout_s):
            raise ValueError(f"worker_timeout_s must be a finite number (0 = wait forever), got {self.worker_timeout_s}")
        if self.worker_timeout_s < 0:
            raise ValueError(f"worker_timeout_s must be >= 0 (0 = wait forever), got {self.worker_timeout_s}")
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


def train_loader_factory(cfg: DataConfig, clip_cfg: Any, urls: list[str], *,
                         pin_memory: bool = False, uint8_frames: bool = False) -> LoaderFactory:
    """(seed, start batch, chunk batches) -> an infinite loader of training batches for `cfg.source`.

    `uint8_frames`: video batches carry uint8 frames (4x fewer bytes to pin and copy), for the
    StepRunner to normalize on its device (`pixel_norm`); `pin_memory` page-locks batches so
    the host-to-GPU copy is asynchronous."""
    extra: dict[str, Any] = {"pin_memory": pin_memory}
    if cfg.source == "video":
        from craft_jepa.data.loader import build_train_loader as build

        extra["uint8_frames"] = uint8_frames
    elif cfg.source == "features":
        from craft_jepa.data.features import build_feature_train_loader as build
    elif cfg.source == "droid":
        return _droid_train_factory(cfg, clip_cfg, urls, pin_memory=pin_memory, uint8_frames=uint8_frames)
    else:
        raise NotImplementedError(f"data.source={cfg.source!r} is not available yet")

    def make(seed: int, start_batch: int, chunk_batches: int) -> Iterable[Batch]:
        return build(clip_cfg, urls, batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=seed,
                     shuffle_buffer_clips=cfg.shuffle_buffer_clips, timeout_s=cfg.worker_timeout_s,
                     chunk_batches=chunk_batches, start_batch=start_batch, **extra)

    return make


def _droid_train_factory(cfg: DataConfig, clip_cfg: Any, directories: list[str], *, pin_memory: bool,
                         uint8_frames: bool) -> LoaderFactory:
    """DROID clips are independent random reads (no shuffle buffer): the stream only needs its start."""
    from craft_jepa.data.droid_loader import build_droid_train_loader  # needs the optional `droid` extra

    def make(seed: int, start_batch: int, chunk_batches: int) -> Iterable[Batch]:
        del chunk_batches  # every batch is a function of (seed, batch index): nothing to reseed
        return build_droid_train_loader(clip_cfg, cfg.droid, directories, batch_size=cfg.batch_size,
                                        num_workers=cfg.num_workers, seed=seed, start_batch=start_batch,
                                        timeout_s=cfg.worker_timeout_s, uint8_frames=uint8_frames,
                                        pin_memory=pin_memory)

    return make


def build_val_batches(
    cfg: DataConfig, clip_cfg: Any, urls: list[str], *, batch_size: int, max_clips: int, seed: int
) -> Iterable[Batch]:
    """A finite, deterministic validation loader for `cfg.source`."""
    if cfg.source == "video":
        from craft_jepa.data.loader import build_val_loader

        return build_val_loader(
            clip_cfg, urls, batch_size=batch_size, num_workers=min(cfg.num_workers, 2),
            max_clips=max_clips, seed=seed, timeout_s=cfg.worker_timeout_s,
        )
    if cfg.source == "features":
        from craft_jepa.data.features import build_feature_val_loader

        return build_feature_val_loader(
            clip_cfg, urls, batch_size=batch_size, num_workers=min(cfg.num_workers, 2),
            max_clips=max_clips, seed=seed, timeout_s=cfg.worker_timeout_s,
        )
    if cfg.source == "droid":
        from craft_jepa.data.droid_loader import build_droid_val_loader  # needs the optional `droid` extra

        return build_droid_val_loader(clip_cfg, cfg.droid, urls, batch_size=batch_size,
                                      num_workers=min(cfg.num_workers, 2), max_clips=max_clips, seed=seed,
                                      timeout_s=cfg.worker_timeout_s)
    raise NotImplementedError(f"data.source={cfg.source!r} is not available yet")


class TrainStream:
    """An endless, resumable batch stream whose order depends only on (seed, position)."""

    def __init__(self, build: LoaderFactory, seed: int, chunk_batches: int) -> None:
        if chunk_batches < 1:
            raise ValueError(f"chunk_batches must be >= 1, got {chunk_batches}")
        self.build = build
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.chunk = 0
        self.consumed = 0  # batches taken from the current chunk
        self.loaders_built = 0  # one per run (and per resume): workers live across chunks
        self._iter: Iterator[Batch] | None = None

    def __next__(self) -> Batch:
        if self._iter is None:
            start = self.chunk * self.chunk_batches + self.consumed
            self._iter = iter(self.build(self.seed, start, self.chunk_batches))
            self.loaders_built += 1
        batch = next(self._iter)
        self.consumed += 1
        if self.consumed == self.chunk_batches:
            self.chunk, self.consumed = self.chunk + 1, 0
        return batch

    def __iter__(self) -> TrainStream:
        return self

    def _close(self) -> None:
        # Dropping the iterator lets a DataLoader shut its worker processes down.
        self._iter = None

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "chunk": self.chunk, "consumed": self.consumed,
                "chunk_batches": self.chunk_batches}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seed"] != self.seed or state["chunk_batches"] != self.chunk_batches:
            log.warning(
                "data stream settings changed since the checkpoint (seed %s -> %s, chunk %s -> %s):"
                " the data order will differ from an uninterrupted run",
                state["seed"], self.seed, state["chunk_batches"], self.chunk_batches,
            )
            self.chunk, self.consumed = state["chunk"] + 1, 0
        else:
            self.chunk, self.consumed = state["chunk"], state["consumed"]
        self._close()


def resolve_scaler(cfg: DataConfig, clip_cfg: Any, run_dir: Path, *, may_fit: bool) -> ActionScaler | None:
    """The run's ActionScaler: configured file, else RUN_DIR/scaler.json, else fit one.

    Returns None when this process must wait for rank 0 to fit and save it (`may_fit` False).
    """
    from craft_jepa.vpt.layouts import get_action_layout

    layout = get_action_layout(clip_cfg.action_layout)
    saved = run_dir / "scaler.json"
    if cfg.scaler is not None:
        scaler = ActionScaler.load(cfg.scaler)
    elif saved.is_file():
        scaler = ActionScaler.load(saved)
    elif not may_fit:
        return None
    elif cfg.source == "droid":
        # Meta's DROID training feeds the raw actions (metres, radians): no standardization.
        scaler = ActionScaler.identity(layout)
    elif cfg.source == "features":
        raise ValueError("data.source=features needs data.scaler: feature shards hold no jsonl to fit one on "
                         "(craft-jepa encode writes OUT_DIR/scaler.json, or run craft-jepa fit-scaler on the video shards)")
    else:
        from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler

        train_spec = cfg.train_shards
        log.info("no data.scaler configured: fitting one on %s (at most %d steps)", train_spec,
                 cfg.scaler_fit_max_steps)
        fit_cfg = FitScalerConfig(
            data=train_spec, layout=clip_cfg.action_layout, fps=float(clip_cfg.fps),
            max_steps=cfg.scaler_fit_max_steps, val_fraction=cfg.val_fraction, progress=False,
        )
        scaler = fit_action_scaler(fit_cfg).scaler
    scaler.check_layout(layout)
    return scaler
