"""Does a recording's camera record line up with its pictures? Image shift vs yaw/pitch deltas.

For frames i and i+1 of a VPT-format segment, phase correlation (`eval.pictures.phase_shift`)
gives how far the scenery moved (+dx right, +dy down). Turning right by d degrees moves the
scenery left by about d times the pixels per degree, and looking down moves it up; so the
horizontal shift of pair i should correlate (negatively) with the recorded yaw delta
`yaw[i+1] - yaw[i]` and the vertical one with the pitch delta, best at lag 0 (frame i shows the
camera of line i, REFERENCE.md section 1). Correlating at lags -3..3 finds an off-by-k pairing,
and the slope at lag 0 is the pixels per degree the footage turns by.

A smooth camera (mouse motion held over many ticks) correlates with itself at lag 1 (about 0.95
in engine footage), so the correlation of the deltas themselves falls off slowly around lag 0.
The changes from one pair to the next (first differences of both series, the usual
prewhitening) correlate only where the pairing is right: their peak is sharp. Both are reported.
Only the top `top_fraction` of each frame is compared: the bottom holds the held item or weapon,
which does not move with the camera and pulls phase correlation towards zero shift.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from craft_jepa.eval.pictures import phase_shift
from craft_jepa.vpt.actions import wrap_degrees
from craft_jepa.vpt.jsonl import parse_jsonl

DEFAULT_LAGS = tuple(range(-3, 4))
MIN_DEGREES = 1.0  # pairs that turn at least this much give the pixels per degree


@dataclass(frozen=True)
class AxisAlignment:
    """Image shift of frame pairs against one camera angle's per-line deltas."""

    lags: tuple[int, ...]
    correlations: tuple[float, ...]  # rank (Spearman) correlation of shift[i] with delta[i + lag]
    best_lag: int  # the lag of the largest |correlation|
    correlation_at_zero: float  # rank correlation at lag 0
    pearson_at_zero: float  # Pearson r at lag 0 (outliers weigh in)
    px_per_degree: float  # median of shift / delta over pairs turning >= MIN_DEGREES (signed)
    pairs: int  # frame pairs used at lag 0

    def margin(self) -> float:
        """|r| at lag 0 minus the largest |r| at any other lag."""
        others = [abs(r) for lag, r in zip(self.lags, self.correlations) if lag != 0]
        return abs(self.correlation_at_zero) - max(others, default=0.0)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..N-1 of x, ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    # Ranks, because phase correlation now and then locks onto a repeating texture one period
    # away (shifts of 50-130 px where the camera turned 20): a few such pairs swing Pearson's r.
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def axis_alignment(shifts: np.ndarray, deltas: np.ndarray, lags: Sequence[int] = DEFAULT_LAGS) -> AxisAlignment:
    """Correlate `shifts` (N,) of frame pair i with `deltas` (N,) of line i at each lag."""
    shifts, deltas = np.asarray(shifts, np.float64), np.asarray(deltas, np.float64)
    n = min(len(shifts), len(deltas))
    correlations = []
    for lag in lags:
        # shift[i] against delta[i + lag], over the i where both exist.
        lo, hi = max(0, -lag), min(n, n - lag)
        if hi - lo < 3:
            raise ValueError(f"too few frame pairs ({n}) to correlate at lag {lag}")
        correlations.append(_rank_correlation(shifts[lo:hi], deltas[lo + lag:hi + lag]))
    turning = np.abs(deltas[:n]) >= MIN_DEGREES
    slope = float(np.median(shifts[:n][turning] / deltas[:n][turning])) if turning.any() else float("nan")
    best = int(lags[int(np.argmax(np.abs(correlations)))])
    return AxisAlignment(tuple(lags), tuple(correlations), best, correlations[list(lags).index(0)],
                         float(np.corrcoef(shifts[:n], deltas[:n])[0, 1]), slope, n)


def frame_shifts(frames: Sequence[np.ndarray]) -> np.ndarray:
    """(N-1, 2) phase-correlation shifts (dy, dx) from frame i to frame i+1."""
    return np.array([phase_shift(a, b) for a, b in itertools.pairwise(frames)], dtype=np.float64)


def read_grey_frames(mp4: str, max_frames: int | None = None) -> list[np.ndarray]:
    """Every frame of an mp4 as (H, W) uint8 luma, in order (at most `max_frames`)."""
    import av  # heavy: only when a recording is checked

    frames = []
    with av.open(mp4) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="gray"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames


def recording_alignment(mp4: str, jsonl: str, lags: Sequence[int] = DEFAULT_LAGS,
                        max_frames: int | None = None, top_fraction: float = 2 / 3) -> dict[str, AxisAlignment]:
    """Alignment of one recording: 'yaw' (horizontal shift vs yaw deltas), 'pitch' (vertical
    shift vs pitch deltas) and 'yaw_change' / 'pitch_change' (their first differences).
    Lines the parser rejects are refused: their camera is not the recorded one."""
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    with open(jsonl, "rb") as f:
        parsed = parse_jsonl(f.read(), jsonl)
    if parsed.report.bad_lines:
        raise ValueError(f"{parsed.report.summary()}: cannot check the camera of bad lines")
    frames = read_grey_frames(mp4, max_frames)
    rows = round(frames[0].shape[0] * top_fraction)
    shifts = frame_shifts([frame[:rows] for frame in frames])  # (frames-1, 2): pair i is frame i -> i+1
    yaw = np.array([t.yaw for t in parsed.ticks])
    pitch = np.array([t.pitch for t in parsed.ticks])
    yaw_deltas = np.array([wrap_degrees(d) for d in np.diff(yaw)])  # line i -> i+1
    pitch_deltas = np.diff(pitch)
    n = min(len(shifts), len(yaw_deltas))
    return {"yaw": axis_alignment(shifts[:n, 1], yaw_deltas[:n], lags),
            "pitch": axis_alignment(shifts[:n, 0], pitch_deltas[:n], lags),
            "yaw_change": axis_alignment(np.diff(shifts[:n, 1]), np.diff(yaw_deltas[:n]), lags),
            "pitch_change": axis_alignment(np.diff(shifts[:n, 0]), np.diff(pitch_deltas[:n]), lags)}
