"""parse_jsonl on hand-written VPT lines covering each real-world quirk."""

from __future__ import annotations

import json

import pytest

from craft_jepa.vpt.jsonl import BAD_LINE_KINDS, parse_jsonl


def test_full_line_fields(vpt_line, jsonl):
    line = vpt_line(dx=12.5, dy=-3.0, dwheel=1.0, buttons=[0, 1], newButtons=[1],
                    keys=["key.keyboard.w", "key.keyboard.tab"], newKeys=["key.keyboard.w"],
                    hotbar=4, yaw=-170.25, pitch=33.0, isGuiOpen=True)
    parsed = parse_jsonl(jsonl([line]), "a.jsonl")
    (tick,) = parsed.ticks
    assert tick.valid and tick.line == 1
    assert (tick.dx, tick.dy, tick.dwheel) == (12.5, -3.0, 1.0)
    assert tick.buttons == (0, 1) and tick.new_buttons == (1,)
    assert tick.keys == ("key.keyboard.w", "key.keyboard.tab")  # unmapped keys are kept raw
    assert tick.new_keys == ("key.keyboard.w",)
    assert (tick.hotbar, tick.yaw, tick.pitch, tick.gui_open) == (4, -170.25, 33.0, True)
    assert parsed.report.counts == {} and parsed.report.bad_lines == 0


@pytest.mark.parametrize("which", ["mouse", "keyboard"])
@pytest.mark.parametrize("how", ["null", "missing"])
def test_null_or_missing_mouse_keyboard_is_a_valid_line_without_input(vpt_line, jsonl, which, how):
    line = vpt_line(dx=5.0, buttons=[0], keys=["key.keyboard.w"], yaw=20.0)
    if how == "null":
        line[which] = None
    else:
        del line[which]
    parsed = parse_jsonl(jsonl([line]), "old.jsonl")
    (tick,) = parsed.ticks
    assert tick.valid and tick.yaw == 20.0
    if which == "mouse":
        assert (tick.dx, tick.buttons, tick.keys) == (0.0, (), ("key.keyboard.w",))
    else:
        assert (tick.dx, tick.buttons, tick.keys) == (5.0, (0,), ())
    assert parsed.report.counts == {f"{how}_{which}": 1}
    assert parsed.report.bad_lines == 0


def test_missing_hotbar_is_none_and_counted(vpt_line, jsonl):
    line = vpt_line()
    del line["hotbar"]
    parsed = parse_jsonl(jsonl([line, vpt_line(hotbar=2)]), "v6.jsonl")
    assert [t.hotbar for t in parsed.ticks] == [None, 2]
    assert parsed.report.counts == {"missing_hotbar": 1}


def test_unknown_json_keys_are_ignored(vpt_line, jsonl):
    line = vpt_line(yaw=1.0, futureField={"a": [1, 2]}, stats={"x": "not an int"})
    (tick,) = parse_jsonl(jsonl([line]), "f").ticks
    assert tick.valid and tick.yaw == 1.0


def test_interior_blank_lines_keep_their_place_and_trailing_ones_are_dropped(vpt_line, jsonl):
    data = jsonl([vpt_line(yaw=0.0), "", "   ", vpt_line(yaw=1.0)]) + b"\n\n"
    parsed = parse_jsonl(data, "b.jsonl")
    assert [t.line for t in parsed.ticks] == [1, 2, 3, 4]  # tick i <-> line i+1 <-> frame i
    assert [t.valid for t in parsed.ticks] == [True, False, False, True]
    assert [t.yaw for t in parsed.ticks] == [0.0, 0.0, 0.0, 1.0]  # blanks hold the camera still
    assert parsed.report.counts == {"blank_line": 2, "trailing_blank_line": 2}
    assert parsed.report.bad_lines == 2 and parsed.report.lines == 4
    assert any(m.startswith("b.jsonl:2: blank line inside the file") for m in parsed.report.messages)


def test_a_blank_line_does_not_shift_later_lines_onto_earlier_frames(vpt_line, jsonl):
    """Frame k shows yaw k here; with the blank line dropped, line 4 (yaw 3) would pair with frame 2."""
    lines = [vpt_line(yaw=float(k)) for k in range(6)]
    lines[2] = ""
    ticks = parse_jsonl(jsonl(lines), "s.jsonl").ticks
    assert len(ticks) == 6
    for frame, tick in enumerate(ticks):
        if tick.valid:
            assert tick.yaw == float(frame)


