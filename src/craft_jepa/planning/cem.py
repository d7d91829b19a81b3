"""Batched cross-entropy method (CEM) over action sequences.

Each iteration samples `samples` action sequences of length `horizon` per batch item,
scores them with an energy function (lower is better), refits the distribution to the
`top_k` best and blends it with the previous one (`momentum` = weight of the old one).
Defaults are V-JEPA 2-AC's: horizon 2, 400 samples, top-10, 10 iterations, momentum 0.15.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from craft_jepa.configuration import require_range
from craft_jepa.planning.action_space import ActionSpace, Distribution, Samples

# raw layout actions (B, S, H, A) -> energies (B, S)
EnergyFn = Callable[[Tensor], Tensor]


@dataclass
class CEMConfig:
    horizon: int = 2
    samples: int = 400
    top_k: int = 10
    iterations: int = 10
    momentum: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("horizon", "samples", "top_k", "iterations"):
            require_range(f"CEMConfig.{name}", getattr(self, name), at_least=1)
        if self.top_k > self.samples:
            raise ValueError(f"CEMConfig.top_k ({self.top_k}) must be <= samples ({self.samples})")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"CEMConfig.momentum must be in [0, 1), got {self.momentum}")


@dataclass
class CEMResult:
    actions: Tensor  # (B, H, A) raw layout vectors of the final plan (distribution mode)
    energy: Tensor  # (B,) energy of that plan
    distribution: Distribution  # final CEM state
    best_energy_per_iteration: list[Tensor] = field(default_factory=list)  # each (B,)


def _take(samples: Samples, index: Tensor) -> Samples:
    """Select samples along dim 1 with index (B, E)."""
    def gather(x: Tensor) -> Tensor:
        idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
        return torch.gather(x, 1, idx)
    return Samples(gather(samples.params), gather(samples.binary), gather(samples.slot))


@torch.no_grad()
def cem(space: ActionSpace, energy_fn: EnergyFn, batch: int, config: CEMConfig,
        device: torch.device | str = "cpu", hold: Tensor | None = None) -> CEMResult:
    """Plan `batch` independent action sequences; deterministic for `config.seed`.

    Sampling happens on a CPU generator so that a seed gives the same plan on any device;
    only the layout vectors travel to `device` for the energy. `hold` (B, A): the values of
    the features the action space does not plan (see `ActionSpace.to_layout`)."""
    hold = None if hold is None else hold.cpu()
    generator = torch.Generator().manual_seed(config.seed)
    dist = space.initial(batch, config.horizon)
    history: list[Tensor] = []
    for _ in range(config.iterations):
        samples = space.sample(dist, config.samples, generator)
        actions = space.to_layout(samples, hold).to(device)  # (B, S, H, A)
        energy = energy_fn(actions).float().cpu()  # (B, S)
        if energy.shape != (batch, config.samples):
            raise ValueError(f"energy function returned {tuple(energy.shape)}, "
                             f"expected ({batch}, {config.samples})")
        top = energy.topk(config.top_k, dim=1, largest=False)
        history.append(top.values[:, 0])
        dist = dist.blend(space.fit(_take(samples, top.indices)), config.momentum)
    plan = space.mode(dist)
    plan_actions = space.to_layout(plan, hold)  # (B, 1, H, A)
    plan_energy = energy_fn(plan_actions.to(device)).float().cpu()[:, 0]
    return CEMResult(plan_actions[:, 0], plan_energy, dist, history)
