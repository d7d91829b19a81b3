"""`craft-jepa plan` on a DROID model end to end on CPU: a predictor file laid out like vjepa2-ac-vitg.pt
(the meta-golden fixture's, Meta's own code with random weights) plans on a synthetic DROID trajectory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")
pytest.importorskip("scipy")

from testkit.meta_golden import write_meta_checkpoint  # noqa: E402

from craft_jepa.cli.main import main  # noqa: E402
from craft_jepa.data.droid import poses_to_actions  # noqa: E402
from craft_jepa.data.droid_synth import DroidSynthConfig, write_droid_trajectory  # noqa: E402

ARGS = ["--heads", "2", "--encoder", "vit_mini", "--img-size", "64", "--samples", "16",
        "--top-k", "4", "--iterations", "2", "--landscape-points", "5"]


def test_plan_on_a_released_file_writes_the_plan_and_the_energy_landscape(tmp_path, capsys) -> None:
    trajectory = write_droid_trajectory(tmp_path / "traj", DroidSynthConfig(frames=30, seed=4))
    write_meta_checkpoint(tmp_path / "ac.pt", "predictor", "predictor")
    out = tmp_path / "plan"
    argv = ["plan", str(tmp_path / "ac.pt"), "--clip", f"{trajectory}:5:2", "--out", str(out), *ARGS]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "dropped ['extrinsics_encoder.bias', 'extrinsics_encoder.weight']" in printed.err
    assert "planned 2 step(s) from video frame 5 to 13" in printed.out
    result = json.loads((out / "plan.json").read_text())
    assert result["frames"] == [5, 9, 13]  # ceil(15 fps / 4 fps) = 4 frames apart, horizon 2
    planned = np.array(result["planned_actions"])
    assert planned.shape == (2, 7) and (planned[:, 3:6] == 0).all() and (np.abs(planned[:, :3]) <= 0.05).all()
    with h5py.File(trajectory / "trajectory.h5") as h5:
        poses = np.column_stack([h5["observation/robot_state/cartesian_position"][[5, 9, 13]],
                                 h5["observation/robot_state/gripper_position"][[5, 9, 13]]])
    np.testing.assert_allclose(result["recorded_actions"], poses_to_actions(poses), atol=1e-12)
    assert all(np.isfinite(result[k]) for k in ("planned_energy", "recorded_energy", "zero_action_energy"))
    assert (out / "energy_landscape.png").read_bytes()[:4] == b"\x89PNG"
    landscape = result["landscape"]  # energy rows dy, columns dx; its minimum is where the report says
    energy = np.array(landscape["energy"])
    row, col = np.unravel_index(energy.argmin(), energy.shape)
    assert energy.shape == (5, 5) and [landscape["dx"][col], landscape["dy"][row]] == result["landscape_min_at"]


def test_droid_plan_names_what_is_wrong(tmp_path, capsys) -> None:
    stored = write_meta_checkpoint(tmp_path / "ac.pt", "predictor", "predictor")
    torch.save({"predictor": {k: v for k, v in stored.items() if "predictor_norm" not in k}}, tmp_path / "bad.pt")
    trajectory = write_droid_trajectory(tmp_path / "traj", DroidSynthConfig(frames=20, seed=5))
    assert main(["plan", str(tmp_path / "bad.pt"), "--clip", f"{trajectory}:5:2", "--out", str(tmp_path / "o"),
                 *ARGS]) == 2
    assert "missing key(s): predictor_norm.bias, predictor_norm.weight" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "ac.pt"), "--clip", f"{tmp_path / 'nowhere'}:5:2", "--out",
                 str(tmp_path / "o"), *ARGS]) == 2
    assert "nowhere: not a directory" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "ac.pt"), "--clip", f"{trajectory}:5", *ARGS]) == 2
    assert "TRAJECTORY_DIR:T:K" in capsys.readouterr().err
    # A DROID model's start pose comes from trajectory.h5: a start and a goal image are refused.
    assert main(["plan", str(tmp_path / "ac.pt"), "--start", "a.png", "--goal", "b.png", *ARGS]) == 2
    assert "--clip TRAJECTORY_DIR:T:K" in capsys.readouterr().err
