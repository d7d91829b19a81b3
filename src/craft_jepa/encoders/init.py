"""Meta's weight init for V-JEPA 2 transformers, shared by the encoder and both predictors."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def init_transformer_(root: nn.Module, blocks: Iterable[nn.Module], std: float,
                      generator: torch.Generator | None = None) -> None:
    """Trunc-normal(std) weights of every linear and conv (bounds +-2 absolute, as Meta's helper)
    with zero biases, unit LayerNorms; then block i's residual projections (attn.proj, mlp.fc2)
    divided by sqrt(2 i), i from 1. Modules are visited in `root.modules()` order, so a seeded
    generator gives the same weights on every machine."""
    for module in root.modules():
        if isinstance(module, (nn.Linear, nn.Conv3d)):
            if module.weight.numel():  # a state token without states has an empty weight
                nn.init.trunc_normal_(module.weight, std=std, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for layer_id, block in enumerate(blocks, start=1):
        block.attn.proj.weight.div_(math.sqrt(2.0 * layer_id))
        block.mlp.fc2.weight.div_(math.sqrt(2.0 * layer_id))
