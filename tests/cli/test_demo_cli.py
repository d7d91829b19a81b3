"""`craft-jepa demo` end to end on a shrunken world: every stage runs and the summary is written."""

from __future__ import annotations

import json
import re
import tarfile

import pytest
import yaml


@pytest.mark.slow
def test_demo_runs_every_stage_and_prints_baselines(tmp_path, capsys):
    """One demo run, on shards the user brings (`--train-data`, `--heldout-data`): here the demo's
    own synthetic data function at a shrunken size, so both ways in share this run; with the
    encoder pre-trained first (`--pretrain`, a few steps)."""
    from craft_jepa.cli.main import main
    from craft_jepa.pipelines import demo

    small = demo.ToyWorld(train_recordings=2, train_seconds=5.0, heldout_recordings=3, heldout_seconds=4.0)
    train, heldout = demo.make_data(tmp_path / "mine", seed=0, world=small)
    assert main(["demo", "--out", str(tmp_path / "out"), "--steps", "20", "--eval-clips", "6",
                 "--pretrain", "--pretrain-steps", "2",
                 "--train-data", "::".join(train), "--heldout-data", "::".join(heldout)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "eval" / "report.json").read_text())
    assert report["clips"] == 6  # 2 windows from each of the 3 held-out segments
    assert "the user's recordings" in (tmp_path / "out" / "README.md").read_text()
    # every later stage froze the pre-trained encoder: the feature cache, the run, its evaluation
    pretrained = str(tmp_path / "out" / "pretrain" / "checkpoints" / "latest.pt")
    shard = next((tmp_path / "out" / "features" / "train").glob("*.tar"))
    with tarfile.open(shard) as tar:
        meta = json.loads(tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith(".json"))).read())
    assert meta["encoder_config"]["checkpoint"] == pretrained
    run_config = yaml.safe_load((tmp_path / "out" / "run" / "config.yaml").read_text())
    assert run_config["encoder"]["checkpoint"] == pretrained
    assert "pre-trained on the training recordings" in (tmp_path / "out" / "README.md").read_text()
    # the user's footage is finite: the training cache takes windows from every tick offset of
    # the 5 fps grid (runs keyed <segment>_<first tick>), and the probe fits on those clips
    members = [m for shard in (tmp_path / "out" / "features" / "train").glob("*.tar")
               for m in tarfile.open(shard).getnames() if m.endswith(".json")]
    assert {int(m.rsplit("_", 1)[1].split(".")[0]) % 4 for m in members} == {0, 1, 2, 3}
    assert report["probe"]["fit_on"] == {"source": "training data"}
    assert report["probe"]["fit_segments"]["count"] == 2
    assert "copy-last / model" in printed and "majority sign" in printed and "planned (CEM" in printed
    summary = (tmp_path / "out" / "README.md").read_text()
    assert "shuffled / model" in summary and "no motion" in summary
    for path in ("run/config.yaml", "eval/report.json", "eval/report.md", "plan.txt", "features/train",
                 "run/decoder/decoder.safetensors", "eval/pictures/rollout.png", "eval/pictures/counterfactual.png",
                 "eval/pictures/plan.png", "eval/pictures/rollout_0.gif", "eval/pictures/counterfactual.gif"):
        assert (tmp_path / "out" / path).exists(), path
    # the report and the summary show the pictures: real vs imagined futures and the counterfactuals
    for text in (summary, (tmp_path / "out" / "eval" / "report.md").read_text()):
        assert "rollout.png)" in text and "counterfactual.png)" in text and "mean training frame" in text
    # plan.png draws the plan that plan.txt prints (handed over by the plan step, not planned again)
    printed_yaw = [float(m) for m in re.findall(r"^step \d+: .*yaw_diff_degrees=([-+0-9.]+)",
                                                (tmp_path / "out" / "plan.txt").read_text(), re.M)]
    drawn = json.loads((tmp_path / "out" / "eval" / "pictures" / "pictures.json").read_text())["plan"]
    assert len(printed_yaw) == 2 and drawn["planned_yaw_deg"] == pytest.approx(printed_yaw, abs=0.011), (printed_yaw, drawn)


def test_demo_refuses_training_data_that_shares_segments_before_any_work(synth_dataset, tmp_path):
    from craft_jepa.cli.main import main

    shard = synth_dataset.shard_urls[0]
    with pytest.raises(SystemExit, match=re.escape(shard) + ".*held-out data"):
        main(["demo", "--out", str(tmp_path / "out"), "--train-data", shard, "--heldout-data", shard])
    assert not (tmp_path / "out").exists()  # refused before any work
    with pytest.raises(SystemExit, match="--pretrain-steps needs --pretrain"):
        main(["demo", "--out", str(tmp_path / "out"), "--pretrain-steps", "5"])
    with pytest.raises(SystemExit, match="together"):
        main(["demo", "--out", str(tmp_path / "out"), "--train-data", shard])
