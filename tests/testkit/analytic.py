"""A world whose dynamics are known exactly: z_{t+1} = z_t + reshape(W a_t).

Stands in for a trained predictor in eval tests: it has the `ACPredictor` call and
`rollout` signatures, so the right metric values are known in advance."""

from __future__ import annotations

import torch
from torch import Tensor

NAMES = (["mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff"]
         + ["key_w", "key_a", "key_s", "key_d", "button_0", "gui_open"])
CONT = [True] * 4 + [False] * 6


class LinearWorld:
    def __init__(self, n: int = 4, d: int = 8, seed: int = 0, active: list[int] | None = None):
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(len(NAMES), n * d, generator=g)
        if active is not None:  # only these action features move the world
            mask = torch.zeros(len(NAMES), 1)
            mask[active] = 1.0
            self.w = self.w * mask
        self.n, self.d = n, d

    def step(self, actions: Tensor) -> Tensor:
        """(..., A) -> (..., N, D) latent change."""
        return (actions @ self.w).view(*actions.shape[:-1], self.n, self.d)

    def __call__(self, tokens: Tensor, actions: Tensor, states: Tensor) -> Tensor:
        return tokens + self.step(actions)  # teacher forcing: row t predicts t+1

    def rollout(self, context: Tensor, actions: Tensor, states: Tensor, steps: int) -> Tensor:
        t0 = context.shape[1]
        return context[:, -1:] + self.step(actions[:, t0 - 1:t0 - 1 + steps]).cumsum(1)

    def clips(self, c: int, t: int, seed: int = 1, noise: float = 0.0):
        """Recordings of this world: z (C, T, N, D), actions (C, T-1, A), states (C, T, 0)."""
        g = torch.Generator().manual_seed(seed)
        actions = torch.zeros(c, t - 1, len(NAMES))
        yaw = torch.randn(c, t - 1, generator=g)  # already "scaled" units
        pitch = torch.randn(c, t - 1, generator=g) * 0.5
        actions[..., 0], actions[..., 2] = yaw, yaw
        actions[..., 1], actions[..., 3] = pitch, pitch
        actions[..., 4:] = (torch.rand(c, t - 1, 6, generator=g) < 0.3).float()
        z0 = torch.randn(c, 1, self.n, self.d, generator=g)
        steps = self.step(actions) + noise * torch.randn(c, t - 1, self.n, self.d, generator=g)
        z = torch.cat([z0, z0 + steps.cumsum(1)], dim=1)
        return z, actions, torch.zeros(c, t, 0)
