"""ActionScaler: streaming moments, zero-variance rule, numpy/torch transforms, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import MIN_STD, ActionScaler, RunningMoments


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    actions = (rng.random((n, 38)) < 0.3).astype(np.float32)  # binary dims
    actions[:, :4] = rng.normal([3.0, -1.0, 0.5, 0.1], [40.0, 8.0, 6.0, 1.2], size=(n, 4))
    return actions


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=8), st.integers(0, 2**31))
def test_streaming_moments_match_numpy(chunk_sizes, seed):
    data = np.random.default_rng(seed).normal(1e4, 3.0, size=(sum(chunk_sizes), 3))  # big offset
    moments = RunningMoments(3)
    start = 0
    for size in chunk_sizes:
        moments.update(data[start: start + size])
        start += size
    assert moments.count == len(data)
    if len(data):
        np.testing.assert_allclose(moments.mean, data.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(moments.std, data.std(axis=0), rtol=1e-9, atol=1e-9)


def test_merge_equals_single_pass():
    data = np.random.default_rng(1).normal(size=(100, 2))
    a, b, whole = RunningMoments(2), RunningMoments(2), RunningMoments(2)
    a.update(data[:37])
    b.update(data[37:])
    whole.update(data)
    a.merge(b)
    np.testing.assert_allclose([a.mean, a.std], [whole.mean, whole.std], rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        a.update(np.zeros((3, 5)))


def test_fit_uses_only_continuous_dims_and_guards_zero_variance():
    layout = get_action_layout("vpt38")
    actions = random_actions(500)
    actions[:, 3] = 7.0  # a continuous dim that never varies
    scaler = ActionScaler.fit(layout, actions)
    assert scaler.continuous_features == ("mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff")
    np.testing.assert_allclose(scaler.mean, actions[:, :4].astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale[:3], actions[:, :3].astype(np.float64).std(0), rtol=1e-6)
    assert scaler.scale[3] == 1.0 and scaler.mean[3] == 7.0  # only centered
    assert scaler.count == 500 and scaler.mean.dtype == np.float64
    tiny = ActionScaler.fit(layout, random_actions(1))  # one step: zero variance everywhere
    assert tiny.scale.tolist() == [1.0] * 4 and MIN_STD > 0
    with pytest.raises(ValueError, match="zero steps"):
        ActionScaler.fit(layout, np.zeros((0, 38)))


def test_transform_numpy_touches_only_continuous_dims():
    layout = get_action_layout("vpt38")
    actions = random_actions(300)
    scaler = ActionScaler.fit(layout, actions)
    scaled = scaler.transform(actions.reshape(3, 100, 38))  # any leading shape
    assert scaled.dtype == np.float32 and scaled.shape == (3, 100, 38)
    flat = scaled.reshape(300, 38)
    np.testing.assert_array_equal(flat[:, 4:], actions[:, 4:])
    np.testing.assert_allclose(flat[:, :4].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(flat[:, :4].std(0), 1, atol=1e-4)
    np.testing.assert_allclose(scaler.inverse_transform(scaled).reshape(300, 38), actions, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match=r"\(\.\.\., 38\)"):
        scaler.transform(np.zeros((2, 13)))


def test_transform_torch_keeps_dtype_device_and_grad():
    layout = get_action_layout("vpt13")
    actions = random_actions(64)[:, :13]
    scaler = ActionScaler.fit(layout, actions)
    x = torch.tensor(actions, requires_grad=True)
    y = scaler.transform(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.device == x.device
    np.testing.assert_allclose(y.detach().numpy(), scaler.transform(actions), rtol=1e-6)
    back = scaler.inverse_transform(y)
    back.sum().backward()
    np.testing.assert_allclose(back.detach().numpy(), actions, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), np.ones_like(actions), rtol=1e-5)
    assert scaler.transform(x.double()).dtype == torch.float64


def test_json_round_trip(tmp_path):
    layout = get_action_layout("vpt38")
    scaler = ActionScaler.fit(layout, random_actions(200, seed=3))
    path = tmp_path / "scaler.json"
    scaler.save(path)
    text = json.loads(path.read_text())
    assert text["layout"] == "vpt38" and len(text["feature_names"]) == 38 and text["count"] == 200
    loaded = ActionScaler.load(path)
    assert loaded.feature_names == scaler.feature_names
    np.testing.assert_array_equal(loaded.mean, scaler.mean)  # repr of float64 round-trips exactly
    np.testing.assert_array_equal(loaded.scale, scaler.scale)
    assert loaded.layout().feature_names == layout.feature_names
    loaded.check_layout(layout)
    with pytest.raises(ValueError, match="fitted for layout 'vpt38'"):
        loaded.check_layout(get_action_layout("vpt13"))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("mean"), "missing key 'mean'"),
        (lambda d: d.update(scale="1"), "key 'scale' should be a list"),
        (lambda d: d.update(scale=[1.0, -1.0, 1.0, 1.0]), "scale must be finite and > 0"),
        (lambda d: d.update(mean=[0.0, 0.0]), "need 4 values"),
        (lambda d: d.update(count=True), "key 'count' should be a int"),
        (lambda d: d.update(format="pickle"), "key 'format'"),
        (lambda d: d.update(extra=1), "unexpected keys \\['extra'\\]"),
        (lambda d: d.update(continuous_features=["nope", "mouse_dy", "yaw_diff", "pitch_diff"]),
         "not in feature_names"),
    ],
)
def test_load_errors_name_the_key(tmp_path, edit, message):
    data = ActionScaler.identity(get_action_layout("vpt38")).to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        ActionScaler.load(path)
    assert str(path) in str(err.value)


def test_load_rejects_non_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b"\x80\x04pickle")
    with pytest.raises(ValueError, match="not valid JSON"):
        ActionScaler.load(path)
