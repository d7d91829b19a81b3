"""Offline planning evaluation (no Minecraft simulator): plan between recorded frames.

From each held-out clip take frame t as the start and frame t+k as the goal, plan k actions
with CEM toward the goal latent, and compare the plan with the actions actually recorded.
Every score stands beside the constant guesses it must beat:
- yaw sign agreement over pairs whose recorded |yaw| is at least `min_yaw_deg`, beside the
  majority-sign rate (the best constant sign, chosen knowing the answers) and the sign of
  the training-mean camera motion (the constant plan);
- yaw correlation, planned vs recorded total yaw (a constant plan has none);
- camera error: mean |planned - recorded| yaw and pitch per step, in degrees, beside
  planning no motion and planning the training-mean motion;
- key agreement over the binary features CEM planned, beside an all-zero plan and the
  per-feature majority of the evaluated pairs.
Spreads: CEM runs once per seed in `cem_seeds` (mean, min and max reported) and the first
seed's yaw scores carry 95 % bootstrap intervals over pairs.
Features CEM does not plan (`action_space.plan`) are held: state-like ones (hotbar slot, GUI
flag) at the recorded values of the start step, which frame t shows, the rest at 0.
An energy landscape over a (yaw, pitch) grid for the first pair shows where the minimum is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from craft_jepa.eval.heldout import EncodedClips
from craft_jepa.eval.spread import correlation_interval, mean_interval
from craft_jepa.planning.action_space import ActionSpace, ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig, CEMResult, cem
from craft_jepa.planning.objectives import EnergyMode, rollout_energy, with_prior
from craft_jepa.runs.loading import LoadedRun


@dataclass
class OfflinePlanConfig:
    pairs: int = 32  # (start, goal) pairs, one per clip
    start_frame: int = 0
    min_yaw_deg: float = 1.0  # smaller recorded turns do not count for sign agreement
    energy: EnergyMode = "last"
    plan_batch: int = 8  # pairs planned together (rows per energy call: plan_batch * samples)
    cem_seeds: tuple[int, ...] = (0,)  # CEM runs once per seed (in place of cem.seed); spread over them
    landscape_points: int = 21  # grid size per axis (0: no landscape)
    cem: CEMConfig = field(default_factory=CEMConfig)  # cem.horizon = k = goal offset
    action_space: ActionSpaceConfig = field(default_factory=ActionSpaceConfig)

    def __post_init__(self) -> None:
        if self.pairs < 1 or self.plan_batch < 1:
            raise ValueError(f"OfflinePlanConfig.pairs and .plan_batch must be >= 1, "
                             f"got {self.pairs}, {self.plan_batch}")
        if self.start_frame < 0 or self.min_yaw_deg < 0 or self.landscape_points < 0:
            raise ValueError("OfflinePlanConfig.start_frame, .min_yaw_deg and .landscape_points must be >= 0")
        self.cem_seeds = tuple(int(x) for x in self.cem_seeds)
        if not self.cem_seeds:
            raise ValueError("OfflinePlanConfig.cem_seeds must name at least one seed")
        if self.cem.seed != CEMConfig().seed and self.cem.seed not in self.cem_seeds:
            # A seed set here would be silently replaced by cem_seeds: say so instead.
            raise ValueError(f"OfflinePlanConfig.cem.seed={self.cem.seed} is not used: offline planning runs "
                             f"CEM once per seed in cem_seeds={self.cem_seeds}; set cem_seeds=({self.cem.seed},)")
        if self.energy not in ("last", "all"):
            raise ValueError(f"OfflinePlanConfig.energy must be 'last' or 'all', got {self.energy!r}")


def plan_latents(run: LoadedRun, space: ActionSpace, z_start: Tensor, z_goal: Tensor,
                 config: CEMConfig, state_start: Tensor | None = None,
                 mode: EnergyMode = "last", cached: bool = True, hold: Tensor | None = None) -> CEMResult:
    """CEM from start latents (B, N, D) to goal latents (B, N, D) with the run's predictor.

    `hold` (B, A): values of the features the action space does not plan (default 0).
    `cached=False` uses the predictor's uncached rollout (for benchmarks). With
    `space.config.camera_prior` the objective adds the camera prior (`objectives.with_prior`),
    scaled by each pair's no-motion energy; the result's energy is then that objective's."""
    predictor = run.predictor
    rollout = predictor.rollout if cached else predictor.rollout_uncached
    if state_start is not None:
        state_start = state_start.to(run.device)
    energy = rollout_energy(rollout, run.scale, z_start.to(run.device), z_goal.to(run.device),
                            state_start, mode)
    if space.config.camera_prior > 0:
        b, h, a = z_start.shape[0], config.horizon, space.dim
        held = torch.zeros((b, a)) if hold is None else hold.cpu().float().reshape(b, a)
        # the reference plan: what CEM does not plan as held, every planned feature 0 (no motion, no keys)
        still = (held * ~space.planned_mask)[:, None, None].expand(b, 1, h, a)  # (B, A) -> (B, 1, H, A)
        with torch.no_grad():
            reference = energy(still.to(run.device)).float().cpu()  # (B, 1)
        energy = with_prior(energy, space.camera_prior_cost, space.config.camera_prior, reference)
    return cem(space, energy, z_start.shape[0], config, device=run.device, hold=hold)


