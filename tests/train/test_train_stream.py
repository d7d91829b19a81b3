"""TrainStream builds ONE loader per run (workers live across chunks) and, after a resume,
one loader that starts at the checkpointed position."""

from __future__ import annotations

import itertools

from craft_jepa.train.stream import TrainStream


class CountingFactory:
    """A loader factory whose batch g of the stream is {"g": g} (start, start + 1, ...)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, seed: int, start: int, chunk_batches: int):
        self.calls.append((seed, start, chunk_batches))
        return ({"g": g} for g in itertools.count(start))


def take(stream: TrainStream, n: int) -> list[int]:
    return [b["g"] for b in itertools.islice(stream, n)]


def test_one_loader_for_many_chunks():
    factory = CountingFactory()
    stream = TrainStream(factory, seed=5, chunk_batches=3)
    assert take(stream, 10) == list(range(10))
    assert factory.calls == [(5, 0, 3)] and stream.loaders_built == 1
    assert stream.state_dict() == {"seed": 5, "chunk": 3, "consumed": 1, "chunk_batches": 3}


def test_resume_builds_one_loader_at_the_checkpointed_batch():
    factory = CountingFactory()
    first = TrainStream(factory, seed=5, chunk_batches=3)
    take(first, 7)
    resumed = TrainStream(factory, seed=5, chunk_batches=3)
    resumed.load_state_dict(first.state_dict())
    assert take(resumed, 4) == [7, 8, 9, 10]
    assert factory.calls[-1] == (5, 7, 3) and resumed.loaders_built == 1


def test_changed_chunk_size_restarts_at_the_next_chunk():
    factory = CountingFactory()
    first = TrainStream(factory, seed=5, chunk_batches=3)
    take(first, 7)  # chunk 2, 1 consumed
    other = TrainStream(factory, seed=5, chunk_batches=4)
    other.load_state_dict(first.state_dict())
    next(other)
    assert factory.calls[-1] == (5, 12, 4)  # chunk 3 of the new size
