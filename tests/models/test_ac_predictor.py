"""Properties of the action-conditioned predictor: causality, gradients, caching, round trips."""

from __future__ import annotations

import io
import math

import pytest
import torch
from testkit.predictors import ENC_DIM, STEPS, make_batch, make_predictor

from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.models.attention import frame_causal_mask


@pytest.fixture
def predictor() -> ACPredictor:
    return make_predictor()


def test_output_shape_and_dtype(predictor):
    tokens, actions, states = make_batch()
    out = predictor(tokens, actions, states)
    assert out.shape == tokens.shape and out.dtype == torch.float32


@pytest.mark.parametrize("state_dim,what", [(0, "tokens"), (0, "actions"), (3, "tokens"), (3, "actions"), (3, "states")])
def test_frame_causal_exactly(state_dim, what):
    predictor = make_predictor(state_dim=state_dim).eval()
    inputs = dict(zip(("tokens", "actions", "states"), make_batch(state_dim=state_dim)))
    with torch.no_grad():
        base = predictor(**inputs)
        for t in range(STEPS - 1):
            changed = dict(inputs)
            changed[what] = inputs[what].clone()
            changed[what][:, t + 1] += 3.0  # perturb step t+1 only
            out = predictor(**changed)
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"step <= {t} saw step {t + 1}"
            assert not torch.equal(out[:, t + 1], base[:, t + 1]), "perturbation had no effect at all"


def test_every_trainable_parameter_gets_a_gradient(predictor):
    tokens, actions, states = make_batch()
    predictor(tokens, actions, states).abs().mean().backward()
    for name, param in predictor.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_cached_rollout_equals_full_recompute(predictor):
    tokens, actions, states = make_batch()
    with torch.no_grad():
        cached = predictor.rollout(tokens[:, :2], actions, states, steps=4)
        full = predictor.rollout_uncached(tokens[:, :2], actions, states, steps=4)
    assert cached.shape == (2, 4, *tokens.shape[2:])
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=0)


def test_step_by_step_with_cache_equals_teacher_forcing(predictor):
    tokens, actions, states = make_batch()
    cache = predictor.new_cache()
    with torch.no_grad():
        stepwise = torch.cat([predictor.forward_steps(tokens[:, t:t + 1], actions[:, t:t + 1],
                                                      states[:, t:t + 1], cache) for t in range(STEPS)], dim=1)
        full = predictor(tokens, actions, states)
    assert cache.steps == STEPS
    torch.testing.assert_close(stepwise, full, atol=1e-5, rtol=0)


def test_gradients_flow_through_the_cached_rollout(predictor):
    tokens, actions, states = make_batch()
    predictor.rollout(tokens[:, :1], actions, states, steps=3).square().mean().backward()
    cached_grads = {n: p.grad.clone() for n, p in predictor.named_parameters()}
    predictor.zero_grad()
    predictor.rollout_uncached(tokens[:, :1], actions, states, steps=3).square().mean().backward()
    for name, param in predictor.named_parameters():
        assert cached_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(cached_grads[name], param.grad, atol=1e-5, rtol=1e-4)


def test_batch1_history_expanded_for_many_action_samples(predictor):
    """Planning: history encoded once at batch 1, then K candidate action sequences."""
    tokens, actions, states = make_batch(batch=1)
    samples = 6
    candidate_actions = torch.randn(samples, 3, actions.shape[-1])  # steps 2..4, per sample
    with torch.no_grad():
        history = predictor.new_cache()
        predictor.forward_steps(tokens[:, :2], actions[:, :2], states[:, :2], history)
        expanded = history.expand(samples)
        fast = predictor.rollout(tokens[:, 2:3], candidate_actions, states[:, 2:], steps=3, cache=expanded)
        for k in range(samples):
            all_actions = torch.cat([actions[0, :2], candidate_actions[k]])[None]
            slow = predictor.rollout_uncached(tokens[:, :3], all_actions, states[:, :5], steps=3)
            torch.testing.assert_close(fast[k : k + 1], slow, atol=1e-5, rtol=0)
    assert history.steps == 2 and history.batch_size == 1  # the shared history is untouched


def test_state_dict_round_trip(predictor):
    tokens, actions, states = make_batch()
    buffer = io.BytesIO()
    torch.save(predictor.state_dict(), buffer)
    buffer.seek(0)
    other = make_predictor(seed=123)
    other.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    with torch.no_grad():
        assert torch.equal(other(tokens, actions, states), predictor(tokens, actions, states))