def energy_landscape(run: LoadedRun, space: ActionSpace, z_start: Tensor, z_goal: Tensor,
                     recorded: Tensor, points: int, state_start: Tensor | None = None,
                     mode: EnergyMode = "last") -> dict:
    """Energy of camera-only changes to one recorded action sequence (H, A) over a grid of
    constant per-step (yaw, pitch); z_start/z_goal (N, D)."""
    yaw = torch.linspace(space.low[0].item(), space.high[0].item(), points)
    pitch = torch.linspace(space.low[1].item(), space.high[1].item(), points)
    grid_pitch, grid_yaw = torch.meshgrid(pitch, yaw, indexing="ij")  # (P, Y) each
    cam = torch.stack([grid_yaw.flatten(), grid_pitch.flatten()], -1)  # (P*Y, 2) degrees
    camera_cols = space.to_raw[:2].abs().sum(0) > 0  # (A,) features derived from the camera
    actions = recorded[None].repeat(len(cam), 1, 1).cpu()  # (G, H, A)
    actions[..., camera_cols] = (cam @ space.to_raw[:2])[:, None, camera_cols]
    states = None if state_start is None else state_start[None].to(run.device)
    energy_fn = rollout_energy(run.predictor.rollout, run.scale, z_start[None].to(run.device),
                               z_goal[None].to(run.device), states, mode)
    with torch.no_grad():
        energy = energy_fn(actions[None].to(run.device))[0].cpu()  # (G,)
    recorded_cam = space.camera_degrees(recorded.cpu()).mean(0)  # per-step mean (yaw, pitch)
    return {"yaw": yaw.tolist(), "pitch": pitch.tolist(),
            "energy": energy.view(points, points).tolist(),
            "recorded": recorded_cam.tolist()}


def evaluate_planning(run: LoadedRun, clips: EncodedClips, config: OfflinePlanConfig,
                      progress: bool = True) -> dict:
    """Plan from frame t to frame t+k of each clip and score against the recorded actions."""
    k = config.cem.horizon
    t = config.start_frame
    if t + k >= clips.z.shape[1]:
        raise ValueError(f"start_frame {t} + horizon {k} must be < frames per clip {clips.z.shape[1]}")
    space = ActionSpace.from_layout(run.action_layout, run.scaler, config.action_space)
    if not space.has_camera:
        raise ValueError(f"action layout {run.action_layout.name!r} has no camera features to plan")
    n = min(config.pairs, len(clips))
    recorded = clips.actions[:n, t:t + k]  # (n, k, A) raw
    hold = space.hold_from(recorded[:, 0])  # (n, A): what frame t shows (hotbar slot, GUI)
    per_seed = []
    for seed in config.cem_seeds:
        cem_config = replace(config.cem, seed=seed)
        planned = []
        for lo in tqdm(range(0, n, config.plan_batch), desc=f"plan (CEM seed {seed})",
                       disable=not progress):
            sl = slice(lo, min(lo + config.plan_batch, n))
            state = clips.states[sl, t] if clips.states.shape[-1] else None
            result = plan_latents(run, space, clips.z[sl, t], clips.z[sl, t + k], cem_config, state,
                                  config.energy, hold=hold[sl])
            planned.append(result.actions.cpu())
        per_seed.append(torch.cat(planned))  # (n, k, A)
    plan = per_seed[0]
    summary = score_plans(space, plan, recorded, config.min_yaw_deg, seed=config.cem_seeds[0])
    summary["cem_seeds"] = seed_spread([score_plans(space, p, recorded, config.min_yaw_deg)
                                        for p in per_seed], list(config.cem_seeds))
    report = {"summary": summary, "horizon": k, "start_frame": t, "planned_features": config.action_space.plan,
              "camera": config.action_space.camera, "camera_prior": config.action_space.camera_prior,
              "samples": config.cem.samples, "iterations": config.cem.iterations,
              "first_plans": [[run.action_layout.describe(step.numpy()) for step in p]
                              for p in plan[:3]]}
    # The pair with the largest recorded turn, with its plan (CEM seed cem_seeds[0]): what
    # `craft-jepa eval` draws as plan.png when the run has a pixel decoder.
    turn = space.camera_degrees(recorded)[..., 0].sum(1)  # (n,) recorded yaw over the horizon
    i = int(torch.argmax(turn.abs()))
    report["example"] = {"pair": i, "key": clips.keys[i], "recorded_yaw_deg": float(turn[i]),
                         "planned_yaw_deg": float(space.camera_degrees(plan[i])[..., 0].sum()),
                         "planned": plan[i].tolist(), "recorded": recorded[i].tolist()}
    if config.landscape_points:
        state = clips.states[0, t] if clips.states.shape[-1] else None
        landscape = energy_landscape(run, space, clips.z[0, t], clips.z[0, t + k], recorded[0],
                                     config.landscape_points, state, config.energy)
        landscape["planned"] = space.camera_degrees(plan[0]).mean(0).tolist()
        report["landscape"] = landscape
    return report


