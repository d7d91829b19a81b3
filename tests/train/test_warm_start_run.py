"""`predictor.warm_start` in a training run: a fresh run loads the Meta file, a resumed run never reads it."""

from __future__ import annotations

import torch
from testkit.meta_golden import write_meta_checkpoint
from testkit.train_configs import tiny_tree

from craft_jepa.configuration import load_config
from craft_jepa.train.config import RunConfig
from craft_jepa.train.loop import train

# The golden predictor's sizes over a 192-wide encoder at 64 px (4x4 grid); vpt38 actions, no state
# layout, but the released 2-token layout (state_token). lr 0 at step 0 keeps the loaded weights.
GOLDEN_SHAPED = {
    "encoder.name": "vit_mini", "predictor.encoder_dim": 192, "predictor.width": 128, "predictor.heads": 2,
    "predictor.depth": 2, "predictor.state_token": True, "optim.lr": 1e-9, "schedule.start_lr": 0.0,
    "schedule.total_steps": 4, "validation.every": 0, "checkpoint.latest_every": 1,
}


def test_fresh_run_warm_starts_and_resume_keeps_its_own_weights(synth_dataset, tmp_path, capsys):
    meta_path = tmp_path / "vjepa2-ac-tiny.pt"
    stored = write_meta_checkpoint(meta_path, "predictor", "predictor")
    meta = {k.removeprefix("module."): v.float() for k, v in stored.items()}
    tree = tiny_tree(tmp_path / "run", synth_dataset.shard_urls, **GOLDEN_SHAPED)
    cfg = load_config(RunConfig, tree, [f"predictor.warm_start={meta_path}"])  # what `--set` does
    summary = train(cfg, stop_at_step=1, single_process=True)
    assert summary.resumed_from is None
    logged = capsys.readouterr().err
    assert f"warm start from {meta_path}[predictor]" in logged and "action_encoder (38 -> 128" in logged
    state = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)["predictor"]
    for name in ("predictor_blocks.0.attn.qkv.weight", "predictor_embed.weight", "state_encoder.bias"):
        assert torch.equal(state[name], meta[name]), name
    assert state["action_encoder.weight"].shape == (128, 38)

    meta_path.unlink()  # resuming must not touch the warm-start file again
    summary = train(cfg, stop_at_step=2, single_process=True)
    assert summary.resumed_from == 1 and summary.step == 2
    assert "warm start" not in capsys.readouterr().err


def test_resume_check_ignores_warm_start_and_reads_absent_state_token_as_false():
    from craft_jepa.runs.compat import config_differences

    old = {"predictor": {"width": 128, "state_dim": 0}}  # written before these settings existed
    new = {"predictor": {"width": 128, "state_dim": 0, "state_token": False, "warm_start": "/w/ac.pt"}}
    assert config_differences(old, new) == []
    changed = {"predictor": dict(new["predictor"], state_token=True)}
    assert config_differences(old, changed) == ["predictor.state_token: None -> True"]


def test_resume_check_covers_the_crop_and_hotbar_conventions():
    from craft_jepa.runs.compat import config_differences

    old = {"clip": {"size": 64}}  # before these settings: square crops, VPT's hotbar convention
    assert config_differences(old, {"clip": {"size": 64, "max_crop_aspect": 1.0, "hotbar_start": "zero"}}) == []
    found = config_differences(old, {"clip": {"size": 64, "max_crop_aspect": 1.35, "hotbar_start": "first_line"}})
    assert found == ["clip.max_crop_aspect: None -> 1.35", "clip.hotbar_start: None -> 'first_line'"]
