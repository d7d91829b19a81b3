"""Frame-causal self-attention for the predictor, with 3-D RoPE and an optional KV cache.

Frame-causal: a token of step t sees every token of steps <= t (its own step fully, including
the conditioning tokens). The boolean mask is built for the ACTUAL number of steps and cached per
(new steps, past steps, tokens per step, device). The reference instead allocated one dense mask
for 256 steps up front (~4 GiB of host memory at 256 tokens per frame).
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from craft_jepa.encoders.rope import apply_rope
from craft_jepa.models.kv_cache import KVCache


@lru_cache(maxsize=32)
def frame_causal_mask(new_steps: int, past_steps: int, tokens_per_step: int, device: torch.device) -> Tensor | None:
    """bool (new*K, (past+new)*K), True where attention is allowed; None when nothing is masked."""
    if new_steps == 1:
        return None  # one new step sees all of the past and all of itself
    query_step = torch.arange(past_steps, past_steps + new_steps, device=device)
    key_step = torch.arange(past_steps + new_steps, device=device)
    allowed = query_step[:, None] >= key_step[None, :]  # (new, past+new) per step
    # Expand each step to its K tokens: (new*K, (past+new)*K).
    return allowed.repeat_interleave(tokens_per_step, 0).repeat_interleave(tokens_per_step, 1)


class CausalRoPEAttention(nn.Module):
    """Parameter names follow Meta's ACRoPEAttention (`qkv`, `proj`) for warm starts."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        attn_mask: Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> Tensor:
        """x (B, L, D) of the new steps; cos/sin (L, head_dim); mask (L, L_past + L) or None."""
        batch, length, dim = x.shape
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim))  # (B, L, 3, h, hd)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, h, L, hd) each
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, h, L_past + L, hd)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, h, L, hd)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))
