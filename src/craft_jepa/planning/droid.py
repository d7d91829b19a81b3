"""Planning over DROID's 7-D end-effector action as Meta's planning notebook does it.

vjepa2's `notebooks/utils/mpc_utils.py` (REFERENCE.md section 7), reproduced here in our terms:
- CEM samples only the xyz deltas (clipped to +-maxnorm, 0.05 m) and the gripper delta (clipped
  to +-0.75); the three rotation deltas are 0. The sampling distribution starts at mean 0 with
  std maxnorm (xyz) and 1 (gripper); each iteration refits mean and std (unbiased) to the top-k
  sequences and blends them with the old ones (momentum = weight of the old; the gripper has its
  own). The returned plan is the final mean, rotations 0, its gripper zeroed where |mean| < 0.25.
- The pose is rolled forward with the action (`compose_pose`: xyz added, rotation R(delta) R(pose),
  gripper clipped to [0, 1]) and fed back as the next step's state. Because the pose depends only
  on the actions, the whole state sequence is computed before one frame-causal rollout: step t
  of the predictor sees states up to t either way.
- Energy: mean |z_pred - z_goal| over the last predicted frame's tokens (`goal_l1`, mode last).

`energy_landscape` scores actions on a (dx, dy) grid (dz, rotation and gripper 0; one step as in
Meta's notebook, or the same step repeated over the plan's horizon), the picture that shows
whether the model's energy has its minimum where the recorded action lies (`landscape_report`:
in the report's layout, drawn by eval/report.py).
scipy is the optional `droid` extra (imported at module level: this module is DROID-only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch import Tensor

from craft_jepa.models.predictor import ACPredictor
from craft_jepa.planning.objectives import goal_l1

# actions (S, H, 7) -> energies (S,)
SequenceEnergy = Callable[[Tensor], Tensor]


@dataclass
class DroidCEMConfig:
    """Defaults: REFERENCE.md section 7 (the notebook's world-model wrapper settings)."""

    horizon: int = 2
    samples: int = 400
    top_k: int = 10
    iterations: int = 10
    momentum_mean: float = 0.15
    momentum_std: float = 0.15
    momentum_mean_gripper: float = 0.15
    momentum_std_gripper: float = 0.15
    maxnorm: float = 0.05  # metres per step, each of x, y, z
    max_gripper: float = 0.75
    gripper_zero_below: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "top_k", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"DroidCEMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 2 <= self.top_k <= self.samples:
            raise ValueError(f"DroidCEMConfig.top_k must be in [2, samples] (a std needs 2), got {self.top_k}")
        for name in ("momentum_mean", "momentum_std", "momentum_mean_gripper", "momentum_std_gripper"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"DroidCEMConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.maxnorm <= 0 or self.max_gripper <= 0:
            raise ValueError("DroidCEMConfig.maxnorm and max_gripper must be > 0")


def compose_pose(pose: np.ndarray, action: np.ndarray) -> np.ndarray:
    """(..., 7) pose and action -> the next pose: xyz + dxyz, R(d) R(pose), gripper clipped to [0, 1]."""
    pose, action = np.asarray(pose, np.float64), np.asarray(action, np.float64)
    rotation = Rotation.from_euler("xyz", action[..., 3:6].reshape(-1, 3)) * Rotation.from_euler(
        "xyz", pose[..., 3:6].reshape(-1, 3))
    euler = rotation.as_euler("xyz").reshape(pose[..., 3:6].shape)
    gripper = np.clip(pose[..., 6:7] + action[..., 6:7], 0.0, 1.0)
    return np.concatenate([pose[..., :3] + action[..., :3], euler, gripper], axis=-1)


def rolled_states(start: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """start (7,), actions (S, H, 7) -> the state at each step (S, H, 7): start, then rolled forward."""
    samples, horizon, _ = actions.shape
    states = np.empty((samples, horizon, 7))
    states[:, 0] = start
    for h in range(1, horizon):
        states[:, h] = compose_pose(states[:, h - 1], actions[:, h - 1])
    return states


def predictor_energy(predictor: ACPredictor, z_start: Tensor, state_start: np.ndarray, z_goal: Tensor,
                     scale: Callable[[Tensor], Tensor] | None = None, chunk: int = 256) -> SequenceEnergy:
    """Energy of raw action sequences (S, H, 7) from one start (N, D) with pose `state_start` (7,) to a
    goal (N, D): the predictor rolled out over the sequence (actions through `scale`, default none:
    the released model takes raw actions), fed the rolled-forward poses."""
    if z_start.dim() != 2 or z_goal.shape != z_start.shape:
        raise ValueError(f"z_start {tuple(z_start.shape)} and z_goal {tuple(z_goal.shape)} must both be (N, D)")

    @torch.no_grad()
    def energy(actions: Tensor) -> Tensor:
        samples, horizon, _ = actions.shape
        states = torch.from_numpy(rolled_states(state_start, actions.double().cpu().numpy()))
        out = []
        for lo in range(0, samples, chunk):
            hi = min(lo + chunk, samples)
            context = z_start[None, None].expand(hi - lo, 1, -1, -1)  # (M, 1, N, D)
            inputs = actions[lo:hi].to(z_start) if scale is None else scale(actions[lo:hi]).to(z_start)
            predicted = predictor.rollout(context, inputs, states[lo:hi].to(z_start), steps=horizon)  # (M, H, N, D)
            out.append(goal_l1(predicted, z_goal[None].expand(hi - lo, -1, -1), "last"))
        return torch.cat(out)

    return energy


@dataclass
class DroidPlan:
    actions: Tensor  # (H, 7) the plan: xyz, zero rotation, gripper (zeroed below the threshold)
    energy: float  # energy of that plan
    best_energy_per_iteration: list[float]


def _with_rotation_zero(xyzg: Tensor) -> Tensor:
    """(..., 4) xyz + gripper -> (..., 7) with the rotation deltas 0."""
    zeros = xyzg.new_zeros((*xyzg.shape[:-1], 3))
    return torch.cat([xyzg[..., :3], zeros, xyzg[..., 3:]], dim=-1)


@torch.no_grad()
def plan_droid_cem(energy_fn: SequenceEnergy, config: DroidCEMConfig) -> DroidPlan:
    """CEM over (H, 7) end-effector actions as the notebook does it; deterministic for `config.seed`."""
    generator = torch.Generator().manual_seed(config.seed)
    h = config.horizon
    mean = torch.zeros(h, 4, dtype=torch.float64)  # xyz + gripper
    std = torch.cat([torch.full((h, 3), config.maxnorm), torch.ones(h, 1)], dim=1).double()
    m_mean = torch.tensor([config.momentum_mean] * 3 + [config.momentum_mean_gripper], dtype=torch.float64)
    m_std = torch.tensor([config.momentum_std] * 3 + [config.momentum_std_gripper], dtype=torch.float64)
    limit = torch.tensor([config.maxnorm] * 3 + [config.max_gripper], dtype=torch.float64)
    history = []
    for _ in range(config.iterations):
        noise = torch.randn(config.samples, h, 4, generator=generator, dtype=torch.float64)
        samples = torch.maximum(torch.minimum(mean + std * noise, limit), -limit)  # (S, H, 4)
        energy = energy_fn(_with_rotation_zero(samples)).double().cpu()  # (S,)
        if energy.shape != (config.samples,):
            raise ValueError(f"energy function returned {tuple(energy.shape)}, expected ({config.samples},)")
        top = energy.topk(config.top_k, largest=False)
        history.append(float(top.values[0]))
        elite = samples[top.indices]  # (K, H, 4)
        mean = elite.mean(dim=0) * (1 - m_mean) + mean * m_mean
        std = elite.std(dim=0) * (1 - m_std) + std * m_std
    gripper = torch.where(mean[:, 3:].abs() < config.gripper_zero_below, torch.zeros_like(mean[:, 3:]), mean[:, 3:])
    plan = _with_rotation_zero(torch.cat([mean[:, :3], gripper], dim=1))  # (H, 7)
    return DroidPlan(plan, float(energy_fn(plan[None])[0]), history)


@torch.no_grad()
def energy_landscape(energy_fn: SequenceEnergy, maxnorm: float = 0.05, points: int = 21,
                     horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (points,), energies (points, points) indexed [dy, dx]) of `horizon`-step sequences
    repeating one action (dx, dy, 0, 0, ...); horizon 1 is Meta's one-step landscape."""
    offsets = np.linspace(-maxnorm, maxnorm, points)
    dx, dy = np.meshgrid(offsets, offsets)  # (points, points) each, rows: dy
    actions = torch.zeros(points * points, horizon, 7, dtype=torch.float64)  # (G, H, 7)
    actions[..., 0] = torch.from_numpy(dx.ravel())[:, None]
    actions[..., 1] = torch.from_numpy(dy.ravel())[:, None]
    return offsets, energy_fn(actions).double().cpu().numpy().reshape(points, points)


def landscape_report(energy_fn: SequenceEnergy, maxnorm: float, points: int, recorded: Tensor,
                     planned: Tensor) -> dict:
    """`energy_landscape` over the plan's horizon, as the report holds it (eval/report.py's
    plot_landscape draws it): dx and dy offsets (points,), energy rows dy, columns dx, the recorded
    and planned sequences' (H, 7) mean (dx, dy) per step, and the grid point of least energy."""
    horizon = recorded.shape[0]
    offsets, energies = energy_landscape(energy_fn, maxnorm, points, horizon)
    dy_index, dx_index = divmod(int(energies.argmin()), points)  # energies are indexed [dy, dx]
    return {"dx": offsets.tolist(), "dy": offsets.tolist(), "energy": energies.tolist(), "horizon": horizon,
            "recorded": recorded[:, :2].double().mean(0).tolist(), "planned": planned[:, :2].double().mean(0).tolist(),
            "min_at": [float(offsets[dx_index]), float(offsets[dy_index])]}
