"""Evaluating a DROID world model: a file laid out like vjepa2-ac-vitg.pt (the meta-golden
fixture's, Meta's own code with random weights) on synthetic DROID-format trajectories."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("h5py")
pytest.importorskip("scipy")

from testkit.meta_golden import write_meta_checkpoint  # noqa: E402

from craft_jepa.cli.main import main  # noqa: E402
from craft_jepa.data.droid_config import DroidConfig, read_path_list  # noqa: E402
from craft_jepa.data.droid_synth import write_droid_dataset  # noqa: E402
from craft_jepa.encoders import EncoderConfig  # noqa: E402
from craft_jepa.eval.droid import encode_droid_clips, evaluate_droid, released_model  # noqa: E402
from craft_jepa.eval.heldout import EvalConfig  # noqa: E402
from craft_jepa.vpt.layouts import DROID_ACTION_FEATURES  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("droid_eval")
    path_list = write_droid_dataset(root / "data", [36, 40, 44], seed=3)
    write_meta_checkpoint(root / "ac.pt", "predictor", "predictor")
    return root, path_list


def test_an_action_dimension_the_model_cannot_see_has_zero_sensitivity(setup) -> None:
    root, path_list = setup
    model = released_model(str(root / "ac.pt"), EncoderConfig(name="vit_mini", img_size=64), heads=2, frames=4)
    assert "re-initialized nothing" in model.load_report
    with torch.no_grad():
        model.predictor.action_encoder.weight[:, 2] = 0  # ee_dz no longer reaches the predictor
    config = EvalConfig(clips=3, batch_size=2, progress=False)
    clips = encode_droid_clips(model, DroidConfig(), read_path_list(path_list), config)
    z = clips.z
    assert z.shape[:2] == (3, 4) and clips.actions.shape == (3, 3, 7) and len(set(clips.keys)) == 3
    result = evaluate_droid(model, clips, config)
    sensitivity = {name: result["sensitivity"][name]["delta_l1"] for name in DROID_ACTION_FEATURES}
    assert sensitivity["ee_dz"] == 0.0
    assert all(value > 1e-4 for name, value in sensitivity.items() if name != "ee_dz"), sensitivity
    tf = result["horizons"]["tf"]
    # Copy-last is model-free: per step t, the mean L1 between latents t and t+1 of the clips.
    torch.testing.assert_close(torch.tensor(tf["copy_last"]["l1"], dtype=torch.float64),
                               (z[:, 1:] - z[:, :-1]).abs().double().mean(dim=(0, 2, 3)), rtol=0, atol=1e-6)

def test_eval_cli_takes_a_released_predictor_file(setup, tmp_path, capsys) -> None:
    """`craft-jepa eval` on a file laid out like vjepa2-ac-vitg.pt: the DROID report, the load report."""
    root, path_list = setup
    flags = ["--heads", "2", "--encoder", "vit_mini", "--img-size", "64", "--frames", "3", "--no-progress"]
    assert main(["eval", str(root / "ac.pt"), *flags, "--data", str(path_list), "--clips", "2",
                 "--plan-pairs", "0", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["clips"] == 2 and report["frames_per_clip"] == 3 and report["action_layout"] == "droid7"
    assert list(report["sensitivity"]) == list(DROID_ACTION_FEATURES)
    assert "dropped ['extrinsics_encoder.bias', 'extrinsics_encoder.weight']" in report["load_report"]
    assert report["held_out"].startswith("unknown")
    assert "sensitivity per action dimension" in capsys.readouterr().out
    assert main(["eval", str(root / "ac.pt"), *flags, "--data", str(root / "missing.csv"),
                 "--out", str(tmp_path)]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert main(["eval", str(root / "ac.pt"), *flags, "--data", str(path_list), "--clips", "2",
                 "--plan-features", "actions", "--out", str(tmp_path)]) == 2
    assert "choose VPT actions" in capsys.readouterr().err
