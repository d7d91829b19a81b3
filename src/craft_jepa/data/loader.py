"""Streaming clip loaders over WebDataset shards (one tar sample per segment: STEM.mp4 + STEM.jsonl).

Pipeline per DataLoader worker (built inside `ClipStream.__iter__`, so the dataset object
itself is only a config plus a URL list and pickles under `spawn`):

    shard URLs -> [train] one endless shared deal of shard permutations over all
                          (rank, worker) consumers (data/shard_split.py): equal read rates
                  [val]   split by node, split by worker, each shard once, in order
               -> tar samples (WebDataset) -> decode K clips per segment (PyAV, sparse)
               -> [train] bounded shuffle buffer of decoded clips, kept across stream chunks
                          (data/carry_buffer.py) -> clip dicts (uint8 frames)
    DataLoader batches them with `ClipCollator` (in the worker): the batch contract of
    docs/architecture.md, frames normalized to float32 (B, T, 3, H, W).

Bad input never stops the stream: a broken shard, a sample without mp4 or jsonl, a corrupt mp4,
mismatched counts or a too-short segment is skipped with a `DataWarning` naming shard and key,
and counted into the `stats` of the next clip that worker yields.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset

from craft_jepa.configuration import require_range
from craft_jepa.data.carry_buffer import FILLING, CarryShuffleBuffer, ChunkPlan, chunk_seed
from craft_jepa.data.clips import STAT_KEYS, Clip, ClipConfig, Segment, SegmentError, fixed_start, random_starts
from craft_jepa.data.shard_split import consumer_shards
from craft_jepa.data.shards import expand_urls
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout


class DataWarning(UserWarning):
    """A skipped shard or segment (the stream goes on)."""


class _Counters:
    """Skipped-input counters of one worker since its previous clip."""

    def __init__(self, keys: tuple[str, ...] = STAT_KEYS) -> None:
        self.keys = keys
        self.counts = dict.fromkeys(keys, 0)

    def add(self, kind: str, message: str, n: int = 1) -> None:
        self.counts[kind] += n
        if kind != "bad_jsonl_lines" and kind != "null_windows":
            warnings.warn(f"skipped ({kind}): {message}", DataWarning, stacklevel=2)

    def take(self) -> dict[str, int]:
        out, self.counts = self.counts, dict.fromkeys(self.keys, 0)
        return out


def _worker_info() -> tuple[int, int, int, int]:
    return wds.utils.pytorch_worker_info()  # (rank, world_size, worker, num_workers)


@dataclass
class StreamConfig:
    train: bool
    seed: int = 0
    shuffle_buffer_clips: int = 64
    decoder_threads: int = 1
    decode_everything: bool = False  # the baseline of benchmarks/loader.py, never for training
    # Training position (data/carry_buffer.py): the loader starts at global batch `start_batch`
    # of a stream reseeded every `chunk_batches` batches (0: one endless chunk with `seed`).
    batch_size: int = 1
    chunk_batches: int = 0
    start_batch: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.chunk_batches < 0 or self.start_batch < 0:
            raise ValueError(f"batch_size must be >= 1 and chunk_batches, start_batch >= 0; got "
                             f"{self.batch_size}, {self.chunk_batches}, {self.start_batch}")
        require_range("shuffle_buffer_clips", self.shuffle_buffer_clips, at_least=0)
        require_range("decoder_threads", self.decoder_threads, at_least=0, note=" (0 = FFmpeg's choice)")


class ClipStream(IterableDataset):
    """Clips (as dicts of numpy arrays) from shards; see the module docstring.

    Memory: the training shuffle buffer holds at most `shuffle_buffer_clips` decoded clips as
    uint8, i.e. shuffle_buffer_clips * frames * size * size * 3 bytes plus the clips of the one
    segment being cut (8 frames at 256 px: 1.5 MiB per clip, 96 MiB for the default 64) and one
    compressed segment (a 5-minute VPT mp4 is tens of MB). Raw segments are never buffered.
    """

    stat_keys: tuple[str, ...] = STAT_KEYS  # the feature stream (data/features.py) counts other kinds

    def __init__(self, clip_cfg: ClipConfig, urls: str | list[str], stream_cfg: StreamConfig) -> None:
        super().__init__()
        self.clip_cfg = clip_cfg
        self.urls = expand_urls(urls)  # raises ValueError on an empty or missing pattern
        self.stream_cfg = stream_cfg

    # ------------------------------------------------------------------ shard level
    def _val_shard_urls(self) -> Iterator[dict[str, str]]:
        yield from wds.split_by_worker(wds.split_by_node([{"url": u} for u in self.urls]))

    def _train_shard_urls(self, seed: int, consumer: int, consumers: int) -> Iterator[dict[str, str]]:
        for i in consumer_shards(len(self.urls), consumer, consumers, seed):
            yield {"url": self.urls[i]}

    def _samples(self, counters: _Counters, shard_urls: Iterator[dict[str, str]]) -> Iterator[dict[str, Any]]:
        # WebDataset may report one broken shard several times (tar reader, then expander):
        # count each opened shard at most once.
        current = {"url": "", "serial": -1}
        reported: set[int] = set()

        def track(urls: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
            for serial, item in enumerate(urls):
                current["url"], current["serial"] = item["url"], serial
                yield item

        def on_error(exn: Exception) -> bool:
            if current["serial"] not in reported:
                reported.add(current["serial"])
                reason = exn.args[0] if exn.args else exn
                counters.add("bad_shard", f"shard {current['url']}: {type(exn).__name__}: {reason}")
            return True  # keep going with the next shard

        yield from wds.tarfile_to_samples(handler=on_error)(track(shard_urls))

    # ------------------------------------------------------------------ clip level
    def _segment_clips(self, sample: dict[str, Any], rng: np.random.Generator, counters: _Counters) -> list[Clip]:
        cfg = self.clip_cfg
        where = f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"
        segment = None
        try:
            segment = Segment(where, sample.get("mp4"), sample.get("jsonl"),
                              decoder_threads=self.stream_cfg.decoder_threads)
            if segment.bad_lines:
                counters.add("bad_jsonl_lines", where, segment.bad_lines)
            max_start = segment.max_start(cfg)
            if self.stream_cfg.train:
                starts = random_starts(max_start, cfg.clips_per_segment, rng)
            else:
                starts = [fixed_start(str(sample.get("__key__")), max_start, self.stream_cfg.seed)]
            clips = segment.cut(starts, cfg, self._action_layout, self._state_layout,
                                decode_everything=self.stream_cfg.decode_everything)
        except SegmentError as err:
            counters.add(err.kind, str(err))
            return []
        finally:
            if segment is not None:
                segment.close()
        for clip in clips:
            clip.key = str(sample.get("__key__"))
        return self._drop_null_windows(clips, where, counters)

    def _drop_null_windows(self, clips: list, where: str, counters: _Counters) -> list:
        """With clip.drop_null_windows, drop (and count) clips whose every step is VPT's null action."""
        if not self.clip_cfg.drop_null_windows:
            return clips
        kept = [c for c in clips if not c.null_window]
        if len(kept) < len(clips):
            counters.add("null_windows", where, len(clips) - len(kept))
        return kept

    def _emit(self, clip: Clip, counters: _Counters) -> dict[str, Any]:
        return {
            "frames": clip.frames,  # uint8 (T, H, W, 3): ClipCollator normalizes the whole batch at once
            "actions": clip.actions,  # (T-1, A)
            "states": clip.states,  # (T, S)
            "key": clip.key,
            "start_tick": clip.start_tick,
            "stats": counters.take(),
        }

    # ------------------------------------------------------------------ streams
    def _val_clips(self, counters: _Counters) -> Iterator[Clip]:
        rank, _, worker, _ = _worker_info()
        rng = np.random.default_rng([self.stream_cfg.seed, rank, worker])
        for sample in self._samples(counters, self._val_shard_urls()):
            yield from self._segment_clips(sample, rng, counters)

    def _train_clips(self, counters: _Counters) -> Iterator[Clip]:
        """Chunk after chunk, for ever, in one worker; see data/carry_buffer.py."""
        cfg = self.stream_cfg
        rank, world, worker, num_workers = _worker_info()
        plan = ChunkPlan(cfg.start_batch, cfg.chunk_batches, cfg.batch_size, num_workers, worker)
        buffer = CarryShuffleBuffer(cfg.shuffle_buffer_clips)
        first = plan.first_chunk
        before = plan.last_active_before(first)
        if before is not None and buffer.capacity:
            # Resume: rebuild the clips that chunk left in the buffer by reading it again.
            buffer.new = [None] * plan.carried_into(before, buffer.capacity)  # its old generation
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DataWarning)  # reported by the run that read them
                for _ in self._chunk(before, plan, buffer, rank, world, counters):
                    pass
            counters.take()  # counted before the checkpoint, which carries the totals
        for chunk in itertools.count(first):
            yield from self._chunk(chunk, plan, buffer, rank, world, counters, skip=plan.skipped(chunk))

    def _chunk(self, chunk: int, plan: ChunkPlan, buffer: CarryShuffleBuffer, rank: int, world: int,
               counters: _Counters, skip: int = 0) -> Iterator[Clip]:
        """The clips one worker emits in `chunk`, after the first `skip`."""
        quota = plan.quota(chunk)  # -1: endless
        if quota == 0:
            return
        seed = chunk_seed(self.stream_cfg.seed, chunk)
        key = [seed, rank, plan.role]
        rng = np.random.default_rng(key)  # windows
        buffer.next_chunk(np.random.default_rng(key + [1]), np.random.default_rng(key + [2]))
        consumer, consumers = rank * plan.num_workers + plan.role, world * plan.num_workers
        emitted = 0
        for sample in self._samples(counters, self._train_shard_urls(seed, consumer, consumers)):
            for clip in self._segment_clips(sample, rng, counters):
                out = buffer.push(clip)
                if out is FILLING:
                    continue
                emitted += 1
                if emitted > skip:
                    yield out
                elif emitted == skip:  # counted by the run that took these batches (checkpointed)
                    counters.take()
                if emitted == quota:
                    return

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._action_layout = get_action_layout(self.clip_cfg.action_layout)
        self._state_layout = get_state_layout(self.clip_cfg.state_layout)
        counters = _Counters(self.stat_keys)
        clips = self._train_clips(counters) if self.stream_cfg.train else self._val_clips(counters)
        for clip in clips:
            yield self._emit(clip, counters)
        left = {k: n for k, n in counters.take().items() if n}
        if left:  # no clip follows to carry these counts
            warnings.warn(f"end of stream: skipped input after the last clip: {left}", DataWarning, stacklevel=2)


