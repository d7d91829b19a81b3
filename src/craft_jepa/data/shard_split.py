"""Which shard each training consumer (rank x loader worker) reads next.

The old split gave every consumer its own slice of the shard list and let it resample inside
that slice. Slices differ in size by one shard (1,633 shards over 256 consumers: 6 or 7 each),
and consumers deliver clips at the same rate, so shards in the small slices were read ~1.17x as
often; with fewer shards than consumers several consumers resampled one shard with the same
seed, i.e. read it in lockstep.

Here all consumers deal from ONE shared, endless sequence of shard permutations:

    global sequence  = perm_0 ++ perm_1 ++ perm_2 ++ ...   (perm_e: seeded permutation of all shards)
    consumer c reads = global[c], global[c + C], global[c + 2C], ...      (C consumers)

So after every consumer has read j shards, the first j*C entries of the sequence have been read:
whole permutations plus one partial one, i.e. every shard equally often up to one read. Consumers
read different entries, so at a given read index they are on different shards whenever there
are at least C shards (apart from the seam between two permutations), and with fewer shards
their orders still differ, because consecutive permutations are independent.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _permutation(n_shards: int, seed: int, epoch: int) -> np.ndarray:
    """(n_shards,) int64: the seeded order of epoch `epoch` of the shared sequence."""
    return np.random.default_rng([seed % 2**63, epoch]).permutation(n_shards)


def consumer_shards(n_shards: int, consumer: int, n_consumers: int, seed: int) -> Iterator[int]:
    """Endless shard indices for `consumer` (0 <= consumer < n_consumers); see the module docstring."""
    if n_shards < 1:
        raise ValueError(f"consumer_shards: need at least one shard, got {n_shards}")
    if not 0 <= consumer < n_consumers:
        raise ValueError(f"consumer_shards: consumer {consumer} is outside [0, {n_consumers})")
    position = consumer
    epoch, perm = -1, np.empty(0, dtype=np.int64)
    while True:
        e, i = divmod(position, n_shards)
        if e != epoch:  # one permutation in memory at a time, however many shards
            epoch, perm = e, _permutation(n_shards, seed, e)
        yield int(perm[i])
        position += n_consumers
