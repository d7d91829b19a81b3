"""Feature shards: the on-disk layout of pre-encoded clips, and which frames go into them.

A feature shard is a WebDataset tar. One sample is one *run*: L consecutive frames of one
segment sampled at the clip fps (frame ticks t0, t0 + 4, t0 + 8, ... at 5 fps), with

    KEY.json          FeatureMeta (segment key, frame ticks, encoder, layouts, dtype, pool)
    KEY.safetensors   tokens     (L, N, D)  bf16 | fp16 | fp32, the frozen encoder's output
                      actions    (L-1, A)   float32, raw layout vectors (step t: frame t -> t+1)
                      states     (L, S)     float32, S may be 0
                      null_steps (L-1,)     uint8, 1 where step t is VPT's null action

KEY is `<segment key>_<first tick, 6 digits>` (WebDataset keys may not contain dots).

Any T consecutive frames of a run form a training clip that is identical to the clip the
video loader would cut at the same start tick, because V-JEPA 2-AC encodes every frame on
its own (tokens of a frame do not depend on its window), actions aggregate the raw ticks
between two frames (a step of a window is the step of the run), and states are per frame.

`plan_runs` chooses the runs of a segment:
- `all`: every window on the frame grid that starts at tick 0, packed into runs of at most
  `frames_per_sample` frames that overlap by T-1 frames, so every window lies in exactly one
  run (storage overhead (T-1) / (L-T+1): 12 % for L = 64, T = 8). With `phases` = k > 1, the
  grids that start at ticks 1 .. k-1 too (at most the tick stride 20 / fps): the video loader
  starts clips at any tick, a cache of phase 0 holds only 1 / stride of those windows, which
  matters when the footage is short (docs/world-model.md).
- `val`: the one window `build_val_loader` takes from the segment (same seed, same tick).
- `N`: N windows drawn per segment (seeded by seed and key), one run of T frames each.

safetensors holds plain tensors (bf16 included) and no code: nothing here unpickles.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors.torch import load, save

from craft_jepa.data.clips import ClipConfig, SegmentError, fixed_start, random_starts
from craft_jepa.vpt.actions import SOURCE_FPS, frame_ticks_for_clip, segment_frame_ticks

FEATURE_FORMAT = "craft-jepa-features"
FEATURE_VERSION = 1
TOKEN_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# Counters of skipped feature input carried in every feature clip's `stats`.
FEATURE_STAT_KEYS = (
    "bad_shard",  # unreadable shard URL or truncated / corrupt tar
    "missing_member",  # sample without KEY.json or KEY.safetensors
    "bad_features",  # unreadable JSON / safetensors, or tensors of inconsistent shapes
    "too_short",  # run shorter than one clip (features encoded for shorter clips)
    "null_windows",  # clips dropped by drop_null_windows
)


class FeatureError(SegmentError):
    """A bad feature sample; `kind` is one of FEATURE_STAT_KEYS."""


@dataclass
class FeatureMeta:
    """The JSON member of a run. `grid_size` counts patches per side after pooling."""

    key: str  # segment key (the video shard's __key__)
    frame_ticks: list[int]  # raw tick of each of the run's L frames
    fps: float
    clip_frames: int  # T the shard was encoded for (runs overlap by T-1 frames)
    encoder: str
    embed_dim: int
    grid_size: int
    pool: int
    dtype: str  # bf16 | fp16 | fp32
    action_layout: list[str]  # feature names, in order
    state_layout: str
    windows: str  # all | val | N
    source: str = ""  # the video shard it came from
    encoder_config: dict[str, Any] = field(default_factory=dict)  # provenance only
    format: str = FEATURE_FORMAT
    version: int = FEATURE_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> FeatureMeta:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as err:
            raise FeatureError("bad_features", f"{where}.json: not JSON ({err})") from None
        if not isinstance(raw, dict) or raw.get("format") != FEATURE_FORMAT:
            raise FeatureError("bad_features", f"{where}.json: not a {FEATURE_FORMAT} record")
        if raw.get("version") != FEATURE_VERSION:
            raise FeatureError("bad_features", f"{where}.json: version {raw.get('version')} != {FEATURE_VERSION}")
        try:
            return cls(**raw)
        except TypeError as err:  # missing or unexpected keys
            raise FeatureError("bad_features", f"{where}.json: {err}") from None


@dataclass
class FeatureRun:
    meta: FeatureMeta
    tokens: torch.Tensor  # (L, N, D), stored dtype
    actions: torch.Tensor  # (L-1, A) float32
    states: torch.Tensor  # (L, S) float32
    null_steps: torch.Tensor  # (L-1,) bool

    @property
    def sample_key(self) -> str:
        return f"{self.meta.key}_{self.meta.frame_ticks[0]:06d}"


def pack_run(run: FeatureRun) -> dict[str, Any]:
    """A run -> a WebDataset sample dict (bytes members) for TarWriter."""

    tensors = {
        "tokens": run.tokens.contiguous(),
        "actions": run.actions.float().contiguous(),
        "states": run.states.float().contiguous(),
        "null_steps": run.null_steps.to(torch.uint8).contiguous(),
    }
    return {"__key__": run.sample_key, "json": run.meta.to_json(), "safetensors": save(tensors)}


def unpack_run(sample: dict[str, Any], where: str) -> FeatureRun:
    """A WebDataset sample dict -> a checked run; FeatureError on a missing or bad member."""

    for member in ("json", "safetensors"):
        if sample.get(member) is None:
            raise FeatureError("missing_member", f"{where}: no .{member} member")
    meta = FeatureMeta.from_json(sample["json"], where)
    try:
        tensors = load(bytes(sample["safetensors"]))
    except Exception as err:  # safetensors raises its own SafetensorError on corrupt bytes
        raise FeatureError("bad_features", f"{where}.safetensors: unreadable ({err})") from None
    missing = {"tokens", "actions", "states", "null_steps"} - set(tensors)
    if missing:
        raise FeatureError("bad_features", f"{where}.safetensors: missing tensors {sorted(missing)}")
    run = FeatureRun(meta, tensors["tokens"], tensors["actions"], tensors["states"], tensors["null_steps"].bool())
    frames = len(meta.frame_ticks)
    expected = {
        "tokens": (frames, meta.grid_size**2, meta.embed_dim),
        "actions": (frames - 1, len(meta.action_layout)),
        "states": (frames, run.states.shape[-1] if run.states.dim() == 2 else -1),
        "null_steps": (frames - 1,),
    }
    for name, shape in expected.items():
        if tuple(getattr(run, name).shape) != shape:
            raise FeatureError("bad_features", f"{where}.safetensors: {name} has shape "
                                               f"{tuple(getattr(run, name).shape)}, expected {shape}")
    if run.tokens.dtype != TOKEN_DTYPES.get(meta.dtype):
        raise FeatureError("bad_features", f"{where}.safetensors: tokens are {run.tokens.dtype}, json says {meta.dtype}")
    return run


# ---------------------------------------------------------------------- which frames to encode


def parse_windows(windows: str | int) -> str:
    """Normalize a --windows value: 'all', 'val' or a positive count as a string."""
    text = str(windows).strip().lower()
    if text in ("all", "val"):
        return text
    if text.isdigit() and int(text) > 0:
        return str(int(text))
    raise ValueError(f"windows must be 'all', 'val' or a positive number of windows per segment, got {windows!r}")


def _key_rng(key: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8")), 1])


def plan_runs(key: str, max_start: int, usable: int, cfg: ClipConfig, windows: str, *,
              frames_per_sample: int, seed: int, phases: int = 1) -> list[list[int]]:
    """Frame ticks of each run to encode from one segment (see the module docstring).

    `max_start` is the segment's last valid clip start (Segment.max_start), `usable` its
    number of usable ticks. Runs come out in tick order.
    """
    windows = parse_windows(windows)
    if windows == "val":
        return [frame_ticks_for_clip(fixed_start(key, max_start, seed), cfg.frames, cfg.fps)]
    if windows != "all":
        starts = sorted(set(random_starts(max_start, int(windows), _key_rng(key, seed))))
        return [frame_ticks_for_clip(s, cfg.frames, cfg.fps) for s in starts]
    stride = SOURCE_FPS / cfg.fps
    if stride != int(stride):
        raise ValueError(f"windows='all' needs an integer tick stride, but clip.fps={cfg.fps} gives "
                         f"{stride:.3f} ticks per frame; use fps 20/k or windows=N")
    if frames_per_sample < cfg.frames:
        raise ValueError(f"frames_per_sample={frames_per_sample} must be >= clip.frames={cfg.frames}")
    if not 1 <= phases <= stride:
        raise ValueError(f"phases={phases} must be in [1, {int(stride)}] (the tick stride at clip.fps={cfg.fps})")
    step = frames_per_sample - (cfg.frames - 1)  # consecutive runs share T-1 frames
    runs = []
    for phase in range(phases):
        grid = segment_frame_ticks(usable, cfg.fps, start_tick=phase)  # every frame tick < usable, from `phase`
        runs += [grid[first:first + frames_per_sample] for first in range(0, len(grid) - cfg.frames + 1, step)]
    return sorted(runs)