def test_init_is_seeded_and_follows_metas_rule():
    """Every linear draws trunc-normal(init_std) with zero bias, LayerNorms are unit; then block i's
    residual projections (attn.proj, mlp.fc2) are divided by sqrt(2 i). Each weight matrix holds
    4096+ draws, so its std is known to about 1 %: the 5 % bars tell 1/sqrt(2i) from 1/sqrt(i)."""
    a, b = make_predictor(seed=7), make_predictor(seed=7)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.predictor_blocks[0].mlp.fc2.weight, make_predictor(seed=8).predictor_blocks[0].mlp.fc2.weight)
    std = a.config.init_std
    for i, block in enumerate(a.predictor_blocks, start=1):
        for name, linear, scale in (("attn.proj", block.attn.proj, math.sqrt(2 * i)), ("mlp.fc2", block.mlp.fc2, math.sqrt(2 * i)),
                                    ("mlp.fc1", block.mlp.fc1, 1.0)):
            ratio = float(linear.weight.std()) * scale / std
            assert abs(ratio - 1) < 0.05, f"block {i} {name}: std x {scale:.3f} / init_std = {ratio:.3f}"
            assert torch.all(linear.bias == 0)
    for module in a.modules():
        if isinstance(module, torch.nn.LayerNorm) and module.elementwise_affine:
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    assert torch.all(a.action_encoder.bias == 0)


def test_activation_checkpointing_matches(predictor):
    tokens, actions, states = make_batch()
    ckpt = make_predictor(activation_checkpointing=True)
    ckpt.load_state_dict(predictor.state_dict())
    predictor.train(); ckpt.train()
    out_a, out_b = predictor(tokens, actions, states), ckpt(tokens, actions, states)
    out_a.sum().backward(); out_b.sum().backward()
    torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=0)
    grad_a = predictor.predictor_blocks[0].attn.qkv.weight.grad
    torch.testing.assert_close(grad_a, ckpt.predictor_blocks[0].attn.qkv.weight.grad, atol=1e-6, rtol=1e-5)


def test_mask_is_sized_for_the_actual_length():
    mask = frame_causal_mask(3, 0, 4, torch.device("cpu"))
    assert mask.shape == (12, 12)
    assert mask[4:8, :8].all() and not mask[4:8, 8:].any()  # step 1 sees steps 0-1, not step 2
    assert frame_causal_mask(1, 5, 4, torch.device("cpu")) is None
    assert frame_causal_mask(2, 1, 3, torch.device("cpu")).shape == (6, 9)


def test_bad_inputs_are_named(predictor):
    tokens, actions, states = make_batch()
    with pytest.raises(ValueError, match="actions"):
        predictor(tokens, actions[:, :-1], states)
    with pytest.raises(ValueError, match="states"):
        predictor(tokens, actions, None)
    with pytest.raises(ValueError, match="tokens"):
        predictor(tokens[..., :-1], actions, states)


def test_config_presets_and_validation():
    config = PredictorConfig(preset="ac_vitg", encoder_dim=1408, action_dim=7, state_dim=7)
    assert (config.depth, config.width, config.heads) == (24, 1024, 16)
    with torch.device("meta"):  # no memory: count parameters of the full-size predictor
        params = sum(p.numel() for p in ACPredictor(PredictorConfig(preset="ac_vitl")).parameters())
    assert 290e6 < params < 320e6
    with pytest.raises(ValueError, match="heads"):
        PredictorConfig(preset="ac_tiny", encoder_dim=ENC_DIM, width=60, heads=7)
    with pytest.raises(ValueError, match="preset"):
        PredictorConfig(preset="ac_huge")
    with pytest.raises(ValueError, match="state_dim"):
        PredictorConfig(preset="ac_tiny", state_dim=-1)


def test_frozen_encoder_feeds_the_predictor():
    """The demo-size pairing: vit_tiny at 64 px (4x4 patches) under an ac_tiny predictor."""
    from craft_jepa.encoders import EncoderConfig, FrozenEncoder

    encoder_config = EncoderConfig(name="vit_tiny", img_size=64, init_seed=0)
    encoder = FrozenEncoder.from_config(encoder_config)
    predictor = ACPredictor(PredictorConfig(preset="ac_tiny", encoder_dim=encoder_config.embed_dim,
                                            grid_size=encoder_config.grid_size, action_dim=4, init_seed=0))
    frames = torch.randn(2, 3, 3, 64, 64)
    tokens = encoder(frames)  # (B, T, N, D), no grad
    actions = torch.randn(2, 3, 4)
    predicted = predictor(tokens[:, :-1], actions[:, :-1])
    loss = (predicted - tokens[:, 1:]).abs().mean()
    loss.backward()
    assert predicted.shape == tokens[:, 1:].shape and predictor.predictor_embed.weight.grad is not None
    assert predictor.rollout(tokens[:, :1], actions, steps=3).shape == (2, 3, 16, 96)