def test_crlf_line_endings(vpt_line, jsonl):
    data = jsonl([vpt_line(yaw=3.0), vpt_line(yaw=4.0)]).replace(b"\n", b"\r\n")
    parsed = parse_jsonl(data, "w.jsonl")
    assert [t.yaw for t in parsed.ticks] == [3.0, 4.0] and parsed.report.bad_lines == 0


def test_truncated_last_line(vpt_line, jsonl):
    data = jsonl([vpt_line(yaw=5.0), vpt_line(yaw=6.0)])
    cut = data[: len(data) - 30]  # the recorder died mid-write: no final newline
    parsed = parse_jsonl(cut, "t.jsonl")
    assert [t.valid for t in parsed.ticks] == [True, False]
    assert parsed.report.counts == {"truncated_last_line": 1}
    assert parsed.report.messages[0].startswith("t.jsonl:2: last line cut off")


def test_garbage_middle_line_is_a_null_tick_with_carried_camera(vpt_line, jsonl):
    lines = [vpt_line(yaw=10.0, pitch=5.0), "<<garbage>>", vpt_line(yaw=12.0, pitch=6.0)]
    parsed = parse_jsonl(jsonl(lines), "g.jsonl")
    bad = parsed.ticks[1]
    assert not bad.valid and bad.line == 2
    assert (bad.dx, bad.dy, bad.keys, bad.buttons, bad.hotbar) == (0.0, 0.0, (), (), None)
    assert (bad.yaw, bad.pitch) == (10.0, 5.0)  # camera held: diffs across it stay true
    assert parsed.report.counts == {"invalid_json": 1}
    assert parsed.report.messages[0].startswith("g.jsonl:2: invalid JSON")


def test_leading_bad_lines_take_the_first_good_camera(vpt_line, jsonl):
    parsed = parse_jsonl(jsonl(["{", "[1,2]", vpt_line(yaw=-90.0, pitch=45.0)]), "l.jsonl")
    assert [(t.valid, t.yaw, t.pitch) for t in parsed.ticks[:2]] == [(False, -90.0, 45.0)] * 2
    assert parsed.report.counts == {"invalid_json": 1, "not_an_object": 1}


def test_non_utf8_bytes(vpt_line, jsonl):
    data = jsonl([vpt_line(), b'{"mouse": "\xff\xfe"}', vpt_line()])
    parsed = parse_jsonl(data, "u.jsonl")
    assert [t.valid for t in parsed.ticks] == [True, False, True]
    assert parsed.report.counts == {"non_utf8": 1}
    assert "u.jsonl:2: not UTF-8" in parsed.report.messages[0]


@pytest.mark.parametrize(
    "overrides, names",
    [
        ({"dx": "12"}, "mouse.dx"),
        ({"dy": True}, "mouse.dy"),
        ({"buttons": "0"}, "mouse.buttons"),
        ({"buttons": [0.0]}, "mouse.buttons"),
        ({"keys": "key.keyboard.w"}, "keyboard.keys"),
        ({"keys": [1]}, "keyboard.keys"),
        ({"hotbar": 9}, "hotbar"),
        ({"hotbar": "3"}, "hotbar"),
        ({"hotbar": 3.0}, "hotbar"),
        ({"isGuiOpen": 1}, "isGuiOpen"),
        ({"yaw": None}, "yaw"),
        ({"mouse": [1, 2]}, "mouse"),
        ({"keyboard": "w"}, "keyboard"),
    ],
)
def test_wrong_types_make_a_bad_line_naming_the_key(vpt_line, jsonl, overrides, names):
    parsed = parse_jsonl(jsonl([vpt_line(yaw=7.0), vpt_line(**overrides)]), "x.jsonl")
    assert not parsed.ticks[1].valid and parsed.ticks[1].yaw == 7.0
    assert parsed.report.counts == {"wrong_type": 1}
    assert parsed.report.messages[0].startswith("x.jsonl:2: ") and names in parsed.report.messages[0]


