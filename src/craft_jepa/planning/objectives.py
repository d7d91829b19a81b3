"""Planning energies: how far predicted latents land from the goal latent.

`goal_l1` is V-JEPA 2-AC's energy: mean |z_pred - z_goal| over tokens and channels, at
the last planned step ("last") or averaged over every step ("all").
`rollout_energy` wraps a predictor into the `EnergyFn` that `cem` expects: it scales the
raw VPT actions, expands the start latents to every sample and rolls the predictor out.
`with_prior` adds an action prior to such an energy, measured in each pair's own energy scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

EnergyMode = Literal["last", "all"]

# (context (M, T0, N, D), scaled actions (M, T0+H-1, A), states (M, T0+H-1, S), H)
#   -> (M, H, N, D), e.g. `ACPredictor.rollout` (KV-cached) or `.rollout_uncached`
RolloutFn = Callable[[Tensor, Tensor, Tensor, int], Tensor]
# raw actions (..., A) -> scaled actions (..., A)
ScaleFn = Callable[[Tensor], Tensor]


def goal_l1(predicted: Tensor, goal: Tensor, mode: EnergyMode = "last") -> Tensor:
    """predicted (M, H, N, D), goal (M, N, D) -> energy (M,)."""
    if mode not in ("last", "all"):
        raise ValueError(f"energy mode must be 'last' or 'all', got {mode!r}")
    if mode == "last":
        return (predicted[:, -1] - goal).abs().mean(dim=(1, 2))
    return (predicted - goal[:, None]).abs().mean(dim=(1, 2, 3))


def rollout_energy(rollout: RolloutFn, scale: ScaleFn, z_start: Tensor, z_goal: Tensor,
                   state_start: Tensor | None = None, mode: EnergyMode = "last",
                   chunk: int = 4096) -> Callable[[Tensor], Tensor]:
    """Energy of raw action sequences (B, S, H, A) -> (B, S) for start/goal latents (B, N, D).

    Future states are unknown while planning; the start state is held for every step
    (S = 0 layouts are unaffected). `chunk` bounds how many sequences run at once."""
    if z_start.dim() != 3 or z_goal.shape != z_start.shape:
        raise ValueError(f"z_start {tuple(z_start.shape)} and z_goal {tuple(z_goal.shape)} "
                         "must both be (B, N, D)")
    b = z_start.shape[0]
    if state_start is None:
        state_start = z_start.new_zeros((b, 0))

    def energy(actions: Tensor) -> Tensor:
        bb, s, h, a = actions.shape
        if bb != b:
            raise ValueError(f"actions batch {bb} != start latents batch {b}")
        scaled = scale(actions).reshape(b * s, h, a).to(z_start.dtype)  # (B*S, H, A)
        out = []
        for lo in range(0, b * s, chunk):
            rows = torch.arange(lo, min(lo + chunk, b * s), device=z_start.device)
            item = torch.div(rows, s, rounding_mode="floor")  # batch item of each row
            context = z_start[item][:, None]  # (M, 1, N, D)
            states = state_start[item][:, None].expand(-1, h, -1)  # (M, H, S)
            predicted = rollout(context, scaled[rows], states, h)  # (M, H, N, D)
            out.append(goal_l1(predicted, z_goal[item], mode))
        return torch.cat(out).view(b, s)

    return energy


def with_prior(energy: Callable[[Tensor], Tensor], prior_cost: Callable[[Tensor], Tensor], weight: float,
               reference: Tensor) -> Callable[[Tensor], Tensor]:
    """energy(a) + weight * reference * prior_cost(a), for raw action sequences (B, S, H, A) -> (B, S).

    `reference` (B, S') with S' in (1, S): the energy of a reference plan of each pair (e.g. no motion).
    Scaling the prior by it keeps the trade-off the same for any encoder: an encoder whose latents lie
    twice as far apart gets the same plans. Why a prior at all: a goal k steps ahead fixes the total
    camera motion, not its split over the steps, and where the energy is flat CEM returns whatever its
    noise favoured; the prior picks the likelier motion among plans the energy cannot tell apart."""
    if weight < 0:
        raise ValueError(f"prior weight must be >= 0, got {weight}")
    reference = reference.detach()

    def energy_with_prior(actions: Tensor) -> Tensor:
        cost = prior_cost(actions.cpu()).to(reference)  # (B, S)
        return energy(actions).to(reference) + weight * reference * cost

    return energy_with_prior
