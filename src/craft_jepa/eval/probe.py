"""Inverse-dynamics probe: do predicted futures carry the action that produced them?

A linear probe (ridge regression, its penalty chosen per action by cross-validation over
the fit segments) is fitted on pairs of REAL encodings (z_t, z_t+1), pooled over tokens, to predict
the step's action: binary features (keys, buttons) thresholded at
0.5, the camera regressed on standardized values. It is fitted on the training data's clips
when the caller has them (`craft-jepa eval` reads them from the run's training shards), else
on a share of the scored clips' segments: either way fit and score sets share no segment
(overlapping windows of one recording would score memory instead of dynamics). On a few long
held-out recordings the second way leaves too few pairs to fit anything. Scored with
- real: (z_t, z_t+1) as recorded: what the probe can read at best;
- predicted: (z_t, the predictor's teacher-forced z_t+1): a world model that uses the
  action should land close to `real`;
- no_future: a second probe fitted and scored with the change held at 0 (z_t alone):
  whatever it scores is read from the present frame, so `real` and `predicted` must beat
  it to show action information (their F1 gain over it carries a bootstrap interval over
  clips);
- majority: no probe, the fitting set's mean camera and majority value of each binary.
Binary features are scored per feature group (movement, buttons, hotbar keys, gui keys,
other) as F1 within the group; `action_f1` is the mean over the groups with recorded positives
in the scored set (the same groups for every row). State-like features (the selected hotbar slot, the GUI-open flag) are visible
in z_t itself: they are scored apart (`state_f1`) and never enter `action_f1`.
The camera is scored as the mean absolute error in degrees.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from craft_jepa.configuration import require_range
from craft_jepa.eval.spread import bootstrap
from craft_jepa.vpt.action_groups import camera_columns, camera_degrees, feature_group, is_state_like


@dataclass
class ProbeConfig:
    # L2 penalty of the linear probe (on standardized inputs). None: chosen per action column
    # from `ridge_grid` by cross-validation over the FIT segments (grouped folds), since a fixed
    # penalty either overfits 2D+1 inputs from a few hundred pairs or underfits many thousand.
    ridge: float | None = None
    ridge_grid: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
    cv_folds: int = 3
    train_fraction: float = 0.5  # share of clips used to fit; the rest is scored

    def __post_init__(self) -> None:
        if self.ridge is not None and self.ridge < 0:
            raise ValueError(f"ProbeConfig.ridge must be >= 0 or None, got {self.ridge}")
        self.ridge_grid = tuple(float(r) for r in self.ridge_grid)
        if not self.ridge_grid or min(self.ridge_grid) < 0:
            raise ValueError(f"ProbeConfig.ridge_grid must hold penalties >= 0, got {self.ridge_grid}")
        require_range("ProbeConfig.cv_folds", self.cv_folds, at_least=2)
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

    def fit(self, z_t: Tensor, z_next: Tensor, actions: Tensor, ridge: float | Tensor | None = None) -> None:
        """z_t, z_next (M, D) pooled real encodings; actions (M, A) raw layout vectors.
        `ridge`: one penalty, or one per action column (A,); default config.ridge."""
        ridge = self.config.ridge if ridge is None else ridge
        if ridge is None:
            raise ValueError("InverseDynamicsProbe.fit needs a ridge penalty (ProbeConfig.ridge is None: "
                             "use choose_ridge)")
        x = _pairs(z_t.double(), z_next.double())
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-6
        cont_y = actions[:, self.cont].double()
        self.y_mean, self.y_std = cont_y.mean(0), cont_y.std(0) + 1e-6
        self.binary_rate = actions[:, ~self.cont].double().mean(0)
        y = actions.double().clone()
        y[:, self.cont] = (cont_y - self.y_mean) / self.y_std
        features = self._features(z_t, z_next)  # (M, F)
        self.ridge = torch.as_tensor(ridge, dtype=torch.float64).expand(y.shape[1]).clone()  # (A,)
        gram, rhs = features.T @ features, features.T @ y  # (F, F), (F, A)
        self.weights = torch.empty(features.shape[1], y.shape[1], dtype=torch.float64)  # (F, A)
        for penalty in self.ridge.unique().tolist():  # one solve per distinct penalty
            columns = self.ridge == penalty
            eye = penalty * torch.eye(features.shape[1], dtype=torch.float64)
            eye[-1, -1] = 0.0  # no penalty on the bias
            self.weights[:, columns] = torch.linalg.solve(gram + eye, rhs[:, columns])

    @torch.no_grad()
    def fit_errors(self, z_t: Tensor, z_next: Tensor, actions: Tensor) -> Tensor:
        """Squared error per action column (A,) in the fitted target space (standardized camera,
        0/1 binaries), summed over the M rows."""
        out = self._features(z_t, z_next) @ self.weights  # (M, A)
        y = actions.double().clone()
        y[:, self.cont] = (y[:, self.cont] - self.y_mean) / self.y_std
        return (out - y).pow(2).sum(0)

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
        """F1 per binary feature group, `action_f1`, `state_f1` and camera errors in degrees."""
        out: dict[str, float] = {}
        groups = self.binary_groups()
        action_scores = []
        for group, cols in groups.items():
            target = actions[:, cols].float()
            # A group with no recorded positives has no F1 to score (NaN), whatever a row
            # predicts: every row is then averaged over the same groups.
            f1 = micro_f1(predicted[:, cols], target) if target.sum() > 0 else float("nan")
            out[f"f1_{group}"] = f1
            if group != "state" and f1 == f1:
                action_scores.append(f1)
        out["action_f1"] = sum(action_scores) / len(action_scores) if action_scores else float("nan")
        out["state_f1"] = out.get("f1_state", float("nan"))
        if self.has_camera:
            err = (camera_degrees(predicted, self.feature_names, self.cont.tolist())
                   - camera_degrees(actions, self.feature_names, self.cont.tolist())).abs()
            out["camera_error_deg"] = err.mean().item()
            out["yaw_error_deg"] = err[:, 0].mean().item()
            out["pitch_error_deg"] = err[:, 1].mean().item()
        return out

    def binary_groups(self) -> dict[str, list[int]]:
        """{group: binary feature columns}; state-like features form the group "state"."""
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.feature_names):
            if self.cont[i]:
                continue
            group = "state" if is_state_like(name, False) else feature_group(name, False)
            groups.setdefault(group, []).append(i)
        return groups


def segment_split(keys: Sequence[str], train_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Clip indices (fit, score) with every segment key wholly on one side.

    A segment goes to the fit side when a seeded hash of its key falls below
    `train_fraction`; if that leaves a side empty, the segments are split by rank instead."""
    segments = sorted(set(keys))
    if len(segments) < 2:
        raise ValueError(f"the probe needs clips of at least 2 segments (fit and score sets), "
                         f"got {len(segments)}")
    order = sorted(segments, key=lambda k: zlib.crc32(f"{seed}:{k}".encode("utf-8")))
    n_fit = min(max(1, round(len(order) * train_fraction)), len(order) - 1)
    fit_keys = set(order[:n_fit])
    fit = [i for i, k in enumerate(keys) if k in fit_keys]
    score = [i for i, k in enumerate(keys) if k not in fit_keys]
    return torch.tensor(fit), torch.tensor(score)