def frame_norm(mean: Sequence[float], std: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each float32 (1, 1, 3, 1, 1) on the CPU: x / 255 normalized = x * scale - shift."""
    scale = 1.0 / (255.0 * torch.tensor(tuple(float(s) for s in std))).view(1, 1, 3, 1, 1)
    shift = (torch.tensor(tuple(float(m) for m in mean)) / torch.tensor(tuple(float(s) for s in std))).view(1, 1, 3, 1, 1)
    return scale, shift


def normalize_frames(pixels: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, 3, H, W) -> normalized float32 (B, T, 3, H, W), contiguous, on pixels' device.

    The one normalization of the project: the collator runs it in the worker (float batches) and
    the training step on the GPU (uint8 batches), with the same ops, so both give equal numbers."""
    frames = torch.empty(pixels.shape, dtype=torch.float32, device=pixels.device)
    frames.copy_(pixels)
    return frames.mul_(scale).sub_(shift)


class ClipCollator:
    """Clip dicts -> the batch dict of docs/architecture.md, frames normalized here, per batch;
    with normalize=False frames stay uint8 (B, T, 3, H, W): 4x fewer bytes to pin and copy, for
    the training step to normalize on its device (`normalize_frames`).

    Runs inside the DataLoader worker. Normalizing the stacked uint8 batch in place costs one
    float32 copy instead of one per clip plus another in `stack`. Picklable (plain floats).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], normalize: bool = True,
                 stat_keys: tuple[str, ...] = STAT_KEYS) -> None:
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.normalize = normalize
        self.stat_keys = stat_keys  # the stream's counter kinds (DROID streams count other kinds)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        pixels = torch.from_numpy(np.stack([it["frames"] for it in items]))  # uint8 (B, T, H, W, 3)
        pixels = pixels.permute(0, 1, 4, 2, 3)  # (B, T, 3, H, W), a view
        frames = normalize_frames(pixels, *frame_norm(self.mean, self.std)) if self.normalize else pixels.contiguous()
        return {
            "frames": frames,  # float32 normalized, or uint8 (normalize=False); (B, T, 3, H, W)
            "actions": torch.from_numpy(np.stack([it["actions"] for it in items])),  # (B, T-1, A)
            "states": torch.from_numpy(np.stack([it["states"] for it in items])),  # (B, T, S)
            "key": [it["key"] for it in items],
            "start_tick": torch.tensor([it["start_tick"] for it in items], dtype=torch.int64),  # (B,)
            "stats": {k: torch.tensor([it["stats"][k] for it in items], dtype=torch.int64) for k in self.stat_keys},
        }


class _LimitedLoader:
    """Iterate a finite DataLoader but stop after `max_clips` clips (last batch truncated)."""

    def __init__(self, loader: DataLoader, max_clips: int | None) -> None:
        self.loader = loader
        self.max_clips = max_clips

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen = 0
        for batch in self.loader:
            n = len(batch["key"])
            if self.max_clips is not None and seen + n > self.max_clips:
                keep = self.max_clips - seen
                if keep <= 0:
                    return
                batch = _slice_batch(batch, keep)
                n = keep
            seen += n
            yield batch
            if self.max_clips is not None and seen >= self.max_clips:
                return


def _slice_batch(batch: dict[str, Any], n: int) -> dict[str, Any]:
    out = {k: (v[:n] if k != "stats" else {s: c[:n] for s, c in v.items()}) for k, v in batch.items()}
    return out


def make_data_loader(dataset: IterableDataset, collate: Callable[[list[Any]], Any], batch_size: int,
                     num_workers: int, drop_last: bool, multiprocessing_context: str | None,
                     timeout_s: float = 0.0, pin_memory: bool = False) -> DataLoader:
    """The one DataLoader construction of the data stage (video clips and feature clips).

    `timeout_s` > 0: a worker that yields no batch for that long (a stalled `pipe:` or network
    read) raises instead of hanging the run. A worker that dies or raises fails fast anyway.
    `pin_memory`: page-locked batches, so the step's .to(device, non_blocking=True) overlaps the copy."""
    require_range("batch_size", batch_size, at_least=1)
    require_range("num_workers", num_workers, at_least=0)
    require_range("timeout_s", timeout_s, at_least=0, note=" (0 = wait forever)")
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      drop_last=drop_last, persistent_workers=False, pin_memory=pin_memory,
                      timeout=timeout_s if num_workers > 0 else 0,  # torch allows it with workers only
                      multiprocessing_context=multiprocessing_context if num_workers > 0 else None)


