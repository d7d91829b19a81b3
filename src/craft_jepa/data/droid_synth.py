"""Synthetic DROID-format trajectories for tests and CPU demos (the layout of data/droid.py).

Each trajectory is a seeded random walk of the end effector (xyz, Euler xyz, gripper in
[0, 1]) seen by three cameras whose extrinsics drift slowly. The frames respond to the state:
a square drawn where the end effector projects (x, y -> column, row; z -> brightness), as wide
as the gripper is open, on a background whose red channel is `(3 k) mod 256` for frame k and a
white band `k mod width` pixels wide at the left, so a decoded frame says which frame it is.
Videos are H.264 yuv420p written by data/synth.py's `encode_mp4` (one x264 thread: the same
bytes on every machine).

`write_droid_dataset(root, lengths, seed)` writes ROOT/traj<i>/ directories and the path-list
file ROOT/droid_paths.csv Meta's loader reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from craft_jepa.data.droid import EXTRINSICS_GROUP, GRIPPER_KEY, POSE_KEY
from craft_jepa.data.synth import encode_mp4

CAMERA_SERIALS = {"left_mp4_path": "11111111", "right_mp4_path": "22222222", "wrist_mp4_path": "33333333"}
WORKSPACE_LOW = np.array([0.3, -0.3, 0.1])  # metres: the end effector stays in this box
WORKSPACE_HIGH = np.array([0.7, 0.3, 0.5])


@dataclass
class DroidSynthConfig:
    frames: int = 60  # video frames = h5 rows
    video_fps: int = 15
    width: int = 64
    height: int = 48
    seed: int = 0
    crf: int = 0  # 0: lossless in YUV (frames decode back exactly up to the RGB conversion)

    def __post_init__(self) -> None:
        if self.frames < 2 or self.video_fps < 1:
            raise ValueError(f"DroidSynthConfig: frames >= 2 and video_fps >= 1 needed, "
                             f"got {self.frames}, {self.video_fps}")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"DroidSynthConfig: width, height must be even and >= 16, got {self.width}x{self.height}")


def random_walk_states(frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 7) end-effector states: xyz in the workspace box, Euler xyz, gripper in [0, 1]."""
    xyz = np.empty((frames, 3))
    xyz[0] = rng.uniform(WORKSPACE_LOW, WORKSPACE_HIGH)
    for t in range(1, frames):
        xyz[t] = np.clip(xyz[t - 1] + rng.normal(0.0, 0.01, 3), WORKSPACE_LOW, WORKSPACE_HIGH)
    # Angles wrap freely around +-pi (roll starts near pi like a gripper pointing down): the
    # Euler conversions must handle the seam.
    euler = np.array([np.pi - 0.05, 0.1, -0.3]) + np.cumsum(rng.normal(0.0, 0.05, (frames, 3)), axis=0)
    euler = (euler + np.pi) % (2 * np.pi) - np.pi  # (frames, 3) in [-pi, pi)
    gripper = np.clip(0.5 + np.cumsum(rng.normal(0.0, 0.08, frames)), 0.0, 1.0)
    return np.column_stack([xyz, euler, gripper])  # (frames, 7)


def drifting_extrinsics(frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 6) camera pose in the robot base frame: a fixed placement plus a slow drift."""
    base = np.concatenate([rng.uniform(-0.5, 0.5, 3), rng.uniform(-np.pi, np.pi, 3)])
    drift = np.cumsum(rng.normal(0.0, 1e-3, (frames, 6)), axis=0)
    return base + drift


def render_frames(states: np.ndarray, width: int, height: int) -> Iterator[np.ndarray]:
    """One (height, width, 3) uint8 frame per state (see the module docstring)."""
    span = WORKSPACE_HIGH - WORKSPACE_LOW
    for k, state in enumerate(states):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[..., 0] = (3 * k) % 256
        frame[:, : k % width] = 255
        u, v, w = (state[:3] - WORKSPACE_LOW) / span  # each in [0, 1]
        half = 2 + round(state[6] * height / 8)  # wider when the gripper is open
        col, row = int(u * (width - 1)), int(v * (height - 1))
        frame[max(row - half, 0) : row + half + 1, max(col - half, 0) : col + half + 1, 1:] = int(80 + 175 * w)
        yield frame


def write_droid_trajectory(directory: str | Path, cfg: DroidSynthConfig) -> Path:
    """Write one DROID-format trajectory directory; returns it."""
    directory = Path(directory)
    (directory / "recordings" / "MP4").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    states = random_walk_states(cfg.frames, rng)  # (T, 7)
    with h5py.File(directory / "trajectory.h5", "w") as h5:
        h5[POSE_KEY] = states[:, :6]
        h5[GRIPPER_KEY] = states[:, 6]
        for serial in CAMERA_SERIALS.values():
            for side in ("left", "right"):
                h5[f"{EXTRINSICS_GROUP}/{serial}_{side}"] = drifting_extrinsics(cfg.frames, rng)
    metadata = {"uuid": directory.name, "trajectory_length": cfg.frames}
    for view, serial in CAMERA_SERIALS.items():
        metadata[view] = f"recordings/MP4/{serial}.mp4"
        # Each camera sees the same scene (the frames test which frame, not which camera).
        encode_mp4(render_frames(states, cfg.width, cfg.height), str(directory / metadata[view]),
                   fps=cfg.video_fps, keyint=20, crf=cfg.crf)
    (directory / f"metadata_{directory.name}.json").write_text(json.dumps(metadata), encoding="utf-8")
    return directory


def write_droid_dataset(root: str | Path, lengths: Sequence[int], seed: int, *, video_fps: int = 15,
                        width: int = 64, height: int = 48) -> Path:
    """ROOT/traj<i>/ of the given lengths (frames) plus ROOT/droid_paths.csv; returns the path list."""
    root = Path(root)
    dirs = [write_droid_trajectory(root / f"traj{i}", DroidSynthConfig(
        frames=n, video_fps=video_fps, width=width, height=height, seed=seed * 1000 + i))
        for i, n in enumerate(lengths)]
    path_list = root / "droid_paths.csv"
    path_list.write_text("".join(f"{d.resolve()}\n" for d in dirs), encoding="utf-8")
    return path_list
