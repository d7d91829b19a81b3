"""Per-step actions from raw 20 Hz VPT ticks, for clips sampled at a lower fps.

Conventions (REFERENCE.md section 1, docs/architecture.md):
- Tick i's yaw/pitch is the camera shown in frame i; tick i's mouse dx/dy moves the
  camera between frame i and frame i+1 (0.15 degree per unit, +dy looks down).
- Step t of a clip covers raw ticks frame_ticks[t] .. frame_ticks[t+1]-1: mouse and
  wheel deltas are SUMMED over every one of those ticks (not just the sampled ones),
  keys and buttons are OR-ed, and the yaw/pitch difference is the SUM of the per-tick
  differences, each wrapped to [-180, 180). Never the wrapped difference of the two sampled
  frames: players turn more than 180 degrees within one 5 fps step (real data: -463.95 would
  become -103.95, -182.7 would become +177.3), while one tick's change is always small.
  Hotbar slot and GUI flag come from the step's first tick.
- Only mouse buttons 0-2 (attack, use, pickItem) count towards a non-null action, as in VPT;
  buttons 3, 4 (side buttons) map to nothing.

`prepare_ticks` applies the two VPT loader fixes (hotbar key injection and the
stuck-attack fix); loaders call it once per segment before cutting clips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from craft_jepa.configuration import require_range
from craft_jepa.vpt.jsonl import TickRecord

SOURCE_FPS = 20  # VPT recordings: 20 ticks (and video frames) per second
DEGREES_PER_MOUSE_UNIT = 0.15
ATTACK_BUTTON = 0

# VPT's key map: raw key name -> VPT action name. A key outside it is "unmapped".
KEY_TO_VPT_ACTION: dict[str, str] = {
    "key.keyboard.w": "forward",
    "key.keyboard.s": "back",
    "key.keyboard.a": "left",
    "key.keyboard.d": "right",
    "key.keyboard.space": "jump",
    "key.keyboard.left.shift": "sneak",
    "key.keyboard.left.control": "sprint",
    "key.keyboard.q": "drop",
    "key.keyboard.e": "inventory",
    "key.keyboard.f": "swapHands",
    "key.keyboard.escape": "ESC",
    **{f"key.keyboard.{n}": f"hotbar.{n}" for n in range(1, 10)},
}
BUTTON_TO_VPT_ACTION: dict[int, str] = {0: "attack", 1: "use", 2: "pickItem"}
# Where hotbar key injection takes the "previous" slot of a segment's first tick from:
# "first_line" (default): the first line's own slot, so a segment that starts on slot 2 gets no
# key-3 press nobody made; "zero": VPT's loader convention (previous starts at 0), for reproduction.
HOTBAR_STARTS = ("first_line", "zero")


@dataclass(frozen=True)
class StepAction:
    """What the player did between two sampled frames (one clip step)."""

    start_tick: int  # index of the step's first raw tick
    num_ticks: int  # raw ticks aggregated (frame_ticks[t+1] - frame_ticks[t])
    dx: float  # summed mouse dx over the step's ticks
    dy: float
    dwheel: float
    yaw_diff: float  # degrees: sum of the per-tick differences, each wrapped to [-180, 180)
    pitch_diff: float
    keys: frozenset[str]  # raw key names held on any tick of the step
    buttons: frozenset[int]  # mouse buttons held on any tick of the step
    hotbar: int | None  # slot at the step's first tick (None: unknown)
    gui_open: bool  # at the step's first tick
    valid_ticks: int  # how many of the step's ticks came from good lines


def wrap_degrees(angle: float) -> float:
    """Wrap an angle difference in degrees to [-180, 180)."""
    return (angle + 180.0) % 360.0 - 180.0


def inject_hotbar_keys(ticks: Sequence[TickRecord], hotbar_start: str = "first_line") -> list[TickRecord]:
    """Add a `key.keyboard.{slot+1}` press on each tick where the hotbar slot changed.

    Scroll-wheel slot changes produce no key press, so VPT adds one. The previous slot of the
    first tick is the first known slot (`hotbar_start="first_line"`) or 0 (`"zero"`, VPT's
    convention); ticks without a hotbar (None) neither change nor reset it.
    """
    if hotbar_start not in HOTBAR_STARTS:
        raise ValueError(f"hotbar_start={hotbar_start!r} must be one of {HOTBAR_STARTS}")
    out: list[TickRecord] = []
    first_known = next((t.hotbar for t in ticks if t.hotbar is not None), 0)
    previous = first_known if hotbar_start == "first_line" else 0
    for tick in ticks:
        if tick.hotbar is not None and tick.hotbar != previous:
            key = f"key.keyboard.{tick.hotbar + 1}"
            if key not in tick.keys:
                tick = dataclasses.replace(
                    tick,
                    keys=(*tick.keys, key),
                    new_keys=tick.new_keys if key in tick.new_keys else (*tick.new_keys, key),
                )
            previous = tick.hotbar
        out.append(tick)
    return out


def fix_stuck_attack(ticks: Sequence[TickRecord]) -> list[TickRecord]:
    """Drop a stuck attack button at the start of a segment.

    If the first tick's newButtons is exactly [0], the attack was pressed before the
    recording started and its release may never be recorded: button 0 is removed
    from every tick until a later tick presses it again (0 in newButtons).
    """
    out = list(ticks)
    if not out or tuple(out[0].new_buttons) != (ATTACK_BUTTON,):
        return out
    for i, tick in enumerate(out):
        if i > 0 and ATTACK_BUTTON in tick.new_buttons:
            break  # pressed again: real from here on
        if ATTACK_BUTTON in tick.buttons:
            out[i] = dataclasses.replace(
                tick, buttons=tuple(b for b in tick.buttons if b != ATTACK_BUTTON)
            )
    return out


def prepare_ticks(ticks: Sequence[TickRecord], hotbar_start: str = "first_line") -> list[TickRecord]:
    """The loader fixes in VPT order: stuck attack, then hotbar key injection."""
    return inject_hotbar_keys(fix_stuck_attack(ticks), hotbar_start)


def is_null_action(action: TickRecord | StepAction) -> bool:
    """VPT's null action: no mapped key, no mouse motion, no mapped button (0-2) held."""
    if action.dx != 0 or action.dy != 0 or any(b in BUTTON_TO_VPT_ACTION for b in action.buttons):
        return False
    return not any(key in KEY_TO_VPT_ACTION for key in action.keys)


