"""The mask-token predictor of V-JEPA pre-training: Meta's names, zero mask tokens, positions."""

from __future__ import annotations

import torch

from craft_jepa.models.mask_predictor import MaskPredictorConfig, MaskTokenPredictor

GRID = (2, 4, 4)


def _predictor(**kw) -> MaskTokenPredictor:
    torch.manual_seed(0)
    return MaskTokenPredictor(MaskPredictorConfig(depth=2, width=48, heads=2, **kw), encoder_dim=96).eval()


def test_parameter_names_follow_meta_rope_predictor():
    names = set(_predictor().state_dict())
    for name in ("predictor_embed.weight", "mask_tokens.0", "mask_tokens.1", "predictor_blocks.1.attn.qkv.weight",
                 "predictor_blocks.0.mlp.fc2.bias", "predictor_norm.weight", "predictor_proj.weight"):
        assert name in names
    assert not any("pos_embed" in n for n in names)  # RoPE: no position table


def test_mask_tokens_start_at_zero_unless_asked():
    assert all(torch.count_nonzero(t) == 0 for t in _predictor().mask_tokens)
    assert all(torch.count_nonzero(t) > 0 for t in _predictor(zero_init_mask_tokens=False).mask_tokens)


@torch.no_grad()
def test_predictions_depend_on_positions_not_on_the_order_of_context_tokens():
    predictor = _predictor(zero_init_mask_tokens=False)
    context_idx, target_idx = torch.tensor([0, 3, 5, 9, 17, 30]), torch.tensor([1, 2, 16, 31])
    context = torch.randn(2, len(context_idx), 96, generator=torch.Generator().manual_seed(1))
    out = predictor(context, context_idx, target_idx, GRID, mask_index=1)
    assert out.shape == (2, 4, 96)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    torch.testing.assert_close(predictor(context[:, perm], context_idx[perm], target_idx, GRID, mask_index=1), out,
                               rtol=0, atol=1e-5)  # Meta's sort by position is not needed
    moved = predictor(context, context_idx, torch.tensor([4, 2, 16, 31]), GRID, mask_index=1)
    assert (moved[:, 1:] - out[:, 1:]).abs().max() > 1e-4  # other target positions change the prediction
    assert (predictor(context, context_idx, target_idx, GRID, mask_index=0) - out).abs().max() > 1e-4
