"""Action sensitivity: how far teacher-forced predictions move when one feature group changes.

For each group (camera, movement, hotbar, buttons, gui, other) the group's columns are
replaced by the same columns of another clip (a seeded derangement), so the new actions
stay on the data distribution, and the mean |pred' - pred| is reported. A group that
never varies in the data cannot be measured this way: `changed_fraction` (the share of
steps whose group values actually changed) says how much evidence each number rests on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from craft_jepa.eval.metrics import PredictorLike, derangement, l1_per_step, predict_teacher_forced
from craft_jepa.eval.spread import ratio_interval
from craft_jepa.vpt.action_groups import camera_axis


@torch.no_grad()
def action_sensitivity(predictor: PredictorLike, z: Tensor, actions: Tensor, states: Tensor,
                       groups: Sequence[str], seed: int = 0, batch_size: int = 8,
                       device: torch.device | str | None = None) -> dict[str, dict[str, float]]:
    """z (C, T, N, D), scaled actions (C, T-1, A), states (C, T, S), groups: one per feature.

    Returns {group: {"delta_l1", "changed_fraction", "delta_l1_per_changed_step"}}."""
    if len(groups) != actions.shape[-1]:
        raise ValueError(f"{len(groups)} group names for {actions.shape[-1]} action features")
    device = torch.device(device) if device is not None else z.device
    c = z.shape[0]
    other = derangement(c, torch.Generator().manual_seed(seed + 1))
    names = sorted(set(groups))
    columns = {g: [i for i, n in enumerate(groups) if n == g] for g in names}
    delta_sum = {g: 0.0 for g in names}
    changed_steps = {g: 0.0 for g in names}
    # per-step movement summed only over steps whose group values changed
    delta_changed = {g: 0.0 for g in names}
    steps = 0
    for lo in range(0, c, batch_size):
        idx = torch.arange(lo, min(lo + batch_size, c))
        zb, ab, sb = z[idx].to(device), actions[idx].to(device), states[idx].to(device)
        base = predict_teacher_forced(predictor, zb, ab, sb)  # (b, T-1, N, D)
        steps += ab.shape[0] * ab.shape[1]
        for g in names:
            swapped = ab.clone()
            swapped[..., columns[g]] = actions[other[idx]][..., columns[g]].to(device)
            moved = predict_teacher_forced(predictor, zb, swapped, sb)
            per_step = (moved.float() - base.float()).abs().mean(dim=(2, 3))  # (b, T-1)
            changed = (swapped[..., columns[g]] != ab[..., columns[g]]).any(-1)  # (b, T-1)
            delta_sum[g] += per_step.sum().item()
            changed_steps[g] += changed.sum().item()
            delta_changed[g] += per_step[changed].sum().item()
    return {
        g: {
            "delta_l1": delta_sum[g] / steps,
            "changed_fraction": changed_steps[g] / steps,
            "delta_l1_per_changed_step": (delta_changed[g] / changed_steps[g]
                                          if changed_steps[g] else float("nan")),
        }
        for g in names
    }


@torch.no_grad()
def mirrored_camera(predictor: PredictorLike, z: Tensor, raw_actions: Tensor, states: Tensor,
                    scale, feature_names: Sequence[str], continuous_mask: Sequence[bool],
                    seed: int = 0, batch_size: int = 8, device: torch.device | str | None = None
                    ) -> dict[str, dict[str, float]]:
    """Does the model know which WAY the camera turned? Teacher-forced L1 with the recorded
    yaw (or pitch) reversed, over the L1 with the recorded actions, paired over clips with a
    95 % bootstrap interval. 1.0: the prediction ignores the direction of that axis.

    raw_actions (C, T-1, A) in layout units; `scale` maps them to the predictor's inputs."""

    device = torch.device(device) if device is not None else z.device
    axes = {0: [], 1: []}  # yaw / pitch feature columns (mouse units and degrees alike)
    for i, (name, cont) in enumerate(zip(feature_names, continuous_mask)):
        found = camera_axis(name) if cont else None
        if found is not None:
            axes[found[0]].append(i)
    per_clip: dict[str, list[Tensor]] = {"recorded": [], "yaw": [], "pitch": []}
    for lo in range(0, z.shape[0], batch_size):
        sl = slice(lo, lo + batch_size)
        zb, sb = z[sl].to(device), states[sl].to(device)
        variants = {"recorded": raw_actions[sl]}
        for name, axis in (("yaw", 0), ("pitch", 1)):
            flipped = raw_actions[sl].clone()
            flipped[..., axes[axis]] = -flipped[..., axes[axis]]
            variants[name] = flipped
        for name, raw in variants.items():
            pred = predict_teacher_forced(predictor, zb, scale(raw.float()).to(device), sb)
            per_clip[name].append(l1_per_step(pred, zb[:, 1:]).mean(1).double().cpu())  # (b,)
    recorded = torch.cat(per_clip["recorded"]).numpy()
    return {name: ratio_interval(torch.cat(per_clip[name]).numpy(), recorded, seed)
            for name in ("yaw", "pitch") if axes[0 if name == "yaw" else 1]}