def test_residual_prediction_starts_from_copy_last_and_stays_causal_and_cached():
    """predict_residual: with the output projection at zero, each prediction is the input frame
    (layer-normed); the cached rollout still equals the full recompute."""
    residual = make_predictor(predict_residual=True)
    tokens, actions, states = make_batch()
    with torch.no_grad():
        residual.predictor_proj.weight.zero_()
        residual.predictor_proj.bias.zero_()
        out = residual(tokens, actions, states)
        torch.testing.assert_close(out, torch.nn.functional.layer_norm(tokens, tokens.shape[-1:]))
        for p in residual.predictor_proj.parameters():
            p.normal_(0, 0.02)
        cached = residual.rollout(tokens[:, :2], actions, states, steps=3)
        full = residual.rollout_uncached(tokens[:, :2], actions, states, steps=3)
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=0)
    plain = make_predictor()
    plain.load_state_dict(residual.state_dict())  # same parameters: the option adds none
    with torch.no_grad():
        assert not torch.allclose(plain(tokens, actions, states), residual(tokens, actions, states))


def test_state_token_without_states_keeps_two_tokens_per_step_and_its_properties():
    """predictor.state_token with state_dim 0 (the released layout for VPT): a constant state token."""
    predictor = make_predictor(state_dim=0, state_token=True).eval()
    assert predictor.config.cond_tokens == 2 and predictor.state_encoder.in_features == 0
    tokens, actions, _ = make_batch(state_dim=0)
    with torch.no_grad():
        out = predictor(tokens, actions)
        torch.testing.assert_close(predictor(tokens, actions, torch.zeros(2, STEPS, 0)), out, rtol=0, atol=0)
        cached = predictor.rollout(tokens[:, :2], actions, steps=3)
        torch.testing.assert_close(cached, predictor.rollout_uncached(tokens[:, :2], actions, steps=3), atol=1e-5, rtol=0)
        predictor.state_encoder.bias.add_(1.0)  # the token is the bias: it must reach the outputs
        assert not torch.allclose(predictor(tokens, actions), out)


def test_rotation_rope_depends_on_relative_positions_only_and_keeps_the_predictor_properties():
    from craft_jepa.encoders.rope import apply_rope, rope_tables

    head_dim = 32
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(head_dim, generator=g), torch.randn(head_dim, generator=g)

    def score(rotation: bool, a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
        pos = [torch.tensor([a[i], b[i]]) for i in range(3)]
        cos, sin = rope_tables(*pos, head_dim, rotation=rotation)
        rq, rk = apply_rope(q[None], cos[:1], sin[:1]), apply_rope(k[None], cos[1:], sin[1:])
        return float((rq * rk).sum())

    # the same offset (0, 0, +1) at two places: equal scores only for the true rotation
    assert score(True, (0, 1, 0), (0, 1, 1)) == pytest.approx(score(True, (2, 3, 2), (2, 3, 3)), abs=1e-5)
    assert score(False, (0, 1, 0), (0, 1, 1)) != pytest.approx(score(False, (2, 3, 2), (2, 3, 3)), abs=1e-3)
    # a rotation keeps norms
    cos, sin = rope_tables(torch.tensor([3]), torch.tensor([1]), torch.tensor([2]), head_dim, rotation=True)
    assert apply_rope(q[None], cos, sin).norm() == pytest.approx(q.norm().item(), rel=1e-5)

    predictor = make_predictor(rope="rotation").eval()
    meta = make_predictor(rope="meta").eval()
    tokens, actions, states = make_batch()
    with torch.no_grad():
        assert not torch.allclose(predictor(tokens, actions, states), meta(tokens, actions, states))
        full = predictor.rollout_uncached(tokens[:, :2], actions, states, steps=3)
        cached = predictor.rollout(tokens[:, :2], actions, states, steps=3)
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="rope"):
        make_predictor(rope="interleaved")
