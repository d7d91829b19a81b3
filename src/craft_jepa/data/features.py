"""Streaming clip loaders over feature shards (pre-encoded tokens; see data/feature_format.py).

The batch contract is the video loader's with `tokens` (B, T, N, D) in place of `frames`:
no video decoding and no encoder in memory. `FeatureStream` reuses the video `ClipStream`'s
shard handling (split by rank and worker, resampled forever for training, each shard once
in order for validation, broken shards counted) and its clip shuffle buffer; only what one
sample turns into differs:

    run (L frames of one segment) -> [train] min(clips_per_segment, L-T+1) random windows
                                     [val]   one window fixed by (seed, sample key)

A window's tokens, actions and states are copied out of the run, so the shuffle buffer does
not pin whole runs. Memory: each buffered clip holds T * N * D tokens in the stored dtype
(ViT-L, 8 frames, 256 tokens, bf16: 4 MiB per clip, i.e. 256 MiB for a 64-clip buffer).

Bad samples (missing member, corrupt JSON or safetensors, inconsistent shapes, runs shorter
than a clip) are skipped with a `DataWarning` and counted into `stats`. A shard made for a
different clip setup (fps, action or state layout) is a configuration error and raises
`FeatureConfigError` naming the shard, the sample and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader

from craft_jepa.data.clips import ClipConfig, fixed_start, random_starts
from craft_jepa.data.feature_format import FEATURE_STAT_KEYS, FeatureError, FeatureMeta, FeatureRun, unpack_run
from craft_jepa.data.loader import ClipStream, StreamConfig, _Counters, _LimitedLoader, make_data_loader
from craft_jepa.data.shards import expand_urls
from craft_jepa.vpt.layouts import get_action_layout


class FeatureConfigError(ValueError):
    """Feature shards that do not fit the run's clip or model configuration."""


@dataclass
class FeatureClip:
    key: str
    start_tick: int
    tokens: torch.Tensor  # (T, N, D), stored dtype
    actions: torch.Tensor  # (T-1, A) float32
    states: torch.Tensor  # (T, S) float32
    null_window: bool


def check_meta(meta: FeatureMeta, clip_cfg: ClipConfig, where: str, *, embed_dim: int | None = None,
               grid_size: int | None = None, encoder: str | None = None) -> None:
    """Raise FeatureConfigError when a run was encoded for another clip / model setup."""
    problems = []
    if float(meta.fps) != float(clip_cfg.fps):
        problems.append(f"fps {meta.fps} (clip.fps is {clip_cfg.fps})")
    names = list(get_action_layout(clip_cfg.action_layout).feature_names)
    if list(meta.action_layout) != names:
        problems.append(f"action layout of {len(meta.action_layout)} features (clip.action_layout "
                        f"{clip_cfg.action_layout!r} has {len(names)}, or another order)")
    if meta.state_layout != clip_cfg.state_layout:
        problems.append(f"state layout {meta.state_layout!r} (clip.state_layout is {clip_cfg.state_layout!r})")
    if embed_dim is not None and meta.embed_dim != embed_dim:
        problems.append(f"token width {meta.embed_dim} (run expects {embed_dim})")
    if grid_size is not None and meta.grid_size != grid_size:
        problems.append(f"grid {meta.grid_size}x{meta.grid_size} after pool {meta.pool} "
                        f"(predictor.grid_size is {grid_size})")
    if encoder is not None and meta.encoder != encoder:
        problems.append(f"encoder {meta.encoder!r} (encoder.name is {encoder!r})")
    if problems:
        raise FeatureConfigError(f"{where}: feature shard does not match the config: " + "; ".join(problems))


def check_feature_shards(urls: Sequence[str], clip_cfg: ClipConfig, *, embed_dim: int, grid_size: int,
                         encoder: str | None = None) -> FeatureMeta:
    """Start-up check: the first readable run of the first shard fits the run's config.

    Also fails early when clips are longer than the runs were encoded for (`windows=val|N`
    runs hold exactly the encoded clip length). Returns that run's metadata.
    """

    for url in urls:
        for sample in wds.tarfile_to_samples(handler=wds.warn_and_continue)([{"url": url}]):
            where = f"{url}:{sample.get('__key__')}"
            try:
                meta = unpack_run(sample, where).meta
            except FeatureError:
                continue
            check_meta(meta, clip_cfg, where, embed_dim=embed_dim, grid_size=grid_size, encoder=encoder)
            if meta.windows != "all" and meta.clip_frames < clip_cfg.frames:
                raise FeatureConfigError(f"{where}: runs hold {meta.clip_frames}-frame clips (windows="
                                         f"{meta.windows}) but clip.frames is {clip_cfg.frames}")
            return meta
    raise FeatureConfigError(f"no readable feature sample in {list(urls)[:3]}")


