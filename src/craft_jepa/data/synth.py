"""Synthetic VPT recordings: real file format, frames that really respond to the actions.

`write_recording` produces the three files of a VPT segment with stem
`<alias>-<12 hex>-<yyyyMMdd>-<HHmmss>`: `.mp4` (H.264 640x360, 20 fps, ONE more frame than
the jsonl has lines), `.jsonl` (keys of REFERENCE.md section 1, in order) and `-options.json`.

Timing convention (the same as the vpt/ stage): line i's yaw/pitch/position/hotbar/isGuiOpen
are the state SHOWN in frame i; line i's keys, buttons, mouse dx/dy and dwheel are the action
taken after frame i, so their effect first shows in frame i+1
(yaw[i+1] = yaw[i] + 0.15 * dx[i], +dy looks down, pitch clamped to [-90, 90]; a hotbar key
or a scroll at line i changes `hotbar` at line i+1; a scroll changes it without a key press,
as in real data). While a GUI is open the mouse moves the cursor, not the camera.

Actions come from a seeded random policy with persistence (keys held for a while, smooth
camera motion, idle stretches of null actions). Same seed, same bytes of jsonl and mp4 on
every machine: libx264 runs on one thread, since its output depends on its thread count.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import av
import numpy as np

from craft_jepa.configuration import require_range
from craft_jepa.data.pack import pack
from craft_jepa.data.render import HEIGHT, WIDTH, SceneRenderer, ViewState, stamp_index

FPS = 20
DEGREES_PER_MOUSE_UNIT = 0.15
EYE_HEIGHT, SNEAK_EYE_HEIGHT = 1.62, 1.27
WALK, SPRINT, SNEAK = 0.2159, 0.2806, 0.0654  # blocks per tick (Minecraft speeds)
JUMP_TICKS = 12
HOTBAR_KEYS = [f"key.keyboard.{i}" for i in range(1, 10)]
# Held keys: (key, chance to press per tick, chance to release per tick).
HELD_KEYS = [
    ("key.keyboard.w", 0.03, 0.02),
    ("key.keyboard.s", 0.004, 0.1),
    ("key.keyboard.a", 0.008, 0.08),
    ("key.keyboard.d", 0.008, 0.08),
    ("key.keyboard.space", 0.015, 0.4),
    ("key.keyboard.left.shift", 0.003, 0.05),
    ("key.keyboard.left.control", 0.01, 0.05),
]
BUTTON_CHANCES = {0: (0.02, 0.04), 1: (0.004, 0.2)}  # attack, use
INVENTORY = [
    {"type": "oak_log", "quantity": 12},
    {"type": "crafting_table", "quantity": 1},
    {"type": "wooden_pickaxe", "quantity": 1},
    {"type": "cobblestone", "quantity": 30},
]
_ADJ = ["cheeky", "brave", "quiet", "lucky", "sunny", "mellow", "swift", "gentle"]
_COLOR = ["cornflower", "amber", "teal", "crimson", "olive", "indigo", "ivory", "coral"]
_ANIMAL = ["setter", "otter", "heron", "lynx", "badger", "gecko", "marten", "ibis"]


@dataclass
class SynthConfig:
    """How to generate one recording."""

    seconds: float = 10.0
    seed: int = 0
    stamp_index: bool = False  # draw each frame's index as big blocks (frame-accuracy tests)
    preset: str = "ultrafast"  # libx264 preset
    keyint: int | None = 20  # frames between keyframes; None = libx264's default (250)
    crf: int = 23

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"SynthConfig.seconds must be > 0, got {self.seconds}")
        if self.keyint is not None and self.keyint < 1:
            raise ValueError(f"SynthConfig.keyint must be >= 1 or None, got {self.keyint}")
        if self.crf < 0 or self.crf > 51:
            raise ValueError(f"SynthConfig.crf must be in [0, 51], got {self.crf}")


@dataclass
class _PlayerState:
    yaw: float
    pitch: float
    x: float
    y: float
    z: float
    hotbar: int = 0
    gui_open: bool = False
    jump_tick: int = -1  # ticks since the jump started; -1 = on the ground
    swing: int = 0  # attack animation ticks left
    sneaking: bool = False  # shift was held on the previous tick (lower eye height)
    mouse_x: float = 640.0
    mouse_y: float = 360.0
    stats: dict[str, int] = field(default_factory=dict)


def make_stem(seed: int) -> str:
    """A VPT-looking stem, deterministic per seed."""
    rng = np.random.default_rng([seed, 1])
    alias = "-".join(str(rng.choice(words)) for words in (_ADJ, _COLOR, _ANIMAL))
    hexpart = "".join(f"{b:02x}" for b in rng.integers(0, 256, 6))
    day = int(rng.integers(0, 28))
    second = int(rng.integers(0, 86400))
    return f"{alias}-{hexpart}-202106{day + 1:02d}-{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}"


class _Policy:
    """Seeded random actions with persistence: held keys, smooth camera, idle stretches."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.held: set[str] = set()
        self.buttons: set[int] = set()
        self.vel = np.zeros(2)  # mouse velocity (dx, dy) per tick, an Ornstein-Uhlenbeck process
        self.idle = 0  # ticks of null action left
        self.gui_close_in = 0

    def act(self, state: _PlayerState) -> tuple[list[str], list[int], float, float, float]:
        rng = self.rng
        if self.idle > 0 or rng.random() < 0.008:
            if self.idle == 0:
                self.idle = int(rng.integers(10, 60))
            self.idle -= 1
            self.held.clear()
            self.buttons.clear()
            self.vel[:] = 0.0
            return [], [], 0.0, 0.0, 0.0
        for key, p_on, p_off in HELD_KEYS:
            if key in self.held:
                if rng.random() < p_off:
                    self.held.discard(key)
            elif rng.random() < p_on:
                self.held.add(key)
        for button, (p_on, p_off) in BUTTON_CHANCES.items():
            if button in self.buttons:
                if rng.random() < p_off:
                    self.buttons.discard(button)
            elif rng.random() < p_on:
                self.buttons.add(button)
        keys = sorted(self.held)
        # Inventory: press e to open, keep it open a while, press e again to close.
        if state.gui_open:
            self.gui_close_in -= 1
            if self.gui_close_in <= 0:
                keys.append("key.keyboard.e")
        elif rng.random() < 0.004:
            keys.append("key.keyboard.e")
            self.gui_close_in = int(rng.integers(20, 60))
        if rng.random() < 0.006:
            keys.append(HOTBAR_KEYS[int(rng.integers(0, 9))])
        dwheel = float(rng.choice([-1.0, 1.0])) if rng.random() < 0.006 else 0.0
        # Smooth camera: velocity relaxes toward noise; pitch is pulled back toward level.
        self.vel = 0.85 * self.vel + rng.normal(0.0, [6.0, 3.0])
        self.vel[1] -= 0.02 * state.pitch  # degrees -> a gentle pull in mouse units
        dx, dy = (float(v) for v in np.round(self.vel))
        return keys, sorted(self.buttons), dx, dy, dwheel


