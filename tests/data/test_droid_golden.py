"""DROID-format reading against Meta's own loader: 108 golden cases of `loadvideo_decord`.

tests/fixtures/droid-golden/ (its README says how it was made): three synthetic DROID-format
trajectories and, per case, what vjepa2's `DROIDVideoDataset.loadvideo_decord` returned.
Frames: frame k has red channel (3k) mod 256 plus a white band k mod 64 px wide, so the mean
red value of a decoded frame says which frame it is; consecutive sampled frames differ by at
least 5 in that mean, so 0.5 tells frames apart and leaves room for a different YUV->RGB
rounding (PyAV here, decord there; both libswscale, measured equal to the last digit).
States, extrinsics and actions: float64 on both sides, agreement to 1e-9 (README).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
pytest.importorskip("scipy")

from craft_jepa.data.droid import DroidConfig, DroidTrajectory
from craft_jepa.data.droid_config import read_path_list

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "droid-golden"
CASES = json.loads((FIXTURE / "golden.json").read_text())["cases"]
FLOAT_ATOL = 1e-9
RED_MEAN_ATOL = 0.5


def test_fixture_holds_all_cases_and_the_path_list_names_every_trajectory() -> None:
    assert len(CASES) == 108
    listed = read_path_list(FIXTURE / "droid_paths.csv")
    assert sorted(listed) == sorted({case["trajectory"] for case in CASES})


@pytest.fixture(scope="module")
def trajectories():
    opened: dict[tuple[str, str], DroidTrajectory] = {}
    yield lambda name, view: opened.setdefault((name, view), DroidTrajectory(FIXTURE / name, view))
    for trajectory in opened.values():
        trajectory.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: (
    f"{c['trajectory'].split('/')[-1]}-{c['camera_view'][:-9]}-cam{int(c['camera_frame'])}"
    f"-f{c['frames_per_clip']}-fps{c['fps']}-tub{c['tubelet_size']}-end{c['window_end_exclusive']}"))
def test_matches_metas_loader(case: dict, trajectories) -> None:
    trajectory = trajectories(case["trajectory"], case["camera_view"])
    assert trajectory.video_fps == case["video_fps"]
    cfg = DroidConfig(camera_views=[case["camera_view"]], tubelet_size=case["tubelet_size"],
                      camera_frame=case["camera_frame"])
    clip = trajectory.clip(case["window_start"], case["frames_per_clip"], case["fps"], cfg, size=None)

    assert clip.indices.tolist() == case["indices"]
    red_mean = clip.frames[..., 0].reshape(len(clip.indices), -1).mean(axis=1)  # (frames,)
    np.testing.assert_allclose(red_mean, case["frame_red_mean"], rtol=0, atol=RED_MEAN_ATOL)
    for name in ("states", "extrinsics", "actions"):
        expected = np.asarray(case[name], dtype=np.float64)
        got = getattr(clip, name)
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=0, atol=FLOAT_ATOL, err_msg=name)


def test_window_end_is_within_the_video(trajectories) -> None:
    """Meta draws the window end from randint(nframes, vlen): our max_start is its last start."""
    for case in CASES:
        trajectory = trajectories(case["trajectory"], case["camera_view"])
        assert case["window_start"] <= trajectory.max_start(case["frames_per_clip"], case["fps"])
