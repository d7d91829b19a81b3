"""Actions from the data engineer's synthetic recordings obey the camera convention."""

from __future__ import annotations

import pytest

from craft_jepa.vpt.actions import aggregate_steps, prepare_ticks, segment_frame_ticks, wrap_degrees
from craft_jepa.vpt.jsonl import parse_jsonl

synth = pytest.importorskip("craft_jepa.data.synth")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_yaw_and_pitch_diffs_are_015_times_summed_mouse(seed):
    lines, _frames = synth.generate_recording(synth.SynthConfig(seconds=30.0, seed=seed))  # frames unrendered
    parsed = parse_jsonl(("\n".join(lines) + "\n").encode(), f"synth-{seed}.jsonl")
    assert parsed.report.bad_lines == 0
    ticks = prepare_ticks(parsed.ticks)
    checked = moved = 0
    for step in aggregate_steps(ticks, segment_frame_ticks(len(ticks), fps=5)):
        window = ticks[step.start_tick: step.start_tick + step.num_ticks + 1]
        if any(t.gui_open for t in window) or any(abs(t.pitch) >= 89.99 for t in window):
            continue  # a GUI takes the mouse; the pitch clamp eats motion
        assert abs(wrap_degrees(step.yaw_diff - 0.15 * step.dx)) < 5e-4  # jsonl rounds to 1e-4 degree
        assert step.pitch_diff == pytest.approx(0.15 * step.dy, abs=5e-4)
        checked += 1
        moved += abs(step.yaw_diff) > 1.0
    assert checked > 100 and moved > 10  # of 149 steps: the property was really exercised
