"""The jsonl parser survives thousands of randomly corrupted VPT lines, counting each bad one."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from craft_jepa.vpt.actions import aggregate_steps, prepare_ticks
from craft_jepa.vpt.jsonl import parse_jsonl
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout

GOOD = {"mouse": {"x": 640.0, "y": 360.0, "dx": 3.5, "dy": -1.0, "scaledX": 0.0, "scaledY": 0.0,
                  "dwheel": 0.0, "buttons": [0], "newButtons": []},
        "keyboard": {"keys": ["key.keyboard.w"], "newKeys": [], "chars": ""},
        "isGuiOpen": False, "isGuiInventory": False, "hotbar": 3, "yaw": 12.5, "pitch": -4.0,
        "xpos": 1.0, "ypos": 2.0, "zpos": 3.0, "tick": 7, "milli": 1624000000000,
        "inventory": [], "stats": {}}
GOOD_BYTES = json.dumps(GOOD, separators=(",", ":")).encode()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def corrupted_line(draw) -> bytes:
    kind = draw(st.sampled_from(["good", "flip", "cut", "insert", "field", "nested", "random"]))
    if kind == "good":
        return GOOD_BYTES
    if kind == "flip":  # random bytes overwritten (may give non-UTF-8)
        data = bytearray(GOOD_BYTES)
        for _ in range(draw(st.integers(1, 5))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data).replace(b"\n", b" ")
    if kind == "cut":
        return GOOD_BYTES[: draw(st.integers(1, len(GOOD_BYTES) - 1))]
    if kind == "insert":
        at = draw(st.integers(0, len(GOOD_BYTES)))
        junk = draw(st.binary(min_size=1, max_size=8)).replace(b"\n", b"")
        return GOOD_BYTES[:at] + junk + GOOD_BYTES[at:]
    if kind == "field":  # a top-level field replaced by any JSON value (or removed)
        line = json.loads(GOOD_BYTES)
        key = draw(st.sampled_from(sorted(line)))
        if draw(st.booleans()):
            del line[key]
        else:
            line[key] = draw(json_values)
        return json.dumps(line).encode()
    if kind == "nested":
        line = json.loads(GOOD_BYTES)
        group = draw(st.sampled_from(["mouse", "keyboard"]))
        line[group][draw(st.sampled_from(sorted(line[group])))] = draw(json_values)
        return json.dumps(line).encode()
    return draw(st.binary(max_size=40)).replace(b"\n", b"")


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corrupted_line(), min_size=1, max_size=40), st.booleans())
def test_parser_never_crashes_and_counts_every_bad_line(lines, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    parsed = parse_jsonl(data, "fuzz.jsonl")
    # One tick per line up to the last non-blank one: interior blank lines keep their place.
    assert len(parsed.ticks) == max((i + 1 for i, raw in enumerate(lines) if raw.strip()), default=0)
    invalid = [t for t in parsed.ticks if not t.valid]
    assert parsed.report.bad_lines == len(invalid)
    for tick in parsed.ticks:  # every tick, good or bad, is well-formed
        assert all(math.isfinite(v) for v in (tick.dx, tick.dy, tick.dwheel, tick.yaw, tick.pitch))
        assert all(isinstance(k, str) for k in tick.keys) and all(isinstance(b, int) for b in tick.buttons)
        assert tick.hotbar is None or 0 <= tick.hotbar <= 8
        if not tick.valid:
            assert (tick.dx, tick.dy, tick.keys, tick.buttons) == (0.0, 0.0, (), ())
    for message in parsed.report.messages:
        assert message.startswith("fuzz.jsonl:")
    # ...and everything downstream copes with whatever came out
    ticks = prepare_ticks(parsed.ticks)
    if len(ticks) >= 2:
        frames = list(range(0, len(ticks), 4))
        if len(frames) >= 2:
            actions = get_action_layout("vpt38").encode(aggregate_steps(ticks, frames))
            assert np.isfinite(actions).all()
        assert np.isfinite(get_state_layout("yaw_pitch").encode(ticks)).all()


def test_the_good_line_is_good():
    parsed = parse_jsonl(GOOD_BYTES + b"\n", "g")
    assert parsed.ticks[0].valid and parsed.report.counts == {}
