"""Fixtures of the data tests: index-stamped recordings and a shard full of broken samples."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import dataclass

import pytest

from craft_jepa.data.synth import SynthDataset


@pytest.fixture(scope="session")
def stamped_dataset(tmp_path_factory: pytest.TempPathFactory) -> SynthDataset:
    """2 recordings whose frames carry their own index: one with 1 s GOPs (ultrafast, no
    B-frames), one with libx264's default 250-frame GOP and B-frames (veryfast)."""
    from craft_jepa.data.synth import write_synth_dataset

    root = str(tmp_path_factory.mktemp("stamped"))
    return write_synth_dataset(root, seconds=(7.0, 14.0), seed=77, per_shard=1, configs=[
        {"stamp_index": True},
        {"stamp_index": True, "preset": "veryfast", "keyint": None},
    ])


@dataclass(frozen=True)
class BrokenShards:
    urls: tuple[str, ...]
    good_keys: tuple[str, ...]
    expected: dict[str, int]  # stat kind -> how many samples of that kind were planted


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _mp4_of(n_frames: int) -> bytes:
    import numpy as np

    from craft_jepa.data.synth import encode_mp4

    buf = io.BytesIO()
    frames = (np.full((360, 640, 3), 10 * i, np.uint8) for i in range(n_frames))
    encode_mp4(frames, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def broken_shards(synth_dataset: SynthDataset, tmp_path_factory: pytest.TempPathFactory) -> BrokenShards:
    """One shard mixing 2 good segments with one of each kind of bad sample, a truncated
    shard, and an unreadable shard URL."""
    root = str(tmp_path_factory.mktemp("broken"))
    stems = synth_dataset.stems

    def read(stem: str, ext: str) -> bytes:
        with open(os.path.join(synth_dataset.raw_dir, f"{stem}.{ext}"), "rb") as f:
            return f.read()

    mp4, jsonl = read(stems[0], "mp4"), read(stems[0], "jsonl")
    lines = jsonl.splitlines(keepends=True)
    mixed = os.path.join(root, "mixed-000000.tar")
    with tarfile.open(mixed, "w") as tar:
        _add(tar, "good-a.mp4", mp4)
        _add(tar, "good-a.jsonl", jsonl)
        _add(tar, "trunc-mp4.mp4", mp4[: len(mp4) // 2])
        _add(tar, "trunc-mp4.jsonl", jsonl)
        _add(tar, "garbage.mp4", os.urandom(5000))
        _add(tar, "garbage.jsonl", jsonl)
        _add(tar, "no-jsonl.mp4", mp4)
        _add(tar, "no-mp4.jsonl", jsonl)
        _add(tar, "mismatch.mp4", mp4)
        _add(tar, "mismatch.jsonl", b"".join(lines[: len(lines) // 2]))
        _add(tar, "one-frame.mp4", _mp4_of(1))
        _add(tar, "one-frame.jsonl", lines[0])
        _add(tar, "zero-frames.mp4", _mp4_of(0))
        _add(tar, "zero-frames.jsonl", lines[0])
        _add(tar, "bad-json.mp4", mp4)
        _add(tar, "bad-json.jsonl", b"{not json\n" * len(lines))
        _add(tar, "good-b.mp4", read(stems[1], "mp4"))
        _add(tar, "good-b.jsonl", read(stems[1], "jsonl"))
    # A shard cut off in the middle of its second member.
    whole = os.path.join(root, "whole.tar")
    with tarfile.open(whole, "w") as tar:
        _add(tar, "cut.mp4", mp4)
        _add(tar, "cut.jsonl", jsonl)
    truncated = os.path.join(root, "truncated-000001.tar")
    with open(whole, "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[: len(mp4) // 2])
    os.remove(whole)
    expected = {"bad_mp4": 3, "missing_jsonl": 1, "missing_mp4": 1, "count_mismatch": 1, "too_short": 1,
                "bad_jsonl": 1, "bad_shard": 2}
    # Bad shards first: counters travel with the NEXT clip, so they need a good one after them.
    return BrokenShards((truncated, "pipe:cat /nonexistent/shard.tar", mixed), ("good-a", "good-b"), expected)
