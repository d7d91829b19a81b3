"""From one VPT segment (mp4 bytes + jsonl bytes) to training clips.

A clip is `frames` frames sampled at `fps` from the 20 fps video (every 4th frame at 5 fps),
their per-step actions (aggregated over every raw tick in between, by vpt/) and per-frame
states. Several clips are cut from one decoded segment (`clips_per_segment`) so that one
expensive mp4 open serves several clips; all their frames are decoded in one sparse pass.

Bad segments raise `SegmentError(kind, message)`; the loader counts `kind` into the batch
`stats` and moves on. The kinds are listed in `STAT_KEYS`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from craft_jepa.configuration import require_range
from craft_jepa.data.video import SegmentVideo, VideoError
from craft_jepa.vpt.actions import (
    HOTBAR_STARTS,
    SOURCE_FPS,
    aggregate_steps,
    frame_ticks_for_clip,
    prepare_ticks,
    window_is_null,
)
from craft_jepa.vpt.jsonl import TickRecord, parse_jsonl
from craft_jepa.vpt.layouts import ActionLayout, StateLayout, get_action_layout, get_state_layout

MAX_COUNT_MISMATCH = 2  # VPT mp4s have 1 (sometimes 2) frames more than jsonl lines

# Counters of skipped / bad input carried in every clip's `stats` (always all of them).
STAT_KEYS = (
    "bad_shard",  # unreadable shard URL or truncated / corrupt tar
    "missing_mp4",  # sample without STEM.mp4
    "missing_jsonl",  # sample without STEM.jsonl
    "bad_mp4",  # mp4 that cannot be demuxed or decoded (truncated, garbage)
    "bad_jsonl",  # jsonl without a single valid line
    "bad_jsonl_lines",  # invalid lines inside otherwise usable jsonl (kept as null ticks)
    "count_mismatch",  # |frames - lines| > MAX_COUNT_MISMATCH
    "too_short",  # fewer usable frames than one clip spans
    "null_windows",  # clips dropped by drop_null_windows
)


class SegmentError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class ClipConfig:
    """What a clip looks like. Real recipe: 8 frames at 5 fps, 256 px, vpt38 actions."""

    frames: int = 8
    fps: float = 5.0
    size: int = 256  # frames come out size x size (see max_crop_aspect)
    # Centre crop of at most this aspect ratio (long/short side), resized to size x size. 1.0 (default):
    # a square crop, no distortion, but only 56% of a 16:9 frame. 1.35: the V-JEPA 2-AC recipe's
    # crop (76% of the frame, squeezed 1.35x along the long side). 1.78: the whole 16:9 frame.
    max_crop_aspect: float = 1.0
    action_layout: str | list[str] = "vpt38"  # layout name or list of feature names
    state_layout: str = "none"  # none | pitch | yaw_pitch
    drop_null_windows: bool = False  # skip clips whose every step is VPT's null action
    # Hotbar key injection's slot before the first line: "first_line" (no phantom key press at
    # step 0) or "zero" (VPT's loader convention, for reproducing it); see vpt/actions.py.
    hotbar_start: str = "first_line"
    clips_per_segment: int = 4  # clips cut from each decoded segment (train)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __post_init__(self) -> None:
        require_range("ClipConfig.frames", self.frames, at_least=2, note=" (actions sit between frames)")
        if not 0 < self.fps <= SOURCE_FPS:
            raise ValueError(f"ClipConfig.fps must be in (0, {SOURCE_FPS}], got {self.fps}")
        require_range("ClipConfig.size", self.size, at_least=8)
        if not 1.0 <= self.max_crop_aspect <= 4.0:
            raise ValueError(f"ClipConfig.max_crop_aspect must be in [1, 4], got {self.max_crop_aspect}")
        if self.hotbar_start not in HOTBAR_STARTS:
            raise ValueError(f"ClipConfig.hotbar_start={self.hotbar_start!r} must be one of {HOTBAR_STARTS}")
        require_range("ClipConfig.clips_per_segment", self.clips_per_segment, at_least=1)
        self.mean, self.std = tuple(self.mean), tuple(self.std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"ClipConfig.mean/std must be 3 values with std > 0, got {self.mean}, {self.std}")
        self.action_layout = self.action_layout if isinstance(self.action_layout, str) else list(self.action_layout)
        try:
            get_action_layout(self.action_layout)  # raises ValueError naming the bad layout/feature
        except ValueError as err:
            raise ValueError(f"ClipConfig.action_layout: {err}") from None
        try:
            get_state_layout(self.state_layout)
        except ValueError as err:
            raise ValueError(f"ClipConfig.state_layout: {err}") from None

    @property
    def span_ticks(self) -> int:
        """Raw ticks (= source frames) one clip covers, first to last frame inclusive."""
        return frame_ticks_for_clip(0, self.frames, self.fps, SOURCE_FPS)[-1] + 1


@dataclass
class Clip:
    key: str
    start_tick: int
    frames: np.ndarray  # uint8 (T, H, W, 3); the loader's collator normalizes batches
    actions: np.ndarray  # float32 (T-1, A), raw layout vectors
    states: np.ndarray  # float32 (T, S)
    null_window: bool = False  # every step is VPT's null action
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.frames.nbytes + self.actions.nbytes + self.states.nbytes


class Segment:
    """A parsed, validated segment ready to cut clips from. Call close() when done."""

    def __init__(self, key: str, mp4: bytes | None, jsonl: bytes | None, *, decoder_threads: int = 1) -> None:
        self.key = key
        if mp4 is None:
            raise SegmentError("missing_mp4", f"{key}: no .mp4 member")
        if jsonl is None:
            raise SegmentError("missing_jsonl", f"{key}: no .jsonl member")
        parsed = parse_jsonl(jsonl, source=f"{key}.jsonl")
        self.bad_lines = parsed.report.bad_lines
        if not any(t.valid for t in parsed.ticks):
            raise SegmentError("bad_jsonl", f"{key}: jsonl has no valid line ({parsed.report.summary()})")
        self._raw_ticks = parsed.ticks
        self.ticks: list[TickRecord] = prepare_ticks(parsed.ticks)  # default hotbar_start
        self._prepared = {"first_line": self.ticks}
        try:
            self.video = SegmentVideo(mp4, threads=decoder_threads)
        except VideoError as err:
            raise SegmentError("bad_mp4", f"{key}: {err}") from None
        frames, lines = self.video.num_frames, len(self.ticks)
        if abs(frames - lines) > MAX_COUNT_MISMATCH:
            self.video.close()
            raise SegmentError("count_mismatch", f"{key}: {frames} frames vs {lines} jsonl lines")
        self.usable = min(frames, lines)  # frame i pairs with line i; extra trailing frames dropped

    def close(self) -> None:
        self.video.close()

    def ticks_for(self, hotbar_start: str) -> list[TickRecord]:
        """The prepared ticks under one hotbar convention (cached per convention)."""
        if hotbar_start not in self._prepared:
            self._prepared[hotbar_start] = prepare_ticks(self._raw_ticks, hotbar_start)
        return self._prepared[hotbar_start]

    def max_start(self, cfg: ClipConfig) -> int:
        """Largest valid start tick, or raise too_short."""
        last = self.usable - cfg.span_ticks
        if last < 0:
            raise SegmentError("too_short", f"{self.key}: {self.usable} usable frames < clip span {cfg.span_ticks}")
        return last

    def cut(self, starts: Sequence[int], cfg: ClipConfig, action_layout: ActionLayout,
            state_layout: StateLayout, *, decode_everything: bool = False) -> list[Clip]:
        """Clips starting at `starts` (raw ticks); frames of all of them decoded in one pass.
        `decode_everything` is the slow baseline of benchmarks/loader.py (decode every frame)."""
        frame_ticks = [frame_ticks_for_clip(s, cfg.frames, cfg.fps, SOURCE_FPS) for s in starts]
        needed = sorted({t for ticks in frame_ticks for t in ticks})
        try:
            decode = self.video.decode_all_then_pick if decode_everything else self.video.decode
            decoded = decode(needed, cfg.size, max_aspect=cfg.max_crop_aspect)  # (N, size, size, 3)
        except VideoError as err:
            raise SegmentError("bad_mp4", f"{self.key}: {err}") from None
        row_of = {tick: row for row, tick in enumerate(needed)}
        clips = []
        prepared = self.ticks_for(cfg.hotbar_start)
        for start, ticks in zip(starts, frame_ticks):
            steps = aggregate_steps(prepared, ticks)
            clips.append(Clip(
                key=self.key,
                start_tick=int(start),
                frames=decoded[[row_of[t] for t in ticks]],  # (T, size, size, 3)
                actions=action_layout.encode(steps),  # (T-1, A)
                states=state_layout.encode([prepared[t] for t in ticks]),  # (T, S)
                null_window=window_is_null(steps),
            ))
        return clips


def fixed_start(key: str, max_start: int, seed: int) -> int:
    """The validation window of a segment: a start tick fixed by (seed, key), same on every machine."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    return int(rng.integers(0, max_start + 1))


def random_starts(max_start: int, count: int, rng: np.random.Generator) -> list[int]:
    """`count` training start ticks drawn uniformly (with replacement if the segment is short)."""
    replace = count > max_start + 1
    return sorted(int(s) for s in rng.choice(max_start + 1, size=count, replace=replace))
