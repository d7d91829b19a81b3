"""Warm start from Meta's AC predictor, tested on Meta's own numbers (tests/fixtures/meta-golden).

The "Meta file" is the golden fixture's predictor state dict saved the way `vjepa2-ac-vitg.pt`
holds it ({"predictor": {"module.…": …}}, 7-D DROID actions and states, 6-D extrinsics), not one
built from our own ACPredictor, so these tests check behaviour, not just key names.
"""

from __future__ import annotations

import pytest
import torch
from testkit.meta_golden import PREDICTOR_KWARGS, TOKEN_ATOL, frames_of, golden_predictor, load_golden, write_meta_checkpoint

from craft_jepa.encoders import StateDictMismatchError
from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.models.warm_start import warm_start_from_meta


@pytest.fixture(scope="module")
def golden():
    return load_golden("predictor")


@pytest.fixture
def meta_file(tmp_path):
    path = tmp_path / "vjepa2-ac-tiny.pt"
    stored = write_meta_checkpoint(path, "predictor", "predictor")
    return path, {k.removeprefix("module."): v.float() for k, v in stored.items()}


def warm(path, **overrides) -> tuple[ACPredictor, object]:
    predictor = ACPredictor(PredictorConfig(**dict(PREDICTOR_KWARGS, **overrides))).eval()
    return predictor, warm_start_from_meta(predictor, path)


def test_released_layout_reproduces_meta_outputs(golden, meta_file):
    path, _ = meta_file
    predictor, report = warm(path, action_dim=7, state_dim=7, normalize_outputs=False)
    assert report.reinitialized == [] and sorted(report.dropped) == ["extrinsics_encoder.bias", "extrinsics_encoder.weight"]
    with torch.no_grad():
        out = predictor(frames_of(golden["input.tokens"], 4), golden["input.actions"], golden["input.states"])
    torch.testing.assert_close(out.flatten(1, 2), golden["output.teacher_forced"], rtol=0, atol=TOKEN_ATOL)


def test_vpt_layout_reinitializes_the_conditioning_and_loads_every_block(meta_file):
    path, meta = meta_file
    fresh = ACPredictor(PredictorConfig(**dict(PREDICTOR_KWARGS, action_dim=38, state_dim=2, init_seed=5)))
    predictor, report = warm(path, action_dim=38, state_dim=2, init_seed=5)  # vpt38 + yaw_pitch
    assert [r.split(" ")[0] for r in report.reinitialized] == ["action_encoder", "state_encoder"]
    assert "checkpoint (7, 128)" in report.reinitialized[0] and "38 -> 128" in report.reinitialized[0]
    state = predictor.state_dict()
    for name in ("action_encoder.weight", "state_encoder.bias"):  # the predictor's own fresh init
        assert torch.equal(state[name], fresh.state_dict()[name]), name
    for name, value in meta.items():
        if not name.startswith(("action_encoder", "state_encoder", "extrinsics_encoder")):
            assert torch.equal(state[name], value), name
            assert name in report.loaded
    assert not any(n.startswith(("action_encoder", "state_encoder")) for n in report.loaded)
    assert "state_encoder" in report.describe() and "predictor_blocks.1.mlp.fc2.weight" in report.describe()


def test_state_token_without_states_is_metas_zero_state_token(golden, meta_file):
    """state_dim 0 + state_token: the released 2-token layout, equal to Meta's model fed zero states."""
    path, _ = meta_file
    reference, _ = golden_predictor(path.parent)  # checked against Meta's numbers in test_golden_predictor
    tokens, actions = frames_of(golden["input.tokens"], 4), golden["input.actions"]
    with torch.no_grad():
        expected = reference(tokens, actions, torch.zeros(2, 4, 7))
        with_token, report = warm(path, action_dim=7, state_dim=0, state_token=True, normalize_outputs=False)
        assert "state_encoder.weight" in report.dropped and "state_encoder.bias" in report.loaded
        assert report.reinitialized == [] and report.warnings == []
        kept = with_token(tokens, actions)
        without, report = warm(path, action_dim=7, state_dim=0, normalize_outputs=False)
        assert any("state_token" in w for w in report.warnings)
        shifted = without(tokens, actions)
    torch.testing.assert_close(kept, expected, rtol=0, atol=TOKEN_ATOL)
    # The 1-token layout the blocks never saw moves outputs far past any rounding.
    assert (shifted - expected).abs().max() > 100 * TOKEN_ATOL


@pytest.mark.parametrize("overrides,key", [
    (dict(width=64), "predictor_blocks.0.attn.qkv.weight"),  # narrower blocks
    (dict(encoder_dim=96), "predictor_embed.weight"),  # another encoder width (ViT-L vs ViT-g)
    (dict(depth=3), "predictor_blocks.2.norm1.weight"),  # a block the checkpoint lacks
])
def test_anything_else_mismatched_is_a_strict_error_naming_the_keys(meta_file, overrides, key):
    path, _ = meta_file
    kwargs = dict(PREDICTOR_KWARGS, action_dim=38, state_dim=0, **overrides)
    with pytest.raises(StateDictMismatchError, match=key.replace(".", r"\.")):
        warm_start_from_meta(ACPredictor(PredictorConfig(**kwargs)), path)


def test_a_file_without_the_entry_names_the_entries(tmp_path):
    path = tmp_path / "encoder-only.pt"
    torch.save({"encoder": {}, "target_encoder": {}}, path)
    with pytest.raises(KeyError, match="no 'predictor' entry.*target_encoder"):
        warm_start_from_meta(ACPredictor(PredictorConfig(**dict(PREDICTOR_KWARGS, action_dim=7))), path)


class _Pickled:
    """Any non-tensor object: loading it needs full unpickling, which weights_only refuses."""


def test_missing_or_pickled_files_are_refused_naming_the_file(tmp_path):
    predictor = ACPredictor(PredictorConfig(**dict(PREDICTOR_KWARGS, action_dim=7)))
    with pytest.raises(FileNotFoundError, match="predictor.warm_start.*nowhere.pt"):
        warm_start_from_meta(predictor, tmp_path / "nowhere.pt")
    torch.save({"predictor": {"x": _Pickled()}}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="pickled.pt: cannot load AC predictor checkpoint .* with weights_only=True"):
        warm_start_from_meta(predictor, tmp_path / "pickled.pt")
