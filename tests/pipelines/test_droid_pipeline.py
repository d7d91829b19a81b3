"""`craft-jepa eval` and `craft-jepa plan` on a DROID world model, end to end on CPU: a tiny
DROID-format run trained here, and a file laid out like Meta's `vjepa2-ac-vitg.pt` made from the
same weights, evaluated on held-out synthetic trajectories and planned on one."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("h5py")
pytest.importorskip("scipy")

from craft_jepa.cli.main import main  # noqa: E402
from craft_jepa.configuration import load_config  # noqa: E402
from craft_jepa.data.droid_config import read_path_list  # noqa: E402
from craft_jepa.data.droid_synth import write_droid_dataset  # noqa: E402
from craft_jepa.pipelines.droid import is_droid_model  # noqa: E402
from craft_jepa.runs.loading import load_exported  # noqa: E402
from craft_jepa.train.config import RunConfig  # noqa: E402
from craft_jepa.train.loop import train  # noqa: E402
from craft_jepa.vpt.layouts import DROID_ACTION_FEATURES  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# The tiny preset's model as a bare file says it: vit_tiny (random, init_seed 0), 4 heads, 4 frames at 64 px.
RELEASED_FLAGS = ["--encoder", "vit_tiny", "--img-size", "64", "--heads", "4", "--frames", "4"]
EVAL_FLAGS = ["--clips", "3", "--plan-pairs", "3", "--horizon", "2", "--samples", "12", "--iterations", "2",
              "--cem-seeds", "2", "--landscape-points", "5", "--no-progress"]


@pytest.fixture(scope="module")
def droid_run(tmp_path_factory):
    """(run dir, training path list, held-out path list, the run's predictor as a released-layout .pt)."""
    root = tmp_path_factory.mktemp("droid_pipeline")
    train_list = write_droid_dataset(root / "train", [36, 40], seed=2)
    held_list = write_droid_dataset(root / "held", [36, 40, 44], seed=9)
    tree = yaml.safe_load((REPO / "configs" / "droid-tiny-cpu.yaml").read_text())
    tree["run_dir"] = str(root / "run")
    tree["data"].update(train_shards=str(train_list), val_fraction=0.0, batch_size=2)
    tree["schedule"].update(total_steps=2, warmup_steps=1, decay_steps=1)
    tree["validation"]["every"] = 0
    tree["checkpoint"].update(latest_every=2, every=2)
    assert train(load_config(RunConfig, tree), single_process=True).step == 2
    # Our predictor's parameter names are Meta's: the released layout is {"predictor": {"module." + name}}.
    state = load_exported(root / "run", "latest").predictor_state
    torch.save({"predictor": {f"module.{k}": v for k, v in state.items()}}, root / "released.pt")
    return root / "run", train_list, held_list, root / "released.pt"


@pytest.fixture(scope="module")
def run_report(droid_run, tmp_path_factory) -> tuple[dict, Path, str]:
    """`craft-jepa eval RUN` on the held-out trajectories: (report.json, its folder, what it printed)."""
    run_dir, _, held_list, _ = droid_run
    out = tmp_path_factory.mktemp("run_eval")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        report = _eval(run_dir, held_list, out)
    return report, out, printed.getvalue()


def _eval(model: Path, data: Path, out: Path, *extra: str) -> dict:
    assert main(["eval", str(model), "--data", str(data), "--out", str(out), "--which", "latest",
                 *EVAL_FLAGS, *extra]) == 0
    return json.loads((out / "report.json").read_text())


def _finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def test_eval_on_a_droid_run_scores_baselines_sensitivity_and_planning(droid_run, run_report, tmp_path,
                                                                      capsys) -> None:
    run_dir, train_list, _, _ = droid_run
    report, folder, out = run_report
    assert is_droid_model(run_dir)
    assert "sensitivity per action dimension" in out and "end-effector displacement error" in out
    assert report["action_layout"] == "droid7" and report["clips"] == 3 and report["horizon"] == 3
    assert report["held_out"].startswith("checked")
    for mode in ("tf", "rollout"):
        assert set(report["horizons"][mode]) == {"model", "copy_last", "dataset_mean", "zero_actions",
                                                 "shuffled_actions"}
        assert all(_finite(v) for row in report["horizons"][mode].values() for v in row["l1"])
    assert all(_finite(v) for k, v in report["headline"].items() if k.endswith("_h1") and not isinstance(v, dict))
    assert list(report["sensitivity"]) == list(DROID_ACTION_FEATURES)
    assert all(_finite(row["delta_l1"]) and row["delta_l1"] > 0 for row in report["sensitivity"].values())

    plan = report["planning"]
    summary = plan["summary"]
    assert summary["pairs"] == 3 and summary["cem_seeds"]["seeds"] == [0, 1]
    for key in ("displacement_error_m", "zero_displacement_error_m", "mean_displacement_error_m",
                "step_xyz_error_m", "direction_cosine", "gripper_error", "planned_energy"):
        assert _finite(summary[key]), key
    ratio = summary["zero_over_plan_error"]
    assert ratio["lo"] <= ratio["value"] <= ratio["hi"]
    # Not moving misses by exactly the recorded displacement.
    assert summary["zero_displacement_error_m"] == pytest.approx(summary["recorded_displacement_m"], abs=1e-12)
    # The recorded actions fed back from frame 0 (poses rolled forward from the start pose) score the
    # model's own rollout error at horizon k: the planner's energy and the eval's metric agree.
    assert plan["start_frame"] == 0 and plan["horizon"] == 2
    assert summary["recorded_energy"] == pytest.approx(report["horizons"]["rollout"]["model"]["l1"][1], abs=2e-5)
    # The plan was chosen with this energy, so it is at least as low as the recorded actions' unless
    # CEM missed; its steps respect the notebook's bounds.
    planned = np.array(plan["example"]["planned"])
    assert planned.shape == (2, 7) and (planned[:, 3:6] == 0).all() and (np.abs(planned[:, :3]) <= 0.05).all()
    landscape = plan["landscape"]  # 5 x 5 over (dx, dy) in [-0.05, 0.05]: its centre is not moving
    assert len(landscape["energy"]) == 5 and landscape["dx"][2] == landscape["dy"][2] == 0.0
    assert landscape["energy"][2][2] == pytest.approx(plan["per_pair"]["zero_action_energy"][0], abs=1e-7)
    for name in ("report.md", "horizons.png", "sensitivity.png", "energy_landscape.png"):
        assert (folder / name).stat().st_size > 0, name
    assert "end-effector displacement error (m)" in (folder / "report.md").read_text()

    # Training trajectories are refused before anything is encoded.
    assert main(["eval", str(run_dir), "--data", str(train_list), "--out", str(tmp_path / "no"), "--which",
                 "latest", *EVAL_FLAGS]) == 2
    assert "training trajectories" in capsys.readouterr().err


def test_a_released_layout_file_of_the_run_evaluates_as_the_run(droid_run, run_report, tmp_path) -> None:
    """The same weights through models/released.py (strict load, shapes -> config) and through the
    run give the same report: the released path is the run's model, number for number."""
    _, _, held_list, released = droid_run
    assert is_droid_model(released)
    ours = run_report[0]
    theirs = _eval(released, held_list, tmp_path / "released", *RELEASED_FLAGS)
    assert "re-initialized nothing; dropped nothing" in theirs["load_report"]
    assert theirs["held_out"].startswith("unknown")
    for mode in ("tf", "rollout"):
        for method, row in ours["horizons"][mode].items():
            np.testing.assert_allclose(theirs["horizons"][mode][method]["l1"], row["l1"], rtol=0, atol=1e-6)
    for name, row in ours["sensitivity"].items():
        assert theirs["sensitivity"][name]["delta_l1"] == pytest.approx(row["delta_l1"], rel=1e-4, abs=1e-9)
    for key in ("recorded_energy", "zero_action_energy", "zero_displacement_error_m"):
        assert theirs["planning"]["summary"][key] == pytest.approx(ours["planning"]["summary"][key], abs=1e-6)


def test_plan_on_a_trajectory_with_the_run_and_with_its_released_file(droid_run, tmp_path, capsys) -> None:
    run_dir, _, held_list, released = droid_run
    trajectory = read_path_list(held_list)[0]
    flags = ["--clip", f"{trajectory}:3:2", "--samples", "12", "--top-k", "4", "--iterations", "2",
             "--landscape-points", "5", "--which", "latest"]
    assert main(["plan", str(run_dir), *flags, "--out", str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "planned 2 step(s) from video frame 3 to 11" in printed and "recorded step 1:" in printed
    assert main(["plan", str(released), *flags, *RELEASED_FLAGS, "--out", str(tmp_path / "released")]) == 0
    ours = json.loads((tmp_path / "run" / "plan.json").read_text())
    theirs = json.loads((tmp_path / "released" / "plan.json").read_text())
    assert ours["frames"] == [3, 7, 11]  # ceil(15 fps / 4 fps) = 4 video frames apart
    np.testing.assert_allclose(theirs["planned_actions"], ours["planned_actions"], rtol=0, atol=1e-6)
    for key in ("planned_energy", "recorded_energy", "zero_action_energy"):
        assert _finite(ours[key]) and theirs[key] == pytest.approx(ours[key], abs=1e-6), key
    assert (tmp_path / "run" / "energy_landscape.png").read_bytes()[:4] == b"\x89PNG"
