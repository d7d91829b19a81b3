"""The encoding driver: video shards -> feature shards, so the predictor can be trained many
times for the price of one pass of the frozen encoder (`craft-jepa encode`).

Output shard k holds the runs (data/feature_format.py) of input shard k, in input order.
Shards are the unit of work and of resumption:
- under torchrun every rank takes input shards k with k % WORLD_SIZE == RANK and writes
  their outputs (no process group is needed: the ranks never talk to each other);
- an output is written as `NAME.partial` and renamed to NAME only when complete, so a
  killed job leaves no half shard under a final name, and a rerun skips every NAME that
  exists;
- an input shard that cannot be read to the end (truncated, network error) is reported and
  gets no output, so the next run retries it. Bad segments inside a readable shard are
  skipped and counted, as the video loader does.

Decoding is the expensive part (every 20 fps frame of the mp4 is decoded to keep 5 fps), so
`workers` DataLoader processes decode whole input shards in parallel while the main process
runs the encoder and writes; each worker's shards stay in input order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from craft_jepa.configuration import config_to_dict
from craft_jepa.data.clips import STAT_KEYS, Clip, ClipConfig, Segment, SegmentError
from craft_jepa.data.feature_format import TOKEN_DTYPES, FeatureMeta, FeatureRun, pack_run, parse_windows, plan_runs
from craft_jepa.data.loader import ClipCollator
from craft_jepa.data.shards import expand_urls
from craft_jepa.encoders import EncoderConfig, FrozenEncoder
from craft_jepa.train.distributed import resolve_device
from craft_jepa.vpt.actions import aggregate_steps, is_null_action
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"\{(\d+)\.\.(\d*)\}")  # {000000..} or {000000..000099}
_PRINTF = re.compile(r"%0?(\d*)d")


@dataclass
class EncodeConfig:
    data: str | list[str]  # input video shards (glob, braces, dir, list)
    out: str  # output pattern: features-{000000..}.tar or features-%06d.tar
    windows: str = "all"  # all | val | N windows per segment (see plan_runs)
    dtype: str = "bf16"  # stored token dtype: bf16 | fp16 | fp32
    pool: int = 1  # average K x K patches: K^2 fewer tokens per frame
    batch_size: int = 64  # frames per encoder forward
    frames_per_sample: int = 64  # longest run (windows=all); runs overlap by clip.frames - 1
    phases: int = 1  # windows=all: frame grids from ticks 0 .. phases-1 (see data.feature_format)
    seed: int = 0  # windows=val|N: the same seed as validation.seed picks the same windows
    device: str = "auto"
    workers: int = 2  # decoding processes (each takes whole input shards); 0: decode in this process
    decoder_threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("EncodeConfig.data is empty: give the video shards to encode")
        self.windows = parse_windows(self.windows)
        if self.dtype not in TOKEN_DTYPES:
            raise ValueError(f"EncodeConfig.dtype={self.dtype!r} must be one of {sorted(TOKEN_DTYPES)}")
        if self.workers < 0:
            raise ValueError(f"EncodeConfig.workers={self.workers} must be >= 0")
        if self.phases != 1 and self.windows != "all":
            raise ValueError(f"EncodeConfig.phases={self.phases} needs windows='all', got {self.windows!r}")
        for name in ("pool", "batch_size", "frames_per_sample", "phases"):
            if getattr(self, name) < 1:
                raise ValueError(f"EncodeConfig.{name}={getattr(self, name)} must be >= 1")
        output_paths(self.out, 1)  # raises on a pattern without a shard number


@dataclass
class EncodeSummary:
    shards_written: list[str] = field(default_factory=list)
    shards_skipped: list[str] = field(default_factory=list)  # already complete
    shards_failed: dict[str, str] = field(default_factory=dict)  # input url -> error
    runs: int = 0
    frames: int = 0
    windows: int = 0  # training windows of clip.frames frames the written runs hold
    skipped: Counter = field(default_factory=Counter)  # bad segments by kind


def output_paths(pattern: str, count: int) -> list[str]:
    """Output shard names for `count` inputs: `{000000..}` or `%06d` becomes the shard number."""
    match = _NUMBERED.search(pattern)
    if match:
        width, offset = len(match.group(1)), int(match.group(1))
        return [pattern[:match.start()] + f"{offset + k:0{width}d}" + pattern[match.end():] for k in range(count)]
    if _PRINTF.search(pattern):
        return [pattern % k for k in range(count)]
    raise ValueError(f"output pattern {pattern!r} needs a shard number: e.g. features-{{000000..}}.tar "
                     f"or features-%06d.tar")


def pool_tokens(tokens: torch.Tensor, pool: int) -> torch.Tensor:
    """(L, g*g, D) -> (L, (g/K)^2, D) by averaging K x K neighbouring patches."""
    if pool == 1:
        return tokens
    frames, count, dim = tokens.shape
    grid = int(round(count**0.5))
    if grid * grid != count or grid % pool:
        raise ValueError(f"cannot pool {count} tokens per frame ({grid}x{grid} grid) by {pool}")
    image = tokens.reshape(frames, grid, grid, dim).permute(0, 3, 1, 2)  # (L, D, g, g)
    pooled = F.avg_pool2d(image.float(), pool)  # (L, D, g/K, g/K)
    return pooled.permute(0, 2, 3, 1).reshape(frames, (grid // pool) ** 2, dim)  # (L, N/K^2, D)


@dataclass
class DecodedRun:
    """One run as decoded by a worker (uint8 pixels), not yet encoded."""

    shard: int  # input shard number
    key: str
    ticks: list[int]
    clip: Clip  # frames uint8 (L, H, W, 3), actions (L-1, A), states (L, S)
    null_steps: list[bool]  # (L-1,)


@dataclass
class ShardDone:
    """The last item of an input shard: whether it was read to its end, and what it skipped."""

    shard: int
    error: str | None
    skipped: dict[str, int]


class DecodedRuns(IterableDataset):
    """Decoded runs of the input shards `shards` ({number: url}); each loader worker takes
    whole shards (k-th shard of this rank to worker k % num_workers), so decoding, the CPU-
    heavy part (every 20 fps frame is decoded), runs in parallel with the encoder."""

    def __init__(self, shards: dict[int, str], clip_cfg: ClipConfig, cfg: EncodeConfig) -> None:
        super().__init__()
        self.shards, self.clip_cfg, self.cfg = shards, clip_cfg, cfg

    def __iter__(self) -> Iterator[DecodedRun | ShardDone]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        layouts = get_action_layout(self.clip_cfg.action_layout), get_state_layout(self.clip_cfg.state_layout)
        for k, url in list(self.shards.items())[worker::workers]:
            errors: list[str] = []

            def on_error(exn: Exception) -> bool:
                errors.append(f"{type(exn).__name__}: {exn}")
                return False  # stop reading this shard: it must not be marked complete

            skipped: Counter = Counter()
            for sample in wds.tarfile_to_samples(handler=on_error)([{"url": url}]):
                try:
                    yield from self._segment_runs(k, url, sample, *layouts)
                except SegmentError as err:  # runs of it already yielded stay valid
                    skipped[err.kind] += 1
                    log.warning("skipped (%s): %s", err.kind, err)
            yield ShardDone(k, f"{url}: {errors[0]}" if errors else None, dict(skipped))

    def _segment_runs(self, k: int, url: str, sample: dict[str, Any], action_layout: Any,
                      state_layout: Any) -> Iterator[DecodedRun]:
        key = str(sample.get("__key__"))
        segment = Segment(f"{url}:{key}", sample.get("mp4"), sample.get("jsonl"),
                          decoder_threads=self.cfg.decoder_threads)
        try:
            plans = plan_runs(key, segment.max_start(self.clip_cfg), segment.usable, self.clip_cfg,
                              self.cfg.windows, frames_per_sample=self.cfg.frames_per_sample, seed=self.cfg.seed,
                              phases=self.cfg.phases)
            for ticks in plans:
                run_cfg = dataclasses.replace(self.clip_cfg, frames=len(ticks))
                (clip,) = segment.cut([ticks[0]], run_cfg, action_layout, state_layout)
                steps = aggregate_steps(segment.ticks_for(self.clip_cfg.hotbar_start), ticks)
                yield DecodedRun(k, key, ticks, clip, [is_null_action(s) for s in steps])
        finally:
            segment.close()


class RunEncoder:
    """Turns decoded runs into feature runs with one frozen encoder (in the main process)."""

    def __init__(self, clip_cfg: ClipConfig, encoder_cfg: EncoderConfig, cfg: EncodeConfig,
                 device: torch.device) -> None:
        if encoder_cfg.img_size != clip_cfg.size:
            raise ValueError(f"encoder.img_size={encoder_cfg.img_size} must equal clip.size={clip_cfg.size}")
        grid = encoder_cfg.grid_size
        if grid % cfg.pool:
            raise ValueError(f"pool={cfg.pool} does not divide the {grid}x{grid} patch grid")
        self.clip_cfg, self.encoder_cfg, self.cfg, self.device = clip_cfg, encoder_cfg, cfg, device
        self.encoder = FrozenEncoder.from_config(encoder_cfg, device)
        self.feature_names = list(get_action_layout(clip_cfg.action_layout).feature_names)
        self.grid_out = grid // cfg.pool
        # The video loader's own collator normalizes the pixels, so both paths see identical inputs.
        self.collate = ClipCollator(clip_cfg.mean, clip_cfg.std)

    def encode_clip(self, clip: Clip) -> torch.Tensor:
        """A decoded run (uint8 frames (L, H, W, 3)) -> stored tokens (L, N, D) on the CPU."""
        item = {"frames": clip.frames, "actions": clip.actions, "states": clip.states, "key": clip.key,
                "start_tick": clip.start_tick, "stats": dict.fromkeys(STAT_KEYS, 0)}
        pixels = self.collate([item])["frames"]  # (1, L, 3, H, W) float32, normalized
        tokens = self.encoder(pixels.to(self.device), chunk_size=self.cfg.batch_size)[0]  # (L, N, D)
        tokens = pool_tokens(tokens, self.cfg.pool)
        return tokens.to(TOKEN_DTYPES[self.cfg.dtype]).cpu()

    def __call__(self, run: DecodedRun, source: str) -> FeatureRun:
        meta = FeatureMeta(
            key=run.key, frame_ticks=[int(t) for t in run.ticks], fps=float(self.clip_cfg.fps),
            clip_frames=self.clip_cfg.frames, encoder=self.encoder_cfg.name,
            embed_dim=self.encoder_cfg.embed_dim, grid_size=self.grid_out, pool=self.cfg.pool,
            dtype=self.cfg.dtype, action_layout=self.feature_names, state_layout=self.clip_cfg.state_layout,
            windows=self.cfg.windows, source=source, encoder_config=config_to_dict(self.encoder_cfg),
        )
        return FeatureRun(
            meta=meta,
            tokens=self.encode_clip(run.clip),  # (L, N, D)
            actions=torch.from_numpy(run.clip.actions),  # (L-1, A)
            states=torch.from_numpy(run.clip.states),  # (L, S)
            null_steps=torch.tensor(run.null_steps, dtype=torch.bool),  # (L-1,)
        )


def _as_is(item: DecodedRun | ShardDone) -> DecodedRun | ShardDone:
    return item  # DataLoader would otherwise try to turn the numpy arrays inside into tensors


class PartialShard:
    """An output shard being written as NAME.partial; `finish` renames it, `abandon` removes it.
    Shared with pipelines/encode_droid.py."""

    def __init__(self, path: str) -> None:
        self.path, self.partial = path, path + ".partial"
        self.writer = wds.TarWriter(self.partial)
        self.runs = self.frames = self.windows = 0

    def write(self, features: FeatureRun, clip_frames: int) -> None:
        """One encoded run; counts its frames and the windows of `clip_frames` frames it holds."""
        frames = int(features.tokens.shape[0])
        self.writer.write(pack_run(features))
        self.runs, self.frames = self.runs + 1, self.frames + frames
        self.windows += frames - clip_frames + 1

    def finish(self) -> None:
        self.writer.close()
        os.replace(self.partial, self.path)

    def abandon(self) -> None:
        self.writer.close()
        os.remove(self.partial)


def record_shard(summary: EncodeSummary, shard: PartialShard) -> None:
    """A finished shard's counts into the summary."""
    summary.shards_written.append(shard.path)
    summary.runs, summary.frames = summary.runs + shard.runs, summary.frames + shard.frames
    summary.windows += shard.windows


