"""`craft-jepa eval` and `craft-jepa plan` through the real CLI entry point (tiny untrained export)."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest

from craft_jepa.cli.main import main
from testkit.runs import make_tiny_export

FAST_CEM = ["--samples", "8", "--iterations", "1"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return str(make_tiny_export(tmp_path_factory.mktemp("export")))


def test_eval_writes_the_report(export_dir, synth_dataset, tmp_path, capsys):
    out = tmp_path / "report"
    rc = main(["eval", export_dir, "--data", synth_dataset.shard_dir, "--clips", "4", "--windows", "2",
               "--plan-pairs", "2", *FAST_CEM, "--camera-prior", "0.25", "--no-progress", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "copy-last" in printed and "report.md" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["clips"] == 4 and report["planning"]["camera_prior"] == 0.25
    assert (out / "horizons.png").is_file() and (out / "energy_landscape.png").is_file()


def test_eval_names_a_bad_data_pattern(export_dir, tmp_path, capsys):
    rc = main(["eval", export_dir, "--data", str(tmp_path / "nothing-*.tar"), "--no-progress"])
    assert rc == 2
    assert "nothing-*.tar" in capsys.readouterr().err


def test_plan_from_png_frames(export_dir, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("start", "goal"):
        matplotlib.image.imsave(tmp_path / f"{name}.png", rng.random((36, 64, 3)))
    rc = main(["plan", export_dir, "--start", str(tmp_path / "start.png"),
               "--goal", str(tmp_path / "goal.png"), "--horizon", "3", *FAST_CEM])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "step 0:" in printed and "step 2:" in printed and "yaw_diff_degrees=" in printed


def test_plan_from_a_recorded_clip_shows_the_recording(export_dir, synth_dataset, capsys):
    shard = synth_dataset.shard_urls[0]
    key = synth_dataset.stems[0]
    rc = main(["plan", export_dir, "--clip", f"{shard}:{key}:1:2", *FAST_CEM, "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["steps"]) == 2 and len(out["recorded_steps"]) == 2


def test_a_strong_camera_prior_plans_the_training_mean_motion(export_dir, synth_dataset, capsys):
    # The prior's weight is in units of the no-motion energy: at 1e6 the energy no longer matters and
    # CEM's elites are the samples nearest the scaler's mean camera motion.
    from craft_jepa.runs.loading import load_run

    scaler = load_run(export_dir).scaler
    yaw = list(scaler.continuous_features).index("yaw_diff")
    clip = f"{synth_dataset.shard_urls[0]}:{synth_dataset.stems[0]}:1:2"
    planned = {}
    for prior in ("0", "1e6"):
        assert main(["plan", export_dir, "--clip", clip, "--samples", "64", "--iterations", "4", "--json",
                     "--camera-prior", prior]) == 0
        out = json.loads(capsys.readouterr().out)
        planned[prior] = np.asarray(out["actions"])[:, out["feature_names"].index("yaw_diff")]
    off_mean = {k: np.abs(v - scaler.mean[yaw]).max() / scaler.scale[yaw] for k, v in planned.items()}
    print("planned yaw off the training mean, in stds:", off_mean)
    assert off_mean["1e6"] < 0.1 < off_mean["0"], (planned, off_mean)


def test_plan_needs_start_and_goal(export_dir, capsys):
    assert main(["plan", export_dir, "--start", "a.png"]) == 2
    assert "--goal" in capsys.readouterr().err
    assert main(["plan", export_dir, "--clip", "shard.tar:key:3:9"]) == 2
