"""The VPT action space as a sampling distribution for CEM.

A layout vector (raw VPT units, see `vpt.layouts`) mixes three kinds of features, and each
gets the distribution that fits it:

- camera: the continuous features (mouse dx/dy in mouse units, yaw/pitch differences in
  degrees) all describe ONE camera motion per step. Sampling them independently would
  produce vectors the model never saw (mouse says "left", yaw says "right"), so the
  planner samples one (yaw, pitch) in degrees per step from a bounded Gaussian and derives
  every camera feature from it (0.15 degree per mouse unit, +dy looks down = +pitch).
  Other continuous features (none in the stock layouts) get their own bounded Gaussian.
- keys, mouse buttons, GUI flags: Bernoulli probabilities.
- a one-hot hotbar slot, when the layout has one: a categorical distribution.

Distributions carry a leading batch dim B (one plan per start/goal pair) and the horizon H.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from craft_jepa.configuration import require_range
from craft_jepa.vpt.action_groups import camera_axis, camera_degrees, feature_group, is_state_like

# How the camera may move over a plan's horizon: one (yaw, pitch) per step, or one held for every
# step. A goal frame k steps away fixes the camera's total motion, not how the steps split it: per
# step, every split (a, S - a) reaches the goal alike and CEM returns whichever split its noise
# favoured (on ViZDoom footage, planned steps differed by 16.7 degrees where recorded ones differed
# by 3.6). Held, the plan carries only what the goal determines; measured there it cut the camera
# error by 1-12 % but lowered the yaw sign agreement, so it is not the default (docs/world-model.md).
CAMERA_PLANS = ("per_step", "held")

# What CEM samples: the camera alone, the camera with movement keys, every action feature
# (all but the state-like hotbar slot and GUI flag), or every feature. Features it does not
# sample are held: state-like ones at the start's values when the caller knows them, every
# other one at 0 (not pressed).
PLANNED_GROUPS = ("camera", "camera+movement", "actions", "all")


def _one_hot_hotbar(names: Sequence[str], continuous: np.ndarray) -> list[int]:
    """Indices of a one-hot hotbar-slot block (`hotbar_0..8`-like names), else []."""
    idx = [i for i, n in enumerate(names)
           if not continuous[i] and "hotbar" in n.lower() and re.search(r"\d", n)]
    return idx if len(idx) >= 2 else []


@dataclass
class ActionSpaceConfig:
    camera_bound_std: float = 3.0  # camera samples clipped to mean +- this many data stds
    key_init_prob: float = 0.1  # initial Bernoulli probability of each key/button/flag
    min_camera_std_deg: float = 0.5  # floor for the initial camera std (degrees)
    plan: str = "camera"  # which features CEM samples: a key of PLANNED_GROUPS
    camera: str = "per_step"  # a key of CAMERA_PLANS: one camera motion per step, or held over the horizon
    # Weight of a Gaussian prior on the planned camera motion (the training data's mean and std per axis), in
    # units of the pair's no-motion energy: the planner minimises energy + weight * E(no motion) * mean over
    # steps of the squared z-scores of (yaw, pitch). 0: the model's energy alone (V-JEPA 2-AC). Where the
    # energy cannot tell plans apart (the split of a total turn, a pitch the model does not see), the prior
    # chooses; 0.02 cut the camera error on ViZDoom footage from 0.92-1.09 to 0.72-0.76 x planning no
    # motion on 3 training seeds (yaw sign agreement moved by -0.03..+0.02; docs/world-model.md).
    camera_prior: float = 0.02

    def __post_init__(self) -> None:
        if self.camera not in CAMERA_PLANS:
            raise ValueError(f"ActionSpaceConfig.camera={self.camera!r} unknown; known: {list(CAMERA_PLANS)}")
        if self.plan not in PLANNED_GROUPS:
            raise ValueError(f"ActionSpaceConfig.plan={self.plan!r} unknown; known: {sorted(PLANNED_GROUPS)}")
        require_range("camera_bound_std", self.camera_bound_std, above=0)
        if not 0.0 <= self.key_init_prob <= 1.0:
            raise ValueError(f"key_init_prob must be in [0, 1], got {self.key_init_prob}")
        require_range("min_camera_std_deg", self.min_camera_std_deg, above=0)
        require_range("camera_prior", self.camera_prior, at_least=0)


@dataclass
class Distribution:
    """CEM state. Gaussian over continuous params, Bernoulli over binaries, categorical."""

    mean: Tensor  # (B, H, P) continuous params (camera degrees first, then others raw)
    std: Tensor  # (B, H, P)
    prob: Tensor  # (B, H, K) Bernoulli probabilities
    slot_prob: Tensor  # (B, H, C) categorical over hotbar slots (C = 0 if none)

    def blend(self, new: Distribution, momentum: float) -> Distribution:
        """`momentum` of the old distribution + (1 - momentum) of the elite fit."""
        def mix(a: Tensor, b: Tensor) -> Tensor:
            return momentum * a + (1.0 - momentum) * b
        return Distribution(mix(self.mean, new.mean), mix(self.std, new.std),
                            mix(self.prob, new.prob), mix(self.slot_prob, new.slot_prob))


@dataclass
class Samples:
    params: Tensor  # (B, S, H, P)
    binary: Tensor  # (B, S, H, K) in {0, 1}
    slot: Tensor  # (B, S, H) long, hotbar slot index (zeros when C = 0)


class ActionSpace:
    """Maps CEM parameters <-> raw layout vectors for one action layout."""

    def __init__(self, feature_names: Sequence[str], continuous_mask: Sequence[bool],
                 scaler_mean: Sequence[float], scaler_scale: Sequence[float],
                 config: ActionSpaceConfig | None = None) -> None:
        self.config = config or ActionSpaceConfig()
        self.feature_names = list(feature_names)
        cont = np.asarray(continuous_mask, dtype=bool)
        self.continuous_mask = cont
        if cont.shape != (len(self.feature_names),):
            raise ValueError(f"continuous_mask has shape {cont.shape}, expected "
                             f"({len(self.feature_names)},) like feature_names")
        self.dim = len(self.feature_names)
        mean_full, scale_full = _full_stats(cont, scaler_mean, scaler_scale)

        # Continuous params: [yaw_deg, pitch_deg] if any camera feature, then the rest.
        cam_features = [(i, camera_axis(n)) for i, n in enumerate(self.feature_names)
                        if cont[i] and camera_axis(n) is not None]
        other_cont = [i for i in np.flatnonzero(cont) if i not in {i for i, _ in cam_features}]
        self.has_camera = bool(cam_features)
        n_cam = 2 if self.has_camera else 0
        n_params = n_cam + len(other_cont)
        # params (P) @ to_raw (P, A) gives the continuous part of the raw vector.
        to_raw = np.zeros((n_params, self.dim))
        init_mean = np.zeros(n_params)
        init_std = np.zeros(n_params)
        axis_votes: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
        for i, (axis, units_per_deg) in cam_features:
            to_raw[axis, i] = units_per_deg
            axis_votes[axis].append((mean_full[i] / units_per_deg, scale_full[i] / units_per_deg))
        for axis in (0, 1) if self.has_camera else ():
            # Prefer the degree features (yaw/pitch); they are what the readers see.
            votes = axis_votes[axis] or [(0.0, 1.0)]
            init_mean[axis] = votes[-1][0]
            init_std[axis] = max(votes[-1][1], self.config.min_camera_std_deg)
        for p, i in enumerate(other_cont, start=n_cam):
            to_raw[p, i] = 1.0
            init_mean[p], init_std[p] = mean_full[i], max(scale_full[i], 1e-6)
        self.to_raw = torch.tensor(to_raw, dtype=torch.float32)
        self.init_mean = torch.tensor(init_mean, dtype=torch.float32)
        self.init_std = torch.tensor(init_std, dtype=torch.float32)
        bound = self.config.camera_bound_std * self.init_std
        self.low, self.high = self.init_mean - bound, self.init_mean + bound

        self.slot_index = _one_hot_hotbar(self.feature_names, cont)
        self.binary_index = [i for i in range(self.dim)
                             if not cont[i] and i not in set(self.slot_index)]
        self.groups = [feature_group(n, bool(c)) for n, c in zip(self.feature_names, cont)]
        self.state_like_mask = torch.tensor([is_state_like(n, bool(c)) for n, c in zip(self.feature_names, cont)])
        self.planned_mask = torch.tensor([_planned(self.config.plan, group, bool(c), bool(state))
                                          for group, c, state in zip(self.groups, cont, self.state_like_mask)])
        # While a GUI screen is open the mouse moves the cursor, not the camera: recordings
        # then have mouse dx/dy but zero yaw/pitch change. Planned vectors follow that rule.
        gui_flags = [i for i, n in enumerate(self.feature_names)
                     if not cont[i] and "gui" in n.lower() and "key" not in n.lower()]
        self.gui_index = gui_flags[0] if gui_flags else None
        self.degree_index = [i for i, axis_units in cam_features if axis_units[1] == 1.0]

    @classmethod
    def from_layout(cls, layout, scaler, config: ActionSpaceConfig | None = None) -> ActionSpace:
        """From a `vpt.layouts.ActionLayout` and its fitted `vpt.scaler.ActionScaler`
        (whose statistics are stored per named continuous feature)."""
        names = list(layout.feature_names)
        mean, scale = np.zeros(len(names)), np.ones(len(names))
        for name, m, s in zip(scaler.continuous_features, scaler.mean, scaler.scale):
            if name not in names:
                raise ValueError(f"scaler feature {name!r} is not in layout {layout.name!r}")
            mean[names.index(name)], scale[names.index(name)] = m, s
        return cls(names, layout.continuous_mask, mean, scale, config)

    # ------------------------------------------------------------------ distributions

    def initial(self, batch: int, horizon: int) -> Distribution:
        """Data-driven start: camera ~ N(data mean, data std), keys at key_init_prob."""
        shape = (batch, horizon)
        n_slots = len(self.slot_index)
        return Distribution(
            mean=self.init_mean.expand(*shape, -1).clone(),
            std=self.init_std.expand(*shape, -1).clone(),
            prob=torch.full((*shape, len(self.binary_index)), self.config.key_init_prob),
            slot_prob=torch.full((*shape, n_slots), 1.0 / max(n_slots, 1)),
        )

    def sample(self, dist: Distribution, n: int, generator: torch.Generator) -> Samples:
        """n samples per batch item, drawn on the CPU generator (device-independent)."""
        b, h, p = dist.mean.shape
        noise = torch.randn((b, n, h, p), generator=generator)
        params = dist.mean[:, None] + dist.std[:, None] * noise  # (B, S, H, P)
        params = torch.maximum(torch.minimum(params, self.high), self.low)
        if self.has_camera and self.config.camera == "held":
            # step 0's (yaw, pitch) for every step; the elites then agree across steps, so the
            # fitted distribution and its mode hold the camera too
            params[..., :2] = params[..., :1, :2].clone().expand(-1, -1, h, -1)
        k = dist.prob.shape[-1]
        binary = (torch.rand((b, n, h, k), generator=generator) < dist.prob[:, None]).float()
        if self.slot_index:
            c = dist.slot_prob.shape[-1]
            flat = dist.slot_prob[:, None].expand(b, n, h, c).reshape(-1, c)  # (B*S*H, C)
            slot = torch.multinomial(flat, 1, generator=generator).view(b, n, h)
        else:
            slot = torch.zeros((b, n, h), dtype=torch.long)
        return Samples(params, binary, slot)

    def fit(self, elite: Samples) -> Distribution:
        """Maximum-likelihood distribution of elite samples (B, E, H, ...)."""
        n_slots = len(self.slot_index)
        slot_prob = (torch.nn.functional.one_hot(elite.slot, n_slots).float().mean(1)
                     if n_slots else elite.slot.new_zeros((*elite.slot.shape[::2], 0)).float())
        return Distribution(
            mean=elite.params.mean(1),
            std=elite.params.std(1, unbiased=False),
            prob=elite.binary.mean(1),
            slot_prob=slot_prob,
        )

    def mode(self, dist: Distribution) -> Samples:
        """The single most likely plan: Gaussian mean, p > 0.5, most likely slot."""
        params = torch.maximum(torch.minimum(dist.mean, self.high), self.low)[:, None]
        binary = (dist.prob > 0.5).float()[:, None]
        slot = (dist.slot_prob.argmax(-1) if self.slot_index
                else torch.zeros(dist.mean.shape[:2], dtype=torch.long))[:, None]
        return Samples(params, binary, slot)

    # ------------------------------------------------------------------ conversion

    def hold_from(self, recorded: Tensor) -> Tensor:
        """Raw vectors (..., A) -> the hold vectors for `to_layout`: their state-like features
        (hotbar slot, GUI flag), every other feature 0."""
        return recorded.float() * self.state_like_mask.to(recorded.device).float()

    def to_layout(self, samples: Samples, hold: Tensor | None = None) -> Tensor:
        """Samples -> raw layout vectors (B, S, H, A) in VPT units.

        Features CEM does not plan (see `ActionSpaceConfig.plan`) take `hold` (B, A), the same
        for every step and sample (default 0)."""
        raw = samples.params @ self.to_raw  # (B, S, H, P) @ (P, A) -> (B, S, H, A)
        if self.binary_index:
            raw[..., self.binary_index] = samples.binary
        if self.slot_index:
            one_hot = torch.nn.functional.one_hot(samples.slot, len(self.slot_index)).float()
            raw[..., self.slot_index] = one_hot
        fixed = ~self.planned_mask
        if fixed.any():
            held = raw.new_zeros((raw.shape[0], self.dim)) if hold is None else hold.to(raw).reshape(-1, self.dim)
            if held.shape[0] != raw.shape[0]:
                raise ValueError(f"hold has {held.shape[0]} rows for a batch of {raw.shape[0]}")
            raw[..., fixed] = held[:, None, None, fixed].expand(-1, raw.shape[1], raw.shape[2], -1)
        if self.gui_index is not None and self.degree_index:
            camera_moves = (raw[..., self.gui_index] < 0.5).float()[..., None]  # (B, S, H, 1)
            raw[..., self.degree_index] = raw[..., self.degree_index] * camera_moves
        return raw

    def camera_prior_cost(self, raw: Tensor) -> Tensor:
        """Raw layout vectors (..., H, A) -> (...): mean over the H steps of the squared z-scores of the
        camera (yaw, pitch) under the training data's statistics (the CEM start distribution)."""
        z = (self.camera_degrees(raw) - self.init_mean[:2].to(raw.device)) / self.init_std[:2].to(raw.device)
        return z.square().sum(-1).mean(-1)  # (..., H, 2) -> (...)

    def camera_degrees(self, raw: Tensor | np.ndarray) -> Tensor:
        """Raw layout vectors (..., A) -> camera (yaw, pitch) degrees (..., 2)."""
        return camera_degrees(raw, self.feature_names, self.continuous_mask)


def _planned(plan: str, group: str, continuous: bool, state_like: bool) -> bool:
    """Whether CEM samples a feature under `ActionSpaceConfig.plan`."""
    if plan == "all" or continuous:
        return True
    if plan == "actions":
        return not state_like
    return plan == "camera+movement" and group == "movement"


def _full_stats(cont: np.ndarray, mean: Sequence[float], scale: Sequence[float]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Scaler statistics as full-length (A,) arrays, whether stored for all dims or only
    for the continuous ones."""
    mean_arr = np.asarray(mean, dtype=np.float64).reshape(-1)
    scale_arr = np.asarray(scale, dtype=np.float64).reshape(-1)
    a, c = len(cont), int(cont.sum())
    if mean_arr.shape != scale_arr.shape:
        raise ValueError(f"scaler mean {mean_arr.shape} and scale {scale_arr.shape} differ")
    if len(mean_arr) == a:
        return mean_arr, scale_arr
    if len(mean_arr) == c:
        full_m, full_s = np.zeros(a), np.ones(a)
        full_m[cont], full_s[cont] = mean_arr, scale_arr
        return full_m, full_s
    raise ValueError(f"scaler has {len(mean_arr)} statistics; layout has {a} features, "
                     f"{c} continuous")
