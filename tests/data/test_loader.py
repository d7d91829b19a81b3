import itertools
import json
import pickle
import warnings

import numpy as np
import pytest
import torch

from craft_jepa.data.clips import STAT_KEYS, ClipConfig
from craft_jepa.data.loader import ClipStream, DataWarning, StreamConfig, build_train_loader, build_val_loader
from craft_jepa.data.render import read_stamp
from craft_jepa.vpt.layouts import get_action_layout


def _records(dataset):
    out = {}
    for stem in dataset.stems:
        with open(dataset.jsonl(stem)) as f:
            out[stem] = [json.loads(line) for line in f]
    return out


def _pixels(frames: torch.Tensor, cfg: ClipConfig) -> np.ndarray:
    """Normalized (T, 3, H, W) -> [0, 1] (T, H, W, 3)."""
    std = torch.tensor(cfg.std).view(1, 3, 1, 1)
    mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    return (frames * std + mean).permute(0, 2, 3, 1).numpy()


def _check_clip(frames, actions, states, key, start, records, cfg, layout):
    stride = round(20 / cfg.fps)
    ticks = [start + k * stride for k in range(cfg.frames)]
    # Frames: every decoded frame shows the index of the source frame it should be.
    assert [read_stamp(f) for f in _pixels(frames, cfg)] == ticks, key
    # Actions: step t sums the raw mouse dx of every tick between frame t and frame t+1.
    lines = records[key]
    dx_col = layout.feature_names.index("mouse_dx")
    yaw_col = layout.feature_names.index("yaw_diff")
    for t in range(cfg.frames - 1):
        raw_dx = sum(line["mouse"]["dx"] for line in lines[ticks[t]:ticks[t + 1]])
        assert actions[t, dx_col].item() == pytest.approx(raw_dx)
        yaw_diff = (lines[ticks[t + 1]]["yaw"] - lines[ticks[t]]["yaw"] + 180) % 360 - 180
        assert actions[t, yaw_col].item() == pytest.approx(yaw_diff, abs=1e-3)
    # States (yaw_pitch): the camera shown in each frame.
    yaw = np.radians([lines[t]["yaw"] for t in ticks])
    np.testing.assert_allclose(states[:, 0].numpy(), np.sin(yaw), atol=1e-4)
    np.testing.assert_allclose(states[:, 2].numpy(), [lines[t]["pitch"] / 90 for t in ticks], atol=1e-4)


@pytest.mark.parametrize("fps", [5.0, 4.0])
def test_clips_are_frame_accurate(stamped_dataset, fps):
    cfg = ClipConfig(frames=8, fps=fps, size=48, state_layout="yaw_pitch", clips_per_segment=3)
    layout = get_action_layout(cfg.action_layout)
    records = _records(stamped_dataset)
    train = build_train_loader(cfg, list(stamped_dataset.shard_urls), batch_size=4, num_workers=0, seed=1,
                               shuffle_buffer_clips=4)
    val = build_val_loader(cfg, list(stamped_dataset.shard_urls), batch_size=4, num_workers=0, max_clips=None,
                           seed=1)
    batches = list(itertools.islice(train, 4)) + list(val)
    seen = set()
    for batch in batches:
        assert batch["frames"].dtype == torch.float32 and batch["frames"].shape[1:] == (8, 3, 48, 48)
        assert batch["actions"].shape[1:] == (7, layout.dim) and batch["states"].shape[1:] == (8, 3)
        for b, key in enumerate(batch["key"]):
            _check_clip(batch["frames"][b], batch["actions"][b], batch["states"][b], key,
                        int(batch["start_tick"][b]), records, cfg, layout)
            seen.add(key)
    assert seen == set(stamped_dataset.stems)  # both GOP structures were exercised


def test_corrupt_input_is_skipped_counted_and_named(broken_shards):
    cfg = ClipConfig(frames=4, fps=5, size=32)
    with pytest.warns(DataWarning) as caught:
        batches = list(build_val_loader(cfg, list(broken_shards.urls), batch_size=2, num_workers=0,
                                        max_clips=None, seed=0))
    keys = [k for b in batches for k in b["key"]]
    assert sorted(keys) == sorted(broken_shards.good_keys)
    totals = {k: sum(int(b["stats"][k].sum()) for b in batches) for k in STAT_KEYS}
    for kind, n in broken_shards.expected.items():
        assert totals[kind] == n, (kind, totals)
    messages = " | ".join(str(w.message) for w in caught)
    assert "mixed-000000.tar:garbage" in messages and "truncated-000001.tar" in messages


