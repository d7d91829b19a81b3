"""WorldModel: raw VPT actions in, latents out; consistent with the parts it wraps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from craft_jepa.api import WorldModel
from testkit.runs import TINY_FRAMES, make_tiny_export


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> WorldModel:
    return WorldModel.from_pretrained(make_tiny_export(tmp_path_factory.mktemp("export")))


def _images(n: int, h: int = 48, w: int = 80, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _actions(b: int, t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.zeros(b, t, 38)
    a[..., 0] = torch.randn(b, t, generator=g) * 40
    a[..., 1] = torch.randn(b, t, generator=g) * 15
    a[..., 2], a[..., 3] = a[..., 0] * 0.15, a[..., 1] * 0.15
    a[..., 13:17] = (torch.rand(b, t, 4, generator=g) < 0.3).float()  # w a s d
    return a


def test_encode_keeps_leading_dims_and_matches_the_model_ready_path(model):
    images = _images(3)
    z = model.encode(images)
    assert z.shape == (3, 4, 96)  # 32 px / 16 = 2x2 tokens of the 96-dim vit_tiny
    assert model.encode(images[0]).shape == (4, 96)
    ready = model.run.frames_to_input(images)[None]  # (1, 3, 3, 32, 32)
    torch.testing.assert_close(model.encode(ready)[0], z)
    # latents are layer-normed per token, like the training targets
    torch.testing.assert_close(z.mean(-1), torch.zeros(3, 4), atol=1e-4, rtol=0)
    # uint8 and [0, 1] float images are the same picture
    torch.testing.assert_close(model.encode(images.astype(np.float32) / 255.0), z, atol=1e-4, rtol=1e-4)


def test_predict_scales_raw_actions_inside(model):
    z = model.encode(_images(TINY_FRAMES))[None]  # (1, T, N, D)
    raw = _actions(1, TINY_FRAMES)
    expected = model.run.predictor(z, model.run.scaler.transform(raw), torch.zeros(1, TINY_FRAMES, 0))
    torch.testing.assert_close(model.predict(z, raw), expected)
    torch.testing.assert_close(model.predict(z, raw.numpy()), expected)
    # and the actions matter: a different camera gives a different prediction
    other = raw.clone()
    other[..., [0, 2]] *= -1
    assert not torch.allclose(model.predict(z, other), expected)


def test_rollout_agrees_with_step_by_step_prediction(model):
    z0 = model.encode(_images(2, seed=1))[:, None]  # (2, 1, N, D)
    raw = _actions(2, 3, seed=2)
    rolled = model.rollout(z0, raw)  # (2, 3, N, D)
    assert rolled.shape == (2, 3, 4, 96)
    # teacher forcing on [z0, rolled_1, rolled_2] reproduces the rollout
    sequence = torch.cat([z0, rolled[:, :2]], dim=1)
    torch.testing.assert_close(model.predict(sequence, raw), rolled, atol=1e-4, rtol=1e-4)
    assert model.rollout(z0[:, 0], raw, steps=2).shape == (2, 2, 4, 96)


def test_plan_is_deterministic_and_speaks_vpt(model):
    start, goal = _images(2, seed=3)
    kw = dict(horizon=2, samples=16, top_k=4, iterations=2, seed=7)
    a, b = model.plan(start, goal, **kw), model.plan(start, goal, **kw)
    assert a.actions.shape == (2, 38)
    np.testing.assert_array_equal(a.actions, b.actions)
    moving = a.actions[:, 37] < 0.5  # gui_open freezes the camera degrees
    np.testing.assert_allclose(a.actions[moving, 2], a.actions[moving, 0] * 0.15, rtol=1e-5)
    assert np.isfinite(a.energy)
    assert set(a.steps[0]) >= {"camera_dx", "yaw_diff_degrees", "hotbar_slot"}
    assert "step 1:" in a.describe()
    # planning toward a latent goal gives the same plan as toward the image
    c = model.plan(model.encode(start), model.encode(goal), **kw)
    np.testing.assert_allclose(c.actions, a.actions, atol=1e-5)


def test_bad_inputs_are_named(model):
    z = model.encode(_images(TINY_FRAMES))[None]
    with pytest.raises(ValueError, match=r"actions must be \(B, T, 38\)"):
        model.predict(z, torch.zeros(1, TINY_FRAMES, 13))
    with pytest.raises(ValueError, match="frames must be"):
        model.encode(torch.zeros(2, 5, 7))
    with pytest.raises(FileNotFoundError):
        WorldModel.from_pretrained("/nonexistent/run")


def test_plan_holds_the_features_it_does_not_plan(tmp_path):
    """Camera-only planning (the default): every other feature of the plan is the hold vector."""
    import numpy as np

    from craft_jepa.api import WorldModel
    from testkit.runs import make_tiny_export

    model = WorldModel.from_pretrained(make_tiny_export(tmp_path / "export"))
    start, goal = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 200, np.uint8)
    hold = np.zeros(model.action_dim, np.float32)
    slot = model.feature_names.index("hotbar_3")
    hold[slot] = 1.0
    plan = model.plan(start, goal, horizon=2, samples=16, top_k=4, iterations=2, hold=hold)
    assert np.all(plan.actions[:, 4:] == hold[4:])  # keys, buttons, hotbar slot, GUI: held
    assert np.any(plan.actions[:, :4] != 0)  # the camera is planned
