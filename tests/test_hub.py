"""Encoders and world models by Hugging Face repo id, resolved offline from a cache laid out here.

Resolution goes through huggingface_hub's own snapshot_download / hf_hub_download (nothing is
mocked): the cache is written in the library's layout (hubcache.py) and offline mode is on.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from testkit.hubcache import commit_hash, hf_snapshot_files, write_hub_cache

from craft_jepa.encoders import EncoderConfig, FrozenEncoder
from craft_jepa.hub import HubNotFoundError, HubRef, parse_hub_ref, repo_id_of

from testkit.runs import make_tiny_export

FRAMES = torch.randn(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # (B, T, 3, H, W)

def test_reference_rules(tmp_path, monkeypatch):
    assert parse_hub_ref("hf://facebook/vjepa2-vitl-fpc64-256@main") == HubRef("facebook/vjepa2-vitl-fpc64-256", "main")
    assert parse_hub_ref("hf://org/name@v1/weights/vitl.pt") == HubRef("org/name", "v1", "weights/vitl.pt")
    assert parse_hub_ref("hf://org/name") == HubRef("org/name")
    assert parse_hub_ref("org/name@abc123") == HubRef("org/name", "abc123")
    for local in ("/weights/vitl.pt", "./org/name", "weights/vitl.pt", "runs/x/y", "pipe:cat x", "s3://b/k", "vitl.pt"):
        assert parse_hub_ref(local) is None, local
    for bad in ("hf://org", "hf://org/", "hf://-org/name", "hf://org/name@", "hf://org/na me"):
        with pytest.raises(ValueError, match="hf://|revision|repo id"):
            parse_hub_ref(bad)
    with pytest.raises(ValueError, match="EncoderConfig.checkpoint"):
        EncoderConfig(name="vit_tiny", img_size=64, checkpoint="hf://only-org")
    # An existing local path always stays a path; the same name elsewhere is a repo id.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert parse_hub_ref("org/name") is None
    assert parse_hub_ref("org/name", base=tmp_path / "elsewhere") == HubRef("org/name")
    assert parse_hub_ref("hf://org/name") == HubRef("org/name")  # hf:// is never a path
    assert repo_id_of("/c/hub/models--facebook--vjepa2-vitl-fpc64-256/snapshots/" + "a" * 40) == \
        "facebook/vjepa2-vitl-fpc64-256"


def test_encoder_checkpoint_by_repo_id(offline_hub, tmp_path, caplog):
    import huggingface_hub

    reference = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=3))
    want = reference(FRAMES)
    snapshot = write_hub_cache(offline_hub, "testorg/vjepa2-tiny", hf_snapshot_files(reference, tmp_path / "snap"))
    # The layout is the library's: its own resolution finds the snapshot without a network.
    assert huggingface_hub.snapshot_download("testorg/vjepa2-tiny", local_files_only=True) == str(snapshot)
    for spelling in ("hf://testorg/vjepa2-tiny", "testorg/vjepa2-tiny", "hf://testorg/vjepa2-tiny@main"):
        encoder = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, checkpoint=spelling))
        assert torch.equal(encoder(FRAMES), want), spelling
        assert "testorg/vjepa2-tiny" in encoder.weights_source and str(snapshot) in encoder.weights_source

    # One Meta .pt file of a repo, at a tag: hf://org/name@tag/path
    other = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=4))
    torch.save({"target_encoder": other.encoder.state_dict()}, tmp_path / "vit_tiny.pt")
    write_hub_cache(offline_hub, "testorg/meta-weights", {"weights/vit_tiny.pt": tmp_path / "vit_tiny.pt"},
                    refs=("v1",))
    encoder = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64,
                                                      checkpoint="hf://testorg/meta-weights@v1/weights/vit_tiny.pt"))
    assert torch.equal(encoder(FRAMES), other(FRAMES))
    assert "entry 'target_encoder'" in encoder.weights_source


def test_missing_repo_offline_names_the_repo_and_the_command(offline_hub):
    cfg = EncoderConfig(name="vit_tiny", img_size=64, checkpoint="hf://testorg/absent-encoder@v2")
    with pytest.raises(HubNotFoundError) as err:
        FrozenEncoder.from_config(cfg)
    text = str(err.value)
    for part in ("encoder.checkpoint", "testorg/absent-encoder", "revision v2", "HF_HUB_OFFLINE",
                 "`hf download testorg/absent-encoder --revision v2`", str(offline_hub)):
        assert part in text, (part, text)

    from craft_jepa.api import WorldModel

    with pytest.raises(FileNotFoundError, match=r"world model .*testorg/absent-model.*taken as a Hub repo id"
                                                r".*hf download testorg/absent-model"):
        WorldModel.from_pretrained("testorg/absent-model")


def test_world_model_by_repo_id(offline_hub, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from craft_jepa.api import WorldModel

    export = make_tiny_export(tmp_path / "export", seed=1)
    # The repo carries its encoder as a relative .safetensors file: in the cache that name is a
    # link to a blob without a suffix, which must not be followed when the path is resolved.
    encoder = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=32, init_seed=11))
    save_file(encoder.encoder.state_dict(), str(export / "encoder.safetensors"))
    meta = json.loads((export / "craft_jepa.json").read_text())
    meta["encoder"]["checkpoint"] = "encoder.safetensors"
    (export / "craft_jepa.json").write_text(json.dumps(meta))
    commit = commit_hash("tiny-wm")
    write_hub_cache(offline_hub, "testorg/tiny-wm", export, commit=commit)
    local = WorldModel.from_pretrained(export)
    images = torch.rand(2, 40, 48, 3)
    want = local.encode(images)
    for spelling in ("testorg/tiny-wm", "hf://testorg/tiny-wm", f"hf://testorg/tiny-wm@{commit}"):
        model = WorldModel.from_pretrained(spelling)
        assert model.run.source == str(offline_hub / "models--testorg--tiny-wm" / "snapshots" / commit)
        assert torch.equal(model.encode(images), want), spelling
        for key, value in local.run.predictor.state_dict().items():
            assert torch.equal(model.run.predictor.state_dict()[key], value), key

    # encoder_checkpoint= (--encoder-checkpoint) takes a repo id too.
    write_hub_cache(offline_hub, "testorg/tiny-encoder", hf_snapshot_files(encoder, tmp_path / "snap"))
    moved = WorldModel.from_pretrained(make_tiny_export(tmp_path / "plain", seed=1),
                                       encoder_checkpoint="hf://testorg/tiny-encoder")
    assert moved.run.encoder.weights_source.startswith("encoder weights: hf://testorg/tiny-encoder (")
    assert torch.equal(moved.encode(images), want)

    # A local folder of the same name wins over the Hub.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(make_tiny_export(tmp_path / "other", seed=2), tmp_path / "testorg" / "tiny-wm")
    mine = WorldModel.from_pretrained("testorg/tiny-wm")
    assert not torch.equal(mine.run.predictor.state_dict()["predictor_embed.weight"],
                           local.run.predictor.state_dict()["predictor_embed.weight"])


def test_eval_and_plan_commands_take_a_repo_id(offline_hub, synth_dataset, tmp_path, monkeypatch, capsys):
    import os
    import subprocess

    import matplotlib.image
    import numpy as np

    from craft_jepa.cli.main import main

    write_hub_cache(offline_hub, "testorg/tiny-wm", make_tiny_export(tmp_path / "export"))
    monkeypatch.chdir(tmp_path)
    rc = main(["eval", "testorg/tiny-wm", "--data", synth_dataset.shard_dir, "--clips", "2", "--windows", "2",
               "--plan-pairs", "0", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "eval-testorg--tiny-wm" / "report.json").is_file()  # never inside the Hub cache
    assert not list(offline_hub.rglob("report.json"))

    # A fresh process reads HF_HOME and HF_HUB_OFFLINE from the environment, as a user's would.
    rng = np.random.default_rng(0)
    for name in ("start", "goal"):
        matplotlib.image.imsave(tmp_path / f"{name}.png", rng.random((36, 64, 3)))
    command = [sys.executable, "-m", "craft_jepa", "plan", "hf://testorg/tiny-wm@main", "--start", "start.png",
               "--goal", "goal.png", "--samples", "8", "--iterations", "1", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["steps"]) == 2
    command[4] = "hf://testorg/not-cached"
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "craft-jepa plan: world model hf://testorg/not-cached" in done.stderr
    assert "hf download testorg/not-cached" in done.stderr and "HF_HUB_OFFLINE is set" in done.stderr


def test_continued_pretraining_starts_from_a_repo_id(offline_hub, tmp_path):
    from craft_jepa.encoders import build_encoder
    from craft_jepa.models.mask_predictor import MaskPredictorConfig, MaskTokenPredictor
    from craft_jepa.train.objectives.vjepa import VJEPAConfig, VJEPAObjective
    from craft_jepa.train.objectives.vjepa_init import load_pretrained

    reference = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=8))
    write_hub_cache(offline_hub, "testorg/vjepa2-tiny", hf_snapshot_files(reference, tmp_path / "snap"))
    cfg = VJEPAConfig(predictor=MaskPredictorConfig(depth=1, width=48, heads=2))
    encoder = build_encoder("vit_tiny", img_size=64, init_seed=0)
    objective = VJEPAObjective(encoder, MaskTokenPredictor(cfg.predictor, encoder.embed_dim), cfg, frames=4,
                               total_steps=10, seed=0, rank=0, device=torch.device("cpu"))
    lines = load_pretrained(objective, "hf://testorg/vjepa2-tiny@main")
    assert "hf://testorg/vjepa2-tiny@main" in lines[0]
    for module in (objective.encoder, objective.target_encoder):
        for key, value in reference.encoder.state_dict().items():
            assert torch.equal(module.state_dict()[key], value), key
