"""Plan on a recorded DROID trajectory: start and goal frames from the video, poses from the h5.

`plan_on_trajectory` encodes the frames start, start + step, ..., goal (every
`ceil(video_fps / fps)`-th video frame, as the loader samples them), plans `steps` actions from
the start frame and pose to the goal frame with `plan_droid_cem`, scores the recorded actions
with the same energy, and draws the energy landscape of one-step (dx, dy) actions toward the
next sampled frame with the recorded and planned first steps marked. Writes OUT/plan.json and
OUT/energy_landscape.png.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from craft_jepa.data.droid import DroidTrajectory, frame_step, poses_to_actions, window_indices
from craft_jepa.data.droid_config import CAMERA_VIEWS
from craft_jepa.data.loader import frame_norm, normalize_frames
from craft_jepa.encoders import FrozenEncoder
from craft_jepa.models.predictor import ACPredictor
from craft_jepa.planning.droid import (
    DroidCEMConfig,
    energy_landscape,
    plan_droid_cem,
    plot_energy_landscape,
    predictor_energy,
)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class TrajectoryPlanSetup:
    trajectory: str  # a DROID trajectory directory
    camera_view: str = "left_mp4_path"
    start: int = 0  # video frame of the start
    fps: float = 4.0  # frames sampled per second of video, as in training
    max_crop_aspect: float = 1.35  # centre crop, as the DROID preset trains
    landscape_points: int = 21

    def __post_init__(self) -> None:
        if self.camera_view not in CAMERA_VIEWS:
            raise ValueError(f"camera_view {self.camera_view!r} must be one of {CAMERA_VIEWS}")
        if self.start < 0 or self.fps <= 0 or self.landscape_points < 2:
            raise ValueError("start must be >= 0, fps > 0 and landscape_points >= 2")


def _encode(trajectory: DroidTrajectory, indices: list[int], encoder: FrozenEncoder, size: int,
            max_aspect: float) -> torch.Tensor:
    """Video frames -> layer-normed tokens (T, N, D) on the encoder's device."""
    pixels = torch.from_numpy(trajectory.video.decode(indices, size, max_aspect=max_aspect))  # (T, H, W, 3)
    pixels = pixels.permute(0, 3, 1, 2)[None]  # (1, T, 3, H, W)
    device = next(encoder.parameters()).device
    frames = normalize_frames(pixels, *frame_norm(IMAGENET_MEAN, IMAGENET_STD)).to(device)
    tokens = encoder(frames)[0]  # (T, N, D)
    return torch.nn.functional.layer_norm(tokens, tokens.shape[-1:])  # the AC recipe's normalize_reps


def plan_on_trajectory(predictor: ACPredictor, encoder: FrozenEncoder, image_size: int,
                       setup: TrajectoryPlanSetup, cem: DroidCEMConfig, out_dir: str | Path) -> dict[str, Any]:
    """Plan `cem.horizon` steps on the trajectory (see the module docstring); returns plan.json's content."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trajectory = DroidTrajectory(setup.trajectory, setup.camera_view)
    try:
        step = frame_step(trajectory.video_fps, setup.fps)
        indices = window_indices(setup.start, cem.horizon + 1, step)  # start .. goal
        if indices[-1] >= trajectory.num_frames:
            raise ValueError(f"{trajectory.key}: goal frame {indices[-1]} is past the last frame "
                             f"{trajectory.num_frames - 1}")
        z = _encode(trajectory, indices.tolist(), encoder, image_size, setup.max_crop_aspect)  # (H+1, N, D)
        poses = trajectory.states[indices]  # (H+1, 7)
    finally:
        trajectory.close()
    recorded = torch.from_numpy(poses_to_actions(poses))  # (H, 7)
    energy_fn = predictor_energy(predictor, z[0], poses[0], z[-1])
    plan = plan_droid_cem(energy_fn, cem)
    one_step = predictor_energy(predictor, z[0], poses[0], z[1])
    offsets, energies = energy_landscape(one_step, cem.maxnorm, setup.landscape_points)
    plot_energy_landscape(offsets, energies, str(out / "energy_landscape.png"),
                          recorded=(float(recorded[0, 0]), float(recorded[0, 1])),
                          planned=(float(plan.actions[0, 0]), float(plan.actions[0, 1])))
    result = {
        "setup": asdict(setup), "cem": asdict(cem), "frames": indices.tolist(),
        "planned_actions": plan.actions.tolist(), "planned_energy": plan.energy,
        "recorded_actions": recorded.tolist(), "recorded_energy": float(energy_fn(recorded[None])[0]),
        "zero_action_energy": float(energy_fn(torch.zeros(1, cem.horizon, 7, dtype=torch.float64))[0]),
        "best_energy_per_iteration": plan.best_energy_per_iteration,
        "landscape_min_at": [float(offsets[i]) for i in reversed(divmod(int(energies.argmin()), len(offsets)))],
    }
    (out / "plan.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
