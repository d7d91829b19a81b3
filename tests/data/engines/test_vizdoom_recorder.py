"""Real-engine footage: `craft-jepa record --engine vizdoom` writes VPT recordings whose camera
record lines up with the pictures, the same bytes every time.

The engine tests need the optional extra `engine` (ViZDoom); the policy tests do not.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest

from craft_jepa.cli.main import main
from craft_jepa.data.engines.policy import (
    DEGREES_PER_MOUSE_UNIT,
    FORWARD,
    HOTBAR_KEYS,
    PolicyConfig,
    SmoothRandomPolicy,
)

JSONL_KEYS = ["mouse", "keyboard", "isGuiOpen", "isGuiInventory", "hotbar", "yaw", "pitch", "xpos", "ypos",
              "zpos", "tick", "milli", "inventory", "serverTick", "serverTickDurationMs", "stats"]
RECORD_ARGS = ["--engine", "vizdoom", "--segments", "2", "--seconds", "8", "--seed", "3",
               "--maps", "MAP01,E1M1", "--shards"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The same 2 segments of 8 s recorded twice, into OUT/raw + OUT/shards each."""
    pytest.importorskip("vizdoom")
    roots = [tmp_path_factory.mktemp(f"vizdoom_{i}") for i in range(2)]
    for root in roots:
        assert main(["record", "--out", str(root), *RECORD_ARGS]) == 0
    return roots


def _stems(root) -> list[str]:
    return sorted(name[: -len(".mp4")] for name in os.listdir(root / "raw") if name.endswith(".mp4"))


