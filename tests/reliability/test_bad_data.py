"""Bad input inside the stream: handled or skipped, counted, and the stream goes on.

Truncated/corrupt mp4, 0- and 1-frame segments, mismatched counts, a truncated tar, half a
pair and an unreadable `pipe:` URL are covered by tests/data/test_loader.py
(`test_corrupt_input_is_skipped_counted_and_named`); this file adds what that one does not
build: damaged jsonl inside a usable segment, null mouse/keyboard and missing hotbar through
the loader, all-null-action segments, and a shard that vanishes after start-up.
"""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from craft_jepa.data.clips import STAT_KEYS, ClipConfig
from craft_jepa.data.loader import DataWarning, build_val_loader
from craft_jepa.vpt.layouts import get_action_layout

CFG = dict(frames=3, fps=5.0, size=32)


def _val(cfg: ClipConfig, urls: list[str]) -> list[dict]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        batches = list(build_val_loader(cfg, urls, batch_size=2, num_workers=0, max_clips=None, seed=0))
    return batches, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def _totals(batches: list[dict]) -> dict[str, int]:
    return {k: sum(int(b["stats"][k].sum()) for b in batches) for k in STAT_KEYS}


def _clips(batches: list[dict]) -> dict[str, tuple[int, torch.Tensor]]:
    return {k: (int(b["start_tick"][i]), b["actions"][i]) for b in batches for i, k in enumerate(b["key"])}


def _input(actions: torch.Tensor) -> torch.Tensor:
    """The action features a null action leaves at zero (all but the selected hotbar slot)."""
    names = get_action_layout("vpt38").feature_names
    return actions[..., [i for i, n in enumerate(names) if not n.startswith("hotbar_")]]


def test_damaged_jsonl_and_quirks_are_handled_and_counted(bad_shard):
    batches, messages = _val(ClipConfig(**CFG), [bad_shard.url])
    clips = _clips(batches)
    assert sorted(clips) == sorted(bad_shard.kept_keys)  # every usable segment still gives its clip
    totals = _totals(batches)
    assert {k: n for k, n in totals.items() if n} == bad_shard.expected
    assert any("bad-000000.tar:trunc" in m for m in messages)  # skips are named
    assert any("bad-000000.tar:lonely" in m for m in messages)
    for _, actions in clips.values():
        assert torch.isfinite(actions).all()

    # null mouse (even lines) counts as no motion: step t sums dx over the odd ticks only
    layout = get_action_layout("vpt38")
    dx = layout.feature_names.index("mouse_dx")
    start, actions = clips["nulls"]
    records = bad_shard.original["nulls"]
    for t in range(CFG["frames"] - 1):
        ticks = range(start + 4 * t, start + 4 * (t + 1))
        expected = sum(records[i]["mouse"]["dx"] for i in ticks if i % 2 == 1)
        assert actions[t, dx].item() == pytest.approx(expected)

    # an all-null-action segment is kept as data when drop_null_windows is off
    assert _input(clips["idle"][1]).abs().sum() == 0


def test_drop_null_windows_drops_the_idle_segment_and_counts_it(bad_shard):
    kept, _ = _val(ClipConfig(**CFG), [bad_shard.url])
    dropped_cfg = ClipConfig(**CFG, drop_null_windows=True)
    batches, _ = _val(dropped_cfg, [bad_shard.url])
    clips = _clips(batches)
    gone = set(_clips(kept)) - set(clips)
    assert "idle" in gone and "good" in clips
    assert _totals(batches)["null_windows"] == len(gone)
    for _, actions in clips.values():  # nothing all-null gets through
        assert _input(actions).abs().sum() > 0


@pytest.mark.parametrize("how", ["deleted after start-up", "pipe:false"])
def test_unreadable_shard_at_stream_time_is_skipped_and_counted(synth_dataset, tmp_path, how):
    if how == "pipe:false":
        bad = "pipe:false"
    else:
        bad = str(tmp_path / "vanishing-000000.tar")
        shutil.copy(synth_dataset.shard_urls[0], bad)
    good = synth_dataset.shard_urls[1]
    cfg = ClipConfig(**CFG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        loader = build_val_loader(cfg, [bad, good], batch_size=1, num_workers=0, max_clips=None, seed=0)
        if how != "pipe:false":
            (tmp_path / "vanishing-000000.tar").unlink()  # listed (checked) at start, gone when read
        batches = list(loader)
    assert len(batches) == 2  # the good shard's two segments
    assert _totals(batches)["bad_shard"] == 1
    assert any(bad in str(w.message) for w in caught)
