"""Loaders by `data.source`: `video` (decoded clips, data/loader.py) or `features` (tokens
pre-encoded by `craft-jepa encode`, data/features.py), behind one signature each for training
(an endless, seeded, resumable stream) and validation (a finite, deterministic pass).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.config import DataConfig
from craft_jepa.data.features import build_feature_train_loader, build_feature_val_loader
from craft_jepa.data.loader import build_train_loader, build_val_loader

Batch = dict[str, Any]
LoaderFactory = Callable[[int, int, int], Iterable[Batch]]  # (seed, start_batch, chunk_batches) -> loader


def train_loader_factory(cfg: DataConfig, clip_cfg: ClipConfig, urls: list[str], *,
                         pin_memory: bool = False, uint8_frames: bool = False) -> LoaderFactory:
    """(seed, start batch, chunk batches) -> an infinite loader of training batches for `cfg.source`.

    `uint8_frames`: video batches carry uint8 frames (4x fewer bytes to pin and copy), for the
    StepRunner to normalize on its device (`pixel_norm`); `pin_memory` page-locks batches so
    the host-to-GPU copy is asynchronous."""
    extra: dict[str, Any] = {"pin_memory": pin_memory}
    build: Callable[..., Iterable[Batch]]
    if cfg.source == "video":
        build = build_train_loader
        extra["uint8_frames"] = uint8_frames
    elif cfg.source == "features":
        build = build_feature_train_loader
    elif cfg.source == "droid":
        return _droid_train_factory(cfg, clip_cfg, urls, pin_memory=pin_memory, uint8_frames=uint8_frames)
    else:
        raise NotImplementedError(f"data.source={cfg.source!r} is not available yet")

    def make(seed: int, start_batch: int, chunk_batches: int) -> Iterable[Batch]:
        return build(clip_cfg, urls, batch_size=cfg.batch_size, num_workers=cfg.num_workers, seed=seed,
                     shuffle_buffer_clips=cfg.shuffle_buffer_clips, timeout_s=cfg.worker_timeout_s,
                     chunk_batches=chunk_batches, start_batch=start_batch, **extra)

    return make


def _droid_train_factory(cfg: DataConfig, clip_cfg: ClipConfig, directories: list[str], *, pin_memory: bool,
                         uint8_frames: bool) -> LoaderFactory:
    """DROID clips are independent random reads (no shuffle buffer): the stream only needs its start."""
    from craft_jepa.data.droid_loader import build_droid_train_loader  # needs the optional `droid` extra (h5py)

    def make(seed: int, start_batch: int, chunk_batches: int) -> Iterable[Batch]:
        del chunk_batches  # every batch is a function of (seed, batch index): nothing to reseed
        return build_droid_train_loader(clip_cfg, cfg.droid, directories, batch_size=cfg.batch_size,
                                        num_workers=cfg.num_workers, seed=seed, start_batch=start_batch,
                                        timeout_s=cfg.worker_timeout_s, uint8_frames=uint8_frames,
                                        pin_memory=pin_memory)

    return make


def build_val_batches(
    cfg: DataConfig, clip_cfg: ClipConfig, urls: list[str], *, batch_size: int, max_clips: int, seed: int
) -> Iterable[Batch]:
    """A finite, deterministic validation loader for `cfg.source`."""
    if cfg.source == "video":
        return build_val_loader(
            clip_cfg, urls, batch_size=batch_size, num_workers=min(cfg.num_workers, 2),
            max_clips=max_clips, seed=seed, timeout_s=cfg.worker_timeout_s,
        )
    if cfg.source == "features":
        return build_feature_val_loader(
            clip_cfg, urls, batch_size=batch_size, num_workers=min(cfg.num_workers, 2),
            max_clips=max_clips, seed=seed, timeout_s=cfg.worker_timeout_s,
        )
    if cfg.source == "droid":
        from craft_jepa.data.droid_loader import build_droid_val_loader  # needs the optional `droid` extra (h5py)

        return build_droid_val_loader(clip_cfg, cfg.droid, urls, batch_size=batch_size,
                                      num_workers=min(cfg.num_workers, 2), max_clips=max_clips, seed=seed,
                                      timeout_s=cfg.worker_timeout_s)
    raise NotImplementedError(f"data.source={cfg.source!r} is not available yet")
