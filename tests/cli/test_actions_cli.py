"""`craft-jepa actions FILE.jsonl` on a small hand-made recording."""

from __future__ import annotations

import json

import pytest

from craft_jepa.cli.main import main


def line(yaw: float, dx: float = 0.0, keys: list[str] | None = None, hotbar: int = 0) -> str:
    return json.dumps({"mouse": {"dx": dx, "dy": 0.0, "buttons": [], "newButtons": []},
                       "keyboard": {"keys": keys or [], "newKeys": []},
                       "isGuiOpen": False, "hotbar": hotbar, "yaw": yaw, "pitch": 0.0})


@pytest.fixture
def recording(tmp_path):
    # 10 ticks, camera convention: yaw_{i+1} = yaw_i + 0.15 dx_i; tick 5 is garbage
    yaws = [0.0]
    for _ in range(9):
        yaws.append(yaws[-1] + 0.15 * 10.0)
    lines = [line(yaws[i], dx=10.0, keys=["key.keyboard.w"] if i < 4 else None, hotbar=1 if i >= 4 else 0)
             for i in range(10)]
    lines[5] = "{not json"
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_prints_one_named_object_per_step(recording, capsys):
    assert main(["actions", str(recording), "--fps", "5", "--layout", "vpt38", "--state-layout", "pitch"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(r) for r in out.splitlines()]
    assert [r["tick"] for r in rows] == [0, 4]  # frames at ticks 0, 4, 8
    assert rows[0]["mouse_dx"] == 40.0 and rows[0]["yaw_diff"] == pytest.approx(6.0)
    assert rows[0]["key_w"] == 1 and rows[1]["key_w"] == 0
    assert rows[1]["key_2"] == 1 and rows[1]["hotbar_1"] == 1  # injected on the slot change
    assert rows[1]["mouse_dx"] == 30.0 and rows[1]["bad_ticks"] == 1  # the garbage line adds nothing
    assert rows[0]["state"] == {"pitch_over_90": 0.0}
    assert len(rows[0]) == 3 + 38 + 1
    assert "rec.jsonl:6: invalid JSON" in err and "2 steps at 5 fps" in err


def test_vpt_names_and_custom_layout(recording, capsys):
    assert main(["actions", str(recording), "--layout", "mouse_dx,key_w", "--vpt-names", "--max-steps", "1"]) == 0
    (row,) = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert row == {"step": 0, "tick": 0, "ticks": 4, "camera_dx": 40.0, "forward": True}


def test_bad_arguments_exit_2_with_a_message(recording, tmp_path, capsys):
    assert main(["actions", str(recording), "--layout", "vpt99"]) == 2
    assert "unknown action layout 'vpt99'" in capsys.readouterr().err
    assert main(["actions", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("flag,key_3_at_step_0", [([], 0), (["--hotbar-start", "zero"], 1)])
def test_hotbar_start_flag(tmp_path, capsys, flag, key_3_at_step_0):
    """A recording that starts on slot 2: VPT's convention (previous slot 0) presses key 3 at step 0."""
    path = tmp_path / "slot2.jsonl"
    path.write_text("\n".join(line(0.0, hotbar=2) for _ in range(5)) + "\n")
    assert main(["actions", str(path), "--max-steps", "1", *flag]) == 0
    (row,) = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert row["key_3"] == key_3_at_step_0 and row["hotbar_2"] == 1
