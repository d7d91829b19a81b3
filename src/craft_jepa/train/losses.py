"""V-JEPA 2-AC losses: teacher forcing + autoregressive rollout in the encoder's latent space.

Targets are the frozen encoder's per-frame tokens z (B, T, N, D), layer-normed without
affine parameters. Each loss term is mean(|pred - target|^p) / p.

- Teacher forcing: z_hat[1..T-1] = P(z[0..T-2], a[0..T-2], s[0..T-2]).
- Rollout (as in the reference recipe): seeded with [z0, z_hat1] (z_hat1 from teacher
  forcing), the predictor is applied to its own outputs until `auto_steps` frames
  z_hat1 .. z_hat_{auto_steps} exist; gradients flow through the whole rollout.
- Copy-last-frame baseline: predict z[t+1] = z[t]; logged so progress is visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from craft_jepa.configuration import require_range


class Predictor(Protocol):
    def __call__(
        self, tokens: torch.Tensor, actions: torch.Tensor, states: torch.Tensor
    ) -> torch.Tensor: ...


@dataclass
class LossWeights:
    teacher_forcing: float = 1.0
    rollout: float = 1.0

    def __post_init__(self) -> None:
        for name in ("teacher_forcing", "rollout"):
            require_range(f"weights.{name}", getattr(self, name), at_least=0)


@dataclass
class LossConfig:
    loss_exp: float = 1.0  # p in mean(|pred - target|^p) / p
    auto_steps: int = 2  # rollout length; 0 disables the rollout term
    weights: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        require_range("loss_exp", self.loss_exp, above=0)
        require_range("auto_steps", self.auto_steps, at_least=0)


def latent_loss(pred: torch.Tensor, target: torch.Tensor, p: float) -> torch.Tensor:
    """mean(|pred - target|^p) / p, computed in float32."""
    diff = (pred.float() - target.float()).abs()
    if p != 1.0:
        diff = diff.pow(p)
    return diff.mean() / p


def copy_last_loss(z: torch.Tensor, p: float) -> torch.Tensor:
    """Baseline: the loss of predicting every next frame as a copy of the current one."""
    return latent_loss(z[:, :-1], z[:, 1:], p)


def teacher_forcing(
    predictor: Predictor, z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor
) -> torch.Tensor:
    """Predictions for frames 1..T-1, shape (B, T-1, N, D), from true frames 0..T-2."""
    steps = z.shape[1] - 1
    return predictor(z[:, :steps], actions[:, :steps], states[:, :steps])


def rollout(
    predictor: Predictor,
    z: torch.Tensor,
    first_prediction: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    auto_steps: int,
) -> torch.Tensor:
    """Autoregressive predictions of frames 1..auto_steps, shape (B, auto_steps, N, D).

    `first_prediction` (B, N, D) is z_hat1 from teacher forcing; each further step feeds
    the whole predicted history [z0, z_hat1, ...] back into the predictor.
    """
    history = [z[:, 0], first_prediction]  # each (B, N, D)
    for n in range(1, auto_steps):
        context = torch.stack(history, dim=1)  # (B, n+1, N, D)
        out = predictor(context, actions[:, : n + 1], states[:, : n + 1])  # (B, n+1, N, D)
        history.append(out[:, -1])
    return torch.stack(history[1:], dim=1)  # (B, auto_steps, N, D)


def predictor_losses(
    predictor: Predictor,
    z: torch.Tensor,
    actions: torch.Tensor,
    states: torch.Tensor,
    cfg: LossConfig,
) -> dict[str, torch.Tensor]:
    """Weighted total `loss` plus its parts `teacher_forcing`, `rollout`, `copy_last`.

    z: (B, T, N, D) normalized targets; actions: (B, T-1, A) scaled; states: (B, T, S).
    """
    frames = z.shape[1]
    if frames < 2:
        raise ValueError(f"need at least 2 frames per clip, got {frames}")
    if cfg.auto_steps > frames - 1:
        raise ValueError(f"loss.auto_steps={cfg.auto_steps} exceeds frames - 1 = {frames - 1}")
    p = cfg.loss_exp
    pred_tf = teacher_forcing(predictor, z, actions, states)  # (B, T-1, N, D)
    tf = latent_loss(pred_tf, z[:, 1:], p)
    total = cfg.weights.teacher_forcing * tf
    out = {"teacher_forcing": tf.detach()}
    if cfg.auto_steps > 0:
        pred_ar = rollout(predictor, z, pred_tf[:, 0], actions, states, cfg.auto_steps)
        ar = latent_loss(pred_ar, z[:, 1 : cfg.auto_steps + 1], p)
        total = total + cfg.weights.rollout * ar
        out["rollout"] = ar.detach()
    out["copy_last"] = copy_last_loss(z, p).detach()
    out["loss"] = total
    return out
