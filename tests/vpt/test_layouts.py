"""Action and state layouts: exact feature order, encoding, errors, readable decoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from craft_jepa.vpt.actions import aggregate_steps, prepare_ticks
from craft_jepa.vpt.jsonl import TickRecord, parse_jsonl
from craft_jepa.vpt.layouts import FEATURES, describe_action, get_action_layout, get_state_layout

# REFERENCE.md section 2, written out by hand so a reordering in the code is caught.
VPT38 = (
    ["mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff"]
    + [f"key_{n}" for n in range(1, 10)]
    + ["key_w", "key_a", "key_s", "key_d", "key_space", "key_q", "key_f", "key_e", "key_escape",
       "key_left_shift", "key_right_shift", "key_left_control", "button_0", "button_1", "button_2"]
    + [f"hotbar_{n}" for n in range(9)]
    + ["gui_open"]
)


def test_vpt38_and_vpt13_order():
    layout = get_action_layout("vpt38")
    assert list(layout.feature_names) == VPT38 and layout.dim == 38
    assert layout.feature_names.index("key_1") == 4 and layout.feature_names.index("key_w") == 13
    assert layout.feature_names.index("key_escape") == 21 and layout.feature_names.index("button_0") == 25
    assert layout.feature_names.index("hotbar_0") == 28 and layout.feature_names.index("gui_open") == 37
    assert layout.continuous_mask.tolist() == [True] * 4 + [False] * 34
    small = get_action_layout("vpt13")
    assert list(small.feature_names) == VPT38[:13] and small.continuous_indices.tolist() == [0, 1, 2, 3]


def test_custom_layout_and_errors():
    layout = get_action_layout(["key_w", "mouse_dwheel", "yaw_diff"])
    assert layout.name == "custom" and layout.continuous_mask.tolist() == [False, True, True]
    with pytest.raises(ValueError, match=r"unknown action feature 'key_forwrd'.*valid features: mouse_dx"):
        get_action_layout(["key_forwrd"])
    with pytest.raises(ValueError, match=r"did you mean 'mouse_dx'"):
        get_action_layout(["mouse_dxx"])
    with pytest.raises(ValueError, match="did you mean 'vpt38'"):
        get_action_layout("vpt83")
    with pytest.raises(ValueError, match="repeats"):
        get_action_layout(["key_w", "key_w"])
    with pytest.raises(ValueError, match="no features"):
        get_action_layout([])


def test_encode_hand_written_steps(vpt_line, jsonl):
    lines = [vpt_line(dx=2.0, dy=-1.0, yaw=0.0, hotbar=2, isGuiOpen=True,
                      keys=["key.keyboard.w", "key.keyboard.right.shift", "key.keyboard.tab"]),
             vpt_line(dx=3.0, buttons=[0, 2], yaw=0.75, hotbar=2),
             vpt_line(yaw=0.75, hotbar=2, keys=["key.keyboard.escape"]),
             vpt_line(yaw=0.75, hotbar=2)]
    ticks = prepare_ticks(parse_jsonl(jsonl(lines), "enc").ticks)
    actions = get_action_layout("vpt38").encode(aggregate_steps(ticks, [0, 2, 3]))
    assert actions.dtype == np.float32 and actions.shape == (2, 38)
    row = dict(zip(VPT38, actions[0].tolist()))
    assert (row["mouse_dx"], row["mouse_dy"], row["yaw_diff"], row["pitch_diff"]) == (5.0, -1.0, 0.75, 0.0)
    on = {name for name, v in row.items() if name not in VPT38[:4] and v == 1.0}
    # No key_3: the segment starts on slot 2, so no slot change (and no injected press) happened
    assert on == {"key_w", "key_right_shift", "button_0", "button_2", "hotbar_2", "gui_open"}
    assert {n for n, v in zip(VPT38, actions[1]) if v} == {"key_escape", "hotbar_2"}


def test_unknown_hotbar_encodes_as_all_zero_slots():
    step = aggregate_steps([TickRecord(hotbar=None), TickRecord(hotbar=None)], [0, 1])
    actions = get_action_layout("vpt38").encode(step)
    assert actions[0, 28:37].sum() == 0


def test_every_feature_encodes_to_a_number():
    layout = get_action_layout(list(FEATURES))
    steps = aggregate_steps([TickRecord(dx=1.0, keys=("key.keyboard.tab",)), TickRecord()], [0, 1])
    out = layout.encode(steps)
    assert out.shape == (1, len(FEATURES)) and np.isfinite(out).all()
    assert out[0, layout.feature_names.index("key_tab")] == 1.0


def test_describe_gives_vpt_terms(vpt_line, jsonl):
    layout = get_action_layout("vpt38")
    lines = [vpt_line(keys=["key.keyboard.w", "key.keyboard.left.control"], buttons=[0], hotbar=0, dx=4.0),
             vpt_line(hotbar=0)]
    steps = aggregate_steps(parse_jsonl(jsonl(lines), "d").ticks, [0, 1])
    readable = describe_action(layout, layout.encode(steps)[0])
    assert readable["forward"] and readable["sprint"] and readable["attack"]
    assert not readable["back"] and not readable["use"] and not readable["hotbar.1"]
    assert readable["camera_dx"] == 4.0 and readable["hotbar_slot"] == 0
    assert readable["key.keyboard.right.shift"] is False  # unmapped in VPT: raw name
    with pytest.raises(ValueError, match="expects 38"):
        layout.describe(np.zeros(13))


def test_state_layouts():
    ticks = [TickRecord(yaw=179.0, pitch=45.0), TickRecord(yaw=-179.0, pitch=-90.0)]
    assert get_state_layout("none").encode(ticks).shape == (2, 0)
    np.testing.assert_allclose(get_state_layout("pitch").encode(ticks), [[0.5], [-1.0]])
    yaw_pitch = get_state_layout("yaw_pitch")
    states = yaw_pitch.encode(ticks)
    assert states.dtype == np.float32 and states.shape == (2, 3) and yaw_pitch.dim == 3
    # sin/cos make +179 and -179 degrees neighbours, unlike the raw angle
    assert np.abs(states[0, :2] - states[1, :2]).max() < 0.04
    assert states[0, 1] == pytest.approx(math.cos(math.radians(179.0)), abs=1e-6)
    with pytest.raises(ValueError, match="did you mean 'yaw_pitch'"):
        get_state_layout("yaw_pich")
