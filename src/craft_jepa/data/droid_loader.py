"""Training and validation batches from DROID-format trajectories (data/droid.py).

Same batch contract as the VPT loaders (data/loader.py, `ClipCollator`): frames (B, T, 3, H, W),
actions (B, T-1, 7), states (B, T, 7), key, start_tick (the window's first video frame), stats
(counters of skipped trajectories, `DROID_STAT_KEYS`).

Training: every clip is a pure function of (seed, rank, global batch, slot in the batch): a
trajectory, a camera view and a window start drawn from that seed, as Meta's loader draws one
trajectory per item (no shuffle buffer is needed: items are independent reads of random
trajectories). A DataLoader returns its workers' batches round-robin, so worker w of W makes
global batches w, w + W, ...: the stream is the same for any worker count and resumes at any
batch exactly (`start_batch`).

Validation: each trajectory once, through the first camera view, its window fixed by
(seed, trajectory key) as for VPT segments; trajectories dealt to ranks and workers in turn.

Bad input never stops the stream: a path-list line that is not a directory, missing metadata, a
missing h5 key, a missing or short mp4, a frame count that differs from the h5 rows is skipped
with a `DataWarning` naming the path and counted (once per worker and trajectory) into the
`stats` of the next clip; later draws of a known-bad trajectory are drawn again silently.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, IterableDataset

from craft_jepa.data.clips import ClipConfig, fixed_start
from craft_jepa.data.droid import DroidTrajectory
from craft_jepa.data.droid_config import DROID_STAT_KEYS, DroidConfig, TrajectoryError
from craft_jepa.data.loader import DataWarning, _Counters, _data_loader, _LimitedLoader, _worker_info


class NoUsableTrajectoryError(RuntimeError):
    """Every trajectory of the path list is bad for this clip config (the counters say why)."""


@dataclass
class DroidStreamConfig:
    train: bool
    seed: int = 0
    batch_size: int = 1
    start_batch: int = 0  # global batch (of this rank) the training stream starts at
    decoder_threads: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.start_batch < 0 or self.decoder_threads < 0:
            raise ValueError(f"batch_size must be >= 1, start_batch and decoder_threads >= 0; got "
                             f"{self.batch_size}, {self.start_batch}, {self.decoder_threads}")


class DroidStream(IterableDataset):
    """Clip dicts from a list of trajectory directories; see the module docstring."""

    stat_keys: tuple[str, ...] = DROID_STAT_KEYS  # the collator's counter kinds

    def __init__(self, clip_cfg: ClipConfig, droid_cfg: DroidConfig, directories: list[str],
                 stream_cfg: DroidStreamConfig) -> None:
        super().__init__()
        if not directories:
            raise ValueError("DroidStream: no trajectory directories")
        if stream_cfg.train and droid_cfg.tubelet_size != 1:
            raise ValueError(f"DROID training needs one state per frame (droid.tubelet_size 1, as Meta's "
                             f"training passes), got {droid_cfg.tubelet_size}")
        self.clip_cfg = clip_cfg
        self.droid_cfg = droid_cfg
        self.directories = list(directories)
        self.stream_cfg = stream_cfg

    def _clip(self, directory: str, view: str, rng: np.random.Generator | None,
              counters: _Counters) -> dict[str, Any] | None:
        """One clip (random window with `rng`, else the fixed validation window), None if bad."""
        cfg = self.clip_cfg
        trajectory = None
        try:
            trajectory = DroidTrajectory(directory, view, decoder_threads=self.stream_cfg.decoder_threads)
            max_start = trajectory.max_start(cfg.frames, cfg.fps)
            start = (int(rng.integers(0, max_start + 1)) if rng is not None
                     else fixed_start(trajectory.key, max_start, self.stream_cfg.seed))
            clip = trajectory.clip(start, cfg.frames, cfg.fps, self.droid_cfg, cfg.size, cfg.max_crop_aspect)
        except TrajectoryError as err:
            counters.add(err.kind, str(err))
            return None
        finally:
            if trajectory is not None:
                trajectory.close()
        return {
            "frames": clip.frames,  # uint8 (T, H, W, 3)
            "actions": clip.actions.astype(np.float32),  # (T-1, 7)
            "states": clip.states.astype(np.float32),  # (T, 7)
            "key": clip.key,
            "start_tick": start,
            "stats": counters.take(),
        }

    def _train_items(self, counters: _Counters) -> Iterator[dict[str, Any]]:
        cfg = self.stream_cfg
        rank, _, worker, num_workers = _worker_info()
        views = self.droid_cfg.camera_views
        bad: set[tuple[int, int]] = set()  # (directory, view) pairs already counted
        for k in itertools.count():
            batch = cfg.start_batch + k * num_workers + worker  # this worker's k-th batch
            for slot in range(cfg.batch_size):
                rng = np.random.default_rng([cfg.seed, rank, batch, slot])
                item = None
                while item is None:
                    if len(bad) == len(self.directories) * len(views):
                        raise NoUsableTrajectoryError(
                            f"none of the {len(self.directories)} trajectories of the path list gives a clip "
                            f"({self.clip_cfg.frames} frames at {self.clip_cfg.fps} fps, views {views}); "
                            "see the skipped-input warnings")
                    pick = (int(rng.integers(len(self.directories))), int(rng.integers(len(views))))
                    if pick in bad:
                        continue
                    item = self._clip(self.directories[pick[0]], views[pick[1]], rng, counters)
                    if item is None:
                        bad.add(pick)
                yield item

    def _val_items(self, counters: _Counters) -> Iterator[dict[str, Any]]:
        rank, world, worker, num_workers = _worker_info()
        consumer, consumers = rank * num_workers + worker, world * num_workers
        for directory in self.directories[consumer::consumers]:
            item = self._clip(directory, self.droid_cfg.camera_views[0], None, counters)
            if item is not None:
                yield item

    def __iter__(self) -> Iterator[dict[str, Any]]:
        counters = _Counters(self.stat_keys)
        yield from self._train_items(counters) if self.stream_cfg.train else self._val_items(counters)
        left = {k: n for k, n in counters.take().items() if n}
        if left:  # no clip follows to carry these counts
            warnings.warn(f"end of stream: skipped input after the last clip: {left}", DataWarning, stacklevel=2)


def build_droid_train_loader(clip_cfg: ClipConfig, droid_cfg: DroidConfig, directories: list[str], *,
                             batch_size: int, num_workers: int, seed: int, start_batch: int = 0,
                             timeout_s: float = 0.0, uint8_frames: bool = False,
                             pin_memory: bool = False) -> DataLoader:
    """Infinite training batches from global batch `start_batch` on (see the module docstring)."""
    stream = DroidStream(clip_cfg, droid_cfg, directories, DroidStreamConfig(
        train=True, seed=seed, batch_size=batch_size, start_batch=start_batch))
    return _data_loader(stream, batch_size, num_workers, drop_last=True, multiprocessing_context=None,
                        timeout_s=timeout_s, uint8_frames=uint8_frames, pin_memory=pin_memory)


def build_droid_val_loader(clip_cfg: ClipConfig, droid_cfg: DroidConfig, directories: list[str], *,
                           batch_size: int, num_workers: int, max_clips: int | None, seed: int,
                           timeout_s: float = 0.0) -> _LimitedLoader:
    """Finite, deterministic batches: each trajectory once, one window fixed by (seed, key)."""
    stream = DroidStream(clip_cfg, droid_cfg, directories, DroidStreamConfig(train=False, seed=seed))
    loader = _data_loader(stream, batch_size, num_workers, drop_last=False, multiprocessing_context=None,
                          timeout_s=timeout_s)
    return _LimitedLoader(loader, max_clips)
