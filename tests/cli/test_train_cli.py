"""`craft-jepa train` / `craft-jepa export` from the command line."""

from __future__ import annotations

from pathlib import Path

import yaml

from testkit.train_configs import TINY_PRESET, tiny_tree

from craft_jepa.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def test_print_config_applies_overrides_and_env(tmp_path, capsys, monkeypatch, synth_dataset):
    monkeypatch.setenv("VPT_DATA_PATH", synth_dataset.shard_dir)
    rc = main(["train", str(TINY_PRESET), "--print-config", "--set", "optim.lr=3e-4",
               "--run-dir", str(tmp_path / "r")])
    assert rc == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["optim"]["lr"] == 3e-4
    assert resolved["data"]["train_shards"] == synth_dataset.shard_dir  # ${VPT_DATA_PATH} expanded
    assert resolved["run_dir"] == str(tmp_path / "r")


def test_config_errors_are_clear(capsys, monkeypatch):
    monkeypatch.delenv("VPT_DATA_PATH", raising=False)
    assert main(["train", str(TINY_PRESET), "--print-config"]) == 2
    assert "${VPT_DATA_PATH} is not set" in capsys.readouterr().err
    monkeypatch.setenv("VPT_DATA_PATH", "/somewhere")
    assert main(["train", str(TINY_PRESET), "--print-config", "--set", "optim.weight_decy=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'optim.weight_decy'" in err and "did you mean 'optim.weight_decay'" in err


def test_every_preset_resolves(monkeypatch, tmp_path):
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig

    shard = tmp_path / "shard-000000.tar"
    shard.write_bytes(b"")
    monkeypatch.setenv("VPT_DATA_PATH", str(tmp_path))
    monkeypatch.setenv("PRETRAIN_CHECKPOINT", str(tmp_path / "vitl.pt"))
    names = ["tiny-cpu.yaml", "vitl16/minecraft-256px-8f.yaml", "vith16/minecraft-256px-8f.yaml",
             "vitg16/minecraft-256px-8f.yaml"]
    for path in (REPO / "configs" / name for name in names):
        cfg = load_config(RunConfig, path)
        assert cfg.schedule.total_steps > 0, path


def test_debug_run_then_export(synth_dataset, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_tree(tmp_path / "run", synth_dataset.shard_urls)))
    assert main(["train", str(config), "--debug"]) == 0
    out = capsys.readouterr().out
    assert "step 3:" in out
    debug_dir = tmp_path / "run" / "debug"
    assert (debug_dir / "checkpoints" / "latest.pt").is_file()
    assert main(["export", str(debug_dir), str(tmp_path / "export"), "--which", "latest"]) == 0
    assert (tmp_path / "export" / "predictor.safetensors").is_file()
    assert (tmp_path / "export" / "craft_jepa.json").is_file()


def test_warm_start_and_state_token_are_settable_from_the_cli(capsys, monkeypatch):
    monkeypatch.setenv("VPT_DATA_PATH", "/somewhere")
    rc = main(["train", str(TINY_PRESET), "--print-config", "--set", "predictor.warm_start=/w/vjepa2-ac-vitg.pt",
               "--set", "predictor.state_token=true", "--set", "clip.hotbar_start=zero",
               "--set", "clip.max_crop_aspect=1.35"])
    assert rc == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["predictor"]["warm_start"] == "/w/vjepa2-ac-vitg.pt" and resolved["predictor"]["state_token"] is True
    assert resolved["clip"]["hotbar_start"] == "zero" and resolved["clip"]["max_crop_aspect"] == 1.35
    assert main(["train", str(TINY_PRESET), "--print-config", "--set", "predictor.warm_strat=/w.pt"]) == 2
    assert "did you mean 'predictor.warm_start'" in capsys.readouterr().err