def score_plans(space: ActionSpace, plan: Tensor, recorded: Tensor, min_yaw_deg: float,
                seed: int | None = None) -> dict:
    """plan, recorded (n, k, A) raw -> agreement metrics beside their constant-guess baselines
    (floats; NaN when undefined). With `seed`, yaw scores get bootstrap intervals over pairs."""
    plan_cam, rec_cam = space.camera_degrees(plan), space.camera_degrees(recorded)  # (n, k, 2)
    plan_yaw, rec_yaw = plan_cam[..., 0].sum(1), rec_cam[..., 0].sum(1)  # (n,)
    turning = rec_yaw.abs() >= min_yaw_deg
    agree = (torch.sign(plan_yaw) == torch.sign(rec_yaw))[turning].float()
    positive = (rec_yaw[turning] > 0).float()
    # The constant plan: the training-mean camera motion every step (the CEM start).
    mean_cam = space.init_mean[:2].expand_as(rec_cam) if space.has_camera else torch.zeros_like(rec_cam)
    mean_sign = torch.sign(mean_cam[..., 0].sum(1))
    planned = [i for i in range(space.dim) if not space.continuous_mask[i] and space.planned_mask[i]]
    nan = float("nan")
    out = {
        "pairs": int(plan.shape[0]),
        "turning_pairs": int(turning.sum()),
        "yaw_sign_agreement": agree.mean().item() if len(agree) else nan,
        "yaw_sign_chance": 0.5,
        "yaw_majority_sign_rate": (max(positive.mean().item(), 1 - positive.mean().item())
                                   if len(positive) else nan),
        "yaw_mean_plan_sign_agreement": ((mean_sign == torch.sign(rec_yaw))[turning].float().mean().item()
                                         if len(agree) else nan),
        "yaw_correlation": _correlation(plan_yaw, rec_yaw),
        "camera_error_deg": (plan_cam - rec_cam).abs().mean().item(),
        "yaw_error_deg": (plan_cam - rec_cam)[..., 0].abs().mean().item(),
        "pitch_error_deg": (plan_cam - rec_cam)[..., 1].abs().mean().item(),
        "zero_camera_error_deg": rec_cam.abs().mean().item(),
        "mean_camera_error_deg": (mean_cam - rec_cam).abs().mean().item(),
        "planned_binary_features": len(planned),
    }
    if planned:
        target = (recorded[..., planned] > 0.5).float()  # (n, k, K)
        majority = (target.mean(dim=(0, 1)) > 0.5).float().expand_as(target)
        out["key_agreement"] = (plan[..., planned] == target).float().mean().item()
        out["key_agreement_all_zero_plan"] = (target == 0).float().mean().item()
        out["key_agreement_majority_plan"] = (majority == target).float().mean().item()
    if seed is not None and len(agree):
        out["yaw_sign_agreement_ci95"] = interval_bounds(mean_interval(agree.numpy(), seed))
        out["yaw_correlation_ci95"] = interval_bounds(correlation_interval(plan_yaw.numpy(), rec_yaw.numpy(),
                                                                           seed))
    return out


SEED_SPREAD_KEYS = ("yaw_sign_agreement", "yaw_correlation", "camera_error_deg", "key_agreement")


def seed_spread(summaries: list[dict], seeds: list[int], keys: tuple[str, ...] = SEED_SPREAD_KEYS) -> dict:
    """Mean, min and max over CEM seeds of the scores (`keys`) that depend on the plan."""
    out: dict = {"seeds": seeds}
    for key in keys:
        values = np.array([s[key] for s in summaries if key in s], dtype=np.float64)
        if len(values):
            out[key] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
    return out


def _correlation(x: Tensor, y: Tensor) -> float:
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x.numpy(), y.numpy())[0, 1])


def interval_bounds(interval: dict[str, float]) -> list[float]:
    """{"value", "lo", "hi"} -> [lo, hi]."""
    return [interval["lo"], interval["hi"]]
