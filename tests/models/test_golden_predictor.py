"""Our AC predictor against Meta's reference outputs (tests/fixtures/meta-golden, predictor.safetensors).

The Meta-layout weights go in through `warm_start_from_meta` (a Meta-style .pt with `module.`
keys), the path a user's warm start takes. Teacher forcing raw and normalized, the KV-cached
rollout and the uncached one must match at the README's tolerance, and each deliberate bug must
push them past it.
"""

from __future__ import annotations

import pytest
import torch
from testkit.meta_golden import TOKEN_ATOL, frames_of, golden_predictor, inject_bug, load_golden, max_error


@pytest.fixture(scope="module")
def golden():
    return load_golden("predictor")


def predictor_outputs(predictor, golden) -> dict[str, torch.Tensor]:
    tokens = frames_of(golden["input.tokens"], 4)  # (B, 4, N, D)
    context = frames_of(golden["rollout.context"], 1)  # (B, 1, N, D)
    actions, states = golden["rollout.actions"], golden["rollout.states"]  # (B, 3, 7) each
    with torch.no_grad():
        predictor.config.normalize_outputs = False
        raw = predictor(tokens, golden["input.actions"], golden["input.states"])
        predictor.config.normalize_outputs = True  # the trainer's normalize_reps
        normalized = predictor(tokens, golden["input.actions"], golden["input.states"])
        cached = predictor.rollout(context, actions, states, steps=3)
        uncached = predictor.rollout_uncached(context, actions, states, steps=3)
    return {"teacher_forced": raw.flatten(1, 2), "teacher_forced_normalized": normalized.flatten(1, 2),
            "rollout_cached": cached.flatten(1, 2), "rollout_uncached": uncached.flatten(1, 2)}


STORED = {"teacher_forced": "output.teacher_forced", "teacher_forced_normalized": "output.teacher_forced_normalized",
          "rollout_cached": "rollout.output", "rollout_uncached": "rollout.output"}


def test_every_meta_key_but_extrinsics_loads(tmp_path):
    _, report = golden_predictor(tmp_path)
    assert report.reinitialized == [] and set(report.dropped) == {"extrinsics_encoder.weight", "extrinsics_encoder.bias"}
    assert len(report.loaded) == 36 - 2


@pytest.mark.parametrize("output", sorted(STORED))
def test_outputs_match_meta(tmp_path, golden, output):
    predictor, _ = golden_predictor(tmp_path)
    ours = predictor_outputs(predictor, golden)[output]
    torch.testing.assert_close(ours, golden[STORED[output]], rtol=0, atol=TOKEN_ATOL)


# Not with the cached rollout and not_frame_causal: it feeds one new step per call after a 1-frame
# context, so no query ever has a future key to see and the mask is None either way.
CASES = [(bug, out) for bug in ("layernorm_eps_1e-5", "gelu_tanh", "rope_interleaved", "not_frame_causal")
         for out in ("teacher_forced", "rollout_cached", "rollout_uncached")
         if (bug, out) != ("not_frame_causal", "rollout_cached")]


@pytest.mark.parametrize("bug,output", CASES)
def test_deliberate_bugs_fail_the_golden_comparison(tmp_path, golden, monkeypatch, bug, output):
    predictor, _ = golden_predictor(tmp_path)
    inject_bug(bug, monkeypatch, predictor)
    error = max_error(predictor_outputs(predictor, golden)[output], golden[STORED[output]])
    assert error > TOKEN_ATOL, f"{bug} moved {output} by only {error:.2e}"


def test_rotation_rope_is_exactly_the_interleaved_fix_meta_left_commented_out():
    """predictor.rope: rotation is the standard rotary embedding, i.e. the interleaved tables of the
    deliberate golden bug: a rotation-RoPE predictor can never pass for Meta's layout."""
    from craft_jepa.encoders import rope

    positions = torch.arange(5)
    cos, sin = rope._band_tables(positions, 20, rotation=True)
    tiled_cos, tiled_sin = rope._band_tables(positions, 20)
    torch.testing.assert_close(cos, tiled_cos[:, :10].repeat_interleave(2, dim=1), rtol=0, atol=0)
    torch.testing.assert_close(sin, tiled_sin[:, :10].repeat_interleave(2, dim=1), rtol=0, atol=0)
