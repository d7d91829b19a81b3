"""Is a representation collapsing? Two numbers a self-supervised run logs beside its loss.

A masked-latent objective can lower its loss by making every token alike (the predictor then
has nothing left to predict). The loss does not show that; the spread of the targets does:
- `feature_std`: the standard deviation of each feature dimension over all tokens of the batch,
  averaged over dimensions. Layer-normed tokens have unit variance ACROSS dimensions per token,
  so this can still fall to 0: every token the same vector.
- `effective_rank`: exp of the entropy of the normalized singular values of the centred
  (tokens x dims) matrix (Roy & Vetterli, 2007): 1 when all tokens lie on one line, D when
  every direction carries the same weight. A representation that keeps few directions has a
  low one even when its std looks healthy.
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def collapse_stats(tokens: Tensor, max_rows: int = 4096) -> dict[str, Tensor]:
    """tokens (..., D), any leading shape (every token one row) -> {"feature_std", "effective_rank"}
    as float32 scalars on the tokens' device (computed in float64: a (D, D) Gram matrix).

    It runs in every pre-training forward, so at most `max_rows` tokens enter it (an even
    stride over them): a ViT-L batch has 16k tokens, and float64 is slow on many GPUs."""
    rows = tokens.detach().reshape(-1, tokens.shape[-1])  # (M, D)
    stride = -(-rows.shape[0] // max_rows)  # ceil
    # float64: float32 rounding alone gives a one-line cloud an effective rank above 1.01.
    rows = rows[::stride].double()  # (<= max_rows, D)
    centred = rows - rows.mean(dim=0, keepdim=True)
    feature_std = centred.pow(2).mean(dim=0).sqrt().mean().float()
    # Singular values from the (D, D) Gram matrix: cheap for many tokens of a wide encoder.
    eigenvalues = torch.linalg.eigvalsh(centred.T @ centred).clamp_min(0.0)  # (D,) = singular values^2
    singular = eigenvalues.sqrt()
    # Rounding leaves tiny singular values behind even when every token is the same: below a
    # tolerance relative to the uncentred tokens they count as 0.
    singular = torch.where(singular > 1e-5 * rows.norm(), singular, torch.zeros_like(singular))
    total = singular.sum()
    if total <= 0:
        return {"feature_std": feature_std, "effective_rank": torch.ones((), device=rows.device)}
    p = singular / total
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return {"feature_std": feature_std, "effective_rank": entropy.exp().float()}
