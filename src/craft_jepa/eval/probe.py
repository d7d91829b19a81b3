"""Inverse-dynamics probe: do predicted futures carry the action that produced them?

A linear probe (ridge regression) is fitted on pairs of REAL encodings (z_t, z_t+1), pooled
over tokens, to predict the step's action: binary features (keys, buttons, hotbar, GUI)
thresholded at 0.5, the continuous ones (camera) regressed on standardized values. It is then scored on
held-out clips with
- real: (z_t, z_t+1) as recorded: what the probe can read at best;
- predicted: (z_t, the predictor's teacher-forced z_t+1): a world model that uses the
  action should land close to `real`;
- copy_last: (z_t, z_t): what the probe says about a future that does not move;
- mean_action: no probe at all, predict the training mean/majority (chance level).
Metrics: micro F1 over binary features, mean absolute camera error in degrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from craft_jepa.eval.groups import camera_columns, camera_degrees


@dataclass
class ProbeConfig:
    ridge: float = 1.0  # L2 penalty of the linear probe (on standardized inputs)
    train_fraction: float = 0.5  # share of clips used to fit; the rest is scored

    def __post_init__(self) -> None:
        if self.ridge < 0:
            raise ValueError(f"ProbeConfig.ridge must be >= 0, got {self.ridge}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"ProbeConfig.train_fraction must be in (0, 1), got {self.train_fraction}")


def _pairs(z_t: Tensor, z_next: Tensor) -> Tensor:
    """(M, D) x2 -> (M, 2D): the current latent and the change."""
    return torch.cat([z_t, z_next - z_t], dim=-1)


def micro_f1(pred: Tensor, target: Tensor) -> float:
    """Micro-averaged F1 of 0/1 tensors; NaN when there are no positives anywhere."""
    tp = (pred * target).sum().item()
    fp = (pred * (1 - target)).sum().item()
    fn = ((1 - pred) * target).sum().item()
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else float("nan")


class InverseDynamicsProbe:
    """A linear probe fitted in closed form (ridge regression, float64): exact, deterministic
    and instant, so the probe costs nothing next to the predictor. Binary features are
    regressed on 0/1 targets and thresholded at 0.5."""

    def __init__(self, feature_names: Sequence[str], continuous_mask: Sequence[bool],
                 config: ProbeConfig | None = None) -> None:
        self.config = config or ProbeConfig()
        self.feature_names = list(feature_names)
        self.cont = torch.as_tensor(list(continuous_mask), dtype=torch.bool)
        self.has_camera = set(camera_columns(feature_names, continuous_mask)) == {0, 1}
        self.weights: Tensor | None = None

    def _features(self, z_t: Tensor, z_next: Tensor) -> Tensor:
        x = (_pairs(z_t.double(), z_next.double()) - self.x_mean) / self.x_std
        return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)  # (M, 2D + 1) with bias

    def fit(self, z_t: Tensor, z_next: Tensor, actions: Tensor) -> None:
        """z_t, z_next (M, D) pooled real encodings; actions (M, A) raw layout vectors."""
        x = _pairs(z_t.double(), z_next.double())
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-6
        cont_y = actions[:, self.cont].double()
        self.y_mean, self.y_std = cont_y.mean(0), cont_y.std(0) + 1e-6
        self.binary_rate = actions[:, ~self.cont].double().mean(0)
        y = actions.double().clone()
        y[:, self.cont] = (cont_y - self.y_mean) / self.y_std
        features = self._features(z_t, z_next)  # (M, F)
        penalty = self.config.ridge * torch.eye(features.shape[1], dtype=torch.float64)
        penalty[-1, -1] = 0.0  # no penalty on the bias
        self.weights = torch.linalg.solve(features.T @ features + penalty, features.T @ y)  # (F, A)

    @torch.no_grad()
    def predict(self, z_t: Tensor, z_next: Tensor) -> Tensor:
        """-> raw layout vectors (M, A): camera in raw units, binaries as 0/1."""
        if self.weights is None:
            raise RuntimeError("InverseDynamicsProbe.predict called before fit")
        out = self._features(z_t, z_next) @ self.weights  # (M, A)
        raw = torch.zeros_like(out)
        raw[:, self.cont] = out[:, self.cont] * self.y_std + self.y_mean
        raw[:, ~self.cont] = (out[:, ~self.cont] > 0.5).double()
        return raw.float()

    def mean_action(self, m: int) -> Tensor:
        """The chance-level guess: training mean camera, majority value of each binary."""
        raw = torch.zeros(m, len(self.feature_names))
        raw[:, self.cont] = self.y_mean.float()
        raw[:, ~self.cont] = (self.binary_rate > 0.5).float()
        return raw

    def score(self, predicted: Tensor, actions: Tensor) -> dict[str, float]:
        out = {"key_f1": micro_f1(predicted[:, ~self.cont], actions[:, ~self.cont].float())}
        if self.has_camera:
            err = (camera_degrees(predicted, self.feature_names, self.cont.tolist())
                   - camera_degrees(actions, self.feature_names, self.cont.tolist())).abs()
            out["camera_error_deg"] = err.mean().item()
            out["yaw_error_deg"] = err[:, 0].mean().item()
            out["pitch_error_deg"] = err[:, 1].mean().item()
        return out


def inverse_dynamics_probe(z_pooled: Tensor, predicted_pooled: Tensor, actions: Tensor,
                           feature_names: Sequence[str], continuous_mask: Sequence[bool],
                           config: ProbeConfig | None = None, seed: int = 0
                           ) -> dict[str, dict[str, float]]:
    """z_pooled (C, T, D) real encodings; predicted_pooled (C, T-1, D) teacher-forced
    predictions of frames 1..T-1; actions (C, T-1, A) raw. Clips are split train/test."""
    c, t, d = z_pooled.shape
    probe = InverseDynamicsProbe(feature_names, continuous_mask, config)
    if c < 2:
        raise ValueError(f"the probe needs at least 2 clips (train and test), got {c}")
    order = torch.randperm(c, generator=torch.Generator().manual_seed(seed))
    n_train = min(max(1, round(c * probe.config.train_fraction)), c - 1)
    train, test = order[:n_train], order[n_train:]

    def flat(x: Tensor) -> Tensor:
        return x.reshape(-1, x.shape[-1])  # (c', T-1, F) -> (c' * (T-1), F)

    probe.fit(flat(z_pooled[train, :-1]), flat(z_pooled[train, 1:]), flat(actions[train]))
    z_t, target = flat(z_pooled[test, :-1]), flat(actions[test])
    return {
        "real": probe.score(probe.predict(z_t, flat(z_pooled[test, 1:])), target),
        "predicted": probe.score(probe.predict(z_t, flat(predicted_pooled[test])), target),
        "copy_last": probe.score(probe.predict(z_t, z_t), target),
        "mean_action": probe.score(probe.mean_action(len(target)), target),
        "train_clips": {"count": float(len(train))}, "test_clips": {"count": float(len(test))},
    }