def choose_ridge(z_t: Tensor, z_next: Tensor, actions: Tensor, groups: Sequence[str],
                 feature_names: Sequence[str], continuous_mask: Sequence[bool], config: ProbeConfig,
                 seed: int = 0) -> Tensor:
    """Per action column, the penalty of `config.ridge_grid` with the lowest cross-validated
    squared error (A,): a column the pairs barely predict gets a large penalty without
    shrinking the columns they do predict. Rows (M, .) of one group (segment) never sit on both
    sides of a fold."""
    segments = sorted(set(groups), key=lambda k: zlib.crc32(f"{seed}:{k}".encode("utf-8")))
    folds = min(config.cv_folds, len(segments))
    grid = torch.tensor(config.ridge_grid, dtype=torch.float64)
    if folds < 2:  # one segment: nothing to hold out; the grid's middle
        return grid.sort().values[len(grid) // 2].expand(actions.shape[1]).clone()
    fold_of = {k: i % folds for i, k in enumerate(segments)}
    row_fold = torch.tensor([fold_of[g] for g in groups])
    errors = torch.zeros(len(grid), actions.shape[1], dtype=torch.float64)  # (R, A)
    for fold in range(folds):
        held = row_fold == fold
        for r, ridge in enumerate(grid.tolist()):
            probe = InverseDynamicsProbe(feature_names, continuous_mask, config)
            probe.fit(z_t[~held], z_next[~held], actions[~held], ridge)
            errors[r] += probe.fit_errors(z_t[held], z_next[held], actions[held])
    return grid[errors.argmin(0)]  # (A,); ties: the first penalty of the grid


def inverse_dynamics_probe(z_pooled: Tensor, predicted_pooled: Tensor, actions: Tensor,
                           feature_names: Sequence[str], continuous_mask: Sequence[bool],
                           keys: Sequence[str], config: ProbeConfig | None = None, seed: int = 0,
                           fit: tuple[Tensor, Tensor, Sequence[str]] | None = None
                           ) -> dict[str, dict]:
    """z_pooled (C, T, D) real encodings; predicted_pooled (C, T-1, D) teacher-forced
    predictions of frames 1..T-1; actions (C, T-1, A) raw; keys: each clip's segment.

    `fit` (z_pooled (C', T, D), actions (C', T-1, A), keys): other clips (the training data)
    the probe is fitted on, and every one of the C clips is scored. None: fitted on a share
    of the C clips' segments, scored on the rest."""
    c, t, d = z_pooled.shape
    if len(keys) != c:
        raise ValueError(f"{len(keys)} segment keys for {c} clips")

    def flat(x: Tensor) -> Tensor:
        return x.reshape(-1, x.shape[-1])  # (c', T-1, F) -> (c' * (T-1), F)

    if fit is None:
        train, test = segment_split(list(keys), (config or ProbeConfig()).train_fraction, seed)
        fit_z, fit_actions, fit_keys = z_pooled[train], actions[train], [keys[i] for i in train.tolist()]
        fit_on = "held-out segments"
    else:
        fit_z, fit_actions, fit_keys = fit
        if len(fit_keys) != len(fit_z) or fit_z.shape[1] != t:
            raise ValueError(f"probe fit clips: {len(fit_keys)} keys for {len(fit_z)} clips of "
                             f"{fit_z.shape[1]} frames (scored clips have {t})")
        test = torch.arange(c)
        fit_on = "training data"
    row_keys = [k for k in fit_keys for _ in range(t - 1)]  # the segment of each flat row

    def fitted(z_t: Tensor, z_next: Tensor, target: Tensor) -> InverseDynamicsProbe:
        fitted_probe = InverseDynamicsProbe(feature_names, continuous_mask, config)
        ridge = fitted_probe.config.ridge
        if ridge is None:
            ridge = choose_ridge(z_t, z_next, target, row_keys, feature_names, continuous_mask,
                                 fitted_probe.config, seed)
        fitted_probe.fit(z_t, z_next, target, ridge)
        return fitted_probe

    fit_now, fit_next, fit_target = flat(fit_z[:, :-1]), flat(fit_z[:, 1:]), flat(fit_actions)
    probe = fitted(fit_now, fit_next, fit_target)
    # The control: the same probe fitted with no future at all (the change held at 0 in fitting
    # and scoring), so that it reads all the present frame shows. Feeding z_t twice to the
    # probe above instead would ask it about an input it never saw.
    present_only = fitted(fit_now, fit_now, fit_target)
    z_t, target = flat(z_pooled[test, :-1]), flat(actions[test])
    rows = {
        "real": probe.predict(z_t, flat(z_pooled[test, 1:])),
        "predicted": probe.predict(z_t, flat(predicted_pooled[test])),
        "no_future": present_only.predict(z_t, z_t),
        "majority": probe.mean_action(len(target)),
    }
    out: dict[str, dict] = {name: probe.score(pred, target) for name, pred in rows.items()}
    for name in ("real", "predicted"):  # the claim "reads the action from the future", with its spread
        out[f"{name}_minus_no_future_action_f1"] = _f1_gain_interval(
            probe, rows[name], rows["no_future"], target, clips=len(test), seed=seed)
    out.update({
        "fit_on": {"source": fit_on},
        "fit_clips": {"count": float(len(fit_z))}, "scored_clips": {"count": float(len(test))},
        "fit_segments": {"count": float(len(set(fit_keys)))},
        "scored_segments": {"count": float(len({keys[i] for i in test.tolist()}))},
        "ridge": {"min": probe.ridge.min().item(), "median": probe.ridge.median().item(),
                  "max": probe.ridge.max().item()},
    })
    return out


def _f1_gain_interval(probe: InverseDynamicsProbe, predicted: Tensor, baseline: Tensor, target: Tensor,
                      clips: int, seed: int) -> dict[str, float]:
    """action_f1(predicted) - action_f1(baseline) with a 95 % bootstrap interval over clips
    (rows (clips * steps, A) in clip order; a clip's steps are resampled together)."""
    steps = len(target) // clips

    def gain(clip_rows: np.ndarray) -> float:
        rows = torch.as_tensor((clip_rows[:, None] * steps + np.arange(steps)).reshape(-1))
        return (probe.score(predicted[rows], target[rows])["action_f1"]
                - probe.score(baseline[rows], target[rows])["action_f1"])

    return bootstrap(np.arange(clips)[:, None], lambda v: gain(v[:, 0].astype(np.int64)), seed)
