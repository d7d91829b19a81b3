import json
import os
import re

import numpy as np
import pytest

from craft_jepa.data.render import HEIGHT, WIDTH
from craft_jepa.data.synth import DEGREES_PER_MOUSE_UNIT, SynthConfig, generate_recording, write_recording
from craft_jepa.data.video import SegmentVideo

JSONL_KEYS = ["mouse", "keyboard", "isGuiOpen", "isGuiInventory", "hotbar", "yaw", "pitch", "xpos", "ypos",
              "zpos", "tick", "milli", "inventory", "serverTick", "serverTickDurationMs", "stats"]
MOUSE_KEYS = ["x", "y", "dx", "dy", "scaledX", "scaledY", "dwheel", "buttons", "newButtons"]


def _records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _wrap(deg):
    return (deg + 180.0) % 360.0 - 180.0


def test_same_seed_same_recording_other_seed_differs():
    a_lines, a_frames = generate_recording(SynthConfig(seconds=2.0, seed=5))
    b_lines, b_frames = generate_recording(SynthConfig(seconds=2.0, seed=5))
    c_lines, _ = generate_recording(SynthConfig(seconds=2.0, seed=6))
    assert a_lines == b_lines and a_lines != c_lines
    for fa, fb in zip(a_frames, b_frames):
        np.testing.assert_array_equal(fa, fb)


def test_files_have_vpt_format(synth_dataset):
    stem = synth_dataset.stems[0]
    parts = stem.split("-")
    assert re.fullmatch(r"[0-9a-f]{12}", parts[-3])  # the player id: 12 hex digits
    assert len(parts[-2]) == 8 and parts[-2].isdigit() and len(parts[-1]) == 6 and parts[-1].isdigit()
    assert os.path.isfile(os.path.join(synth_dataset.raw_dir, stem + "-options.json"))
    records = _records(synth_dataset.jsonl(stem))
    assert all(list(r) == JSONL_KEYS and list(r["mouse"]) == MOUSE_KEYS for r in records)
    assert [r["tick"] for r in records] == list(range(len(records)))
    with open(synth_dataset.mp4(stem), "rb") as f, SegmentVideo(f.read()) as video:
        assert video.num_frames == len(records) + 1  # the extra trailing frame
        assert (video.width, video.height) == (WIDTH, HEIGHT)


def test_camera_follows_mouse_at_vpt_sensitivity(synth_dataset):
    moved = 0
    for stem in synth_dataset.stems:
        records = _records(synth_dataset.jsonl(stem))
        for now, nxt in zip(records, records[1:]):
            dx, dy = now["mouse"]["dx"], now["mouse"]["dy"]
            if now["isGuiOpen"]:  # the mouse moves the cursor, not the camera
                assert (nxt["yaw"], nxt["pitch"]) == (now["yaw"], now["pitch"])
                continue
            assert _wrap(nxt["yaw"] - now["yaw"]) == pytest.approx(DEGREES_PER_MOUSE_UNIT * dx, abs=1e-3)
            expected_pitch = min(90.0, max(-90.0, now["pitch"] + DEGREES_PER_MOUSE_UNIT * dy))
            assert nxt["pitch"] == pytest.approx(expected_pitch, abs=1e-3)
            moved += dx != 0
    assert moved > 100  # the policy really moves the camera


def test_policy_covers_the_action_space(synth_dataset):
    records = [r for stem in synth_dataset.stems for r in _records(synth_dataset.jsonl(stem))]
    keys = {k for r in records for k in r["keyboard"]["keys"]}
    assert {"key.keyboard.w", "key.keyboard.a", "key.keyboard.d", "key.keyboard.space"} <= keys
    assert any(r["isGuiOpen"] for r in records) and any(0 in r["mouse"]["buttons"] for r in records)
    null = [not r["keyboard"]["keys"] and r["mouse"]["dx"] == 0 == r["mouse"]["dy"] and not r["mouse"]["buttons"]
            for r in records]
    assert 0.02 < np.mean(null) < 0.6  # some idle stretches, mostly activity
    # Scroll-wheel slot changes happen without a key press, as in real recordings.
    scrolls = [(a, b) for a, b in zip(records, records[1:]) if a["mouse"]["dwheel"] != 0]
    assert scrolls and all(b["hotbar"] != a["hotbar"] for a, b in scrolls)