def test_train_stream_keeps_going_through_bad_shards(broken_shards):
    cfg = ClipConfig(frames=4, fps=5, size=32, clips_per_segment=2)
    loader = build_train_loader(cfg, list(broken_shards.urls), batch_size=2, num_workers=0, seed=3,
                                shuffle_buffer_clips=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        batches = list(itertools.islice(loader, 6))
    assert all(set(b["key"]) <= set(broken_shards.good_keys) for b in batches)
    assert sum(int(v.sum()) for b in batches for v in b["stats"].values()) > 0


def test_empty_or_missing_shard_pattern_is_a_clear_error(tmp_path):
    cfg = ClipConfig(frames=4, size=32)
    with pytest.raises(ValueError, match="matches no shards"):
        build_train_loader(cfg, str(tmp_path / "*.tar"), batch_size=1, num_workers=0, seed=0)
    with pytest.raises(ValueError, match="not found"):
        build_val_loader(cfg, [str(tmp_path / "missing.tar")], batch_size=1, num_workers=0, max_clips=4, seed=0)


def _summary(batches):
    return [(k, int(s)) for b in batches for k, s in zip(b["key"], b["start_tick"])]


def test_val_stream_is_deterministic(synth_dataset):
    cfg = ClipConfig(frames=4, fps=5, size=32)
    urls = list(synth_dataset.shard_urls)
    first = list(build_val_loader(cfg, urls, batch_size=3, num_workers=0, max_clips=None, seed=7))
    again = list(build_val_loader(cfg, urls, batch_size=3, num_workers=0, max_clips=None, seed=7))
    assert _summary(first) == _summary(again) and len(_summary(first)) == len(synth_dataset.stems)
    for a, b in zip(first, again):
        torch.testing.assert_close(a["frames"], b["frames"], rtol=0, atol=0)
        torch.testing.assert_close(a["actions"], b["actions"], rtol=0, atol=0)
    other_seed = list(build_val_loader(cfg, urls, batch_size=3, num_workers=0, max_clips=None, seed=8))
    assert _summary(other_seed) != _summary(first)
    capped = list(build_val_loader(cfg, urls, batch_size=3, num_workers=0, max_clips=2, seed=7))
    assert _summary(capped) == _summary(first)[:2]
    # Two worker processes split the shards between them and yield the same clips.
    workers = list(build_val_loader(cfg, urls, batch_size=1, num_workers=2, max_clips=None, seed=7))
    assert sorted(_summary(workers)) == sorted(_summary(first))


def test_dataset_pickles_without_pipeline_state(synth_dataset):
    cfg = ClipConfig(frames=4, fps=5, size=32)
    stream = ClipStream(cfg, list(synth_dataset.shard_urls), StreamConfig(train=True, seed=0))
    clone = pickle.loads(pickle.dumps(stream))  # what a `spawn` DataLoader worker receives
    item = next(iter(clone))
    assert item["frames"].shape == (4, 32, 32, 3) and item["key"] in synth_dataset.stems  # uint8 until collated


def test_drop_null_windows_counts_what_it_drops(synth_dataset):
    cfg = ClipConfig(frames=2, fps=20, size=16, drop_null_windows=True, clips_per_segment=16)
    loader = build_train_loader(cfg, list(synth_dataset.shard_urls), batch_size=8, num_workers=0, seed=0,
                                shuffle_buffer_clips=0)
    batches = list(itertools.islice(loader, 12))
    dropped = sum(int(b["stats"]["null_windows"].sum()) for b in batches)
    assert dropped > 0  # single-tick windows on idle stretches are null
    assert all(b["actions"].abs().sum(dim=(1, 2)).min() > 0 for b in batches)


def test_collator_normalizes_with_the_encoder_mean_and_std():
    from craft_jepa.data.loader import ClipCollator

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 3, 5, 4, 3), dtype=np.uint8)  # (B, T, H, W, 3)
    items = [{"frames": p, "actions": np.zeros((2, 38), np.float32), "states": np.zeros((3, 0), np.float32),
              "key": f"k{i}", "start_tick": i, "stats": dict.fromkeys(STAT_KEYS, i)} for i, p in enumerate(pixels)]
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    batch = ClipCollator(mean, std)(items)
    expected = (pixels.astype(np.float64) / 255 - np.array(mean)) / np.array(std)  # (B, T, H, W, 3)
    np.testing.assert_allclose(batch["frames"].numpy(), expected.transpose(0, 1, 4, 2, 3), rtol=1e-5, atol=1e-5)
    assert batch["frames"].dtype == torch.float32 and batch["states"].shape == (2, 3, 0)
    assert batch["stats"]["bad_mp4"].tolist() == [0, 1] and batch["start_tick"].dtype == torch.int64


@pytest.mark.slow
def test_spawned_workers_yield_the_same_val_clips(synth_dataset):
    """The original loader broke under `spawn`: the dataset and collator must pickle, and the
    pipeline must be built inside the worker."""
    cfg = ClipConfig(frames=4, fps=5, size=32)
    urls = list(synth_dataset.shard_urls)
    in_process = list(build_val_loader(cfg, urls, batch_size=2, num_workers=0, max_clips=None, seed=7))
    spawned = list(build_val_loader(cfg, urls, batch_size=2, num_workers=1, max_clips=None, seed=7,
                                    multiprocessing_context="spawn"))
    assert _summary(spawned) == _summary(in_process)
    torch.testing.assert_close(spawned[0]["frames"], in_process[0]["frames"], rtol=0, atol=0)
