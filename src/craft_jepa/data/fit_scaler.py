"""Fit the ActionScaler by streaming the jsonl members of training shards.

Video is never decoded, and for local `.tar` shards never even read: `tarfile` in
random-access mode seeks over each member it does not open, so an mp4 member costs
one header read. Remote shards (`pipe:`, http, s3) are streamed through
WebDataset's `gopen` and read sequentially (a stream cannot seek).

Each segment is cut into steps at the clip fps (default 5 fps: every 4th raw tick),
exactly the way clips are cut for training, so the statistics describe the actions
training sees. Only the layout's continuous dims are accumulated (float64, Chan's
streaming moments).

With a step budget (`max_steps`), shards are visited in a seeded random order and each
gives at most max_steps / min(shards, budget_spread) steps, so the budget is spread over
many shards (players) instead of filling up on the first few in the list (`pack` used to
write shards sorted by player: 200k steps were ~4 of 1,649 shards, a handful of players).
"""

from __future__ import annotations

import math
import random
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm
from webdataset import gopen

from craft_jepa.configuration import require_range
from craft_jepa.data.shards import expand_urls, split_train_val
from craft_jepa.vpt.actions import SOURCE_FPS, aggregate_steps, prepare_ticks, segment_frame_ticks
from craft_jepa.vpt.jsonl import ParseReport, parse_jsonl
from craft_jepa.vpt.layouts import ActionLayout, get_action_layout
from craft_jepa.vpt.scaler import ActionScaler, RunningMoments