def _advance(s: _PlayerState, keys: list[str], new_keys: list[str], buttons: list[int],
             dx: float, dy: float, dwheel: float) -> None:
    """Apply one tick's action to the state (in place): the state of the next frame."""
    if s.gui_open:
        s.mouse_x = float(np.clip(s.mouse_x + dx, 0, 1280))
        s.mouse_y = float(np.clip(s.mouse_y + dy, 0, 720))
    else:
        s.mouse_x, s.mouse_y = 640.0, 360.0
        s.yaw = (s.yaw + DEGREES_PER_MOUSE_UNIT * dx + 180.0) % 360.0 - 180.0
        s.pitch = float(np.clip(s.pitch + DEGREES_PER_MOUSE_UNIT * dy, -90.0, 90.0))
        forward = ("key.keyboard.w" in keys) - ("key.keyboard.s" in keys)
        strafe = ("key.keyboard.d" in keys) - ("key.keyboard.a" in keys)
        speed = SNEAK if "key.keyboard.left.shift" in keys else (
            SPRINT if "key.keyboard.left.control" in keys and forward > 0 else WALK)
        if forward or strafe:
            a = math.radians(s.yaw)
            norm = speed / math.hypot(forward, strafe)
            # forward (-sin a, cos a); right-hand strafe (-cos a, -sin a) in Minecraft's x/z.
            s.x += norm * (-forward * math.sin(a) - strafe * math.cos(a))
            s.z += norm * (forward * math.cos(a) - strafe * math.sin(a))
            s.stats["minecraft.custom:minecraft.walk_one_cm"] = (
                s.stats.get("minecraft.custom:minecraft.walk_one_cm", 0) + int(round(speed * 100)))
        if "key.keyboard.space" in keys and s.jump_tick < 0:
            s.jump_tick = 0
            s.stats["minecraft.custom:minecraft.jump"] = s.stats.get("minecraft.custom:minecraft.jump", 0) + 1
        if 0 in buttons and s.swing == 0:
            s.swing = 6
    if s.jump_tick >= 0:
        s.jump_tick += 1
        if s.jump_tick >= JUMP_TICKS:
            s.jump_tick = -1
    s.y = 64.0 + (0.0 if s.jump_tick < 0 else 1.25 * math.sin(math.pi * s.jump_tick / JUMP_TICKS))
    if s.swing > 0:
        s.swing -= 1
    s.sneaking = "key.keyboard.left.shift" in keys and not s.gui_open
    for key in new_keys:
        if key in HOTBAR_KEYS:
            s.hotbar = HOTBAR_KEYS.index(key)
    if dwheel:
        s.hotbar = int((s.hotbar - np.sign(dwheel)) % 9)
    if "key.keyboard.e" in new_keys:  # last: this tick's mouse still acted on the old screen
        s.gui_open = not s.gui_open


