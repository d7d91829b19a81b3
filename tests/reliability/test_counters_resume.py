"""Skipped-input counters survive a resume and reach metrics.csv per kind.

A run stopped at step 2 and resumed must end with the same per-kind counts as one that ran
straight through (the checkpoint carries the totals; a resumed worker does not count again what
it re-reads to rebuild its buffer)."""

from __future__ import annotations

import csv
import warnings

import pytest

from testkit.train_configs import tiny_config

from craft_jepa.data.loader import DataWarning


def _run(run_dir, url, scaler, stop=None):
    from craft_jepa.train.loop import train

    cfg = tiny_config(run_dir, [url], **{
        "data.scaler": scaler, "data.val_shards": None, "data.num_workers": 0, "data.shuffle_buffer_clips": 2,
        "clip.clips_per_segment": 1, "schedule.total_steps": 4, "validation.every": 0,
        "checkpoint.latest_every": 2, "data.batch_size": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return train(cfg, stop_at_step=stop, single_process=True)


def _last_row(run_dir) -> dict[str, str]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["split"] == "train"][-1]


@pytest.mark.parametrize("stop", [2, 3])  # at a data-chunk boundary, and inside a chunk
def test_counts_are_carried_across_resume_and_written_per_kind(bad_shard, identity_scaler, tmp_path, stop):
    straight = _run(tmp_path / "straight", bad_shard.url, identity_scaler)
    assert sum(straight.bad_inputs.values()) > 0
    _run(tmp_path / "resumed", bad_shard.url, identity_scaler, stop=stop)
    resumed = _run(tmp_path / "resumed", bad_shard.url, identity_scaler)
    assert resumed.resumed_from == stop
    assert resumed.bad_inputs == straight.bad_inputs
    row = _last_row(tmp_path / "resumed")
    assert int(float(row["bad_inputs"])) == sum(straight.bad_inputs.values())
    for kind, n in straight.bad_inputs.items():
        assert int(float(row[f"skipped_{kind}"])) == n, kind
