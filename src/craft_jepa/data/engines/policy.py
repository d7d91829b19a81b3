"""A smooth, seeded random player for game engines, acting in VPT terms (mouse units and keys).

The policy knows nothing of any engine: each frame it reads the camera pitch (degrees), whether
the player is stuck against something, and which hotbar slots hold an item, and returns one
`FrameAction` in VPT's vocabulary (integer mouse dx/dy at 0.15 degree per unit, held
`key.keyboard.*` names, held mouse buttons). An engine recorder maps that onto its own controls.

Camera: the yaw rate is an Ornstein-Uhlenbeck process (smooth wandering), with occasional
deliberate turns of 45-180 degrees (and one whenever the player is stuck), so footage holds
both slow drifts and clear turns; the pitch wanders around level and is pulled back to it.
Keys are held for a while (forward most of the time, strafes and backing off now and then,
jumps, crouches), attack comes in bursts, and short idle stretches hold nothing at all (VPT's
null action). Integer mouse units, as VPT records with no GUI open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

DEGREES_PER_MOUSE_UNIT = 0.15  # VPT: 2,400 mouse units per full turn
FORWARD, BACK, LEFT, RIGHT = "key.keyboard.w", "key.keyboard.s", "key.keyboard.a", "key.keyboard.d"
JUMP, CROUCH = "key.keyboard.space", "key.keyboard.left.shift"
HOTBAR_KEYS = tuple(f"key.keyboard.{slot}" for slot in range(1, 10))
ATTACK_BUTTON, USE_BUTTON = 0, 1


@dataclass(frozen=True)
class PolicyConfig:
    """Rates are per 20 Hz frame; mouse amounts in VPT mouse units (0.15 degree each)."""

    yaw_keep: float = 0.92  # OU: yaw rate <- keep * rate + noise
    yaw_noise: float = 2.0  # std of the OU noise (units)
    turn_chance: float = 0.012  # chance per frame to start a deliberate turn
    turn_degrees: tuple[float, float] = (45.0, 180.0)
    turn_rate: tuple[float, float] = (20.0, 45.0)  # units per frame during a turn (3-6.75 deg)
    pitch_keep: float = 0.85
    pitch_noise: float = 1.2
    pitch_pull: float = 0.08  # units per frame per degree of pitch, back toward level
    # Held keys: (key, chance to press per frame, chance to release per frame).
    held_keys: tuple[tuple[str, float, float], ...] = (
        (FORWARD, 0.06, 0.012),
        (BACK, 0.004, 0.08),
        (LEFT, 0.012, 0.08),
        (RIGHT, 0.012, 0.08),
        (JUMP, 0.01, 0.5),
        (CROUCH, 0.003, 0.05),
    )
    attack: tuple[float, float] = (0.015, 0.08)  # press / release chance per frame
    use_chance: float = 0.006  # a one-frame "use" press (opens doors)
    hotbar_chance: float = 0.006  # a one-frame hotbar key press for another owned slot
    idle_chance: float = 0.004  # start an idle stretch (nothing held, no mouse)
    idle_frames: tuple[int, int] = (10, 40)

    def __post_init__(self) -> None:
        if not 0.0 <= self.yaw_keep < 1.0 or not 0.0 <= self.pitch_keep < 1.0:
            raise ValueError("PolicyConfig.yaw_keep and pitch_keep must be in [0, 1)")
        if self.turn_degrees[0] > self.turn_degrees[1] or self.turn_rate[0] > self.turn_rate[1]:
            raise ValueError("PolicyConfig.turn_degrees and turn_rate must be (low, high) ranges")


@dataclass(frozen=True)
class FrameAction:
    """One frame's input, as a VPT jsonl line records it."""

    dx: int  # mouse units; + turns right
    dy: int  # mouse units; + looks down
    keys: tuple[str, ...]  # held, sorted
    buttons: tuple[int, ...]  # held, sorted

    def hotbar_slot(self) -> int | None:
        """The slot (0-8) whose key this frame presses, if any."""
        for key in self.keys:
            if key in HOTBAR_KEYS:
                return HOTBAR_KEYS.index(key)
        return None


@dataclass
class SmoothRandomPolicy:
    rng: np.random.Generator
    cfg: PolicyConfig = field(default_factory=PolicyConfig)
    yaw_rate: float = 0.0  # units per frame (the OU state)
    pitch_rate: float = 0.0
    turn_left_units: float = 0.0  # signed units still to turn in the current deliberate turn
    turn_speed: float = 0.0
    idle_left: int = 0
    held: set[str] = field(default_factory=set)
    attacking: bool = False

    def _start_turn(self, side: float) -> None:
        sign = float(np.sign(side)) if side != 0 else float(self.rng.choice([-1.0, 1.0]))
        degrees = self.rng.uniform(*self.cfg.turn_degrees) * sign
        self.turn_left_units = degrees / DEGREES_PER_MOUSE_UNIT
        self.turn_speed = self.rng.uniform(*self.cfg.turn_rate)

    def act(self, pitch: float, blocked: bool, open_side: float, owned_slots: Sequence[int],
            hotbar: int) -> FrameAction:
        """The next frame's action. `pitch` in degrees (+ down); `blocked`: a wall is close ahead
        or the player pushes without moving; `open_side`: where there is more room (+ right,
        - left, 0 unknown), the way a turn away from a wall goes; `owned_slots`: hotbar slots
        (0-8) the player may switch to."""
        cfg, rng = self.cfg, self.rng
        draws = rng.random(8)
        noise = rng.normal(0.0, [cfg.yaw_noise, cfg.pitch_noise])
        if self.idle_left > 0 or draws[0] < cfg.idle_chance:
            if self.idle_left == 0:
                self.idle_left = int(rng.integers(*cfg.idle_frames))
            self.idle_left -= 1
            self.held.clear()
            self.attacking = False
            self.yaw_rate = self.pitch_rate = 0.0
            return FrameAction(0, 0, (), ())
        if self.turn_left_units == 0.0 and blocked:
            self._start_turn(open_side)
        elif self.turn_left_units == 0.0 and draws[1] < cfg.turn_chance:
            self._start_turn(0.0)
        self.yaw_rate = cfg.yaw_keep * self.yaw_rate + noise[0]
        turn = float(np.clip(self.turn_left_units, -self.turn_speed, self.turn_speed))
        self.turn_left_units -= turn
        if abs(self.turn_left_units) < 1e-9:
            self.turn_left_units = 0.0
        self.pitch_rate = cfg.pitch_keep * self.pitch_rate + noise[1]
        dx = round(self.yaw_rate + turn)
        dy = round(self.pitch_rate - cfg.pitch_pull * pitch)

        for (key, p_on, p_off), draw in zip(cfg.held_keys, rng.random(len(cfg.held_keys))):
            if key in self.held and draw < p_off:
                self.held.discard(key)
            elif key not in self.held and draw < p_on:
                self.held.add(key)
        keys = set(self.held)
        if self.attacking:
            self.attacking = draws[2] >= cfg.attack[1]
        else:
            self.attacking = draws[2] < cfg.attack[0]
        buttons = ([ATTACK_BUTTON] if self.attacking else []) + ([USE_BUTTON] if draws[3] < cfg.use_chance else [])
        others = [slot for slot in owned_slots if slot != hotbar]
        if others and draws[4] < cfg.hotbar_chance:
            keys.add(HOTBAR_KEYS[others[int(draws[5] * len(others))]])
        return FrameAction(dx, dy, tuple(sorted(keys)), tuple(buttons))
