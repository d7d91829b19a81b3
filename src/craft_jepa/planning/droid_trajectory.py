"""Plan on a recorded DROID trajectory: start and goal frames from the video, poses from the h5.

`plan_on_trajectory` encodes the frames start, start + step, ..., goal (every
`ceil(video_fps / fps)`-th video frame at the model's fps, as the loader samples them), plans
`horizon` actions from the start frame and pose to the goal frame with `plan_droid_cem`, scores
the recorded actions with the same energy, and draws its energy landscape over (dx, dy) steps
(the same step every step of the horizon; one step as in Meta's notebook when the horizon is 1)
with the recorded and planned mean steps marked. Writes OUT/plan.json and OUT/energy_landscape.png.
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
from craft_jepa.eval.droid import DroidModel
from craft_jepa.eval.report import plot_landscape
from craft_jepa.planning.droid import DroidCEMConfig, landscape_report, plan_droid_cem, predictor_energy


@dataclass
class TrajectoryPlanSetup:
    trajectory: str  # a DROID trajectory directory
    camera_view: str = "left_mp4_path"
    start: int = 0  # video frame of the start
    landscape_points: int = 21

    def __post_init__(self) -> None:
        if self.camera_view not in CAMERA_VIEWS:
            raise ValueError(f"camera_view {self.camera_view!r} must be one of {CAMERA_VIEWS}")
        if self.start < 0 or self.landscape_points < 2:
            raise ValueError("start must be >= 0 and landscape_points >= 2")


def _latents(model: DroidModel, trajectory: DroidTrajectory, indices: list[int]) -> torch.Tensor:
    """Video frames -> the model's latents (T, N, D), preprocessed as the model's clips are."""
    clip = model.clip
    pixels = torch.from_numpy(trajectory.video.decode(indices, clip.size, max_aspect=clip.max_crop_aspect))
    pixels = pixels.permute(0, 3, 1, 2)[None]  # (1, T, 3, H, W)
    return model.latents(normalize_frames(pixels, *frame_norm(clip.mean, clip.std)))[0]


def plan_on_trajectory(model: DroidModel, setup: TrajectoryPlanSetup, cem: DroidCEMConfig,
                       out_dir: str | Path) -> dict[str, Any]:
    """Plan `cem.horizon` steps on the trajectory (see the module docstring); returns plan.json's content."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    trajectory = DroidTrajectory(setup.trajectory, setup.camera_view)
    try:
        step = frame_step(trajectory.video_fps, model.clip.fps)
        indices = window_indices(setup.start, cem.horizon + 1, step)  # start .. goal
        if indices[-1] >= trajectory.num_frames:
            raise ValueError(f"{trajectory.key}: goal frame {indices[-1]} is past the last frame "
                             f"{trajectory.num_frames - 1}")
        z = _latents(model, trajectory, indices.tolist())  # (H+1, N, D)
        poses = trajectory.states[indices]  # (H+1, 7)
    finally:
        trajectory.close()
    recorded = torch.from_numpy(poses_to_actions(poses))  # (H, 7)
    energy_fn = predictor_energy(model.predictor, z[0], poses[0], z[-1], model.scale)
    plan = plan_droid_cem(energy_fn, cem)
    landscape = landscape_report(energy_fn, cem.maxnorm, setup.landscape_points, recorded, plan.actions)
    plot_landscape(landscape, out / "energy_landscape.png")
    result = {
        "model": model.source, "setup": asdict(setup), "cem": asdict(cem), "frames": indices.tolist(),
        "planned_actions": plan.actions.tolist(), "planned_energy": plan.energy,
        "recorded_actions": recorded.tolist(), "recorded_energy": float(energy_fn(recorded[None])[0]),
        "zero_action_energy": float(energy_fn(torch.zeros(1, cem.horizon, 7, dtype=torch.float64))[0]),
        "best_energy_per_iteration": plan.best_energy_per_iteration,
        "landscape_min_at": landscape["min_at"], "landscape": landscape,
    }
    (out / "plan.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result
