"""Persistent training workers: the shuffle buffer carried across chunks, and exact restarts.

A loader started at global batch p must give exactly the batches an uninterrupted loader
gives from p on (at a chunk boundary and inside a chunk, with worker processes), while in
steady state no chunk refills the buffer.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from craft_jepa.data.carry_buffer import FILLING, CarryShuffleBuffer, ChunkPlan, carried_after
from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.loader import build_train_loader


def run_chunks(capacity: int, quotas: list[int]) -> tuple[list[int], list[int], int]:
    """Push 0, 1, 2, ... through a buffer chunk by chunk: (emitted, sizes carried, fill pushes)."""
    buffer, counter, emitted, carried, filling = CarryShuffleBuffer(capacity), itertools.count(), [], [], 0
    for c, quota in enumerate(quotas):
        if quota == 0:
            carried.append(len(buffer.new))
            continue
        buffer.next_chunk(np.random.default_rng([c, 1]), np.random.default_rng([c, 2]))
        got = 0
        while got < quota:
            out = buffer.push(next(counter))
            if out is FILLING:
                filling += 1
                continue
            emitted.append(out)
            got += 1
        carried.append(len(buffer.new))
    return emitted, carried, filling


@pytest.mark.parametrize(("capacity", "quotas"), [(4, [6, 6, 6, 6]), (8, [3, 5, 0, 12, 2, 9]), (0, [3, 3])])
def test_carried_sizes_follow_the_formula(capacity, quotas):
    _, carried, _ = run_chunks(capacity, quotas)
    expected, size = [], 0
    for quota in quotas:
        size = carried_after(size, quota, capacity)
        expected.append(size)
    assert carried == expected


def test_only_the_first_chunk_fills_and_no_clip_is_lost_or_repeated():
    emitted, _, filling = run_chunks(16, [40] * 10)
    assert filling == 16  # the refill of the old rebuild-per-chunk stream is gone
    assert len(set(emitted)) == len(emitted) == 400
    assert max(emitted) < 400 + 16  # decoded per emitted: (400 + 16) / 400


@pytest.mark.parametrize(("workers", "chunk", "batch"), [(1, 2, 2), (3, 2, 1), (2, 5, 3)])
def test_chunk_plan_shares_every_batch_out_once(workers, chunk, batch):
    for start in range(0, 3 * chunk):
        plans = [ChunkPlan(start, chunk, batch, workers, w) for w in range(workers)]
        assert sorted(p.role for p in plans) == list(range(workers))
        for c in range(start // chunk, start // chunk + 4):
            assert sum(p.quota(c) for p in plans) == chunk * batch
        first = start // chunk
        assert sum(p.skipped(first) for p in plans) == (start - first * chunk) * batch


def _keys(batch: dict) -> list[tuple[str, int]]:
    return list(zip(batch["key"], batch["start_tick"].tolist()))


@pytest.mark.parametrize("workers", [0, 2])
def test_a_loader_started_at_p_continues_the_uninterrupted_one(synth_dataset, workers):
    cfg = ClipConfig(frames=3, fps=5, size=32, clips_per_segment=2)
    kwargs = dict(batch_size=2, num_workers=workers, seed=5, shuffle_buffer_clips=3, chunk_batches=3)
    urls = list(synth_dataset.shard_urls)
    full = list(itertools.islice(build_train_loader(cfg, urls, **kwargs), 10))
    assert len({k for b in full for k in _keys(b)}) > 8  # not one clip over and over
    for start in (3, 7):  # a chunk boundary, then inside a chunk
        resumed = list(itertools.islice(build_train_loader(cfg, urls, start_batch=start, **kwargs), 10 - start))
        for want, got in zip(full[start:], resumed):
            assert _keys(got) == _keys(want)
            assert torch.equal(got["frames"], want["frames"])


def test_a_restarted_loader_reports_skipped_input_once(broken_shards):
    """Per-batch skip counters from p on equal the uninterrupted loader's: what the batches
    before p (or the re-read of the previous chunk) met is not counted again."""
    import warnings

    from craft_jepa.data.loader import DataWarning

    cfg = ClipConfig(frames=3, fps=5, size=32, clips_per_segment=1)
    kwargs = dict(batch_size=1, num_workers=0, seed=2, shuffle_buffer_clips=2, chunk_batches=3)
    urls = list(broken_shards.urls)

    def stats(start: int, n: int) -> list[dict[str, int]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            loader = build_train_loader(cfg, urls, start_batch=start, **kwargs)
            return [{k: int(v.sum()) for k, v in b["stats"].items()} for b in itertools.islice(loader, n)]

    full = stats(0, 12)
    assert sum(sum(s.values()) for s in full[3:]) > 0  # bad input is met after the restart points
    for start in (3, 4, 5, 7):
        assert stats(start, 12 - start) == full[start:], start