def test_frames_respond_to_actions():
    lines, frames = generate_recording(SynthConfig(seconds=15.0, seed=11))
    records = [json.loads(line) for line in lines]
    frames = [f.copy() for f in frames]
    hotbar_rows = slice(HEIGHT - 50, HEIGHT)
    turned = hotbar_changed = 0
    for i, (now, nxt) in enumerate(zip(records, records[1:])):
        if not now["isGuiOpen"] and not nxt["isGuiOpen"] and abs(now["mouse"]["dx"]) >= 2:
            assert not np.array_equal(frames[i][:100], frames[i + 1][:100]), f"tick {i}: turned, sky unchanged"
            turned += 1
        if nxt["hotbar"] != now["hotbar"]:
            assert not np.array_equal(frames[i + 1][hotbar_rows], frames[i][hotbar_rows])
            hotbar_changed += 1
    assert turned > 20 and hotbar_changed > 0
    gui = [i for i, r in enumerate(records) if r["isGuiOpen"]]
    no_gui = [i for i, r in enumerate(records) if not r["isGuiOpen"]]
    assert gui and no_gui
    centre = (slice(150, 200), slice(250, 390))
    assert np.std([frames[i][centre].mean() for i in gui]) < 1.0  # the inventory panel covers it


def test_stamped_frames_carry_their_index(tmp_path):
    from craft_jepa.data.render import read_stamp

    stem = write_recording(str(tmp_path), SynthConfig(seconds=1.0, seed=3, stamp_index=True))
    with open(tmp_path / f"{stem}.mp4", "rb") as f, SegmentVideo(f.read()) as video:
        frames = video.decode(list(range(video.num_frames)), 48)
    assert [read_stamp(f) for f in frames] == list(range(len(frames)))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="seconds"):
        SynthConfig(seconds=0)
    with pytest.raises(ValueError, match="keyint"):
        SynthConfig(keyint=0)


_WRITE_ONE = """
import hashlib, os, sys
os.sched_setaffinity(0, {cpus})
import torch
torch.set_num_threads({threads})
from craft_jepa.data.synth import SynthConfig, write_recording
from craft_jepa.data.video import SegmentVideo
out = sys.argv[1]
stem = write_recording(out, SynthConfig(seconds=3.0, seed=11, keyint=None))
data = open(os.path.join(out, stem + ".mp4"), "rb").read()
with SegmentVideo(data, threads={decoder_threads}) as video:
    frames = video.decode(list(range(video.num_frames)), 64)
print(hashlib.sha256(data).hexdigest(), hashlib.sha256(frames.tobytes()).hexdigest())
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_recordings_are_the_same_bytes_whatever_the_core_and_thread_count(tmp_path):
    """libx264 picks its thread count from the CPUs it may use, and its output depends on it:
    the same recording written on 1 and on all cores (and decoded with 1 or 4 decoder
    threads) must give the same mp4 bytes and the same decoded frames."""
    import subprocess
    import sys

    all_cpus = sorted(os.sched_getaffinity(0))
    settings = [({all_cpus[0]}, 1, 1), (set(all_cpus), 4, 4)]
    hashes = []
    for i, (cpus, threads, decoder_threads) in enumerate(settings):
        script = _WRITE_ONE.format(cpus=cpus, threads=threads, decoder_threads=decoder_threads)
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / str(i))],
                             capture_output=True, text=True, check=True, timeout=300)
        hashes.append(out.stdout.split())
    assert hashes[0] == hashes[1], f"mp4 / decoded frames differ between {settings}: {hashes}"


def test_parallel_writers_write_the_same_files(tmp_path):
    from craft_jepa.data.synth import write_synth_dataset

    serial = write_synth_dataset(str(tmp_path / "one"), seconds=(1.0, 1.5, 1.0), seed=5, per_shard=1)
    parallel = write_synth_dataset(str(tmp_path / "two"), seconds=(1.0, 1.5, 1.0), seed=5, per_shard=1, workers=2)
    assert serial.stems == parallel.stems
    for stem in serial.stems:
        for path in (serial.mp4, serial.jsonl):
            with open(path(stem), "rb") as a, open(path(stem).replace("/one/", "/two/"), "rb") as b:
                assert a.read() == b.read(), path(stem)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        write_synth_dataset(str(tmp_path / "bad"), seconds=(1.0,), seed=5, workers=0)
