"""Key/value cache for incremental (step by step) predictor rollouts.

Holds, for every block, the RoPE-rotated keys and the values of all steps processed so far:
(B, heads, steps * tokens_per_step, head_dim). Predicting step t+1 then costs one step's worth of
queries against cached keys instead of re-running every earlier step.

Tensors are NOT detached: a rollout through the cache can be trained end to end. Call
`detach()` to cut the graph. `expand(batch)` turns a batch-1 cache (a context encoded once) into a
batch-B one without copying (expanded views; the first append materializes them).
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    def __init__(self, depth: int, tokens_per_step: int) -> None:
        self.keys: list[Tensor | None] = [None] * depth
        self.values: list[Tensor | None] = [None] * depth
        self.tokens_per_step = tokens_per_step
        self.steps = 0  # steps fully processed (every block appended)

    @property
    def batch_size(self) -> int | None:
        return None if self.keys[0] is None else self.keys[0].shape[0]

    def append(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Add new keys/values (B, h, n, hd) of `layer`; return all of them (B, h, L, hd)."""
        if self.keys[layer] is not None:
            keys = _cat_batch(self.keys[layer], keys)
            values = _cat_batch(self.values[layer], values)
        self.keys[layer], self.values[layer] = keys, values
        return keys, values

    def expand(self, batch: int) -> KVCache:
        """A batch-`batch` view of a batch-1 cache (no copy)."""
        if self.batch_size not in (None, 1, batch):
            raise ValueError(f"can only expand a batch-1 cache, this one has batch {self.batch_size}")
        out = KVCache(len(self.keys), self.tokens_per_step)
        out.steps = self.steps
        out.keys = [None if k is None else k.expand(batch, -1, -1, -1) for k in self.keys]
        out.values = [None if v is None else v.expand(batch, -1, -1, -1) for v in self.values]
        return out

    def detach(self) -> KVCache:
        out = KVCache(len(self.keys), self.tokens_per_step)
        out.steps = self.steps
        out.keys = [None if k is None else k.detach() for k in self.keys]
        out.values = [None if v is None else v.detach() for v in self.values]
        return out


def _cat_batch(old: Tensor, new: Tensor) -> Tensor:
    """Concatenate along the token axis, broadcasting a batch-1 side to the other's batch."""
    if old.shape[0] != new.shape[0]:
        batch = max(old.shape[0], new.shape[0])
        if min(old.shape[0], new.shape[0]) != 1:
            raise ValueError(f"cache batch {old.shape[0]} does not match input batch {new.shape[0]}")
        old, new = old.expand(batch, -1, -1, -1), new.expand(batch, -1, -1, -1)
    return torch.cat([old, new], dim=2)
