"""The DROID feature cache: trajectories -> feature shards -> the same clips, and training from them."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("h5py")
pytest.importorskip("scipy")

from craft_jepa.configuration import load_config  # noqa: E402
from craft_jepa.data.droid import DroidTrajectory  # noqa: E402
from craft_jepa.data.droid_config import read_path_list  # noqa: E402
from craft_jepa.data.droid_synth import write_droid_dataset  # noqa: E402
from craft_jepa.data.feature_format import unpack_run  # noqa: E402
from craft_jepa.data.loader import frame_norm, normalize_frames  # noqa: E402
from craft_jepa.encoders import FrozenEncoder  # noqa: E402
from craft_jepa.train.config import RunConfig  # noqa: E402
from craft_jepa.pipelines.encode_droid import encode_droid_features  # noqa: E402
from craft_jepa.pipelines.encode_features import EncodeConfig  # noqa: E402
from craft_jepa.train.loop import train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def tiny(run_dir: Path, **data) -> RunConfig:
    tree = yaml.safe_load((REPO / "configs" / "droid-tiny-cpu.yaml").read_text())
    tree["run_dir"] = str(run_dir)
    tree["data"].update(data)
    tree["schedule"].update(total_steps=2, warmup_steps=1, decay_steps=1)
    tree["validation"]["every"] = 0
    tree["logging"]["every"] = 1
    return load_config(RunConfig, tree)


def read_runs(shard: Path) -> list:
    members: dict[str, dict[str, bytes]] = {}
    with tarfile.open(shard) as tar:
        for member in tar.getmembers():
            key, ext = member.name.split(".", 1)
            members.setdefault(key, {"__key__": key})[ext] = tar.extractfile(member).read()
    return [unpack_run(sample, str(shard)) for sample in members.values()]


def test_feature_runs_hold_the_droid_loaders_clips_and_train(tmp_path) -> None:
    path_list = write_droid_dataset(tmp_path / "data", [30, 36], seed=6)
    with open(path_list, "a") as handle:
        handle.write(f"{tmp_path / 'nowhere'}\n")  # a bad line: skipped and counted
    cfg = tiny(tmp_path / "unused", source="droid", train_shards=str(path_list))
    out = tmp_path / "features" / "features-{000000..}.tar"
    summary = encode_droid_features(cfg.clip, cfg.data.droid, cfg.encoder, EncodeConfig(
        data=str(path_list), out=str(out), dtype="fp32", frames_per_sample=6, workers=0, progress=False),
        trajectories_per_shard=2)
    # 30 and 36 frames at 15 fps sampled at 4 fps: 8 and 9 grid frames, 5 and 6 windows of 4; 2 views each.
    assert summary.windows == 2 * (5 + 6) and dict(summary.skipped) == {"not_a_directory": 2}  # per view
    assert len(summary.shards_written) == 2 and (tmp_path / "features" / "scaler.json").is_file()

    encoder = FrozenEncoder.from_config(cfg.encoder)
    runs = [run for shard in sorted((tmp_path / "features").glob("*.tar")) for run in read_runs(shard)]
    directory = read_path_list(path_list)[1]
    run = next(r for r in runs if r.meta.key.startswith("traj1-") and r.meta.key.endswith("-right")
               and r.meta.frame_ticks[0] > 0)
    trajectory = DroidTrajectory(directory, "right_mp4_path")
    try:
        first = 1  # the second window of the run
        clip = trajectory.clip(run.meta.frame_ticks[first], 4, 4.0, cfg.data.droid, 64, cfg.clip.max_crop_aspect)
    finally:
        trajectory.close()
    np.testing.assert_array_equal(run.meta.frame_ticks[first:first + 4], clip.indices)
    np.testing.assert_allclose(run.actions[first:first + 3].numpy(), clip.actions, rtol=0, atol=1e-6)
    np.testing.assert_allclose(run.states[first:first + 4].numpy(), clip.states, rtol=0, atol=1e-6)
    pixels = torch.from_numpy(clip.frames).permute(0, 3, 1, 2)[None]  # (1, 4, 3, 64, 64)
    tokens = encoder(normalize_frames(pixels, *frame_norm(cfg.clip.mean, cfg.clip.std)))[0]
    torch.testing.assert_close(run.tokens[first:first + 4], tokens, rtol=0, atol=1e-5)

    summary = train(tiny(tmp_path / "run", source="features", train_shards=str(tmp_path / "features"),
                         val_fraction=0.0, scaler=str(tmp_path / "features" / "scaler.json")), single_process=True)
    assert summary.step == 2 and all(np.isfinite(row["loss"]) for row in summary.history)
