"""An export carries a model card (README.md): what the model is, what it was trained on, and its
evaluation against the baselines; `--push-to-hub` prepares that folder and, offline, stops
before uploading anything with a clear message.

The run is the real loop for 2 steps on the shared synthetic shards, and the report a real
`craft-jepa eval` of it (tiny settings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.runs import make_tiny_export
from testkit.hubcache import hf_snapshot_files, write_hub_cache
from testkit.train_configs import tiny_config

from craft_jepa.cli.main import main
from craft_jepa.runs.model_card import render_card

REPO = Path(__file__).resolve().parents[2]


ENCODER_REPO = "testorg/vjepa2-tiny"


def put_encoder(cache: Path, tmp: Path) -> None:
    """The run's encoder, as a Hub snapshot in transformers' layout."""
    from craft_jepa.encoders import EncoderConfig, FrozenEncoder

    encoder = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=5))
    write_hub_cache(cache, ENCODER_REPO, hf_snapshot_files(encoder, tmp))


@pytest.fixture(scope="module")
def evaluated_run(synth_dataset, tmp_path_factory):
    """A run whose encoder.checkpoint is a Hub repo id, trained and evaluated offline."""
    from huggingface_hub import constants

    from craft_jepa.train.loop import train

    root = tmp_path_factory.mktemp("card")
    run = root / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_CACHE", str(root / "hub"))
        patch.setattr(constants, "HF_HUB_OFFLINE", True)
        put_encoder(root / "hub", root / "snap")
        cfg = tiny_config(run, synth_dataset.shard_urls, **{
            "encoder.checkpoint": f"hf://{ENCODER_REPO}", "schedule.total_steps": 2, "schedule.warmup_steps": 1,
            "schedule.decay_steps": 1, "validation.every": 0, "checkpoint.latest_every": 2, "checkpoint.every": 2})
        train(cfg, single_process=True)
        code = main(["eval", str(run), "--data", synth_dataset.shard_urls[1], "--allow-train-data", "--which",
                     "latest", "--clips", "6", "--windows", "2", "--batch-size", "6", "--plan-pairs", "3",
                     "--samples", "8", "--iterations", "1", "--cem-seeds", "1", "--no-progress"])
    assert code == 0
    recorded = yaml.safe_load((run / "config.yaml").read_text())["encoder"]["checkpoint"]
    assert recorded == f"hf://{ENCODER_REPO}"  # the run config keeps the repo id, not this machine's cache path
    return run, json.loads((run / "eval" / "report.json").read_text())


def _recorded_hours(synth_dataset) -> float:
    lines = sum(sum(1 for line in Path(synth_dataset.jsonl(s)).read_bytes().splitlines() if line.strip())
                for s in synth_dataset.stems)
    return lines / 20 / 3600


def test_export_writes_a_model_card_with_baselines(evaluated_run, synth_dataset, tmp_path):
    from craft_jepa.runs.export import export_run

    run, report = evaluated_run
    out = export_run(run, tmp_path / "export", "latest")
    card = (out / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "library_name: craft-jepa" in front and "- world-model" in front
    assert f"base_model: {ENCODER_REPO}\n" in front  # the encoder's repo id, from encoder.checkpoint
    assert f"on top of the frozen V-JEPA 2 video encoder `{ENCODER_REPO}`" in card
    assert (out / "eval" / "report.json").is_file() and (out / "eval" / "report.md").is_file()
    meta = json.loads((out / "craft_jepa.json").read_text())
    training = meta["training"]
    assert training["steps"] == 2 and training["train_shards"] == 2 and training["source"] == "video"
    assert training["hours"] == pytest.approx(_recorded_hours(synth_dataset))
    assert f"| recording hours (training shards) | {training['hours']:.4g} |" in card
    head = report["headline"]
    assert f"| **this model** | **{head['model_l1_h1']:.4g}** | |" in card
    ratio = head["copy_last_over_model_h1"]
    assert (f"| copy last frame | {head['copy_last_l1_h1']:.4g} | {ratio['value']:.3g} "
            f"[{ratio['lo']:.3g}, {ratio['hi']:.3g}]") in card
    for baseline in ("model, actions zeroed", "model, actions shuffled across clips", "recorded yaw reversed",
                     "yaw sign agreement", "majority sign", "no motion"):
        assert baseline in card, baseline
    assert "held out from training: not checked (allow_train_data)" in card
    assert "Not evaluated" not in card and 'WorldModel.from_pretrained("path/to/this/folder"' in card

    # Pictures of predicted futures appear once the folder holds them (the decoder's export puts
    # them there, beside decoder.safetensors).
    (out / "rollout.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (out / "decoder.safetensors").write_bytes(b"")
    card = render_card(out)
    assert "![Predicted futures (decoded latent rollout)](rollout.png)" in card and "counterfactual.png" not in card
    assert "a pixel decoder of its latents" in card and "model.imagine(" in card


def test_card_of_an_unevaluated_export_says_so(tmp_path):
    from craft_jepa.runs.export import export_run

    out = export_run(make_tiny_export(tmp_path / "src"), tmp_path / "export")
    card = (out / "README.md").read_text()
    assert "Not evaluated" in card and "craft-jepa eval" in card
    assert "| recording hours (training shards) | unknown |" in card
    meta = json.loads((out / "craft_jepa.json").read_text())
    meta["encoder"]["checkpoint"] = "hf://facebook/vjepa2-vitl-fpc64-256@main"
    (out / "craft_jepa.json").write_text(json.dumps(meta))
    assert "base_model: facebook/vjepa2-vitl-fpc64-256\n" in render_card(out)


def test_push_offline_stops_before_uploading_and_leaves_the_folder_ready(evaluated_run, offline_hub, tmp_path,
                                                                           capsys):
    from craft_jepa.runs.push import prepare_upload

    run, _ = evaluated_run
    out = tmp_path / "export"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # HF_HOME and HF_HUB_OFFLINE=1 from offline_hub
    done = subprocess.run([sys.executable, "-m", "craft_jepa", "export", str(run), str(out), "--which", "latest",
                           "--push-to-hub", "testorg/pushed-model"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "HF_HUB_OFFLINE is set, so nothing was uploaded" in done.stderr and "testorg/pushed-model" in done.stderr
    card = (out / "README.md").read_text()
    assert "# testorg/pushed-model" in card and 'WorldModel.from_pretrained("testorg/pushed-model"' in card
    assert prepare_upload(out, "testorg/pushed-model") == [
        "README.md", "craft_jepa.json", "eval/energy_landscape.png", "eval/horizons.png", "eval/report.json", "eval/report.md",
        "eval/sensitivity.png", "predictor.safetensors"]
    assert not any(offline_hub.iterdir())  # nothing fetched or written through the Hub

    # `craft-jepa push` of the folder once a picture was added: the card is rewritten first.
    (out / "counterfactual.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["push", str(out), "testorg/pushed-model"]) == 2
    assert "HF_HUB_OFFLINE is set, so nothing was uploaded" in capsys.readouterr().err
    assert "](counterfactual.png)" in (out / "README.md").read_text()
    assert main(["push", str(out), "testorg/pushed-model@v1"]) == 2
    assert "give a repo id ORG/NAME" in capsys.readouterr().err

    # What would be uploaded is a world model by repo id, with its encoder by repo id.
    write_hub_cache(offline_hub, "testorg/pushed-model", out)
    put_encoder(offline_hub, tmp_path / "snap")
    from craft_jepa.api import WorldModel

    model = WorldModel.from_pretrained("testorg/pushed-model", which="latest")
    assert model.run.clip.frames == 3 and model.run.encoder.weights_source.startswith(
        f"encoder weights: hf://{ENCODER_REPO} (")
