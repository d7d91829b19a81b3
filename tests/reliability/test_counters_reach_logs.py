"""The loader's skip counters reach the training log (metrics.csv, TensorBoard, stderr) and
the eval report (report.json `data_stats`), for a shard full of damaged segments."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

from testkit.runs import make_tiny_export
from testkit.train_configs import tiny_config

from craft_jepa.data.loader import DataWarning


def test_training_log_counts_skipped_input_by_kind(bad_shard, identity_scaler, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from craft_jepa.train.loop import train

    run_dir = tmp_path / "run"
    cfg = tiny_config(run_dir, [bad_shard.url], **{
        "data.scaler": identity_scaler, "data.val_shards": None, "data.num_workers": 0,
        "data.shuffle_buffer_clips": 0, "clip.clips_per_segment": 1, "schedule.total_steps": 4, "validation.every": 0,
        "logging.tensorboard": True, "checkpoint.latest_every": 4})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        train(cfg, single_process=True)

    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "train"]
    counts = [int(float(r["bad_inputs"])) for r in rows]
    assert counts[-1] > 0 and counts == sorted(counts)  # cumulative, and not zero

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    for kind in ("bad_mp4", "missing_jsonl", "bad_jsonl_lines"):  # one pass over the shard has each
        assert f"train/skipped_{kind}" in tags, tags
        assert events.Scalars(f"train/skipped_{kind}")[-1].value > 0
    assert events.Scalars("train/bad_inputs")[-1].value == counts[-1]

    err = capsys.readouterr().err
    assert "skipped or damaged input so far" in err and "bad_mp4=" in err, err[-2000:]


def test_eval_report_counts_skipped_input(bad_shard, tmp_path):
    from craft_jepa.eval.heldout import EvalConfig
    from craft_jepa.pipelines.evaluate import evaluate_run

    export = make_tiny_export(tmp_path / "export")
    config = EvalConfig(clips=64, batch_size=2, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        report, paths = evaluate_run(export, [bad_shard.url], tmp_path / "eval", config, None)
    assert report["clips"] == len(bad_shard.kept_keys)
    written = json.loads(Path(paths["json"]).read_text())
    assert {k: n for k, n in written["data_stats"].items() if n} == bad_shard.expected