class FeatureStream(ClipStream):
    """Feature clips (dicts of tensors) from feature shards; see the module docstring."""

    stat_keys = FEATURE_STAT_KEYS

    def _segment_clips(self, sample: dict[str, Any], rng: np.random.Generator, counters: _Counters) -> list[FeatureClip]:
        cfg = self.clip_cfg
        where = f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"
        try:
            run = unpack_run(sample, where)
        except FeatureError as err:
            counters.add(err.kind, str(err))
            return []
        check_meta(run.meta, cfg, where)
        last = len(run.meta.frame_ticks) - cfg.frames  # last window start (frame index in the run)
        if last < 0:
            counters.add("too_short", f"{where}: run of {len(run.meta.frame_ticks)} frames < clip.frames {cfg.frames}")
            return []
        if self.stream_cfg.train:
            # Without replacement: a short run gives each of its windows once.
            starts = random_starts(last, min(cfg.clips_per_segment, last + 1), rng)
        else:
            starts = [fixed_start(str(sample.get("__key__")), last, self.stream_cfg.seed)]
        clips = [self._window(run, w) for w in starts]
        return self._drop_null_windows(clips, where, counters)

    def _window(self, run: FeatureRun, first: int) -> FeatureClip:
        frames = self.clip_cfg.frames
        return FeatureClip(
            key=run.meta.key,
            start_tick=int(run.meta.frame_ticks[first]),
            tokens=run.tokens[first:first + frames].clone(),  # (T, N, D); clone frees the run
            actions=run.actions[first:first + frames - 1].clone(),  # (T-1, A)
            states=run.states[first:first + frames].clone(),  # (T, S)
            null_window=bool(run.null_steps[first:first + frames - 1].all()),
        )

    def _emit(self, clip: FeatureClip, counters: _Counters) -> dict[str, Any]:
        return {"tokens": clip.tokens, "actions": clip.actions, "states": clip.states, "key": clip.key,
                "start_tick": clip.start_tick, "stats": counters.take()}


def collate_features(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Feature clip dicts -> the batch dict of docs/architecture.md (with `tokens`)."""
    return {
        "tokens": torch.stack([it["tokens"] for it in items]),  # (B, T, N, D)
        "actions": torch.stack([it["actions"] for it in items]),  # (B, T-1, A)
        "states": torch.stack([it["states"] for it in items]),  # (B, T, S)
        "key": [it["key"] for it in items],
        "start_tick": torch.tensor([it["start_tick"] for it in items], dtype=torch.int64),  # (B,)
        "stats": {k: torch.tensor([it["stats"][k] for it in items], dtype=torch.int64) for k in FEATURE_STAT_KEYS},
    }


def _loader(stream: FeatureStream, batch_size: int, num_workers: int, drop_last: bool,
            multiprocessing_context: str | None, timeout_s: float = 0.0, pin_memory: bool = False) -> DataLoader:
    return make_data_loader(stream, collate_features, batch_size, num_workers, drop_last, multiprocessing_context,
                            timeout_s, pin_memory)


def build_feature_train_loader(clip_cfg: ClipConfig, urls: str | list[str], *, batch_size: int, num_workers: int,
                               seed: int, shuffle_buffer_clips: int = 64,
                               multiprocessing_context: str | None = None, timeout_s: float = 0.0,
                               chunk_batches: int = 0, start_batch: int = 0, pin_memory: bool = False) -> DataLoader:
    """Infinite batches of feature clips over the shared shard deal; see build_train_loader."""
    stream = FeatureStream(clip_cfg, expand_urls(urls),
                           StreamConfig(train=True, seed=seed, shuffle_buffer_clips=shuffle_buffer_clips,
                                        batch_size=batch_size, chunk_batches=chunk_batches, start_batch=start_batch))
    return _loader(stream, batch_size, num_workers, True, multiprocessing_context, timeout_s, pin_memory)


def build_feature_val_loader(clip_cfg: ClipConfig, urls: str | list[str], *, batch_size: int, num_workers: int,
                             max_clips: int | None, seed: int,
                             multiprocessing_context: str | None = None, timeout_s: float = 0.0) -> _LimitedLoader:
    """Finite, deterministic batches: each run once, one window fixed by (seed, sample key)."""
    if max_clips is not None and max_clips < 1:
        raise ValueError(f"max_clips must be >= 1 or None, got {max_clips}")
    stream = FeatureStream(clip_cfg, expand_urls(urls), StreamConfig(train=False, seed=seed, shuffle_buffer_clips=0))
    return _LimitedLoader(_loader(stream, batch_size, num_workers, False, multiprocessing_context, timeout_s),
                          max_clips)