@dataclass
class FitScalerConfig:
    data: str | list[str]  # shard spec, see data.shards.expand_urls
    layout: str | list[str] = "vpt38"
    fps: float = 5.0
    max_steps: int | None = None  # sample budget; None = every step of the chosen shards
    budget_spread: int = 100  # with max_steps: spread the budget over at least this many shards
    shard_every: int = 1  # keep every k-th training shard ...
    shard_fraction: float = 1.0  # ... then a seeded random fraction of those
    val_fraction: float = 0.05  # must match training's, so validation shards stay unseen
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("FitScalerConfig.data: empty shard spec")
        if not 0 < self.fps <= SOURCE_FPS:
            raise ValueError(f"FitScalerConfig.fps must be in (0, {SOURCE_FPS}], got {self.fps}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"FitScalerConfig.max_steps must be >= 1 or None, got {self.max_steps}")
        require_range("FitScalerConfig.budget_spread", self.budget_spread, at_least=1)
        require_range("FitScalerConfig.shard_every", self.shard_every, at_least=1)
        if not 0 < self.shard_fraction <= 1:
            raise ValueError(f"FitScalerConfig.shard_fraction must be in (0, 1], got {self.shard_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"FitScalerConfig.val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass
class FitScalerStats:
    shards: int = 0  # shards opened
    bad_shards: int = 0  # shards that failed to open or ended in a broken tar
    members: int = 0  # jsonl members read
    bad_members: int = 0  # jsonl members skipped (unreadable, or too short for one step)
    jsonl_bytes: int = 0
    steps: int = 0
    messages: list[str] = field(default_factory=list)  # first few problems, with shard/member
    parse: ParseReport = field(default_factory=lambda: ParseReport(source="all jsonl"))

    def note(self, message: str) -> None:
        if len(self.messages) < 20:
            self.messages.append(message)


@dataclass
class FitScalerResult:
    scaler: ActionScaler
    stats: FitScalerStats


def select_shards(urls: Sequence[str], every: int = 1, fraction: float = 1.0, seed: int = 0) -> list[str]:
    """Every `every`-th URL, then a seeded random `fraction` of those (at least one), in order."""
    kept = list(urls)[::every]
    if fraction < 1.0 and kept:
        k = max(1, math.ceil(len(kept) * fraction))
        chosen = sorted(random.Random(seed).sample(range(len(kept)), k))
        kept = [kept[i] for i in chosen]
    return kept


def _is_local(url: str) -> bool:
    return not (url.startswith("pipe:") or "://" in url) or url.startswith("file://")


def iter_jsonl_members(url: str) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of every `.jsonl` member of one tar shard, in tar order.

    Local files: random-access `tarfile`, skipping other members by seeking.
    Remote URLs: WebDataset's `gopen` stream read sequentially. Raises tarfile/OS
    errors for a broken shard (after yielding what came before the damage).
    """
    if _is_local(url):
        path = url.removeprefix("file://")
        with tarfile.open(path, mode="r:*") as tar:
            while (member := tar.next()) is not None:
                if member.isfile() and member.name.endswith(".jsonl"):
                    yield member.name, tar.extractfile(member).read()
                # tarfile.next() seeks to the next header itself: unread bodies are skipped.
                tar.members.clear()  # don't keep every header of a big shard in memory
        return

    stream = gopen(url, "rb")
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".jsonl"):
                    yield member.name, tar.extractfile(member).read()
    finally:
        stream.close()


def segment_steps_continuous(data: bytes, source: str, layout: ActionLayout, fps: float):
    """One jsonl member -> (continuous values (N, C) float32, ParseReport), or (None, report).

    Steps are cut from tick 0 at the clip fps, like a clip starting at tick 0.
    """
    parsed = parse_jsonl(data, source)
    ticks = prepare_ticks(parsed.ticks)
    if len(ticks) < 2 or parsed.report.bad_lines == len(ticks):
        return None, parsed.report
    frame_ticks = segment_frame_ticks(len(ticks), fps)  # every sampled frame of the segment
    if len(frame_ticks) < 2:
        return None, parsed.report
    continuous = ActionLayout(layout.name, [layout.feature_names[i] for i in layout.continuous_indices])
    return continuous.encode(aggregate_steps(ticks, frame_ticks)), parsed.report


def fit_action_scaler(cfg: FitScalerConfig) -> FitScalerResult:
    """Stream the chosen training shards and fit an ActionScaler for `cfg.layout`."""
    layout = get_action_layout(cfg.layout)
    if len(layout.continuous_indices) == 0:
        raise ValueError(f"action layout {layout.name!r} has no continuous features to scale")
    train_urls, _ = split_train_val(expand_urls(cfg.data), cfg.val_fraction)
    urls = select_shards(train_urls, cfg.shard_every, cfg.shard_fraction, cfg.seed)
    per_shard = None  # steps one shard may give
    if cfg.max_steps is not None:
        urls = [urls[i] for i in np.random.default_rng(cfg.seed).permutation(len(urls))]
        per_shard = math.ceil(cfg.max_steps / min(len(urls), cfg.budget_spread))
    moments = RunningMoments(len(layout.continuous_indices))
    stats = FitScalerStats()

    bar = tqdm(total=len(urls), unit="shard", disable=not cfg.progress, file=sys.stderr)
    try:
        for url in urls:
            stats.shards += 1
            shard_start = moments.count
            try:
                for name, data in iter_jsonl_members(url):
                    stats.members += 1
                    stats.jsonl_bytes += len(data)
                    values, report = segment_steps_continuous(data, f"{url}:{name}", layout, cfg.fps)
                    stats.parse.merge(report)
                    if values is None:
                        stats.bad_members += 1
                        stats.note(f"{url}:{name}: no usable steps ({report.summary()})")
                        continue
                    if cfg.max_steps is not None:
                        room = min(cfg.max_steps - moments.count, per_shard - (moments.count - shard_start))
                        values = values[:room]
                    moments.update(values)
                    if per_shard is not None and (moments.count >= cfg.max_steps
                                                  or moments.count - shard_start >= per_shard):
                        break
            except (tarfile.TarError, OSError, EOFError) as err:
                stats.bad_shards += 1
                stats.note(f"{url}: broken shard, skipped the rest ({type(err).__name__}: {err})")
            bar.update(1)
            bar.set_postfix(steps=moments.count, bad=stats.bad_members + stats.bad_shards)
            if cfg.max_steps is not None and moments.count >= cfg.max_steps:
                break
    finally:
        bar.close()
    stats.steps = moments.count
    if moments.count == 0:
        detail = "; ".join(stats.messages[:3])
        raise ValueError(f"fit-scaler: no usable steps in {len(urls)} shard(s) of {cfg.data!r}. {detail}")
    return FitScalerResult(ActionScaler.from_moments(layout, moments), stats)
