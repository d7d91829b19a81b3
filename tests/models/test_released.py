"""Meta's released AC predictor loaded as released, on a file laid out like `vjepa2-ac-vitg.pt`:
the meta-golden fixture's predictor (Meta's own code, random weights, tiny widths; 7-D DROID
actions and states, 6-D extrinsics), checked against Meta's own outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from testkit.meta_golden import PREDICTOR_KWARGS, TOKEN_ATOL, frames_of, load_golden, write_meta_checkpoint

from craft_jepa.encoders import StateDictMismatchError
from craft_jepa.models.released import ReleasedLayoutError, load_released_predictor

HEADS, GRID = PREDICTOR_KWARGS["heads"], PREDICTOR_KWARGS["grid_size"]


def test_released_file_loads_strictly_and_reproduces_metas_outputs(tmp_path) -> None:
    path = tmp_path / "vjepa2-ac-tiny.pt"
    stored = write_meta_checkpoint(path, "predictor", "predictor")
    predictor, report = load_released_predictor(path, heads=HEADS, grid_size=GRID)
    config = predictor.config
    assert (config.depth, config.width, config.encoder_dim) == (2, 128, 192)
    assert (config.action_dim, config.state_dim, config.rope, config.state_token) == (7, 7, "meta", True)
    assert sorted(report.dropped) == ["extrinsics_encoder.bias", "extrinsics_encoder.weight"]
    assert len(report.loaded) == len(stored) - 2 and report.reinitialized == []
    golden = load_golden("predictor")
    with torch.no_grad():
        out = predictor(frames_of(golden["input.tokens"], 4), golden["input.actions"], golden["input.states"])
    # Meta's planning wrapper layer-norms the predictor's outputs (normalize_reps); so does ours.
    expected = F.layer_norm(golden["output.teacher_forced"], golden["output.teacher_forced"].shape[-1:])
    torch.testing.assert_close(out.flatten(1, 2), expected, rtol=0, atol=10 * TOKEN_ATOL)


def test_unexpected_and_missing_keys_are_listed(tmp_path) -> None:
    stored = write_meta_checkpoint(tmp_path / "ok.pt", "predictor", "predictor")
    extra = dict(stored, **{"module.mask_token": torch.zeros(1, 1, 192)})
    torch.save({"predictor": extra}, tmp_path / "extra.pt")
    with pytest.raises(StateDictMismatchError, match=r"1 unexpected key\(s\): mask_token"):
        load_released_predictor(tmp_path / "extra.pt", heads=HEADS, grid_size=GRID)
    missing = {k: v for k, v in stored.items() if k != "module.predictor_proj.bias"}
    torch.save({"predictor": missing}, tmp_path / "missing.pt")
    with pytest.raises(StateDictMismatchError, match=r"1 missing key\(s\): predictor_proj.bias"):
        load_released_predictor(tmp_path / "missing.pt", heads=HEADS, grid_size=GRID)
    no_state = {k: v for k, v in stored.items() if "state_encoder" not in k}
    torch.save({"predictor": no_state}, tmp_path / "no_state.pt")
    with pytest.raises(ReleasedLayoutError, match="state_encoder.weight"):
        load_released_predictor(tmp_path / "no_state.pt", heads=HEADS, grid_size=GRID)
