"""The training shuffle buffer, kept across stream chunks by persistent loader workers.

The training stream is cut into chunks (`data.chunk_steps`, by default one per
`checkpoint.latest_every`) so that a checkpoint at a chunk boundary is a cheap, exact resume
point: chunk c reads shards and draws windows from seeds derived from c alone. Rebuilding the
DataLoader per chunk threw the shuffle buffer away and refilled it before the first batch
(~43% extra decoding and a stall per chunk at 128 clips). Instead the workers live on and the
buffer has two generations:

    old  the clips left over from chunk c-1; emitted first, one per new clip decoded
    new  the clips decoded in chunk c; a reservoir of `capacity`, as before

Emission order only draws `new`'s slots from chunk c's generator (`old`'s from a separate
one), so the buffer at the end of chunk c depends on chunk c's seeds and on how many clips
`old` held -- a number fixed by the configuration (`carried_after`). Resuming in chunk c
therefore re-decodes chunk c-1 once in each worker (with placeholders for its `old`) to get
the same clips back, instead of every chunk paying for a refill.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from craft_jepa.configuration import require_range

CHUNK_SEED_STRIDE = 1_000_003
FILLING = object()  # push() while the buffer fills: nothing to emit yet


def chunk_seed(seed: int, chunk: int) -> int:
    """The seed of chunk `chunk`'s shard order, windows and buffer draws."""
    return seed + chunk * CHUNK_SEED_STRIDE


class CarryShuffleBuffer:
    """push(clip) -> the clip to emit now, or FILLING; see the module docstring."""

    def __init__(self, capacity: int) -> None:
        require_range("capacity", capacity, at_least=0)
        self.capacity = capacity
        self.new: list[Any] = []
        self.old: list[Any] = []
        self._rng_new = np.random.default_rng(0)
        self._rng_old = np.random.default_rng(1)

    def next_chunk(self, rng_new: np.random.Generator, rng_old: np.random.Generator) -> None:
        """Chunk boundary: this chunk's clips become the old generation (leftover old ones are
        dropped: only possible when a worker's chunk quota is smaller than the buffer)."""
        self.old, self.new = self.new, []
        self._rng_new, self._rng_old = rng_new, rng_old

    def push(self, clip: Any) -> Any:
        if self.capacity == 0:
            return clip
        if len(self.new) < self.capacity:
            self.new.append(clip)
            if not self.old:
                return FILLING  # the first chunk only, in steady state
            i = int(self._rng_old.integers(0, len(self.old)))
            self.old[i], self.old[-1] = self.old[-1], self.old[i]
            return self.old.pop()
        slot = int(self._rng_new.integers(0, self.capacity))
        out, self.new[slot] = self.new[slot], clip
        return out

    def drain(self) -> Iterable[Any]:
        """What is left when the stream ends (finite streams only), in random order."""
        rest = self.old + self.new
        self.old, self.new = [], []
        for i in self._rng_new.permutation(len(rest)) if rest else []:
            yield rest[i]


def carried_after(carried_in: int, quota: int, capacity: int) -> int:
    """Size of the new generation after a chunk that started with `carried_in` old clips and
    emitted `quota` clips (0: the chunk was skipped and the buffer untouched)."""
    if capacity == 0 or quota == 0:
        return carried_in if quota == 0 else 0
    # push() emits one old clip per new clip while the new generation fills, then one per push.
    return quota if quota <= carried_in else capacity


class ChunkPlan:
    """Which global batches one worker role produces, chunk by chunk.

    A DataLoader started at global batch `start` takes batch `start + j` from worker j % W, so
    the worker of role r = (worker + start) % W produces the batches g = r (mod W). Keying all
    seeds on the role (not the worker id) makes the data of batch g the same whether the
    loader was started at 0 or resumed at `start`.
    """

    def __init__(self, start: int, chunk_batches: int, batch_size: int, num_workers: int, worker: int) -> None:
        self.start = start
        self.chunk_batches = chunk_batches  # 0: one endless chunk
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.role = (worker + start) % num_workers

    @property
    def first_chunk(self) -> int:
        return self.start // self.chunk_batches if self.chunk_batches else 0

    def _batches_below(self, g: int) -> int:
        """How many batches in [0, g) this role produces."""
        return (g - self.role + self.num_workers - 1) // self.num_workers if g > self.role else 0

    def quota(self, chunk: int) -> int:
        """Clips this role emits in `chunk` (-1: the endless chunk)."""
        if not self.chunk_batches:
            return -1
        lo, hi = chunk * self.chunk_batches, (chunk + 1) * self.chunk_batches
        return (self._batches_below(hi) - self._batches_below(lo)) * self.batch_size

    def skipped(self, chunk: int) -> int:
        """Clips of `chunk` that batches before `start` took (a resume inside a chunk)."""
        if not self.chunk_batches or chunk != self.first_chunk:
            return 0
        lo = chunk * self.chunk_batches
        return (self._batches_below(self.start) - self._batches_below(lo)) * self.batch_size

    def last_active_before(self, chunk: int) -> int | None:
        """The last chunk before `chunk` in which this role emits anything (None: none)."""
        for c in range(chunk - 1, max(-1, chunk - 1 - self.num_workers - 1), -1):
            if self.quota(c) > 0:
                return c
        return None

    def carried_into(self, chunk: int, capacity: int) -> int:
        """Size of the old generation at the start of `chunk` in an uninterrupted run."""
        carried = 0
        for c in range(chunk):
            carried = carried_after(carried, self.quota(c), capacity)
        return carried