def rank_share(outputs: list[str], rank: int, world_size: int, summary: EncodeSummary) -> list[int]:
    """Indices of the output shards this rank writes and has not written yet (a rerun resumes);
    the finished ones are recorded in `summary.shards_skipped`."""
    mine = list(range(rank, len(outputs), world_size))
    summary.shards_skipped = [outputs[k] for k in mine if os.path.exists(outputs[k])]
    return [k for k in mine if not os.path.exists(outputs[k])]


def encoding_device(cfg: EncodeConfig, rank: int, world_size: int) -> torch.device:
    """The device of this rank (LOCAL_RANK under torchrun)."""
    return resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", rank if world_size > 1 else 0)))


def encode_features(clip_cfg: ClipConfig, encoder_cfg: EncoderConfig, cfg: EncodeConfig, *,
                    rank: int | None = None, world_size: int | None = None) -> EncodeSummary:
    """Encode this rank's share of the input shards (RANK / WORLD_SIZE from torchrun if unset)."""

    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world size {world_size}")
    inputs = expand_urls(cfg.data)
    outputs = output_paths(cfg.out, len(inputs))
    clash = {os.path.abspath(u) for u in inputs} & {os.path.abspath(o) for o in outputs}
    if clash:
        raise ValueError(f"output pattern {cfg.out!r} would overwrite input shards: {sorted(clash)[:3]}")
    summary = EncodeSummary()
    todo = {k: inputs[k] for k in rank_share(outputs, rank, world_size, summary)}
    if not todo:
        return summary
    encode = RunEncoder(clip_cfg, encoder_cfg, cfg, encoding_device(cfg, rank, world_size))
    for k in todo:
        os.makedirs(os.path.dirname(os.path.abspath(outputs[k])), exist_ok=True)
    # batch_size=None: items pass through one by one; workers interleave their shards.
    decoded = DataLoader(DecodedRuns(todo, clip_cfg, cfg), batch_size=None, num_workers=cfg.workers,
                         collate_fn=_as_is)
    open_shards: dict[int, PartialShard] = {}
    with tqdm(unit="frame", desc=f"encode rank {rank}", position=rank, disable=not cfg.progress) as bar:
        for item in decoded:
            if item.shard not in open_shards:
                open_shards[item.shard] = PartialShard(outputs[item.shard])
            shard = open_shards[item.shard]
            if isinstance(item, DecodedRun):
                shard.write(encode(item, todo[item.shard]), clip_cfg.frames)
                bar.update(len(item.ticks))
                continue
            del open_shards[item.shard]
            if item.error is not None:  # unreadable input: no output, so a rerun retries it
                shard.abandon()
                summary.shards_failed[todo[item.shard]] = item.error
                log.error("input shard failed, no output written (a rerun retries it): %s", item.error)
                continue
            shard.finish()
            record_shard(summary, shard)
            summary.skipped.update(item.skipped)
            bar.set_postfix_str(f"{len(summary.shards_written)}/{len(todo)} shards")
    summary.shards_written.sort()  # workers finish in any order
    return summary
