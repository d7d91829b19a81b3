"""DROID settings and names that need no optional dependency (data/droid.py needs h5py, scipy).

Imported by the typed run config (train/data.py) and the metrics log, which must load without
the `droid` extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CAMERA_VIEWS = ("left_mp4_path", "right_mp4_path", "wrist_mp4_path")
H5_NAME = "trajectory.h5"
POSE_KEY = "observation/robot_state/cartesian_position"
GRIPPER_KEY = "observation/robot_state/gripper_position"
EXTRINSICS_GROUP = "observation/camera_extrinsics"
STATE_DIM = 7  # xyz, Euler xyz, gripper
ACTION_DIM = 7  # xyz difference, Euler xyz of R[t+1] R[t]^T, gripper difference

# Counters of skipped trajectories carried in every DROID clip's `stats` (always all of them).
DROID_STAT_KEYS = (
    "not_a_directory",  # a path-list line that names no directory
    "bad_metadata",  # no readable metadata_*.json, or it lacks the camera view
    "bad_h5",  # trajectory.h5 missing, unreadable, or without a needed key
    "missing_mp4",  # the camera view's mp4 is absent
    "bad_mp4",  # mp4 that cannot be demuxed or decoded
    "count_mismatch",  # video frames != h5 rows
    "too_short",  # fewer frames than one clip spans
)


class TrajectoryError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class DroidConfig:
    """DROID-specific sampling; frames, fps and size come from the ClipConfig."""

    camera_views: list[str] = field(default_factory=lambda: ["left_mp4_path"])  # Meta's released recipe
    tubelet_size: int = 1  # states every this many sampled frames (Meta's training passes 1)
    camera_frame: bool = False  # states in the camera's frame (Meta's `camera_frame`)

    def __post_init__(self) -> None:
        self.camera_views = list(self.camera_views)
        if not self.camera_views:
            raise ValueError("DroidConfig.camera_views is empty")
        for view in self.camera_views:
            if view not in CAMERA_VIEWS:
                raise ValueError(f"DroidConfig.camera_views: unknown view {view!r}; use some of {CAMERA_VIEWS}")
        if self.tubelet_size < 1:
            raise ValueError(f"DroidConfig.tubelet_size must be >= 1, got {self.tubelet_size}")


def read_path_list(path: str | Path) -> list[str]:
    """Trajectory directories of a path-list file (first space-delimited column, no header)."""
    dirs = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split(" ")
            first = fields[0].strip()
            if first:
                dirs.append(first)
    if not dirs:
        raise ValueError(f"DROID path list {path} names no trajectory directory")
    return dirs