def _data_loader(dataset: IterableDataset, batch_size: int, num_workers: int, drop_last: bool,
                 multiprocessing_context: str | None, timeout_s: float = 0.0, uint8_frames: bool = False,
                 pin_memory: bool = False) -> DataLoader:
    """A clip stream's loader (video clips, DROID clips: `dataset.stat_keys` names its counters)."""
    collate = ClipCollator(dataset.clip_cfg.mean, dataset.clip_cfg.std, normalize=not uint8_frames,
                           stat_keys=dataset.stat_keys)
    return make_data_loader(dataset, collate, batch_size, num_workers, drop_last, multiprocessing_context,
                            timeout_s, pin_memory)


def build_train_loader(clip_cfg: ClipConfig, urls: str | list[str], *, batch_size: int, num_workers: int,
                       seed: int, shuffle_buffer_clips: int = 64, decoder_threads: int = 1,
                       multiprocessing_context: str | None = None,
                       decode_everything: bool = False, timeout_s: float = 0.0,
                       chunk_batches: int = 0, start_batch: int = 0, uint8_frames: bool = False,
                       pin_memory: bool = False) -> DataLoader:
    """Infinite batches over all ranks' and workers' shared shard deal (data/shard_split.py),
    starting at global batch `start_batch` of a stream reseeded every `chunk_batches`.
    uint8_frames: leave frames uint8 for the training step to normalize on its device."""
    stream = ClipStream(clip_cfg, urls, StreamConfig(train=True, seed=seed, shuffle_buffer_clips=shuffle_buffer_clips,
                                                     decoder_threads=decoder_threads,
                                                     decode_everything=decode_everything, batch_size=batch_size,
                                                     chunk_batches=chunk_batches, start_batch=start_batch))
    return _data_loader(stream, batch_size, num_workers, drop_last=True, multiprocessing_context=multiprocessing_context,
                        timeout_s=timeout_s, uint8_frames=uint8_frames, pin_memory=pin_memory)


def build_val_loader(clip_cfg: ClipConfig, urls: str | list[str], *, batch_size: int, num_workers: int,
                     max_clips: int | None, seed: int, decoder_threads: int = 1,
                     multiprocessing_context: str | None = None, timeout_s: float = 0.0) -> _LimitedLoader:
    """Finite, deterministic batches: each segment once, one window fixed by (seed, key)."""
    if max_clips is not None and max_clips < 1:
        raise ValueError(f"max_clips must be >= 1 or None, got {max_clips}")
    stream = ClipStream(clip_cfg, urls, StreamConfig(train=False, seed=seed, shuffle_buffer_clips=0,
                                                     decoder_threads=decoder_threads))
    loader = _data_loader(stream, batch_size, num_workers, drop_last=False,
                          multiprocessing_context=multiprocessing_context, timeout_s=timeout_s)
    return _LimitedLoader(loader, max_clips)
