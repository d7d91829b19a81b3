"""Record a real game engine (ViZDoom, bundled with the Freedoom data) as VPT-format segments.

`write_recording` plays one map headless with `SmoothRandomPolicy` and writes the three files of
a VPT segment: `STEM.mp4` (H.264 640x360 at 20 fps, one more frame than the jsonl has lines),
`STEM.jsonl` (the keys of REFERENCE.md section 1, in VPT's order) and `STEM-options.json`
(engine, map, seed, timing).

Timing, as in VPT and `data/synth.py`: line i's yaw/pitch/position/hotbar are the state SHOWN in
frame i; its mouse dx/dy, keys and buttons are the input applied after frame i, so their effect
first shows in frame i+1. Each frame advances the engine `tics_per_frame` of Doom's 35 Hz tics
(2: the game runs 40/35 = 1.14x real time at 20 fps).

Controls -> VPT: the mouse dx/dy (integer units, 0.15 degree each) drive the engine's
TURN_LEFT_RIGHT_DELTA / LOOK_UP_DOWN_DELTA buttons in degrees (spread over the frame's tics);
w/s and a/d its MOVE_*_DELTA buttons at one walking speed; space JUMP, left.shift CROUCH; mouse
button 0 ATTACK, 1 USE; keys 1-7 SELECT_WEAPON1-7. The recorded yaw/pitch are what the ENGINE did
(its ANGLE/PITCH variables), not the commands: Doom's ANGLE grows counter-clockwise, so the VPT yaw
(growing as the player turns right) is its negation, unwrapped; Doom's PITCH already grows
downwards like VPT's. The hotbar is the weapon slot minus 1: a hotbar key selects its slot on the
next line (as in Minecraft; Doom then lowers one weapon and raises the other), and a switch the
engine makes by itself (a weapon picked up, ammo out) shows as a slot change with no key press,
like a scroll-wheel change in VPT.

Same seed, same bytes on every machine: the engine is seeded (`DoomGame.set_seed`) and runs
synchronously, the policy is seeded, and libx264 runs on one thread (`data.synth.encode_mp4`).
A segment ends early (shorter files, counted in the options) if the episode ends or the player
dies despite god mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from craft_jepa.data.engines.policy import (
    ATTACK_BUTTON,
    BACK,
    CROUCH,
    DEGREES_PER_MOUSE_UNIT,
    FORWARD,
    JUMP,
    LEFT,
    RIGHT,
    USE_BUTTON,
    FrameAction,
    PolicyConfig,
    SmoothRandomPolicy,
)
from craft_jepa.data.render import HEIGHT, WIDTH
from craft_jepa.data.synth import FPS, encode_mp4
from craft_jepa.vpt.actions import wrap_degrees

# Map name -> (game data, scenario wad or None, map lump). Freedoom 2's MAP01-MAP32, Freedoom 1's
# episodes, and two of ViZDoom's bundled arenas that run for minutes (others end in seconds).
MAPS: dict[str, tuple[str, str | None, str]] = {
    **{f"MAP{n:02d}": ("freedoom2.wad", None, f"MAP{n:02d}") for n in range(1, 33)},
    **{f"E{e}M{m}": ("freedoom1.wad", None, f"E{e}M{m}") for e in range(1, 5) for m in range(1, 10)},
    "deathmatch": ("freedoom2.wad", "deathmatch.wad", "MAP01"),
    "defend_the_center": ("freedoom2.wad", "defend_the_center.wad", "MAP01"),
}
WEAPON_SLOTS = 7  # Doom's weapon slots 1-7 -> hotbar 0-6
STUCK_FRAMES, STUCK_UNITS = 10, 12.0  # moving less than this over that many frames while walking
# A wall is "close ahead" when the median depth of the middle of the view is below this (the
# depth buffer counts about 7 map units per level, so about 100 units: three player widths).
NEAR_DEPTH = 14
_AHEAD = (slice(120, 240), slice(200, 440))  # rows, columns of the 640x360 view
_LEFT, _RIGHT = (slice(120, 240), slice(0, 200)), (slice(120, 240), slice(440, 640))


@dataclass(frozen=True)
class RecorderConfig:
    """How to record one segment."""

    map_name: str = "MAP01"
    seconds: float = 10.0
    seed: int = 0
    tics_per_frame: int = 2  # Doom tics (35 Hz) per 20 fps frame
    warmup_seconds: tuple[float, float] = (2.0, 20.0)  # unrecorded play first (seeded length)
    walk_speed: float = 12.5  # MOVE_*_DELTA value: about 4 map units per tic, half Doom's walk
    skill: int = 2
    preset: str = "ultrafast"  # libx264
    keyint: int = 20
    crf: int = 23
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self) -> None:
        if self.map_name not in MAPS:
            raise ValueError(f"unknown map {self.map_name!r}; known: {', '.join(MAPS)}")
        if not self.seconds > 0:
            raise ValueError(f"RecorderConfig.seconds must be > 0, got {self.seconds}")
        if self.tics_per_frame < 1:
            raise ValueError(f"RecorderConfig.tics_per_frame must be >= 1, got {self.tics_per_frame}")
        if not 0 < self.warmup_seconds[0] <= self.warmup_seconds[1]:
            raise ValueError(f"RecorderConfig.warmup_seconds must be 0 < low <= high, got {self.warmup_seconds}")


@dataclass(frozen=True)
class EngineState:
    """What the recorder reads from the engine at one frame (VPT conventions)."""

    frame: np.ndarray  # (360, 640, 3) uint8
    angle: float  # Doom ANGLE, degrees counter-clockwise in [0, 360)
    pitch: float  # degrees, + looks down
    position: tuple[float, float, float]  # Doom x, y (horizontal), z (height)
    weapon_slot: int  # SELECTED_WEAPON (1-7; anything else: unknown)
    owned_slots: tuple[int, ...]  # hotbar slots (0-based) holding a weapon
    wall_ahead: bool  # the middle of the view is closer than NEAR_DEPTH
    open_side: float  # median depth on the right minus on the left (+: more room to the right)


def make_stem(seed: int, map_name: str) -> str:
    """`vizdoom-<map>-<12 hex>-<yyyyMMdd>-<HHmmss>`, deterministic per (seed, map)."""
    digest = hashlib.sha256(f"vizdoom:{map_name}:{seed}".encode()).digest()
    second = int.from_bytes(digest[6:9], "big") % 86400
    return (f"vizdoom-{map_name.lower().replace('_', '')}-{digest[:6].hex()}-202612{digest[9] % 28 + 1:02d}"
            f"-{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}")


def _buttons(vzd):  # the engine's controls in the order of `_engine_action`'s vector
    b = vzd.Button
    return [b.TURN_LEFT_RIGHT_DELTA, b.LOOK_UP_DOWN_DELTA, b.MOVE_FORWARD_BACKWARD_DELTA, b.MOVE_LEFT_RIGHT_DELTA,
            b.JUMP, b.CROUCH, b.ATTACK, b.USE] + [getattr(b, f"SELECT_WEAPON{k}") for k in range(1, WEAPON_SLOTS + 1)]


def _engine_action(action: FrameAction, cfg: RecorderConfig) -> list[float]:
    """A frame's VPT input -> the engine's per-tic button values (deltas in degrees per tic)."""
    per_tic = DEGREES_PER_MOUSE_UNIT / cfg.tics_per_frame
    keys = set(action.keys)
    vector = [per_tic * action.dx,  # + turns right
              -per_tic * action.dy,  # Doom's + looks up; VPT's +dy looks down
              cfg.walk_speed * ((FORWARD in keys) - (BACK in keys)),
              cfg.walk_speed * ((RIGHT in keys) - (LEFT in keys)),
              float(JUMP in keys), float(CROUCH in keys),
              float(ATTACK_BUTTON in action.buttons), float(USE_BUTTON in action.buttons)]
    slot = action.hotbar_slot()
    vector += [float(slot == k) for k in range(WEAPON_SLOTS)]
    return vector


def _open_game(cfg: RecorderConfig, config_dir: str):
    # vizdoom is an optional extra (`pip install craft-jepa[engine]`): imported only when recording.
    import vizdoom as vzd

    root = os.path.dirname(vzd.__file__)
    game_wad, scenario_wad, lump = MAPS[cfg.map_name]
    game = vzd.DoomGame()
    game.set_doom_game_path(os.path.join(root, game_wad))
    if scenario_wad is not None:
        game.set_doom_scenario_path(os.path.join(root, "scenarios", scenario_wad))
    game.set_doom_map(lump)
    game.set_doom_config_path(os.path.join(config_dir, "vizdoom.ini"))  # not the user's cwd, nor their settings
    game.set_screen_resolution(vzd.ScreenResolution.RES_640X360)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_depth_buffer_enabled(True)  # the policy turns away from walls close ahead
    game.set_window_visible(False)
    game.set_sound_enabled(False)
    game.set_render_hud(False)  # like VPT footage without the hotbar strip: the weapon sprite stays
    game.set_render_messages(False)
    game.set_render_crosshair(False)
    game.set_mode(vzd.Mode.PLAYER)  # synchronous: the engine waits for every action
    game.set_episode_timeout(0)
    game.set_doom_skill(cfg.skill)
    game.set_available_buttons(_buttons(vzd))
    v = vzd.GameVariable
    game.set_available_game_variables([v.ANGLE, v.PITCH, v.POSITION_X, v.POSITION_Y, v.POSITION_Z, v.SELECTED_WEAPON]
                                      + [getattr(v, f"WEAPON{k}") for k in range(1, WEAPON_SLOTS + 1)])
    game.add_game_args("+freelook 1 +sv_cheats 1")  # mouse look; cheats for god mode
    game.set_seed(cfg.seed % 2**31)
    # The engine process makes a `_vizdoom/` folder in its working directory: start it in the
    # temporary config folder rather than littering the user's.
    cwd = os.getcwd()
    os.chdir(config_dir)
    try:
        game.init()
    finally:
        os.chdir(cwd)
    game.send_game_command("god")  # a death would end the segment (as in VPT); scenario floors hurt
    return game


def _read(game) -> EngineState | None:
    if game.is_episode_finished() or game.is_player_dead():
        return None
    state = game.get_state()
    values = state.game_variables
    owned = tuple(k for k in range(WEAPON_SLOTS) if values[6 + k] > 0)
    depth = state.depth_buffer  # (360, 640) uint8, larger is farther
    return EngineState(frame=state.screen_buffer, angle=float(values[0]), pitch=float(values[1]),
                       position=(float(values[2]), float(values[3]), float(values[4])),
                       weapon_slot=int(values[5]), owned_slots=owned,
                       wall_ahead=bool(np.median(depth[_AHEAD]) < NEAR_DEPTH),
                       open_side=float(np.median(depth[_RIGHT])) - float(np.median(depth[_LEFT])))


class _Tracker:
    """Running VPT camera/hotbar state: unwrapped yaw, the selected slot, and a stuck detector."""

    def __init__(self, first: EngineState) -> None:
        self.angle = first.angle
        self.yaw = wrap_degrees(-first.angle)
        self.engine_slot = first.weapon_slot
        self.hotbar = min(max(first.weapon_slot - 1, 0), 8)
        self.recent: deque[tuple[float, float]] = deque(maxlen=STUCK_FRAMES)
        self.walked = 0

    def update(self, state: EngineState, previous: FrameAction | None) -> None:
        self.yaw += wrap_degrees(self.angle - state.angle)  # Doom's angle turns the other way round
        self.angle = state.angle
        if previous is not None and previous.hotbar_slot() is not None and previous.hotbar_slot() in state.owned_slots:
            self.hotbar = previous.hotbar_slot()
        if state.weapon_slot != self.engine_slot and 1 <= state.weapon_slot <= WEAPON_SLOTS:
            self.hotbar = state.weapon_slot - 1  # the engine finished a switch (its own, or ours)
        self.engine_slot = state.weapon_slot
        self.recent.append(state.position[:2])
        moving = previous is not None and any(k in previous.keys for k in (FORWARD, BACK, LEFT, RIGHT))
        self.walked = self.walked + 1 if moving else 0

    @property
    def stuck(self) -> bool:
        if self.walked < STUCK_FRAMES or len(self.recent) < STUCK_FRAMES:
            return False
        return float(np.hypot(*np.subtract(self.recent[-1], self.recent[0]))) < STUCK_UNITS


def _line(state: EngineState, tracker: _Tracker, action: FrameAction, previous: FrameAction | None,
          tick: int, milli: int) -> str:
    held_before = set(previous.keys) if previous else set()
    buttons_before = set(previous.buttons) if previous else set()
    x, y, z = state.position
    record = {
        "mouse": {"x": 640.0, "y": 360.0, "dx": float(action.dx), "dy": float(action.dy),
                  "scaledX": 0.0, "scaledY": 0.0, "dwheel": 0.0, "buttons": list(action.buttons),
                  "newButtons": [b for b in action.buttons if b not in buttons_before]},
        "keyboard": {"keys": list(action.keys), "newKeys": [k for k in action.keys if k not in held_before],
                     "chars": ""},
        "isGuiOpen": False,
        "isGuiInventory": False,
        "hotbar": tracker.hotbar,
        "yaw": round(tracker.yaw, 4),
        "pitch": round(state.pitch, 4),
        "xpos": round(x, 4),
        "ypos": round(z, 4),  # Minecraft's y is the height
        "zpos": round(y, 4),
        "tick": tick,
        "milli": milli,
        "inventory": [{"type": f"weapon{slot + 1}", "quantity": 1} for slot in state.owned_slots],
        "serverTick": tick,
        "serverTickDurationMs": 50.0,
        "stats": {},
    }
    return json.dumps(record, separators=(",", ":"))


def generate_recording(cfg: RecorderConfig) -> tuple[list[str], Iterator[np.ndarray], dict]:
    """Play one segment: `(lines, frames, info)`. Iterating `frames` plays the engine; `lines` (the
    jsonl lines) and `info` (what happened) are complete once `frames` is exhausted. Yields
    len(lines) + 1 frames as (360, 640, 3) uint8 arrays."""
    rng = np.random.default_rng([cfg.seed, 23])
    policy = SmoothRandomPolicy(rng, cfg.policy)
    warmup_frames = round(rng.uniform(*cfg.warmup_seconds) * FPS)
    n_lines = max(1, round(cfg.seconds * FPS))
    start_milli = 1796601600000 + int(rng.integers(0, 10**9))
    lines: list[str] = []
    info = {"warmup_frames": warmup_frames, "ended_early": False}

    def frames() -> Iterator[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="craft-jepa-vizdoom-") as config_dir:
            game = _open_game(cfg, config_dir)
            try:
                yield from _play(game, cfg, policy, warmup_frames, n_lines, start_milli, lines, info)
            finally:
                game.close()

    return lines, frames(), info


def _play(game, cfg: RecorderConfig, policy: SmoothRandomPolicy, warmup_frames: int, n_lines: int,
          start_milli: int, lines: list[str], info: dict) -> Iterator[np.ndarray]:
    state = _read(game)
    if state is None:
        raise RuntimeError(f"ViZDoom map {cfg.map_name}: the episode ended before the first frame")
    tracker = _Tracker(state)
    previous: FrameAction | None = None
    for tick in range(-warmup_frames, n_lines):
        action = policy.act(state.pitch, state.wall_ahead or tracker.stuck, state.open_side, state.owned_slots,
                            tracker.hotbar)
        pressed_before = previous is not None and ATTACK_BUTTON in previous.buttons
        if tick == 0 and ATTACK_BUTTON in action.buttons and not pressed_before:
            # A first line pressing attack reads as VPT's stuck attack and would be dropped by the loader.
            action = FrameAction(action.dx, action.dy, action.keys,
                                 tuple(b for b in action.buttons if b != ATTACK_BUTTON))
        if tick >= 0:
            yield state.frame
            lines.append(_line(state, tracker, action, previous, tick, start_milli + 50 * tick))
        game.make_action(_engine_action(action, cfg), cfg.tics_per_frame)
        next_state = _read(game)
        if next_state is None:  # episode over or player dead: the last line has no frame after it
            info["ended_early"] = True
            if lines:
                lines.pop()
            return
        state, previous = next_state, action
        tracker.update(state, previous)
    yield state.frame  # the trailing frame, which has no line (as in VPT)


class EpisodeEndedError(RuntimeError):
    """The episode ended before the first recorded frame (nothing was written)."""


def write_recording(out_dir: str, cfg: RecorderConfig) -> str:
    """Write `<stem>.mp4`, `<stem>.jsonl`, `<stem>-options.json` into out_dir; return the stem.
    Raises EpisodeEndedError (and leaves no file) if the episode ended during the warm-up."""
    os.makedirs(out_dir, exist_ok=True)
    stem = make_stem(cfg.seed, cfg.map_name)
    lines, frames, info = generate_recording(cfg)
    mp4 = os.path.join(out_dir, stem + ".mp4")
    n_frames = encode_mp4(frames, mp4, preset=cfg.preset, keyint=cfg.keyint, crf=cfg.crf)
    if not lines:
        os.remove(mp4)
        raise EpisodeEndedError(f"ViZDoom map {cfg.map_name}, seed {cfg.seed}: the episode ended before "
                                "the first recorded frame")
    with open(os.path.join(out_dir, stem + ".jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    from importlib.metadata import (
        version,  # the engine's version decides the pictures' bytes
    )

    options = {"engine": "vizdoom", "engine_version": version("vizdoom"), "map": cfg.map_name, "seed": cfg.seed,
               "frames": n_frames, "lines": len(lines), "tics_per_frame": cfg.tics_per_frame, "fov": "90",
               "width": WIDTH, "height": HEIGHT,
               **info, "config": {k: v for k, v in asdict(cfg).items() if k != "policy"}}
    with open(os.path.join(out_dir, stem + "-options.json"), "w") as f:
        json.dump(options, f, indent=1)
    return stem


def segment_configs(segments: int, seconds: float, seed: int, maps: Sequence[str]) -> list[RecorderConfig]:
    """Segment i: seed + i, on the maps in a seeded order (cycled), so N segments visit
    min(N, len(maps)) maps."""
    if segments < 1 or not maps:
        raise ValueError("need at least one segment and one map")
    order = [maps[i] for i in np.random.default_rng([seed, 5]).permutation(len(maps))]
    return [RecorderConfig(map_name=order[i % len(order)], seconds=seconds, seed=seed + i) for i in range(segments)]


def write_recordings(out_dir: str, configs: Sequence[RecorderConfig],
                     progress: Callable[[str], None] | None = None) -> tuple[list[str], list[str]]:
    """write_recording for each config, in order: (stems written, messages of the segments whose
    episode ended before their first frame, which are skipped)."""
    stems, skipped = [], []
    for cfg in configs:
        try:
            stems.append(write_recording(out_dir, cfg))
        except EpisodeEndedError as err:
            skipped.append(str(err))
            continue
        if progress is not None:
            progress(f"{stems[-1]} ({cfg.map_name}, seed {cfg.seed})")
    return stems, skipped
