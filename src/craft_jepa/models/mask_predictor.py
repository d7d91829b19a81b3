"""V-JEPA's "standard" mask-token predictor (self-supervised pre-training, not the AC predictor).

Context tokens from the context encoder are embedded to the predictor width; one learned mask
token per mask generator (zero-initialised, Meta's `zero_init_mask_tokens`) stands in at every
target position; RoPE gives every token its (time, row, column) position in the full token grid;
after the blocks only the target positions are kept, normed and projected back to the encoder
width. Parameter names follow Meta's `VisionTransformerPredictor` with `use_rope=True`
(`predictor_embed`, `mask_tokens.{i}`, `predictor_blocks.{i}.*`, `predictor_norm`,
`predictor_proj`; no position table) so a released `predictor` entry loads without renaming.

Meta sorts context and mask tokens by position before the blocks; without an attention mask the
blocks are permutation-equivariant and RoPE depends on the position only, so we skip the sort.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from craft_jepa.encoders.init import init_transformer_
from craft_jepa.encoders.rope import grid_positions, rope_tables
from craft_jepa.encoders.vit import Block


@dataclass
class MaskPredictorConfig:
    depth: int = 12  # ViT-L/g recipe: 12 blocks, width 384, 12 heads
    width: int = 384
    heads: int = 12
    mlp_ratio: float = 4.0
    num_mask_tokens: int = 2  # one per mask generator (Meta: len(mask configs) x len(fpcs))
    zero_init_mask_tokens: bool = True
    activation_checkpointing: bool = False
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1 or self.heads < 1 or self.num_mask_tokens < 1:
            raise ValueError("depth, width, heads and num_mask_tokens must be >= 1")
        if self.width % self.heads:
            raise ValueError(f"width={self.width} is not a multiple of heads={self.heads}")
        if self.width // self.heads < 6:
            raise ValueError(f"head_dim={self.width // self.heads} is too small for 3-D RoPE")
        if not (math.isfinite(self.mlp_ratio) and self.mlp_ratio > 0):
            raise ValueError(f"mlp_ratio must be a finite number > 0, got {self.mlp_ratio}")


class MaskTokenPredictor(nn.Module):
    def __init__(self, cfg: MaskPredictorConfig, encoder_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder_dim = encoder_dim
        self.predictor_embed = nn.Linear(encoder_dim, cfg.width)
        self.mask_tokens = nn.ParameterList(
            nn.Parameter(torch.zeros(1, 1, cfg.width)) for _ in range(cfg.num_mask_tokens)
        )
        hidden = int(cfg.width * cfg.mlp_ratio)
        self.predictor_blocks = nn.ModuleList(
            Block(cfg.width, cfg.heads, hidden, cfg.layer_norm_eps) for _ in range(cfg.depth)
        )
        self.predictor_norm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.predictor_proj = nn.Linear(cfg.width, encoder_dim)
        self.reset_parameters()

    def reset_parameters(self, std: float = 0.02) -> None:
        """Meta's init (encoders/init.py), then the mask tokens."""
        init_transformer_(self, self.predictor_blocks, std)
        with torch.no_grad():  # the tokens draw after every linear, as in Meta's order
            for token in self.mask_tokens:
                if self.cfg.zero_init_mask_tokens:
                    token.zero_()
                else:
                    nn.init.trunc_normal_(token, std=std)

    def forward(self, context: Tensor, context_idx: Tensor, target_idx: Tensor,
                grid: tuple[int, int, int], mask_index: int = 0) -> Tensor:
        """context (B, K, D_enc) at raster positions context_idx (K,) -> predictions (B, M, D_enc)
        at target_idx (M,); grid = (T/tubelet, H/patch, W/patch); mask_index picks the mask token."""
        batch, _, _ = context.shape
        x = self.predictor_embed(context)  # (B, K, W)
        token = self.mask_tokens[mask_index % len(self.mask_tokens)]  # (1, 1, W)
        queries = token.expand(batch, target_idx.shape[0], -1).to(x.dtype)  # (B, M, W)
        x = torch.cat([x, queries], dim=1)  # (B, K+M, W)
        t, r, c = grid_positions(*grid, x.device)  # (L,) each, raster order
        where = torch.cat([context_idx, target_idx]).to(x.device)  # (K+M,)
        cos, sin = rope_tables(t[where], r[where], c[where], self.cfg.width // self.cfg.heads)
        for block in self.predictor_blocks:
            if self.cfg.activation_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin)
        x = self.predictor_norm(x[:, context_idx.shape[0]:])  # (B, M, W): targets only
        return self.predictor_proj(x)  # (B, M, D_enc)