def _records(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_recording_twice_gives_the_same_bytes(recorded):
    first, second = recorded
    names = sorted(os.listdir(first / "raw"))
    assert names == sorted(os.listdir(second / "raw")) and len(names) == 6  # mp4, jsonl, options x 2
    for name in names:
        assert (first / "raw" / name).read_bytes() == (second / "raw" / name).read_bytes(), name
    assert {json.loads((first / "raw" / n).read_text())["map"] for n in names if n.endswith("-options.json")} \
        == {"MAP01", "E1M1"}


def test_files_are_vpt_recordings_that_pack_and_parse(recorded):
    from craft_jepa.data.pack import RawPair, validate_pair
    from craft_jepa.data.video import SegmentVideo
    from craft_jepa.vpt.jsonl import parse_jsonl

    root = recorded[0]
    report = json.loads((root / "shards" / "pack-report.json").read_text())
    assert report["written"] == 2 and not report["skipped"]
    for stem in _stems(root):
        mp4, jsonl = root / "raw" / f"{stem}.mp4", root / "raw" / f"{stem}.jsonl"
        assert validate_pair(RawPair(stem, str(mp4), str(jsonl))) is None
        parsed = parse_jsonl(jsonl.read_bytes(), str(jsonl))
        assert parsed.report.bad_lines == 0 and parsed.report.counts == {}, parsed.report.summary()
        assert len(parsed.ticks) == 8 * 20
        with SegmentVideo(mp4.read_bytes()) as video:
            assert video.num_frames == len(parsed.ticks) + 1  # VPT's extra trailing frame
            assert (video.width, video.height) == (640, 360)
        records = _records(jsonl)
        assert all(list(r) == JSONL_KEYS for r in records)
        assert [r["tick"] for r in records] == list(range(len(records)))
        # Integer mouse units with no GUI open, as VPT records them.
        assert all(float(r["mouse"]["dx"]).is_integer() and not r["isGuiOpen"] for r in records)


def test_recorded_camera_is_the_engine_following_the_mouse_at_vpt_units(recorded):
    """The yaw/pitch are the engine's angles; they move by 0.15 degree per recorded mouse unit
    (+dx turns right: yaw up; +dy looks down: pitch up), up to the engine's angle resolution."""
    turned = 0.0
    for stem in _stems(recorded[0]):
        records = _records(recorded[0] / "raw" / f"{stem}.jsonl")
        for now, nxt in itertools.pairwise(records):
            yaw_step = (nxt["yaw"] - now["yaw"] + 180.0) % 360.0 - 180.0
            assert yaw_step == pytest.approx(DEGREES_PER_MOUSE_UNIT * now["mouse"]["dx"], abs=0.02)
            if abs(now["pitch"]) < 25 and abs(nxt["pitch"]) < 25:  # the engine clamps near +-32
                assert nxt["pitch"] - now["pitch"] == pytest.approx(DEGREES_PER_MOUSE_UNIT * now["mouse"]["dy"],
                                                                    abs=0.02)
            turned += abs(yaw_step)
    assert turned > 90.0  # the policy really turns


def test_image_shift_follows_the_recorded_yaw_at_lag_zero(recorded):
    """Phase correlation of consecutive frames against the recorded yaw deltas, lags -3..3: turning
    right moves the scenery left (negative correlation) by about 4 px per degree, the peak is at
    lag 0, and the changes (first differences) peak there sharply. Measured on these segments
    (seed 3; MAP01, E1M1): rank r -0.93 and -0.75, 4.3 and 4.8 px per degree, lag 0 ahead of
    lag +-1 by 0.05 (a smooth camera correlates with itself); changes r -0.68 and -0.50, ahead of
    every other lag by 0.53 and 0.36. On 20 training segments of 30 s: r -0.73 to -0.94,
    changes' margin 0.44-0.64, all peaks at lag 0."""
    from craft_jepa.eval.recording_alignment import recording_alignment

    root = recorded[0]
    for stem in _stems(root):
        alignment = recording_alignment(str(root / "raw" / f"{stem}.mp4"), str(root / "raw" / f"{stem}.jsonl"))
        yaw, change = alignment["yaw"], alignment["yaw_change"]
        assert yaw.best_lag == 0 and yaw.correlation_at_zero < -0.6, (stem, yaw)
        assert -6.0 < yaw.px_per_degree < -3.0, (stem, yaw)
        assert change.best_lag == 0 and change.correlation_at_zero < -0.35 and change.margin() > 0.2, (stem, change)
        # Looking down (+pitch) moves the scenery up (-dy): the vertical shift follows the pitch too.
        assert alignment["pitch"].best_lag == 0 and alignment["pitch"].correlation_at_zero < -0.3, (stem, alignment)


def test_actions_command_reads_the_camera_in_degrees(recorded, capsys):
    root = recorded[0]
    jsonl = root / "raw" / f"{_stems(root)[0]}.jsonl"
    capsys.readouterr()
    assert main(["actions", str(jsonl), "--fps", "5", "--layout", "vpt38"]) == 0
    out = capsys.readouterr()
    rows = [json.loads(line) for line in out.out.splitlines()]
    assert len(rows) == 8 * 5 - 1 and "0 bad" in out.err
    for row in rows:  # 4 raw ticks per step, yaw summed per tick
        assert row["yaw_diff"] == pytest.approx(DEGREES_PER_MOUSE_UNIT * row["mouse_dx"], abs=0.05)
    assert any(row["key_w"] for row in rows)


def test_record_refuses_an_unknown_map(tmp_path, capsys):
    assert main(["record", "--out", str(tmp_path), "--maps", "MAP01,NOPE7"]) == 2
    assert "NOPE7" in capsys.readouterr().err
    assert not os.listdir(tmp_path)


# ------------------------------------------------------------------ policy (no engine needed)


def _play(seed: int, frames: int, blocked_at: set[int] = frozenset(), open_side: float = 0.0):
    policy = SmoothRandomPolicy(np.random.default_rng(seed), PolicyConfig(turn_chance=0.0, idle_chance=0.0))
    return [policy.act(0.0, i in blocked_at, open_side, (0, 1), 1) for i in range(frames)]


def test_policy_is_seeded_and_smooth():
    a, b, c = _play(4, 400), _play(4, 400), _play(5, 400)
    assert a == b and a != c
    dx = np.array([action.dx for action in a], dtype=float)
    # Smooth: the yaw rate of one frame predicts the next (an OU process, not white noise).
    assert np.corrcoef(dx[1:], dx[:-1])[0, 1] > 0.7
    assert sum(FORWARD in action.keys for action in a) > 200  # mostly walking forward


def test_blocked_policy_turns_towards_the_open_side():
    for side in (-1.0, 1.0):
        actions = _play(7, 60, blocked_at={0}, open_side=side)
        turned = sum(action.dx for action in actions) * DEGREES_PER_MOUSE_UNIT
        assert turned * side > 40.0  # a turn of 45-180 degrees that way, plus a little wander


def test_policy_switches_only_to_owned_slots():
    policy = SmoothRandomPolicy(np.random.default_rng(0), PolicyConfig(hotbar_chance=0.5))
    pressed = {action.hotbar_slot() for action in (policy.act(0.0, False, 0.0, (0, 3), 3) for _ in range(200))}
    assert pressed == {None, 0}
    assert HOTBAR_KEYS[0] == "key.keyboard.1"
