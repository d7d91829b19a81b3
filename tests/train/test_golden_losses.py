"""Our training losses against Meta's trainer (tests/fixtures/meta-golden, predictor.safetensors `loss.*`).

`loss.*` came from `forward_predictions`/`loss_fn` of app/vjepa_droid/train.py, exec'd unchanged:
teacher forcing over 3 frames, a 2-step rollout seeded with [z0, z_tf frame 0], L1 (loss_exp 1).
Ours: train/losses.py on the same predictor, in train mode with gradients, as in training.
"""

from __future__ import annotations

import pytest
import torch
from testkit.meta_golden import LOSS_ATOL, TOKEN_ATOL, frames_of, golden_predictor, inject_bug, load_golden, max_error

from craft_jepa.train.losses import LossConfig, predictor_losses, rollout, teacher_forcing


@pytest.fixture(scope="module")
def golden():
    return load_golden("predictor")


def loss_outputs(predictor, golden) -> dict[str, torch.Tensor]:
    predictor.train()
    z = frames_of(golden["loss.targets"], 4)  # (B, 4, N, D): the trainer's layer-normed h
    actions, states = golden["loss.actions"], golden["loss.states"]  # (B, 3, 7), (B, 4, 7)
    z_tf = teacher_forcing(predictor, z, actions, states)  # (B, 3, N, D)
    z_ar = rollout(predictor, z, z_tf[:, 0], actions, states, auto_steps=2)  # (B, 2, N, D)
    losses = predictor_losses(predictor, z, actions, states, LossConfig(loss_exp=1.0, auto_steps=2))
    return {"z_tf": z_tf.flatten(1, 2), "z_ar": z_ar.flatten(1, 2), "jloss": losses["teacher_forcing"],
            "sloss": losses["rollout"], "total": losses["loss"]}


def test_losses_match_meta(tmp_path, golden):
    predictor, _ = golden_predictor(tmp_path, normalize_outputs=True)
    outputs = loss_outputs(predictor, golden)
    for name in ("z_tf", "z_ar"):
        torch.testing.assert_close(outputs[name].detach(), golden[f"loss.{name}"], rtol=0, atol=TOKEN_ATOL, msg=name)
    for name in ("jloss", "sloss", "total"):
        torch.testing.assert_close(outputs[name].detach(), golden[f"loss.{name}"], rtol=0, atol=LOSS_ATOL, msg=name)
    assert outputs["total"].requires_grad  # gradients flow, as in training


# The eps bug moves the loss scalars by only 2.4e-7 (README), under LOSS_ATOL: the token tensors catch it.
CASES = [(bug, out) for bug in ("layernorm_eps_1e-5", "gelu_tanh", "rope_interleaved", "not_frame_causal")
         for out in ("z_tf", "z_ar")]
CASES += [(bug, "total") for bug in ("gelu_tanh", "rope_interleaved", "not_frame_causal")]


@pytest.mark.parametrize("bug,output", CASES)
def test_deliberate_bugs_fail_the_golden_comparison(tmp_path, golden, monkeypatch, bug, output):
    predictor, _ = golden_predictor(tmp_path, normalize_outputs=True)
    inject_bug(bug, monkeypatch, predictor)
    atol = LOSS_ATOL if output == "total" else TOKEN_ATOL
    error = max_error(loss_outputs(predictor, golden)[output], golden[f"loss.{output}"])
    assert error > atol, f"{bug} moved {output} by only {error:.2e}"
