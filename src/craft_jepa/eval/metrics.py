"""Latent prediction quality per horizon, for the model and for trivial baselines.

Two ways to predict frame t+h of a clip z (B, T, N, D):
- teacher-forced ("tf"): the predictor sees the TRUE frames 0..t and predicts t+1; row h-1
  of the result is the prediction of frame h (h = 1..T-1, i.e. with h frames of context);
- rolled out ("rollout"): the predictor sees frame 0 only and feeds its own predictions
  back; row h-1 is the prediction of frame h, h steps into the future.
At h = 1 the two coincide. Methods compared:
- model: the predictor with the recorded actions;
- zero_actions: the predictor with actions at zero in SCALED space (the mean action);
- shuffled_actions: the predictor with the actions of another clip (a derangement);
- copy_last: the last frame the method may see (tf: frame h-1; rollout: frame 0);
- dataset_mean: the mean latent of the evaluated clips (an oracle constant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from craft_jepa.eval.spread import ratio_interval

MODES = ("tf", "rollout")
METHODS = ("model", "copy_last", "dataset_mean", "zero_actions", "shuffled_actions")


class PredictorLike(Protocol):
    """What eval needs from `models.ACPredictor` (a tiny analytic model works in tests)."""

    def __call__(self, tokens: Tensor, actions: Tensor, states: Tensor) -> Tensor: ...

    def rollout(self, context: Tensor, actions: Tensor, states: Tensor, steps: int) -> Tensor: ...


def l1_per_step(pred: Tensor, target: Tensor) -> Tensor:
    """(B, H, N, D) x2 -> (B, H): mean |pred - target| over tokens and channels."""
    return (pred.float() - target.float()).abs().mean(dim=(2, 3))


def cosine_per_step(pred: Tensor, target: Tensor) -> Tensor:
    """(B, H, N, D) x2 -> (B, H): mean over tokens of the cosine similarity per token."""
    return F.cosine_similarity(pred.float(), target.float(), dim=-1).mean(dim=2)


def predict_teacher_forced(predictor: PredictorLike, z: Tensor, actions: Tensor,
                           states: Tensor) -> Tensor:
    """z (B, T, N, D), scaled actions (B, T-1, A), states (B, T, S) -> (B, T-1, N, D)."""
    return predictor(z[:, :-1], actions, states[:, :-1])


def predict_rollout(predictor: PredictorLike, z: Tensor, actions: Tensor,
                    states: Tensor) -> Tensor:
    """From frame 0 only: -> (B, T-1, N, D), row h-1 predicts frame h."""
    # Future states are the recorded ones: they are inputs, not predictions.
    return predictor.rollout(z[:, :1], actions, states[:, :-1], z.shape[1] - 1)


def derangement(n: int, generator: torch.Generator) -> Tensor:
    """A seeded permutation of range(n) with no fixed point (n >= 2)."""
    if n < 2:
        raise ValueError(f"shuffling actions across clips needs at least 2 clips, got {n}")
    perm = torch.randperm(n, generator=generator)
    # rotate the cycle of the permutation by one: perm[i] -> perm[i+1] has no fixed point
    out = torch.empty_like(perm)
    out[perm] = perm.roll(-1)
    return out


@dataclass
class HorizonAccumulator:
    """Running sums of L1 and cosine per (mode, method, horizon), and every clip's L1 (for
    the paired bootstrap intervals of `ratios`)."""

    horizon: int
    sums: dict[str, Tensor] = field(default_factory=dict)  # "mode/method/metric" -> (H,)
    clip_l1: dict[str, list[Tensor]] = field(default_factory=dict)  # "mode/method" -> [(b, H)]
    count: int = 0

    def add(self, mode: str, method: str, pred: Tensor, target: Tensor) -> None:
        for metric, fn in (("l1", l1_per_step), ("cosine", cosine_per_step)):
            key = f"{mode}/{method}/{metric}"
            per_clip = fn(pred, target).double().cpu()  # (b, H)
            if metric == "l1":
                self.clip_l1.setdefault(f"{mode}/{method}", []).append(per_clip)
            value = per_clip.sum(0)  # (H,)
            self.sums[key] = self.sums.get(key, torch.zeros(self.horizon, dtype=torch.float64)) + value

    def ratios(self, seed: int = 0) -> dict[str, dict[str, list[dict[str, float]]]]:
        """{mode: {baseline: [per h: {"value", "lo", "hi"}]}}: baseline L1 / model L1, paired
        over clips with a 95 % bootstrap interval (> 1: the model is better)."""
        out: dict[str, dict[str, list[dict[str, float]]]] = {}
        for mode in MODES:
            model = self.clip_l1.get(f"{mode}/model")
            if model is None:
                continue
            model_l1 = torch.cat(model).numpy()  # (C, H)
            for method in METHODS[1:]:
                base = self.clip_l1.get(f"{mode}/{method}")
                if base is None:
                    continue
                base_l1 = torch.cat(base).numpy()
                out.setdefault(mode, {})[method] = [
                    ratio_interval(base_l1[:, h], model_l1[:, h], seed) for h in range(self.horizon)]
        return out

    def result(self) -> dict[str, dict[str, dict[str, list[float]]]]:
        """{mode: {method: {"l1": [h=1..H], "cosine": [...]}}}."""
        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        for key, total in sorted(self.sums.items()):
            mode, method, metric = key.split("/")
            out.setdefault(mode, {}).setdefault(method, {})[metric] = (total / self.count).tolist()
        return out


@torch.no_grad()
def evaluate_horizons(predictor: PredictorLike, z: Tensor, actions: Tensor, states: Tensor,
                      seed: int = 0, batch_size: int = 8, device: torch.device | str | None = None,
                      progress: bool = False) -> dict:
    """All methods on cached clips: z (C, T, N, D), scaled actions (C, T-1, A), states (C, T, S).

    Clips may live on the CPU; each batch moves to `device` (default: z's device). The
    shuffled-action baseline draws its derangement over all C clips (seeded). Besides the
    means per mode, the result holds "ratios": each baseline's L1 over the model's, with
    its paired bootstrap interval."""
    device = torch.device(device) if device is not None else z.device
    c, t = z.shape[:2]
    acc = HorizonAccumulator(horizon=t - 1)
    mean_latent = z.float().mean(dim=(0, 1))  # (N, D) over clips and frames
    shuffle = derangement(c, torch.Generator().manual_seed(seed))
    for lo in tqdm(range(0, c, batch_size), desc="horizons", disable=not progress):
        idx = torch.arange(lo, min(lo + batch_size, c))
        zb, ab, sb = z[idx].to(device), actions[idx].to(device), states[idx].to(device)
        target = zb[:, 1:]  # (b, T-1, N, D)
        variants = {"model": ab, "zero_actions": torch.zeros_like(ab),
                    "shuffled_actions": actions[shuffle[idx]].to(device)}
        for method, acts in variants.items():
            acc.add("tf", method, predict_teacher_forced(predictor, zb, acts, sb), target)
            acc.add("rollout", method, predict_rollout(predictor, zb, acts, sb), target)
        acc.add("tf", "copy_last", zb[:, :-1], target)
        acc.add("rollout", "copy_last", zb[:, :1].expand_as(target), target)
        constant = mean_latent.to(device, zb.dtype).expand_as(target)
        acc.add("tf", "dataset_mean", constant, target)
        acc.add("rollout", "dataset_mean", constant, target)
        acc.count += len(idx)
    return {**acc.result(), "ratios": acc.ratios(seed)}


@torch.no_grad()
def pooled_teacher_forced(predictor: PredictorLike, z: Tensor, actions: Tensor, states: Tensor,
                          batch_size: int = 8, device: torch.device | str | None = None) -> Tensor:
    """Teacher-forced predictions pooled over tokens: (C, T-1, D) on the CPU (for the probe)."""
    device = torch.device(device) if device is not None else z.device
    out = []
    for lo in range(0, z.shape[0], batch_size):
        sl = slice(lo, lo + batch_size)
        pred = predict_teacher_forced(predictor, z[sl].to(device), actions[sl].to(device),
                                      states[sl].to(device))  # (b, T-1, N, D)
        out.append(pred.float().mean(2).cpu())
    return torch.cat(out)