def window_is_null(steps: Sequence[StepAction]) -> bool:
    """True when every step is a null action (the `drop_null_windows` test)."""
    return all(is_null_action(step) for step in steps)


def frame_ticks_for_clip(
    start_tick: int, frames: int, fps: float, source_fps: float = SOURCE_FPS
) -> list[int]:
    """Raw tick index of each of a clip's `frames` frames sampled at `fps`.

    Frame k sits at start_tick + round(k * source_fps / fps); at 5 fps from 20 fps
    that is every 4th tick.
    """
    require_range("frames", frames, at_least=1)
    if not 0 < fps <= source_fps:
        raise ValueError(f"fps must be in (0, {source_fps}], got {fps}")
    require_range("start_tick", start_tick, at_least=0)
    stride = source_fps / fps
    return [start_tick + round(k * stride) for k in range(frames)]


def segment_frame_ticks(
    num_ticks: int, fps: float, start_tick: int = 0, source_fps: float = SOURCE_FPS
) -> list[int]:
    """Every frame tick of a `num_ticks`-long segment sampled at `fps` from `start_tick`."""
    frames = 0 if start_tick >= num_ticks else int((num_ticks - 1 - start_tick) * fps / source_fps) + 2
    if frames == 0:
        return []
    return [t for t in frame_ticks_for_clip(start_tick, frames, fps, source_fps) if t < num_ticks]


def clip_span_ticks(frames: int, fps: float, source_fps: float = SOURCE_FPS) -> int:
    """Raw ticks a clip needs: last frame tick - first frame tick + 1."""
    return frame_ticks_for_clip(0, frames, fps, source_fps)[-1] + 1


def aggregate_steps(ticks: Sequence[TickRecord], frame_ticks: Sequence[int]) -> list[StepAction]:
    """Aggregate raw ticks into one StepAction per pair of consecutive sampled frames.

    Returns len(frame_ticks) - 1 steps; step t covers ticks frame_ticks[t] ..
    frame_ticks[t+1]-1 (see the module docstring for how each field is combined).
    """
    for a, b in zip(frame_ticks, frame_ticks[1:]):
        if b <= a:
            raise ValueError(f"frame_ticks must increase strictly, got {list(frame_ticks)}")
    if frame_ticks and (frame_ticks[0] < 0 or frame_ticks[-1] >= len(ticks)):
        raise ValueError(
            f"frame_ticks span {frame_ticks[0]}..{frame_ticks[-1]} but there are {len(ticks)} ticks"
        )
    steps: list[StepAction] = []
    for start, end in zip(frame_ticks, frame_ticks[1:]):
        dx = dy = dwheel = yaw_diff = pitch_diff = 0.0
        keys: set[str] = set()
        buttons: set[int] = set()
        valid = 0
        for i in range(start, end):
            tick, after = ticks[i], ticks[i + 1]
            dx += tick.dx
            dy += tick.dy
            dwheel += tick.dwheel
            keys.update(tick.keys)
            buttons.update(tick.buttons)
            valid += tick.valid
            # Per tick, then summed: a step may turn past 180 degrees (module docstring).
            yaw_diff += wrap_degrees(after.yaw - tick.yaw)
            pitch_diff += wrap_degrees(after.pitch - tick.pitch)
        first = ticks[start]
        steps.append(
            StepAction(
                start_tick=start,
                num_ticks=end - start,
                dx=dx,
                dy=dy,
                dwheel=dwheel,
                yaw_diff=yaw_diff,
                pitch_diff=pitch_diff,
                keys=frozenset(keys),
                buttons=frozenset(buttons),
                hotbar=first.hotbar,
                gui_open=first.gui_open,
                valid_ticks=valid,
            )
        )
    return steps
