"""Loss terms: teacher forcing, rollout through the predictor, copy-last baseline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from craft_jepa.train.losses import LossConfig, copy_last_loss, latent_loss, predictor_losses, rollout
from craft_jepa.encoders import normalize_targets


class CopyPredictor(nn.Module):
    """Predicts every next frame as the current frame plus a learnable offset."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(dim))
        self.calls: list[int] = []

    def forward(self, tokens, actions, states):
        self.calls.append(tokens.shape[1])
        assert actions.shape[1] == tokens.shape[1] and states.shape[1] == tokens.shape[1]
        return tokens + self.offset


def test_latent_loss_formula():
    pred, target = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 0.0])
    assert latent_loss(pred, target, 1.0).item() == pytest.approx(1.5)
    assert latent_loss(pred, target, 2.0).item() == pytest.approx((1 + 4) / 2 / 2)


def test_normalize_targets_is_parameter_free_layer_norm():
    x = torch.randn(2, 3, 5, 8) * 7 + 3
    z = normalize_targets(x)
    assert torch.allclose(z.mean(-1), torch.zeros(2, 3, 5), atol=1e-5)
    assert torch.allclose(z.var(-1, unbiased=False), torch.ones(2, 3, 5), atol=1e-3)


def test_copy_predictor_matches_copy_baseline_and_rollout_is_autoregressive():
    B, T, N, D = 2, 5, 3, 4
    z = torch.randn(B, T, N, D)
    actions, states = torch.randn(B, T - 1, 2), torch.zeros(B, T, 0)
    pred = CopyPredictor(D)
    out = predictor_losses(pred, z, actions, states, LossConfig(auto_steps=3))
    assert out["teacher_forcing"].item() == pytest.approx(out["copy_last"].item())
    # A zero-offset copy predictor rolls out z0 forever: frames 1..3 all equal z0.
    expected = latent_loss(z[:, :1].expand(B, 3, N, D), z[:, 1:4], 1.0)
    assert out["rollout"].item() == pytest.approx(expected.item())
    assert pred.calls == [T - 1, 2, 3]  # teacher forcing, then contexts [z0, z1^], [z0, z1^, z2^]
    out["loss"].backward()
    assert pred.offset.grad is not None and pred.offset.grad.abs().sum() > 0


def test_rollout_gradients_flow_through_earlier_predictions():
    D = 4
    pred = CopyPredictor(D)
    z = torch.randn(1, 4, 2, D)
    first = z[:, 0] + pred.offset
    out = rollout(pred, z, first, torch.zeros(1, 3, 1), torch.zeros(1, 4, 0), 3)
    # frame k of the rollout is z0 + k * offset: d(sum)/d(offset) counts 1 + 2 + 3 per element.
    out.sum().backward()
    assert torch.allclose(pred.offset.grad, torch.full((D,), 6.0 * 2))


def test_auto_steps_zero_disables_rollout_and_bad_lengths_fail():
    z = torch.randn(1, 3, 2, 4)
    out = predictor_losses(CopyPredictor(4), z, torch.zeros(1, 2, 1), torch.zeros(1, 3, 0), LossConfig(auto_steps=0))
    assert "rollout" not in out
    with pytest.raises(ValueError, match="auto_steps"):
        predictor_losses(CopyPredictor(4), z, torch.zeros(1, 2, 1), torch.zeros(1, 3, 0), LossConfig(auto_steps=3))
    assert copy_last_loss(torch.zeros(1, 2, 1, 1), 1.0).item() == 0.0