def _view(s: _PlayerState) -> ViewState:
    eye = SNEAK_EYE_HEIGHT if s.sneaking else EYE_HEIGHT
    return ViewState(yaw=s.yaw, pitch=s.pitch, x=s.x, z=s.z, eye_height=eye + (s.y - 64.0),
                     hotbar=s.hotbar, gui_open=s.gui_open, swing_phase=s.swing / 6.0)


def _line(s: _PlayerState, tick: int, milli: int, keys: list[str], new_keys: list[str],
          buttons: list[int], new_buttons: list[int], dx: float, dy: float, dwheel: float) -> str:
    record = {
        "mouse": {"x": s.mouse_x, "y": s.mouse_y, "dx": dx, "dy": dy,
                  "scaledX": s.mouse_x - 640.0, "scaledY": s.mouse_y - 360.0, "dwheel": dwheel,
                  "buttons": buttons, "newButtons": new_buttons},
        "keyboard": {"keys": keys, "newKeys": new_keys, "chars": ""},
        "isGuiOpen": s.gui_open,
        "isGuiInventory": s.gui_open,
        "hotbar": s.hotbar,
        "yaw": round(s.yaw, 4),
        "pitch": round(s.pitch, 4),
        "xpos": round(s.x, 4),
        "ypos": round(s.y, 4),
        "zpos": round(s.z, 4),
        "tick": tick,
        "milli": milli,
        "inventory": INVENTORY,
        "serverTick": tick,
        "serverTickDurationMs": 12.5,
        "stats": dict(s.stats),
    }
    return json.dumps(record, separators=(",", ":"))


def generate_recording(cfg: SynthConfig) -> tuple[list[str], Iterator[np.ndarray]]:
    """Simulate one recording: `(lines, frames)`.

    `lines` are the jsonl lines; `frames` yields len(lines) + 1 frames as (360, 640, 3) uint8
    arrays, rendered on demand into ONE reused buffer (copy a frame to keep it).
    """
    rng = np.random.default_rng([cfg.seed, 2])
    renderer = SceneRenderer(seed=cfg.seed)
    n_lines = max(1, int(round(cfg.seconds * FPS)))
    state = _PlayerState(yaw=float(rng.uniform(-180, 180)), pitch=float(rng.uniform(-20, 20)),
                         x=float(rng.uniform(-100, 100)), y=64.0, z=float(rng.uniform(-100, 100)))
    policy = _Policy(rng)
    start_milli = 1622505600000 + int(rng.integers(0, 10**9))
    lines: list[str] = []
    views: list[ViewState] = []
    prev_keys: set[str] = set()
    prev_buttons: set[int] = set()
    for tick in range(n_lines):
        keys, buttons, dx, dy, dwheel = policy.act(state)
        new_keys = [k for k in keys if k not in prev_keys]
        new_buttons = [b for b in buttons if b not in prev_buttons]
        views.append(_view(state))  # frame `tick` shows the state BEFORE this tick's action
        milli = start_milli + 50 * tick + int(rng.integers(0, 4))
        lines.append(_line(state, tick, milli, keys, new_keys, buttons, new_buttons, dx, dy, dwheel))
        _advance(state, keys, new_keys, buttons, dx, dy, dwheel)
        prev_keys, prev_buttons = set(keys), set(buttons)
    views.append(_view(state))  # the extra trailing frame has no line

    def frames():
        buffer = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        for index, view in enumerate(views):
            renderer.render(view, out=buffer)
            if cfg.stamp_index:
                stamp_index(buffer, index)
            yield buffer

    return lines, frames()


