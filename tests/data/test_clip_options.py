"""ClipConfig options reach the clips: hotbar_start (phantom key at step 0) and max_crop_aspect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from craft_jepa.configuration import ConfigError, load_config
from craft_jepa.data.clips import ClipConfig, Segment
from craft_jepa.vpt.layouts import get_action_layout, get_state_layout


def _on_slot_2(jsonl: bytes) -> bytes:
    """The recording's lines, all on hotbar slot 2 with no digit key held."""
    lines = []
    for raw in jsonl.splitlines():
        line = json.loads(raw)
        line["hotbar"] = 2
        line["keyboard"]["keys"] = [k for k in line["keyboard"]["keys"] if not k[-1].isdigit()]
        line["keyboard"]["newKeys"] = [k for k in line["keyboard"]["newKeys"] if not k[-1].isdigit()]
        lines.append(json.dumps(line, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def segment(synth_dataset):
    stem = synth_dataset.stems[0]
    with open(synth_dataset.mp4(stem), "rb") as mp4, open(synth_dataset.jsonl(stem), "rb") as jsonl:
        seg = Segment(stem, mp4.read(), _on_slot_2(jsonl.read()))
    yield seg
    seg.close()


@pytest.mark.parametrize("hotbar_start,pressed", [("first_line", 0.0), ("zero", 1.0)])
def test_hotbar_start_decides_the_key_press_at_step_0(segment, hotbar_start, pressed):
    cfg = ClipConfig(frames=3, size=32, hotbar_start=hotbar_start)
    layout = get_action_layout(cfg.action_layout)
    (clip,) = segment.cut([0], cfg, layout, get_state_layout("none"))
    key_3 = layout.feature_names.index("key_3")
    assert clip.actions[0, key_3] == pressed and clip.actions[1:, key_3].sum() == 0


def test_max_crop_aspect_changes_the_frames(segment):
    layout, states = get_action_layout("vpt38"), get_state_layout("none")
    (square,) = segment.cut([0], ClipConfig(frames=2, size=32), layout, states)
    (wide,) = segment.cut([0], ClipConfig(frames=2, size=32, max_crop_aspect=1.35), layout, states)
    assert square.frames.shape == wide.frames.shape == (2, 32, 32, 3)
    assert not np.array_equal(square.frames, wide.frames)


def test_options_are_config_reachable_and_checked():
    cfg = load_config(ClipConfig, {}, ["hotbar_start=zero", "max_crop_aspect=1.35"])
    assert (cfg.hotbar_start, cfg.max_crop_aspect) == ("zero", 1.35)
    with pytest.raises((ConfigError, ValueError), match="hotbar_start"):
        load_config(ClipConfig, {}, ["hotbar_start=vpt"])
    with pytest.raises((ConfigError, ValueError), match="max_crop_aspect"):
        load_config(ClipConfig, {}, ["max_crop_aspect=0.5"])
