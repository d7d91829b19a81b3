"""Feature shards: format round trips, run planning, and the feature loaders.

Runs here are hand-made (no encoder): every token of frame f holds f's raw tick and every
action row its step's first tick, so a clip shows whether its windows were cut right. The
encoder side (craft-jepa encode, equivalence with video training) is in
tests/train/test_features_training.py.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.feature_format import (
    FEATURE_STAT_KEYS,
    FeatureError,
    FeatureMeta,
    FeatureRun,
    pack_run,
    plan_runs,
    unpack_run,
)
from craft_jepa.data.features import (
    FeatureConfigError,
    build_feature_train_loader,
    build_feature_val_loader,
    check_feature_shards,
)
from craft_jepa.vpt.actions import frame_ticks_for_clip
from craft_jepa.vpt.layouts import get_action_layout

T, GRID, D = 4, 2, 8
CLIP = ClipConfig(frames=T, fps=5.0, size=32, action_layout="vpt13", clips_per_segment=3)
A = get_action_layout("vpt13").dim


def make_run(key: str, ticks: list[int], dtype: str = "fp32", state_dim: int = 0,
             null_steps: list[bool] | None = None) -> FeatureRun:
    frames = len(ticks)
    tick_col = torch.tensor(ticks, dtype=torch.float32)
    meta = FeatureMeta(key=key, frame_ticks=ticks, fps=5.0, clip_frames=T, encoder="vit_tiny", embed_dim=D,
                       grid_size=GRID, pool=1, dtype=dtype,
                       action_layout=list(get_action_layout("vpt13").feature_names), state_layout="none",
                       windows="all")
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    return FeatureRun(
        meta=meta,
        tokens=tick_col[:, None, None].expand(frames, GRID * GRID, D).to(dtypes[dtype]),  # (L, N, D) = tick
        actions=tick_col[:-1, None].expand(frames - 1, A).clone(),  # (L-1, A) = tick of the step's frame
        states=torch.arange(frames * state_dim, dtype=torch.float32).reshape(frames, state_dim),
        null_steps=torch.tensor(null_steps if null_steps is not None else [False] * (frames - 1)),
    )


def write_shard(path: str, runs: list[FeatureRun], extra: list[dict] | None = None) -> str:
    import webdataset as wds

    with wds.TarWriter(path) as writer:
        for run in runs:
            writer.write(pack_run(run))
        for sample in extra or []:
            writer.write(sample)
    return path


@pytest.fixture(scope="module")
def feature_shards(tmp_path_factory) -> list[str]:
    """3 shards, 2 segments each, runs of 6-9 frames (3-6 windows of 4 frames each)."""
    root = tmp_path_factory.mktemp("features")
    urls = []
    for s in range(3):
        runs = []
        for k in range(2):
            key = f"seg{s}{k}-abc"
            length = 6 + (s + k) % 4
            runs.append(make_run(key, frame_ticks_for_clip(8 * k + s, length, 5.0)))
            runs.append(make_run(key, frame_ticks_for_clip(100 + 4 * k, length, 5.0)))
        urls.append(write_shard(str(root / f"features-{s:06d}.tar"), runs))
    return urls


def all_windows(urls: list[str]) -> set[tuple[str, int]]:
    """(key, start tick) of every window of every run in the shards."""
    import webdataset as wds

    out = set()
    for sample in wds.tarfile_to_samples()(iter([{"url": u} for u in urls])):
        run = unpack_run(sample, "test")
        ticks = run.meta.frame_ticks
        out |= {(run.meta.key, ticks[i]) for i in range(len(ticks) - T + 1)}
    return out


def assert_windows_consistent(batch: dict) -> None:
    """Tokens and actions of each clip belong to the frames starting at its start tick."""
    for b, start in enumerate(batch["start_tick"].tolist()):
        ticks = torch.tensor(frame_ticks_for_clip(start, T, 5.0), dtype=torch.float32)
        assert torch.equal(batch["tokens"][b].float(), ticks[:, None, None].expand(T, GRID * GRID, D))
        assert torch.equal(batch["actions"][b], ticks[:-1, None].expand(T - 1, A))


# ---------------------------------------------------------------------- format


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("state_dim", [0, 3])
def test_pack_unpack_round_trip(dtype, state_dim):
    run = make_run("seg-a", [0, 4, 8, 12, 16], dtype, state_dim, null_steps=[True, False, True, False])
    sample = pack_run(run)
    assert sample["__key__"] == "seg-a_000000" and "." not in sample["__key__"]
    back = unpack_run(sample, "here")
    assert back.meta == run.meta
    for name in ("tokens", "actions", "states", "null_steps"):
        assert getattr(back, name).dtype == getattr(run, name).dtype
        assert torch.equal(getattr(back, name), getattr(run, name)), name


def test_unpack_names_the_bad_member():
    sample = pack_run(make_run("seg-a", [0, 4, 8, 12]))
    with pytest.raises(FeatureError, match="no .json member") as err:
        unpack_run({"safetensors": sample["safetensors"]}, "shard.tar:seg-a")
    assert err.value.kind == "missing_member"
    with pytest.raises(FeatureError, match="unreadable") as err:
        unpack_run({**sample, "safetensors": sample["safetensors"][:50]}, "shard.tar:seg-a")
    assert err.value.kind == "bad_features"
    other = pack_run(make_run("seg-a", [0, 4, 8]))  # tensors of 3 frames, json says 4
    with pytest.raises(FeatureError, match="tokens has shape"):
        unpack_run({**sample, "safetensors": other["safetensors"]}, "shard.tar:seg-a")
    with pytest.raises(FeatureError, match="not JSON"):
        unpack_run({**sample, "json": b"{oops"}, "shard.tar:seg-a")


# ---------------------------------------------------------------------- planning


@settings(max_examples=60, deadline=None)
@given(usable=st.integers(10, 400), frames=st.integers(2, 9), fps=st.sampled_from([5.0, 10.0, 20.0, 4.0]),
       extra=st.integers(0, 40), phase_share=st.floats(0.0, 1.0))
def test_all_runs_hold_every_window_exactly_once(usable, frames, fps, extra, phase_share):
    cfg = ClipConfig(frames=frames, fps=fps, size=32)
    per_sample = frames + extra
    max_start = usable - cfg.span_ticks
    stride = int(20 / fps)
    phases = 1 + round(phase_share * (stride - 1))  # 1 .. stride frame grids
    runs = plan_runs("k", max(max_start, 0), usable, cfg, "all", frames_per_sample=per_sample, seed=0,
                     phases=phases)
    assert runs == sorted(runs)
    starts = Counter()
    for run in runs:
        assert frames <= len(run) <= per_sample
        assert run == frame_ticks_for_clip(run[0], len(run), fps)  # consecutive frames at the clip fps
        for i in range(len(run) - frames + 1):
            assert run[i:i + frames] == frame_ticks_for_clip(run[i], frames, fps)
            starts[run[i]] += 1
    # every start a video clip could have on the first `phases` tick offsets, once each
    expected = [t for t in range(usable) if t % stride < phases and t <= max_start
                and frame_ticks_for_clip(t, frames, fps)[-1] < usable]
    assert sorted(starts) == expected
    assert set(starts.values()) <= {1}
    with pytest.raises(ValueError, match="phases"):
        plan_runs("k", max(max_start, 0), usable, cfg, "all", frames_per_sample=per_sample, seed=0,
                  phases=stride + 1)


def test_sampled_windows_are_seeded_per_segment():
    cfg = ClipConfig(frames=4, fps=5.0, size=32)
    a = plan_runs("seg-a", 300, 313, cfg, "5", frames_per_sample=64, seed=1)
    assert a == plan_runs("seg-a", 300, 313, cfg, "5", frames_per_sample=64, seed=1)
    assert a != plan_runs("seg-b", 300, 313, cfg, "5", frames_per_sample=64, seed=1)
    assert len(a) == 5 and all(len(r) == 4 and 0 <= r[0] <= 300 for r in a)
    (val,) = plan_runs("seg-a", 300, 313, cfg, "val", frames_per_sample=64, seed=1)
    assert len(val) == 4
    with pytest.raises(ValueError, match="integer tick stride"):
        plan_runs("seg-a", 300, 313, ClipConfig(frames=4, fps=3.0, size=32), "all", frames_per_sample=64, seed=0)
    with pytest.raises(ValueError, match="windows must be"):
        plan_runs("seg-a", 300, 313, cfg, "some", frames_per_sample=64, seed=0)


# ---------------------------------------------------------------------- loaders


def collect(loader) -> list[tuple[str, int]]:
    return [(k, t) for batch in loader for k, t in zip(batch["key"], batch["start_tick"].tolist())]


def test_val_loader_is_finite_deterministic_one_window_per_run(feature_shards):
    loader = build_feature_val_loader(CLIP, feature_shards, batch_size=5, num_workers=0, max_clips=None, seed=3)
    batches = list(loader)
    for batch in batches:
        assert_windows_consistent(batch)
        assert batch["tokens"].shape[1:] == (T, GRID * GRID, D) and batch["states"].shape[1:] == (T, 0)
        assert set(batch["stats"]) == set(FEATURE_STAT_KEYS)
    first = collect(batches)
    assert len(first) == 12  # 3 shards x 4 runs
    assert set(first) <= all_windows(feature_shards)
    assert first == collect(loader)  # same again
    assert collect(build_feature_val_loader(CLIP, feature_shards, batch_size=5, num_workers=0, max_clips=None,
                                            seed=4)) != first  # the seed picks the windows
    assert len(collect(build_feature_val_loader(CLIP, feature_shards, batch_size=5, num_workers=0,
                                                max_clips=7, seed=3))) == 7


def test_val_loader_splits_by_rank_and_worker(feature_shards, monkeypatch):
    whole = collect(build_feature_val_loader(CLIP, feature_shards, batch_size=2, num_workers=0, max_clips=None, seed=0))
    with_workers = collect(build_feature_val_loader(CLIP, feature_shards, batch_size=2, num_workers=2,
                                                    max_clips=None, seed=0))
    assert sorted(with_workers) == sorted(whole)
    parts = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        parts.append(collect(build_feature_val_loader(CLIP, feature_shards, batch_size=2, num_workers=0,
                                                      max_clips=None, seed=0)))
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == sorted(whole)


def test_train_loader_is_infinite_and_cuts_windows_of_every_shard(feature_shards):
    loader = build_feature_train_loader(CLIP, feature_shards, batch_size=4, num_workers=0, seed=0,
                                        shuffle_buffer_clips=8)
    seen, batches = set(), iter(loader)
    for _ in range(30):  # 120 clips from 12 runs with at most 3 windows each: resampled
        batch = next(batches)
        assert batch["tokens"].shape == (4, T, GRID * GRID, D)
        assert_windows_consistent(batch)
        seen |= set(zip(batch["key"], batch["start_tick"].tolist()))
    assert seen <= all_windows(feature_shards)
    assert {k[:4] for k, _ in seen} == {"seg0", "seg1", "seg2"}
    again = next(iter(build_feature_train_loader(CLIP, feature_shards, batch_size=4, num_workers=0, seed=0,
                                                 shuffle_buffer_clips=8)))
    first = next(iter(loader))
    assert again["key"] == first["key"] and torch.equal(again["start_tick"], first["start_tick"])


def test_bad_samples_are_skipped_and_counted(feature_shards, tmp_path):
    good = [make_run("good-a", frame_ticks_for_clip(0, 6, 5.0)), make_run("good-b", frame_ticks_for_clip(0, 5, 5.0))]
    bad_sample = pack_run(make_run("corrupt", frame_ticks_for_clip(0, 6, 5.0)))
    mismatched = pack_run(make_run("shapes", frame_ticks_for_clip(0, 6, 5.0)))
    mismatched["safetensors"] = pack_run(make_run("shapes", frame_ticks_for_clip(0, 5, 5.0)))["safetensors"]
    extra = [
        {"__key__": "no-json", "safetensors": bad_sample["safetensors"]},
        {"__key__": "no-tensors", "json": bad_sample["json"]},
        {**bad_sample, "__key__": "corrupt", "safetensors": b"\x00" * 64},
        mismatched,
    ]
    mixed = write_shard(str(tmp_path / "mixed.tar"), [good[0], make_run("short", [0, 4, 8])], extra + [pack_run(good[1])])
    whole = write_shard(str(tmp_path / "whole.tar"), [make_run("cut", frame_ticks_for_clip(0, 40, 5.0))])
    truncated = str(tmp_path / "truncated.tar")
    with open(whole, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read()[:3000])
    urls = [mixed, truncated, "pipe:cat /nonexistent/features.tar"]
    with pytest.warns(UserWarning):
        batches = list(build_feature_val_loader(CLIP, urls, batch_size=8, num_workers=0, max_clips=None, seed=0))
    assert [k for b in batches for k in b["key"]] == ["good-a", "good-b"]
    stats = {k: sum(int(b["stats"][k].sum()) for b in batches) for k in FEATURE_STAT_KEYS}
    # Counts after the last clip have no clip to ride on (the loader warns about them instead).
    assert stats["missing_member"] == 2 and stats["bad_features"] == 2 and stats["too_short"] == 1


def test_null_windows_are_dropped_and_counted(tmp_path):
    # Steps 0-2 null: only the window starting at frame 0 is all-null.
    run = make_run("idle", frame_ticks_for_clip(0, 4, 5.0), null_steps=[True, True, True])
    busy = make_run("busy", frame_ticks_for_clip(0, 4, 5.0))
    url = write_shard(str(tmp_path / "null.tar"), [run, busy])
    cfg = ClipConfig(frames=T, fps=5.0, size=32, action_layout="vpt13", drop_null_windows=True)
    (batch,) = list(build_feature_val_loader(cfg, [url], batch_size=4, num_workers=0, max_clips=None, seed=0))
    assert batch["key"] == ["busy"] and int(batch["stats"]["null_windows"].sum()) == 1


def test_shards_for_another_setup_are_a_clear_error(feature_shards):
    other = ClipConfig(frames=T, fps=5.0, size=32, action_layout="vpt38")
    with pytest.raises(FeatureConfigError, match=r"features-000000\.tar:seg00-abc.*action layout"):
        list(build_feature_val_loader(other, feature_shards, batch_size=2, num_workers=0, max_clips=None, seed=0))
    with pytest.raises(FeatureConfigError, match="fps 5.0"):
        check_feature_shards(feature_shards, ClipConfig(frames=T, fps=10.0, size=32, action_layout="vpt13"),
                             embed_dim=D, grid_size=GRID)
    with pytest.raises(FeatureConfigError, match="token width 8.*grid 2x2"):
        check_feature_shards(feature_shards, CLIP, embed_dim=16, grid_size=4)
    assert check_feature_shards(feature_shards, CLIP, embed_dim=D, grid_size=GRID).embed_dim == D
