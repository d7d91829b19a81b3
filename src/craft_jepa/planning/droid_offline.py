"""Offline planning on held-out DROID clips, scored against the recorded actions.

From each clip take frame t and its recorded pose as the start, frame t+k as the goal, plan k
actions with CEM as Meta's notebook does (planning/droid.py: xyz and gripper sampled, rotation
deltas 0, the pose rolled forward as the state) and compare the plan with the actions recorded
between the two frames. Every score stands beside constant plans:
- displacement error: |sum of planned xyz steps - sum of recorded ones| (Euclidean, metres),
  beside the no-motion plan (|recorded displacement|) and the mean-action plan (the mean
  recorded step of the evaluated pairs, every step: chosen knowing the answers); the ratios
  no-motion / plan and mean-action / plan are paired over pairs, with 95 % bootstrap intervals;
- xyz error per step, direction cosine (planned vs recorded displacement; no motion scores 0),
  gripper error (summed gripper deltas), each beside the same constant plans;
- energies of the plan, of the recorded actions and of no motion: a plan of lower energy than
  the recorded actions that lies far from them is the model's error, not the optimizer's. The
  recorded actions' energy from frame 0 is the model's rollout L1 at horizon k, pair by pair.
CEM runs once per seed in `cem_seeds` (mean, min and max of the plan scores); the first seed's
scores carry the intervals. The first pair's energy landscape over (dx, dy) steps (the same step
every step, dz, rotation and gripper 0) shows where the model's minimum lies against the recorded
and planned mean steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from craft_jepa.eval.droid import DroidModel
from craft_jepa.eval.heldout import EncodedClips
from craft_jepa.eval.spread import margin_check, mean_interval, ratio_interval
from craft_jepa.planning.droid import DroidCEMConfig, landscape_report, plan_droid_cem, predictor_energy
from craft_jepa.planning.offline import interval_bounds, seed_spread

PLANNED_FEATURES = "ee_dx, ee_dy, ee_dz, gripper_delta (rotation deltas 0, as Meta's notebook)"
SPREAD_KEYS = ("displacement_error_m", "step_xyz_error_m", "direction_cosine", "gripper_error")


@dataclass
class DroidOfflinePlanConfig:
    pairs: int = 16  # (start, goal) pairs, one per clip
    start_frame: int = 0
    cem_seeds: tuple[int, ...] = (0,)  # CEM runs once per seed (in place of cem.seed)
    landscape_points: int = 21  # grid points per axis (0: no landscape)
    margin: float = 1.05  # a ratio to a constant plan "clears" only when its whole interval is past this
    cem: DroidCEMConfig = field(default_factory=DroidCEMConfig)  # cem.horizon = k = goal offset

    def __post_init__(self) -> None:
        if self.pairs < 1 or self.start_frame < 0 or self.landscape_points < 0 or self.landscape_points == 1:
            raise ValueError(f"DroidOfflinePlanConfig: pairs must be >= 1, start_frame >= 0, landscape_points 0 "
                             f"or >= 2; got {self.pairs}, {self.start_frame}, {self.landscape_points}")
        self.cem_seeds = tuple(int(x) for x in self.cem_seeds)
        if not self.cem_seeds:
            raise ValueError("DroidOfflinePlanConfig.cem_seeds must name at least one seed")
        if not self.margin >= 1.0:
            raise ValueError(f"DroidOfflinePlanConfig.margin must be >= 1, got {self.margin}")


def evaluate_droid_planning(model: DroidModel, clips: EncodedClips, config: DroidOfflinePlanConfig,
                            progress: bool = True) -> dict:
    """Plan from frame t to frame t+k of each clip and score against the recorded actions."""
    k, t = config.cem.horizon, config.start_frame
    if t + k >= clips.z.shape[1]:
        raise ValueError(f"start_frame {t} + horizon {k} must be < frames per clip {clips.z.shape[1]}")
    n = min(config.pairs, len(clips))
    recorded = clips.actions[:n, t:t + k].double()  # (n, k, 7) raw
    starts = clips.states[:n, t].double().numpy()  # (n, 7) recorded poses at frame t
    z = clips.z.to(model.device)
    energy_fns = [predictor_energy(model.predictor, z[i, t], starts[i], z[i, t + k], model.scale) for i in range(n)]
    per_seed, planned_energy = [], []
    for seed in config.cem_seeds:
        cem = replace(config.cem, seed=seed)
        plans = [plan_droid_cem(energy_fns[i], cem)
                 for i in tqdm(range(n), desc=f"plan (CEM seed {seed})", disable=not progress)]
        per_seed.append(torch.stack([p.actions for p in plans]))  # (n, k, 7)
        planned_energy.append(np.array([p.energy for p in plans]))
    plan = per_seed[0]
    zero = torch.zeros(1, k, 7, dtype=torch.float64)
    recorded_energy = np.array([float(energy_fns[i](recorded[i][None])[0]) for i in range(n)])
    zero_energy = np.array([float(energy_fns[i](zero)[0]) for i in range(n)])
    mean_plan = recorded.mean(dim=(0, 1)).expand_as(recorded)  # (n, k, 7): the mean recorded step
    seed = config.cem_seeds[0]
    summary = score_droid_plans(plan, recorded, mean_plan, seed=seed, margin=config.margin)
    summary.update(planned_energy=float(planned_energy[0].mean()), recorded_energy=float(recorded_energy.mean()),
                   zero_action_energy=float(zero_energy.mean()),
                   plan_below_recorded_energy=float((planned_energy[0] < recorded_energy).mean()))
    summary["cem_seeds"] = seed_spread([score_droid_plans(p, recorded, mean_plan) for p in per_seed],
                                       list(config.cem_seeds), SPREAD_KEYS)
    displacement = recorded[..., :3].sum(1).norm(dim=-1)  # (n,) recorded |displacement|
    i = int(torch.argmax(displacement))  # the pair that moved most, as VPT's example is the largest turn
    report = {"summary": summary, "horizon": k, "start_frame": t, "planned_features": PLANNED_FEATURES,
              "samples": config.cem.samples, "iterations": config.cem.iterations, "maxnorm": config.cem.maxnorm,
              "per_pair": {"key": clips.keys[:n], "planned_energy": planned_energy[0].tolist(),
                           "recorded_energy": recorded_energy.tolist(), "zero_action_energy": zero_energy.tolist()},
              "example": {"pair": i, "key": clips.keys[i], "planned": plan[i].tolist(), "recorded": recorded[i].tolist()}}
    if config.landscape_points:
        report["landscape"] = landscape_report(energy_fns[0], config.cem.maxnorm, config.landscape_points,
                                               recorded[0], plan[0])
    return report


def score_droid_plans(plan: Tensor, recorded: Tensor, mean_plan: Tensor, seed: int | None = None,
                      margin: float = 1.05) -> dict:
    """plan, recorded, mean_plan (n, k, 7) raw -> scores beside the no-motion and mean-action plans
    (see the module docstring); with `seed`, 95 % bootstrap intervals over pairs."""
    plan, recorded, mean_plan = plan.double(), recorded.double(), mean_plan.double()
    target = recorded[..., :3].sum(1)  # (n, 3) recorded displacement
    gripper = recorded[..., 6].sum(1)  # (n,)

    def errors(candidate: Tensor) -> dict[str, Tensor]:  # per pair (n,)
        moved = candidate[..., :3].sum(1)  # (n, 3)
        return {"displacement": (moved - target).norm(dim=-1),
                "step": (candidate[..., :3] - recorded[..., :3]).norm(dim=-1).mean(1),
                "cosine": F.cosine_similarity(moved, target, dim=-1, eps=1e-12),
                "gripper": (candidate[..., 6].sum(1) - gripper).abs()}

    ours, zero, mean = errors(plan), errors(torch.zeros_like(recorded)), errors(mean_plan)
    out = {
        "pairs": int(plan.shape[0]),
        "recorded_displacement_m": float(target.norm(dim=-1).mean()),
        "displacement_error_m": float(ours["displacement"].mean()),
        "zero_displacement_error_m": float(zero["displacement"].mean()),
        "mean_displacement_error_m": float(mean["displacement"].mean()),
        "step_xyz_error_m": float(ours["step"].mean()),
        "zero_step_xyz_error_m": float(zero["step"].mean()),
        "mean_step_xyz_error_m": float(mean["step"].mean()),
        "direction_cosine": float(ours["cosine"].mean()),
        "mean_direction_cosine": float(mean["cosine"].mean()),
        "gripper_error": float(ours["gripper"].mean()),
        "zero_gripper_error": float(zero["gripper"].mean()),
        "mean_gripper_error": float(mean["gripper"].mean()),
    }
    if seed is not None:
        numpy = {name: {key: value.numpy() for key, value in errs.items()}
                 for name, errs in (("plan", ours), ("zero", zero), ("mean", mean))}
        out["displacement_error_ci95"] = interval_bounds(mean_interval(numpy["plan"]["displacement"], seed))
        out["direction_cosine_ci95"] = interval_bounds(mean_interval(numpy["plan"]["cosine"], seed))
        out["zero_over_plan_error"] = margin_check(
            ratio_interval(numpy["zero"]["displacement"], numpy["plan"]["displacement"], seed), margin)
        out["mean_over_plan_error"] = margin_check(
            ratio_interval(numpy["mean"]["displacement"], numpy["plan"]["displacement"], seed), margin)
    return out