def test_missing_camera_and_non_finite_numbers(vpt_line, jsonl):
    no_yaw = vpt_line()
    del no_yaw["yaw"]
    nan_line = jsonl([vpt_line()]).replace(b'"dx":0.0', b'"dx":NaN').strip()
    huge = jsonl([vpt_line()]).replace(b'"yaw":0.0', b'"yaw":1e999').strip()
    parsed = parse_jsonl(jsonl([vpt_line(), no_yaw, nan_line, huge]), "n.jsonl")
    assert [t.valid for t in parsed.ticks] == [True, False, False, False]
    assert parsed.report.counts == {"missing_camera": 1, "non_finite": 2}


def test_messages_are_capped_per_kind_but_all_are_counted(jsonl):
    parsed = parse_jsonl(jsonl(["oops"] * 50), "m.jsonl")
    assert parsed.report.counts == {"invalid_json": 50}
    assert len(parsed.report.messages) == parsed.report.max_messages_per_kind
    assert parsed.report.bad_lines == 50 and len(parsed.ticks) == 50


def test_empty_file():
    parsed = parse_jsonl(b"", "e.jsonl")
    assert parsed.ticks == [] and parsed.report.bad_lines == 0


def test_bad_kinds_are_disjoint_from_quirks():
    from craft_jepa.vpt.jsonl import QUIRK_KINDS

    assert not set(BAD_LINE_KINDS) & set(QUIRK_KINDS)


def test_prefix_fast_path_agrees_with_full_decoding(vpt_line, jsonl):
    """Lines are decoded up to "xpos" when that is safe; the result must not change."""
    line = vpt_line(dx=1.5, keys=["key.keyboard.w"], hotbar=6, yaw=-12.0, pitch=3.0)
    reordered = {"xpos": 1.0, **{k: v for k, v in line.items() if k != "xpos"}}  # marker first
    no_marker = {k: v for k, v in line.items() if k != "xpos"}
    typed = vpt_line(keyboard={"keys": [], "newKeys": [], "chars": '\\",\\"xpos\\":'})
    parsed = parse_jsonl(jsonl([line, reordered, no_marker, typed]), "p.jsonl")
    assert all(t.valid for t in parsed.ticks) and parsed.report.counts == {}
    first = parsed.ticks[0]
    for other in parsed.ticks[1:3]:
        assert (other.dx, other.keys, other.hotbar, other.yaw, other.pitch) == (
            first.dx, first.keys, first.hotbar, first.yaw, first.pitch)


def test_corruption_in_the_needed_prefix_is_caught_in_the_tail_ignored(vpt_line, jsonl):
    good = jsonl([vpt_line()]).strip()
    bad_prefix = good.replace(b'"yaw":0.0', b'"yaw":0..0')
    bad_tail = good.replace(b'"quantity":3', b'"quantity":3x')  # inventory is never used
    parsed = parse_jsonl(b"\n".join([bad_prefix, bad_tail]) + b"\n", "c.jsonl")
    assert [t.valid for t in parsed.ticks] == [False, True]
    assert parsed.report.counts == {"invalid_json": 1}


@pytest.mark.parametrize("has_hotbar", [True, False], ids=["6.11+", "before-6.11"])
def test_lines_with_or_without_hotbar_take_the_fast_path(vpt_line, jsonl, has_hotbar):
    """Only the prefix before "xpos" is decoded (vpt/jsonl.py, _TAIL_MARKER). Seen from outside: a
    tail that is not JSON costs the tick nothing, where a full decode would make it a bad line."""
    line = vpt_line(yaw=2.0, hotbar=4, stats={f"stat_{i}": i for i in range(50)})
    if not has_hotbar:
        del line["hotbar"]
    text = jsonl([line] * 3).decode()
    corrupt = text.replace('"stat_7":7', '"stat_7":nope')
    assert corrupt != text
    with pytest.raises(ValueError):
        json.loads(corrupt.splitlines()[0])  # the whole line is not JSON
    parsed = parse_jsonl(corrupt.encode(), "f.jsonl")
    assert parsed.report.bad_lines == 0
    assert [t.hotbar for t in parsed.ticks] == [4 if has_hotbar else None] * 3
    assert all(t.valid and t.yaw == 2.0 for t in parsed.ticks)


def test_a_hotbar_after_the_position_falls_back_to_the_full_decode(vpt_line, jsonl):
    line = vpt_line(yaw=2.0)
    del line["hotbar"]
    line["hotbar"] = 6  # dict order: now after xpos, outside the fast-path prefix
    (tick,) = parse_jsonl(jsonl([line]), "late.jsonl").ticks
    assert tick.valid and tick.hotbar == 6
