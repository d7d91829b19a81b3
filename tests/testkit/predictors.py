"""Tiny predictor builders shared by the models tests: 2x2 patches per frame, 32-dim encoder tokens."""

from __future__ import annotations

import torch

from craft_jepa.models import ACPredictor, PredictorConfig

ENC_DIM, GRID, ACTION_DIM, STATE_DIM, STEPS = 32, 2, 5, 3, 5


def make_predictor(state_dim: int = STATE_DIM, seed: int = 0, **overrides) -> ACPredictor:
    config = PredictorConfig(preset="ac_tiny", encoder_dim=ENC_DIM, grid_size=GRID, action_dim=ACTION_DIM,
                             state_dim=state_dim, init_seed=seed, **overrides)
    return ACPredictor(config)


def make_batch(batch: int = 2, steps: int = STEPS, state_dim: int = STATE_DIM, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, steps, GRID * GRID, ENC_DIM, generator=generator)
    actions = torch.randn(batch, steps, ACTION_DIM, generator=generator)
    states = torch.randn(batch, steps, state_dim, generator=generator) if state_dim else None
    return tokens, actions, states