def encode_mp4(frames, path_or_file, *, fps: int = FPS, preset: str = "ultrafast",
               keyint: int | None = 20, crf: int = 23) -> int:
    """Encode (H, W, 3) uint8 frames (VPT's 360 x 640 by default; the first frame sets the size)
    as H.264 yuv420p mp4 with PyAV; returns the frame count."""

    count = 0
    frames = iter(frames)
    first = next(frames, None)
    height, width = (HEIGHT, WIDTH) if first is None else first.shape[:2]
    with av.open(path_or_file, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # One x264 thread: with its default (one per core) the encoded bits, and so the decoded
        # pixels, differ between machines with different core counts (up to 12-15 levels).
        stream.codec_context.thread_count = 1
        options = {"preset": preset, "crf": str(crf), "threads": "1"}
        if keyint is not None:
            options["g"] = str(keyint)
        stream.options = options
        for frame in itertools.chain([] if first is None else [first], frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode():
            container.mux(packet)
    return count


def write_recording(out_dir: str, cfg: SynthConfig) -> str:
    """Write `<stem>.mp4`, `<stem>.jsonl`, `<stem>-options.json` into out_dir; return the stem."""
    os.makedirs(out_dir, exist_ok=True)
    stem = make_stem(cfg.seed)
    lines, frames = generate_recording(cfg)
    with open(os.path.join(out_dir, stem + ".jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    options = {"fov": "0.0", "gamma": "1.0", "guiScale": "2", "renderDistance": "8",
               "mouseSensitivity": "0.5", "fullscreen": "false", "synthetic": "true"}
    with open(os.path.join(out_dir, stem + "-options.json"), "w") as f:
        json.dump(options, f)
    encode_mp4(frames, os.path.join(out_dir, stem + ".mp4"), preset=cfg.preset, keyint=cfg.keyint, crf=cfg.crf)
    return stem


def write_recordings(out_dir: str, videos: int, seconds: float, seed: int, workers: int = 1,
                     **kwargs) -> list[str]:
    """Write `videos` recordings with seeds seed, seed+1, ...; returns their stems in order."""
    return _write_all(out_dir, [SynthConfig(seconds=seconds, seed=seed + i, **kwargs) for i in range(videos)],
                      workers)


def _write_all(out_dir: str, configs: Sequence[SynthConfig], workers: int) -> list[str]:
    """write_recording for each config, in `workers` processes. Each recording depends on its
    own config only (its seed; x264 on one thread), so the files are the same for any count."""
    require_range("workers", workers, at_least=1)
    if workers == 1 or len(configs) < 2:
        return [write_recording(out_dir, cfg) for cfg in configs]

    # spawn: the caller may hold torch threads or open files that a forked child should not inherit.
    with ProcessPoolExecutor(min(workers, len(configs)), mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(write_recording, [out_dir] * len(configs), configs))


@dataclass(frozen=True)
class SynthDataset:
    """Synthetic recordings and the shards packed from them (see `write_synth_dataset`)."""

    raw_dir: str  # STEM.mp4, STEM.jsonl, STEM-options.json
    stems: tuple[str, ...]
    shard_dir: str
    shard_urls: tuple[str, ...]  # shard paths in order, for data.shards / the loaders

    def mp4(self, stem: str) -> str:
        return os.path.join(self.raw_dir, stem + ".mp4")

    def jsonl(self, stem: str) -> str:
        return os.path.join(self.raw_dir, stem + ".jsonl")


def write_synth_dataset(root: str, seconds: Sequence[float], seed: int, *, per_shard: int = 100_000,
                        shard_size: int = 10**9, configs: Sequence[dict] | None = None,
                        workers: int = 1) -> SynthDataset:
    """Recordings of the given lengths under root/raw (seeds seed, seed+1, ...), packed into
    root/shards with at most `per_shard` segments or `shard_size` bytes per shard.
    `configs[i]` adds SynthConfig fields for recording i (e.g. stamp_index, keyint).
    `workers` processes write the recordings (the same files for any count)."""

    raw_dir = os.path.join(root, "raw")
    extra = list(configs) if configs is not None else [{}] * len(seconds)
    if len(extra) != len(seconds):
        raise ValueError(f"configs has {len(extra)} entries for {len(seconds)} recordings")
    stems = tuple(_write_all(raw_dir, [SynthConfig(seconds=s, seed=seed + i, **extra[i])
                                       for i, s in enumerate(seconds)], workers))
    shard_dir = os.path.join(root, "shards")
    report = pack(raw_dir, shard_dir, shard_size=shard_size, max_per_shard=per_shard)
    if report.written != len(stems):
        raise RuntimeError(f"packing synthetic recordings skipped some: {report.summary()}")
    return SynthDataset(raw_dir, stems, shard_dir, tuple(report.shards))
