"""Warm start from a Meta-layout AC predictor checkpoint (key names as in vjepa2-ac-vitg.pt)."""

from __future__ import annotations

import pytest
import torch
from predictor_helpers import ENC_DIM, make_batch, make_predictor

from craft_jepa.encoders import StateDictMismatchError
from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.models.warm_start import warm_start_from_meta


def write_meta_predictor(path, action_dim: int = 7, width: int = 64, seed: int = 3) -> dict[str, torch.Tensor]:
    """A DROID-style predictor state dict in Meta's layout: 7-D action/state, 6-D extrinsics, `module.` prefix."""
    meta = ACPredictor(PredictorConfig(preset="ac_tiny", encoder_dim=ENC_DIM, grid_size=2, action_dim=action_dim,
                                       state_dim=action_dim, width=width, init_seed=seed))
    state = {f"module.{k}": v.clone() for k, v in meta.state_dict().items()}
    state["module.extrinsics_encoder.weight"] = torch.randn(width, action_dim - 1)
    state["module.extrinsics_encoder.bias"] = torch.randn(width)
    torch.save({"encoder": {}, "predictor": state, "epoch": 1}, path)
    return meta.state_dict()


def test_blocks_load_and_mismatched_embeddings_are_reinitialized(tmp_path):
    meta = write_meta_predictor(tmp_path / "ac.pt")
    ours = make_predictor(state_dim=0, seed=9)  # VPT: 5-D actions, no state
    report = warm_start_from_meta(ours, tmp_path / "ac.pt")
    loaded = ours.state_dict()
    for name in meta:
        if name.startswith(("predictor_blocks", "predictor_embed", "predictor_norm", "predictor_proj")):
            assert torch.equal(loaded[name], meta[name]), name
    assert [r.split(" ")[0] for r in report.reinitialized] == ["action_encoder"]
    assert set(report.dropped) == {"extrinsics_encoder.weight", "extrinsics_encoder.bias",
                                   "state_encoder.weight", "state_encoder.bias"}
    assert "predictor_blocks.0.attn.qkv.weight" in report.loaded and "action_encoder.weight" not in report.loaded
    assert "action_encoder" in str(report)
    tokens, actions, _ = make_batch(state_dim=0)
    assert torch.isfinite(ours(tokens, actions)).all()


def test_matching_sizes_load_everything(tmp_path):
    meta = write_meta_predictor(tmp_path / "ac.pt", action_dim=5)
    ours = make_predictor(state_dim=5, seed=9)
    report = warm_start_from_meta(ours, tmp_path / "ac.pt")
    assert report.reinitialized == []
    assert all(torch.equal(ours.state_dict()[k], v) for k, v in meta.items())


def test_block_mismatch_is_a_strict_error(tmp_path):
    write_meta_predictor(tmp_path / "ac.pt", width=128)  # wider than our 64
    with pytest.raises(StateDictMismatchError, match="predictor_blocks.0.attn.qkv.weight"):
        warm_start_from_meta(make_predictor(state_dim=0), tmp_path / "ac.pt")
