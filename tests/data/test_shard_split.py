"""The training shard split: every shard read at the same rate, no two consumers in lockstep.

Simulation: consumers (ranks x workers) deliver at the same rate, i.e. each reads one shard per
time slot; the share of reads each shard gets must be uniform within +-10%, and no two
consumers may read the same shard at the same slot much more often than chance (1/shards).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from craft_jepa.data.shard_split import consumer_shards


def simulate(shards: int, ranks: int, workers: int, seed: int = 0) -> np.ndarray:
    """(consumers, slots) shard indices, enough slots for ~20 reads per shard."""
    consumers = ranks * workers
    slots = max(8, -(-20 * shards // consumers))
    return np.array([list(itertools.islice(consumer_shards(shards, rank * workers + worker, consumers, seed), slots))
                     for rank in range(ranks) for worker in range(workers)])


@pytest.mark.parametrize(("shards", "ranks", "workers"), [(1633, 32, 8), (10, 2, 4), (3, 2, 2), (7, 1, 3)])
@pytest.mark.parametrize("seed", [0, 11])
def test_every_shard_is_read_at_the_same_rate(shards, ranks, workers, seed):
    reads = simulate(shards, ranks, workers, seed)
    counts = np.bincount(reads.ravel(), minlength=shards)
    share = counts / counts.mean()
    assert share.min() >= 0.9 and share.max() <= 1.1, (share.min(), share.max())


@pytest.mark.parametrize(("shards", "ranks", "workers"), [(1633, 32, 8), (10, 2, 4), (3, 2, 2)])
def test_no_two_consumers_read_in_lockstep(shards, ranks, workers):
    reads = simulate(shards, ranks, workers)
    for a, b in itertools.combinations(range(len(reads)), 2):
        assert not np.array_equal(reads[a], reads[b]), (a, b)
        together = float((reads[a] == reads[b]).mean())  # same shard at the same slot
        assert together <= 1 / shards + 0.1, (a, b, together)


def test_enough_shards_means_disjoint_reads_per_slot():
    """With at least as many shards as consumers, a slot's reads hit different shards except
    where the shared sequence passes from one permutation to the next."""
    reads = simulate(64, 2, 4)
    clashes = sum(len(col) - len(set(col.tolist())) for col in reads.T)
    assert clashes <= reads.shape[1] * 8 // 64 + 1  # at most one seam per 64/8 slots


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least one shard"):
        next(consumer_shards(0, 0, 1, 0))
    with pytest.raises(ValueError, match="outside"):
        next(consumer_shards(3, 4, 4, 0))
