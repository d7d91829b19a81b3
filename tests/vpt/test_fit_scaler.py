"""fit_action_scaler over tiny tar shards built here (jsonl + dummy mp4 bytes)."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from craft_jepa.data.fit_scaler import (
    FitScalerConfig,
    fit_action_scaler,
    iter_jsonl_members,
    select_shards,
)
from craft_jepa.vpt.actions import aggregate_steps, prepare_ticks
from craft_jepa.vpt.jsonl import parse_jsonl
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import ActionScaler

MP4_BYTES = 300_000


def write_shard(path, segments: dict[str, bytes], mp4_size: int = MP4_BYTES) -> None:
    with tarfile.open(path, "w") as tar:
        for stem, jsonl_bytes in segments.items():
            for ext, payload in (("mp4", b"\x00" * mp4_size), ("jsonl", jsonl_bytes)):
                info = tarfile.TarInfo(f"{stem}.{ext}")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))


@pytest.fixture
def shard_dir(tmp_path, play_lines, jsonl):
    """4 shards x 2 segments of random play; the last (val) shard has absurd mouse motion."""
    segments = {}
    for shard in range(4):
        members = {}
        for seg in range(2):
            lines = play_lines(61 + 10 * seg, seed=10 * shard + seg)
            if shard == 3:
                for line in lines:
                    line["mouse"]["dx"] = 1e6
            members[f"seg{shard}{seg}-0123456789ab-20210629-120000"] = jsonl(lines)
        write_shard(tmp_path / f"shard-{shard:06d}.tar", members)
        segments[shard] = members
    return tmp_path, segments


def expected_continuous(members: list[bytes], fps_stride: int = 4) -> np.ndarray:
    layout = get_action_layout("vpt38")
    rows = []
    for data in members:
        ticks = prepare_ticks(parse_jsonl(data, "x").ticks)
        rows.append(layout.encode(aggregate_steps(ticks, list(range(0, len(ticks), fps_stride))))[:, :4])
    return np.concatenate(rows).astype(np.float64)


def test_fit_matches_in_memory_statistics_of_training_shards(shard_dir):
    root, segments = shard_dir
    result = fit_action_scaler(FitScalerConfig(data=str(root / "shard-{000000..000003}.tar"),
                                               val_fraction=0.25, progress=False))
    train_members = [data for shard in range(3) for data in segments[shard].values()]
    expected = expected_continuous(train_members)
    scaler = result.scaler
    assert scaler.count == len(expected) == result.stats.steps
    np.testing.assert_allclose(scaler.mean, expected.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scaler.scale, expected.std(0), rtol=1e-6)
    assert abs(scaler.mean[0]) < 1e3  # the validation shard's 1e6 motion was never seen
    assert result.stats.shards == 3 and result.stats.members == 6
    assert (result.stats.bad_members, result.stats.bad_shards) == (0, 0)


def test_sample_budget_is_exact(shard_dir):
    root, _ = shard_dir
    result = fit_action_scaler(FitScalerConfig(data=str(root), val_fraction=0.25, max_steps=20,
                                               progress=False))
    assert result.scaler.count == 20 and result.stats.shards == 3  # the budget is spread over the shards


def test_select_shards_every_and_fraction():
    urls = [f"s{i}.tar" for i in range(20)]
    assert select_shards(urls, every=5) == ["s0.tar", "s5.tar", "s10.tar", "s15.tar"]
    half = select_shards(urls, fraction=0.5, seed=1)
    assert len(half) == 10 and half == sorted(half, key=lambda u: int(u[1:-4]))
    assert half == select_shards(urls, fraction=0.5, seed=1) != select_shards(urls, fraction=0.5, seed=2)
    assert len(select_shards(urls, every=7, fraction=0.01)) == 1


def test_mp4_members_are_skipped_not_read(shard_dir, monkeypatch):
    root, segments = shard_dir
    bytes_read = []

    class CountingFile(io.FileIO):
        def read(self, size=-1):
            data = super().read(size)
            bytes_read.append(len(data))
            return data

        def readinto(self, buffer):
            n = super().readinto(buffer)
            bytes_read.append(n or 0)
            return n

    monkeypatch.setattr(tarfile, "bltn_open", lambda name, mode: CountingFile(name, mode))
    members = list(iter_jsonl_members(str(root / "shard-000000.tar")))
    assert [name.endswith(".jsonl") for name, _ in members] == [True, True]
    jsonl_total = sum(len(data) for data in segments[0].values())
    # the spy really saw the reads (headers + jsonl), and the 2 x 300 kB of mp4 were never read
    assert jsonl_total <= sum(bytes_read) < jsonl_total + 20_000


def test_broken_shards_and_members_are_counted(tmp_path, play_lines, jsonl):
    good = {"good-0123456789ab-20210629-120000": jsonl(play_lines(41, seed=1))}
    write_shard(tmp_path / "a-000000.tar", good | {
        "garbage-0123456789ab-20210629-120000": b"\xff\xfe not json\n" * 5,
        "short-0123456789ab-20210629-120000": jsonl(play_lines(1, seed=2)),
    })
    write_shard(tmp_path / "a-000001.tar", {"cut-0123456789ab-20210629-120000": jsonl(play_lines(41, seed=3))})
    whole = (tmp_path / "a-000001.tar").read_bytes()
    (tmp_path / "a-000001.tar").write_bytes(whole[: MP4_BYTES // 2])  # truncated inside the mp4
    (tmp_path / "a-000002.tar").write_bytes(b"this is not a tar file" * 100)
    result = fit_action_scaler(FitScalerConfig(data=str(tmp_path / "a-*.tar"), val_fraction=0.0,
                                               progress=False))
    stats = result.stats
    assert result.scaler.count == 10  # 41 ticks at stride 4 -> 11 frames -> 10 steps
    assert stats.members == 3 and stats.bad_members == 2 and stats.bad_shards == 2
    assert stats.parse.counts["non_utf8"] == 5
    assert any("a-000002.tar: broken shard" in m for m in stats.messages)


def test_no_usable_steps_is_a_clear_error(tmp_path):
    write_shard(tmp_path / "e-000000.tar", {"x-0123456789ab-20210629-120000": b"nope\n"})
    with pytest.raises(ValueError, match="no usable steps"):
        fit_action_scaler(FitScalerConfig(data=str(tmp_path / "e-000000.tar"), val_fraction=0.0,
                                          progress=False))


@pytest.mark.parametrize("field, value", [("fps", 0), ("max_steps", 0), ("shard_every", 0),
                                          ("shard_fraction", 1.5), ("val_fraction", 1.0)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        FitScalerConfig(data="x.tar", **{field: value})


def test_scaler_file_from_fit_loads(shard_dir, tmp_path):
    root, _ = shard_dir
    result = fit_action_scaler(FitScalerConfig(data=str(root), layout=["mouse_dx", "key_w", "yaw_diff"],
                                               val_fraction=0.25, progress=False))
    result.scaler.save(tmp_path / "s.json")
    loaded = ActionScaler.load(tmp_path / "s.json")
    assert loaded.continuous_features == ("mouse_dx", "yaw_diff") and loaded.layout_name == "custom"


def test_remote_stream_path_yields_the_same_members(shard_dir):
    root, _ = shard_dir
    path = root / "shard-000001.tar"
    local = list(iter_jsonl_members(str(path)))
    piped = list(iter_jsonl_members(f"pipe:cat {path}"))  # how s3/http shards are read
    assert piped == local and len(local) == 2
