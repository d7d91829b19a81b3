"""Hotbar injection, stuck attack, null actions and step aggregation (examples + properties)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from craft_jepa.vpt.actions import (
    aggregate_steps,
    clip_span_ticks,
    fix_stuck_attack,
    frame_ticks_for_clip,
    inject_hotbar_keys,
    is_null_action,
    prepare_ticks,
    segment_frame_ticks,
    window_is_null,
    wrap_degrees,
)
from craft_jepa.vpt.jsonl import TickRecord, parse_jsonl


def ticks_of(lines, jsonl):
    parsed = parse_jsonl(jsonl(lines), "test.jsonl")
    assert parsed.report.bad_lines == 0
    return parsed.ticks


# ------------------------------------------------------------------ hotbar injection


def test_hotbar_change_injects_the_slot_key(vpt_line, jsonl):
    ticks = ticks_of([vpt_line(hotbar=0), vpt_line(hotbar=3), vpt_line(hotbar=3),
                      vpt_line(hotbar=0, keys=["key.keyboard.1"])], jsonl)
    out = inject_hotbar_keys(ticks)
    assert [t.keys for t in out] == [(), ("key.keyboard.4",), (), ("key.keyboard.1",)]
    assert out[1].new_keys == ("key.keyboard.4",)
    assert ticks[1].keys == ()  # the input is not modified


def test_no_phantom_hotbar_key_at_step_0(vpt_line, jsonl):
    """A segment that starts on slot 2 with no key pressed (seen in real data) gets no key-3 press."""
    lines = [vpt_line(hotbar=2), vpt_line(hotbar=2), vpt_line(hotbar=4)]
    out = inject_hotbar_keys(ticks_of(lines, jsonl))
    assert [t.keys for t in out] == [(), (), ("key.keyboard.5",)]
    steps = aggregate_steps(prepare_ticks(ticks_of(lines, jsonl)), [0, 1, 2])
    assert steps[0].keys == frozenset() and is_null_action(steps[0])


def test_vpt_convention_compares_the_first_line_with_slot_zero(vpt_line, jsonl):
    assert inject_hotbar_keys(ticks_of([vpt_line(hotbar=0)], jsonl), "zero")[0].keys == ()
    assert inject_hotbar_keys(ticks_of([vpt_line(hotbar=8)], jsonl), "zero")[0].keys == ("key.keyboard.9",)
    assert prepare_ticks(ticks_of([vpt_line(hotbar=2)], jsonl), hotbar_start="zero")[0].keys == ("key.keyboard.3",)
    with pytest.raises(ValueError, match="hotbar_start='one'"):
        inject_hotbar_keys([], "one")


def test_missing_hotbar_neither_injects_nor_resets(vpt_line, jsonl):
    no_hotbar = vpt_line()
    del no_hotbar["hotbar"]
    ticks = parse_jsonl(jsonl([vpt_line(hotbar=2), no_hotbar, vpt_line(hotbar=2)]), "h").ticks
    assert [t.keys for t in inject_hotbar_keys(ticks, "zero")] == [("key.keyboard.3",), (), ()]
    assert [t.keys for t in inject_hotbar_keys(ticks)] == [(), (), ()]


# ------------------------------------------------------------------ stuck attack


def test_stuck_attack_removed_until_pressed_again(vpt_line, jsonl):
    lines = [vpt_line(buttons=[0], newButtons=[0]), vpt_line(buttons=[0, 1]), vpt_line(buttons=[]),
             vpt_line(buttons=[0], newButtons=[0]), vpt_line(buttons=[0])]
    out = fix_stuck_attack(ticks_of(lines, jsonl))
    assert [t.buttons for t in out] == [(), (1,), (), (0,), (0,)]


def test_stuck_attack_never_released_is_removed_everywhere(vpt_line, jsonl):
    lines = [vpt_line(buttons=[0], newButtons=[0])] + [vpt_line(buttons=[0])] * 5
    assert all(t.buttons == () for t in fix_stuck_attack(ticks_of(lines, jsonl)))


@pytest.mark.parametrize("first_new", [[], [0, 1], [1]])
def test_attack_not_stuck_is_left_alone(vpt_line, jsonl, first_new):
    lines = [vpt_line(buttons=[0, 1], newButtons=first_new), vpt_line(buttons=[0])]
    out = fix_stuck_attack(ticks_of(lines, jsonl))
    assert [t.buttons for t in out] == [(0, 1), (0,)]


def test_prepare_ticks_applies_both(vpt_line, jsonl):
    lines = [vpt_line(buttons=[0], newButtons=[0], hotbar=5), vpt_line(buttons=[0], hotbar=6)]
    first, second = prepare_ticks(ticks_of(lines, jsonl))
    assert first.buttons == () and first.keys == ()
    assert second.buttons == () and second.keys == ("key.keyboard.7",)


# ------------------------------------------------------------------ null actions


@pytest.mark.parametrize("buttons", [[3], [4], [3, 4]])
def test_unmapped_mouse_buttons_keep_an_action_null(vpt_line, jsonl, buttons):
    """VPT maps only buttons 0-2 (attack, use, pickItem); side buttons 3 and 4 are no action."""
    ticks = ticks_of([vpt_line(buttons=buttons, newButtons=buttons), vpt_line(), vpt_line(buttons=[*buttons, 1])], jsonl)
    assert [is_null_action(t) for t in ticks] == [True, True, False]
    first, second = aggregate_steps(ticks, [0, 1, 2])
    assert is_null_action(first) and window_is_null([first])
    assert first.buttons == frozenset(buttons)  # still recorded, only not counted as an action


def test_null_action_ignores_unmapped_keys_and_position(vpt_line, jsonl):
    ticks = ticks_of([vpt_line(), vpt_line(keys=["key.keyboard.tab", "key.keyboard.caps.lock",
                                                 "key.keyboard.scancode.0"], yaw=50.0),
                      vpt_line(keys=["key.keyboard.w"]), vpt_line(dx=0.5), vpt_line(dy=-1.0),
                      vpt_line(buttons=[2])], jsonl)
    assert [is_null_action(t) for t in ticks] == [True, True, False, False, False, False]


def test_window_is_null(vpt_line, jsonl):
    ticks = ticks_of([vpt_line()] * 8 + [vpt_line(keys=["key.keyboard.space"]), vpt_line()], jsonl)
    steps = aggregate_steps(ticks, [0, 4, 8])
    assert window_is_null(steps)
    assert not window_is_null(aggregate_steps(ticks, [0, 4, 8, 9])[1:])  # step 8..8 jumps


# ------------------------------------------------------------------ aggregation, by hand


def test_aggregate_sums_every_tick_and_takes_first_tick_state(vpt_line, jsonl):
    lines = [
        vpt_line(dx=1.0, dy=2.0, hotbar=1, isGuiOpen=True, yaw=10.0, pitch=0.0),
        vpt_line(dx=2.0, keys=["key.keyboard.w"], hotbar=2, yaw=10.15, pitch=0.3),
        vpt_line(dx=3.0, buttons=[1], yaw=10.45, pitch=0.3),
        vpt_line(dx=4.0, dwheel=-1.0, yaw=10.9, pitch=0.3),
        vpt_line(dx=100.0, keys=["key.keyboard.s"], yaw=11.5, pitch=0.3),  # next step's first tick
    ]
    (step,) = aggregate_steps(ticks_of(lines, jsonl), [0, 4])
    assert (step.start_tick, step.num_ticks, step.valid_ticks) == (0, 4, 4)
    assert (step.dx, step.dy, step.dwheel) == (10.0, 2.0, -1.0)  # ALL four ticks, not just tick 0
    assert step.keys == {"key.keyboard.w"} and step.buttons == {1}  # tick 4 belongs to the next step
    assert step.hotbar == 1 and step.gui_open
    assert step.yaw_diff == pytest.approx(1.5) and step.pitch_diff == pytest.approx(0.3)


@pytest.mark.parametrize("yaw0, yaw1, expected", [(179.0, -179.0, 2.0), (-179.0, 179.0, -2.0),
                                                  (170.0, 190.0, 20.0), (-350.0, 10.0, 0.0),
                                                  (0.0, 180.0, -180.0), (720.5, 0.0, -0.5)])
def test_yaw_difference_wraps_in_degrees(vpt_line, jsonl, yaw0, yaw1, expected):
    (step,) = aggregate_steps(ticks_of([vpt_line(yaw=yaw0), vpt_line(yaw=yaw1)], jsonl), [0, 1])
    assert step.yaw_diff == pytest.approx(expected)
    assert -180.0 <= step.yaw_diff < 180.0


def test_aggregate_rejects_bad_frame_ticks(vpt_line, jsonl):
    ticks = ticks_of([vpt_line()] * 5, jsonl)
    with pytest.raises(ValueError, match="increase"):
        aggregate_steps(ticks, [0, 2, 2])
    with pytest.raises(ValueError, match="5 ticks"):
        aggregate_steps(ticks, [0, 5])
    assert aggregate_steps(ticks, [3]) == []


def test_frame_ticks_for_clip():
    assert frame_ticks_for_clip(10, 8, 5) == [10, 14, 18, 22, 26, 30, 34, 38]
    assert frame_ticks_for_clip(0, 3, 20) == [0, 1, 2]
    assert frame_ticks_for_clip(0, 4, 4) == [0, 5, 10, 15]
    assert clip_span_ticks(8, 5) == 29
    for bad in [dict(fps=0), dict(fps=25), dict(frames=0), dict(start_tick=-1)]:
        kwargs = dict(start_tick=0, frames=8, fps=5) | bad
        with pytest.raises(ValueError):
            frame_ticks_for_clip(**kwargs)


# ------------------------------------------------------------------ properties

deltas = st.floats(-60, 60, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(deltas, deltas), min_size=2, max_size=60),
       st.floats(-180, 180), st.booleans(), st.integers(1, 6))
def test_yaw_diff_is_015_times_summed_dx_on_generated_recordings(
    camera_lines, jsonl, moves, yaw0, wrap_yaw, stride
):
    dxs = [m[0] for m in moves]
    dys = [m[1] / 20 for m in moves]  # small pitch moves from pitch 0 never reach the +-90 clamp
    ticks = ticks_of(camera_lines(dxs, dys, yaw0=yaw0, wrap_yaw=wrap_yaw), jsonl)
    frames = list(range(0, len(ticks), stride))
    for step in aggregate_steps(ticks, frames):
        assert step.dx == pytest.approx(sum(dxs[step.start_tick: step.start_tick + step.num_ticks]))
        expected_yaw = wrap_degrees(0.15 * step.dx)
        gap = abs(wrap_degrees(step.yaw_diff - expected_yaw))  # compare on the circle
        assert gap < 1e-6, (step, expected_yaw)
        assert step.pitch_diff == pytest.approx(0.15 * step.dy, abs=1e-6)


def _random_ticks(draw_data, n):
    keys = st.lists(st.sampled_from(["key.keyboard.w", "key.keyboard.1", "key.keyboard.tab"]), max_size=2)
    return [
        TickRecord(dx=draw_data.draw(deltas), dy=draw_data.draw(deltas), keys=tuple(draw_data.draw(keys)),
                   buttons=tuple(draw_data.draw(st.lists(st.integers(0, 2), max_size=2))),
                   yaw=draw_data.draw(st.floats(-400, 400)), pitch=draw_data.draw(st.floats(-90, 90)),
                   hotbar=draw_data.draw(st.integers(0, 8)), line=i + 1)
        for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(3, 40))
def test_splitting_a_window_sums_to_the_whole(data, n):
    ticks = _random_ticks(data, n)
    a, b, c = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=3, max_size=3, unique=True)))
    whole = aggregate_steps(ticks, [a, c])[0]
    left, right = aggregate_steps(ticks, [a, b, c])
    assert left.dx + right.dx == pytest.approx(whole.dx, abs=1e-9)
    assert left.dy + right.dy == pytest.approx(whole.dy, abs=1e-9)
    assert left.num_ticks + right.num_ticks == whole.num_ticks
    circle_gap = wrap_degrees(left.yaw_diff + right.yaw_diff - whole.yaw_diff)
    assert abs(circle_gap) < 1e-9 or abs(abs(circle_gap) - 360) < 1e-9
    assert left.keys | right.keys == whole.keys and left.buttons | right.buttons == whole.buttons
    assert (left.hotbar, left.gui_open) == (whole.hotbar, whole.gui_open)


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(2, 40), st.integers(1, 8))
def test_keys_and_buttons_are_or_of_the_window(data, n, stride):
    ticks = _random_ticks(data, n)
    for step in aggregate_steps(ticks, list(range(0, n, stride))):
        window = ticks[step.start_tick: step.start_tick + step.num_ticks]
        for key in ["key.keyboard.w", "key.keyboard.1", "key.keyboard.tab"]:
            assert (key in step.keys) == any(key in t.keys for t in window)
        for button in range(3):
            assert (button in step.buttons) == any(button in t.buttons for t in window)
        if all(is_null_action(t) for t in window):
            assert is_null_action(step)
        if is_null_action(step):  # (mouse sums may cancel, so only keys/buttons are implied)
            assert not any(t.buttons or "key.keyboard.w" in t.keys or "key.keyboard.1" in t.keys
                           for t in window)


@pytest.mark.parametrize("turn", [-463.95, -182.7, 182.7, 250.0])
@pytest.mark.parametrize("file_wraps_yaw", [False, True])
def test_fast_turn_within_one_step_keeps_its_size_and_sign(vpt_line, jsonl, turn, file_wraps_yaw):
    """Real data: a 5 fps step (4 ticks) turning -463.95 or -182.7 degrees. Wrapping the difference
    of the two sampled frames would give -103.95 and +177.3; summing per-tick differences does not."""
    yaws = [30.0 + turn * k / 4 for k in range(5)]  # one tick never turns more than 180 degrees
    if file_wraps_yaw:  # a recorder that writes yaw in [-180, 180) must give the same turn
        yaws = [wrap_degrees(y) for y in yaws]
    lines = [vpt_line(yaw=y, dx=turn / 4 / 0.15, pitch=-10.0 + k) for k, y in enumerate(yaws)]
    (step,) = aggregate_steps(ticks_of(lines, jsonl), [0, 4])
    assert step.yaw_diff == pytest.approx(turn, abs=1e-9)
    assert step.yaw_diff == pytest.approx(0.15 * step.dx, abs=1e-9)
    assert step.pitch_diff == pytest.approx(4.0, abs=1e-9)


def test_wrap_degrees_range():
    for angle in [-720.0, -540.0, -180.0, -0.0, 179.999, 180.0, 359.0, 1e6]:
        wrapped = wrap_degrees(angle)
        assert -180.0 <= wrapped < 180.0
        assert math.isclose(math.cos(math.radians(wrapped)), math.cos(math.radians(angle)), abs_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 200), st.sampled_from([1, 2, 3, 4, 5, 6.5, 10, 20]), st.integers(0, 30))
def test_segment_frame_ticks_are_every_sampled_frame(num_ticks, fps, start):
    ticks = segment_frame_ticks(num_ticks, fps, start_tick=start)
    assert all(start <= t < num_ticks for t in ticks)
    assert ticks == sorted(set(ticks))
    if ticks:  # the next frame would fall off the end
        assert frame_ticks_for_clip(start, len(ticks) + 1, fps)[-1] >= num_ticks
        assert ticks == frame_ticks_for_clip(start, len(ticks), fps)
    else:
        assert start >= num_ticks
