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
from torch import Tensor

from craft_jepa.encoders.vit import RoPESelfAttention
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


class CausalRoPEAttention(RoPESelfAttention):
    """The encoder's RoPE attention plus a mask and a KV cache. Parameter names follow Meta's
    ACRoPEAttention (`qkv`, `proj`) for warm starts."""

    def forward(  # type: ignore[override]
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        attn_mask: Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> Tensor:
        """x (B, L, D) of the new steps; cos/sin (L, head_dim); mask (L, L_past + L) or None."""
        q, k, v = self.rotated_qkv(x, cos, sin)  # (B, h, L, hd) each
        if cache is not None:
            k, v = cache.append(layer, k, v)  # (B, h, L_past + L, hd)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, h, L, hd)
        return self.merge_heads(out)
