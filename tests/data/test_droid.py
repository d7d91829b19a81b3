"""DROID-format source: pose arithmetic, synthetic trajectories, the loader's order and bad input."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")
pytest.importorskip("scipy")
from scipy.spatial.transform import Rotation  # noqa: E402

from craft_jepa.data.clips import ClipConfig  # noqa: E402
from craft_jepa.data.droid import DroidTrajectory, poses_to_actions, to_camera_frame, window_indices  # noqa: E402
from craft_jepa.data.droid_config import DROID_STAT_KEYS, DroidConfig, read_path_list  # noqa: E402
from craft_jepa.data.droid_loader import build_droid_train_loader, build_droid_val_loader  # noqa: E402
from craft_jepa.data.droid_synth import random_walk_states, render_frames, write_droid_dataset  # noqa: E402
from craft_jepa.data.loader import DataWarning  # noqa: E402
from craft_jepa.data.synth import encode_mp4  # noqa: E402

CLIP = ClipConfig(frames=4, fps=4.0, size=32, action_layout="droid7", state_layout="droid7")


def _random_poses(n: int, seed: int) -> np.ndarray:
    return random_walk_states(n, np.random.default_rng(seed))


def test_actions_roll_the_pose_forward() -> None:
    """xyz[t] + dxyz = xyz[t+1], R(action) R[t] = R[t+1], gripper[t] + dg = gripper[t+1]."""
    states = _random_poses(50, seed=3)
    actions = poses_to_actions(states)
    assert actions.shape == (49, 7)
    np.testing.assert_allclose(states[:-1, :3] + actions[:, :3], states[1:, :3], atol=1e-12)
    np.testing.assert_allclose(states[:-1, 6] + actions[:, 6], states[1:, 6], atol=1e-12)
    rolled = (Rotation.from_euler("xyz", actions[:, 3:6]) * Rotation.from_euler("xyz", states[:-1, 3:6])).as_matrix()
    np.testing.assert_allclose(rolled, Rotation.from_euler("xyz", states[1:, 3:6]).as_matrix(), atol=1e-10)


def test_camera_frame_round_trips_through_the_extrinsics() -> None:
    states = _random_poses(20, seed=4)
    extrinsics = np.concatenate([_random_poses(20, seed=5)[:, :3], _random_poses(20, seed=6)[:, 3:6]], axis=1)
    in_camera = to_camera_frame(states, extrinsics)
    camera = np.tile(np.eye(4), (20, 1, 1))
    camera[:, :3, :3] = Rotation.from_euler("xyz", extrinsics[:, 3:]).as_matrix()
    camera[:, :3, 3] = extrinsics[:, :3]
    local = np.tile(np.eye(4), (20, 1, 1))
    local[:, :3, :3] = Rotation.from_euler("xyz", in_camera[:, 3:6]).as_matrix()
    local[:, :3, 3] = in_camera[:, :3]
    back = camera @ local  # E (E^-1 P) = P
    np.testing.assert_allclose(back[:, :3, 3], states[:, :3], atol=1e-12)
    np.testing.assert_allclose(back[:, :3, :3], Rotation.from_euler("xyz", states[:, 3:6]).as_matrix(), atol=1e-12)
    np.testing.assert_array_equal(in_camera[:, 6], states[:, 6])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_droid_dataset(tmp_path_factory.mktemp("droid"), [40, 48, 56], seed=1)


def test_synthetic_trajectory_reads_back(dataset: Path) -> None:
    directory = read_path_list(dataset)[1]
    trajectory = DroidTrajectory(directory, "right_mp4_path")
    try:
        assert (trajectory.num_frames, trajectory.video_fps) == (48, 15.0)
        clip = trajectory.clip(5, 4, 4.0, DroidConfig(), size=None)
        np.testing.assert_array_equal(clip.indices, window_indices(5, 4, 4))  # ceil(15 / 4) = 4
        np.testing.assert_array_equal(clip.states, trajectory.states[[5, 9, 13, 17]])
        # Each decoded frame is the rendered frame it should be, and no other (lossless x264).
        rendered = np.stack(list(render_frames(trajectory.states, 64, 48))).astype(np.float64)  # (48, 48, 64, 3)
        for frame, index in zip(clip.frames.astype(np.float64), clip.indices):
            distance = np.abs(rendered - frame).mean(axis=(1, 2, 3))  # (48,)
            assert distance.argmin() == index and distance[index] < 2.0, (index, distance[index])
    finally:
        trajectory.close()


def _batches(loader, n: int) -> list[dict]:
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            return out
    return out


def test_training_stream_resumes_exactly_and_has_the_batch_contract(dataset: Path) -> None:
    dirs = read_path_list(dataset)
    common = dict(batch_size=3, num_workers=0, seed=7)
    whole = _batches(build_droid_train_loader(CLIP, DroidConfig(), dirs, **common), 4)
    resumed = _batches(build_droid_train_loader(CLIP, DroidConfig(), dirs, start_batch=2, **common), 2)
    for a, b in zip(whole[2:], resumed):
        assert a["key"] == b["key"]
        assert (a["start_tick"] == b["start_tick"]).all()
        assert (a["frames"] == b["frames"]).all()
    with_workers = _batches(build_droid_train_loader(CLIP, DroidConfig(), dirs, **dict(common, num_workers=2)), 4)
    assert [a["key"] for a in whole] == [b["key"] for b in with_workers]  # any worker count: one stream
    assert all((a["frames"] == b["frames"]).all() for a, b in zip(whole, with_workers))
    batch = whole[0]
    assert batch["frames"].shape == (3, 4, 3, 32, 32)
    assert batch["actions"].shape == (3, 3, 7) and batch["states"].shape == (3, 4, 7)
    assert set(batch["stats"]) == set(DROID_STAT_KEYS)
    assert len({k for b in whole for k in b["key"]}) > 1  # draws several trajectories


def _break(root: Path, source: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(source, target)
    return target


def test_bad_trajectories_are_skipped_counted_and_named(dataset: Path, tmp_path: Path) -> None:
    good = [Path(d) for d in read_path_list(dataset)]
    no_key = _break(tmp_path, good[0], "no_key")
    with h5py.File(no_key / "trajectory.h5", "a") as h5:
        del h5["observation/robot_state/gripper_position"]
    no_mp4 = _break(tmp_path, good[0], "no_mp4")
    (no_mp4 / "recordings/MP4/11111111.mp4").unlink()
    cut_mp4 = _break(tmp_path, good[1], "cut_mp4")  # a truncated file (its index is at the end)
    video = cut_mp4 / "recordings/MP4/11111111.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    short_mp4 = _break(tmp_path, good[1], "short_mp4")  # a whole video of fewer frames than h5 rows
    with h5py.File(short_mp4 / "trajectory.h5") as h5:
        first_rows = np.column_stack([h5["observation/robot_state/cartesian_position"][:30],
                                      h5["observation/robot_state/gripper_position"][:30]])
    encode_mp4(render_frames(first_rows, 64, 48), str(short_mp4 / "recordings/MP4/11111111.mp4"), fps=15)
    long_h5 = _break(tmp_path, good[2], "long_h5")  # T mismatch: more state rows than frames
    with h5py.File(long_h5 / "trajectory.h5", "a") as h5:
        for key in ("observation/robot_state/cartesian_position", "observation/robot_state/gripper_position",
                    "observation/camera_extrinsics/11111111_left"):
            rows = np.asarray(h5[key])
            del h5[key]
            h5[key] = np.concatenate([rows, rows[:5]])
    not_dir = tmp_path / "nowhere"
    dirs = [str(d) for d in (no_key, good[0], not_dir, no_mp4, cut_mp4, short_mp4, long_h5)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        batches = list(build_droid_val_loader(CLIP, DroidConfig(), dirs, batch_size=8, num_workers=0,
                                              max_clips=None, seed=0))
    assert [key for b in batches for key in b["key"]] == [f"{good[0]}:left_mp4_path"]
    counts = {k: int(v.sum()) for k, v in batches[0]["stats"].items()}
    messages = [str(w.message) for w in caught]
    # The one clip carries the counts before it; the rest arrive in the end-of-stream warning.
    assert counts == {**dict.fromkeys(DROID_STAT_KEYS, 0), "bad_h5": 1}
    end = next(m for m in messages if m.startswith("end of stream"))
    assert end.endswith("{'not_a_directory': 1, 'missing_mp4': 1, 'bad_mp4': 1, 'count_mismatch': 2}")
    for path, word in ((no_key, "gripper_position"), (not_dir, "not a directory"), (no_mp4, "11111111.mp4"),
                       (cut_mp4, "mp4"), (short_mp4, "30 frames but"), (long_h5, "61 rows")):
        assert any(str(path) in m and word in m for m in messages), (path, messages)

    # Training draws around them for ever; only when nothing is left does it stop, saying why.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the same skips again, checked above
        train = _batches(build_droid_train_loader(CLIP, DroidConfig(), dirs, batch_size=2, num_workers=0, seed=1), 3)
    assert all(k.startswith(str(good[0])) for b in train for k in b["key"])
    with pytest.raises(RuntimeError, match="none of the 6 trajectories"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        _batches(build_droid_train_loader(CLIP, DroidConfig(), dirs[:1] + dirs[2:], batch_size=2,
                                          num_workers=0, seed=1), 1)


def test_path_list_reads_the_first_column_and_rejects_an_empty_file(tmp_path: Path) -> None:
    path_list = tmp_path / "paths.csv"
    path_list.write_text("/a/traj0 extra\n\n/b/traj1\n")
    assert read_path_list(path_list) == ["/a/traj0", "/b/traj1"]
    path_list.write_text("\n")
    with pytest.raises(ValueError, match="names no trajectory"):
        read_path_list(path_list)
