"""DROID-format robot trajectories: the layout Meta's `app/vjepa_droid/droid.py` reads.

A dataset is a path-list file: one trajectory directory per line, read as space-delimited
CSV without a header (only the first column counts; vjepa2 issue 65 builds it with
`find ROOT -name trajectory.h5 -printf '%h\\n'`). Each directory holds
- `trajectory.h5`: `observation/robot_state/cartesian_position` (T, 6: xyz in metres, Euler
  xyz in radians), `observation/robot_state/gripper_position` (T,) and
  `observation/camera_extrinsics/<serial>_left` (T, 6);
- `metadata_*.json`: `left_mp4_path` / `right_mp4_path` / `wrist_mp4_path`; the part after
  `recordings/MP4/` names the video, whose stem is the camera serial;
- `recordings/MP4/<serial>.mp4`, one frame per h5 row.

A window of `frames` frames at `fps` reads every `ceil(video_fps / fps)`-th video frame; the
states (7-D: pose + gripper) and extrinsics are taken at those frames, then every
`tubelet_size`-th; actions are `poses_to_actions(states)` (one fewer). With `camera_frame` the
poses are expressed in the camera's frame first. Frames are decoded with PyAV (data/video.py).

Bad input raises `TrajectoryError(kind, message naming the path)`; the loader
(data/droid_loader.py) counts the kind and moves on. The kinds (`DROID_STAT_KEYS`), `DroidConfig`
and the path-list reader live in data/droid_config.py, which needs no optional dependency.

h5py and scipy are the optional extra `droid` (imported here at module level: this module is
only imported where DROID data is read).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy.spatial.transform import Rotation

from craft_jepa.data.droid_config import (
    EXTRINSICS_GROUP,
    GRIPPER_KEY,
    H5_NAME,
    POSE_KEY,
    DroidConfig,
    TrajectoryError,
)
from craft_jepa.data.video import SegmentVideo, VideoError

# ---------------------------------------------------------------- pose arithmetic (float64)


def _rotations(euler_xyz: np.ndarray) -> Rotation:
    return Rotation.from_euler("xyz", euler_xyz, degrees=False)


def poses_to_actions(states: np.ndarray) -> np.ndarray:
    """(N, 7) pose + gripper -> (N-1, 7): xyz difference, Euler xyz of R[t+1] R[t]^T, gripper difference."""
    states = np.asarray(states, dtype=np.float64)
    rot = _rotations(states[:, 3:6]).as_matrix()  # (N, 3, 3)
    relative = rot[1:] @ np.swapaxes(rot[:-1], 1, 2)  # (N-1, 3, 3): R[t+1] R[t]^T
    angle_diff = Rotation.from_matrix(relative).as_euler("xyz", degrees=False)  # (N-1, 3)
    return np.concatenate([np.diff(states[:, :3], axis=0), angle_diff, np.diff(states[:, 6:7], axis=0)], axis=1)


def _pose_matrices(poses: np.ndarray) -> np.ndarray:
    """(N, 6) xyz + Euler xyz -> (N, 4, 4) homogeneous transforms."""
    out = np.tile(np.eye(4), (len(poses), 1, 1))
    out[:, :3, :3] = _rotations(poses[:, 3:6]).as_matrix()
    out[:, :3, 3] = poses[:, :3]
    return out


def to_camera_frame(states: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """(N, 7) states in the robot base frame -> (N, 7) in the camera frame: E^-1 P per step."""
    states = np.asarray(states, dtype=np.float64)
    relative = np.linalg.inv(_pose_matrices(np.asarray(extrinsics, np.float64))) @ _pose_matrices(states[:, :6])
    euler = Rotation.from_matrix(relative[:, :3, :3]).as_euler("xyz", degrees=False)  # (N, 3)
    return np.concatenate([relative[:, :3, 3], euler, states[:, 6:7]], axis=1)


def frame_step(video_fps: float, fps: float) -> int:
    """Video frames between two sampled frames: ceil(video_fps / fps)."""
    return math.ceil(video_fps / fps)


def window_indices(start: int, frames: int, step: int) -> np.ndarray:
    """The `frames` video frame indices read from `start` on, `step` apart."""
    return np.arange(start, start + frames * step, step, dtype=np.int64)


# ---------------------------------------------------------------- one trajectory


@dataclass
class DroidClip:
    key: str  # "<trajectory dir>:<camera view>"
    indices: np.ndarray  # int64 (frames,): video frames read
    frames: np.ndarray  # uint8 (frames, size, size, 3), or native size when size is None
    states: np.ndarray  # float64 (frames / tubelet, 7)
    extrinsics: np.ndarray  # float64 (frames / tubelet, 6)
    actions: np.ndarray  # float64 (frames / tubelet - 1, 7)


def _find_metadata(directory: Path) -> dict:
    candidates = sorted(directory.glob("metadata_*.json")) or sorted(directory.glob("*.json"))
    if not candidates:
        raise TrajectoryError("bad_metadata", f"{directory}: no metadata_*.json")
    try:
        return json.loads(candidates[0].read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TrajectoryError("bad_metadata", f"{candidates[0]}: unreadable JSON: {err}") from None


def _read_h5(h5_path: Path, camera: str) -> tuple[np.ndarray, np.ndarray]:
    """(states (T, 7), extrinsics (T, 6)) from trajectory.h5."""
    if not h5_path.is_file():
        raise TrajectoryError("bad_h5", f"{h5_path}: missing")
    extrinsics_key = f"{EXTRINSICS_GROUP}/{camera}_left"
    try:
        with h5py.File(h5_path, "r") as h5:
            arrays = {}
            for key in (POSE_KEY, GRIPPER_KEY, extrinsics_key):
                if key not in h5:
                    raise TrajectoryError("bad_h5", f"{h5_path}: no key {key!r}")
                arrays[key] = np.asarray(h5[key], dtype=np.float64)
    except OSError as err:
        raise TrajectoryError("bad_h5", f"{h5_path}: unreadable: {err}") from None
    pose, gripper, extrinsics = arrays[POSE_KEY], arrays[GRIPPER_KEY], arrays[extrinsics_key]
    rows = len(pose)
    if pose.shape != (rows, 6) or gripper.reshape(rows, -1).shape != (rows, 1) or extrinsics.shape != (rows, 6):
        raise TrajectoryError("bad_h5", f"{h5_path}: shapes {POSE_KEY} {pose.shape}, {GRIPPER_KEY} {gripper.shape}, "
                                        f"{extrinsics_key} {extrinsics.shape}; want (T, 6), (T,), (T, 6)")
    return np.column_stack([pose, gripper.reshape(rows)]), extrinsics  # (T, 7), (T, 6)


class DroidTrajectory:
    """One trajectory directory seen through one camera view. close() when done."""

    def __init__(self, directory: str | Path, camera_view: str, *, decoder_threads: int = 1) -> None:
        self.directory = Path(directory)
        self.camera_view = camera_view
        self.key = f"{directory}:{camera_view}"
        if not self.directory.is_dir():
            raise TrajectoryError("not_a_directory", f"{directory}: not a directory")
        metadata = _find_metadata(self.directory)
        if not isinstance(metadata, dict) or not isinstance(metadata.get(camera_view), str):
            raise TrajectoryError("bad_metadata", f"{self.directory}: metadata has no {camera_view!r}")
        mp4_name = metadata[camera_view].split("recordings/MP4/")[-1]
        self.camera = mp4_name.split(".")[0]  # the camera serial names the extrinsics
        self.states, self.extrinsics = _read_h5(self.directory / H5_NAME, self.camera)
        mp4_path = self.directory / "recordings" / "MP4" / mp4_name
        try:
            data = mp4_path.read_bytes()
        except OSError as err:
            raise TrajectoryError("missing_mp4", f"{mp4_path}: {err.strerror or err}") from None
        try:
            self.video = SegmentVideo(data, threads=decoder_threads)
        except VideoError as err:
            raise TrajectoryError("bad_mp4", f"{mp4_path}: {err}") from None
        if self.video.average_fps is None:
            self.video.close()
            raise TrajectoryError("bad_mp4", f"{mp4_path}: no average frame rate")
        self.video_fps = self.video.average_fps
        if self.video.num_frames != len(self.states):
            self.video.close()
            raise TrajectoryError("count_mismatch", f"{mp4_path}: {self.video.num_frames} frames but "
                                                    f"{self.directory / H5_NAME} has {len(self.states)} rows")

    @property
    def num_frames(self) -> int:
        return self.video.num_frames

    def close(self) -> None:
        self.video.close()

    def max_start(self, frames: int, fps: float) -> int:
        """Largest window start, or raise too_short."""
        span = frames * frame_step(self.video_fps, fps)
        if self.num_frames < span:
            raise TrajectoryError("too_short", f"{self.key}: {self.num_frames} frames < clip span {span}")
        return self.num_frames - span

    def clip(self, start: int, frames: int, fps: float, cfg: DroidConfig, size: int | None,
             max_aspect: float = 1.0) -> DroidClip:
        """The window starting at video frame `start`; `size` None decodes at the native size."""
        indices = window_indices(start, frames, frame_step(self.video_fps, fps))
        if start < 0 or indices[-1] >= self.num_frames:
            raise ValueError(f"{self.key}: window {indices[0]}..{indices[-1]} outside 0..{self.num_frames - 1}")
        states = self.states[indices][:: cfg.tubelet_size]  # (frames / tubelet, 7)
        extrinsics = self.extrinsics[indices][:: cfg.tubelet_size]  # (frames / tubelet, 6)
        if cfg.camera_frame:
            states = to_camera_frame(states, extrinsics)
        try:
            pixels = self.video.decode(indices.tolist(), size, max_aspect=max_aspect)
        except VideoError as err:
            raise TrajectoryError("bad_mp4", f"{self.key}: {err}") from None
        return DroidClip(self.key, indices, pixels, states, extrinsics, poses_to_actions(states))
