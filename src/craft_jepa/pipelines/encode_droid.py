"""The feature cache for DROID-format data: trajectories -> feature shards (`craft-jepa droid-encode`).

The shards have the layout of data/feature_format.py, so `data.source: features` trains from them
unchanged. A trajectory seen through one camera view is a *segment*: its frames on the sampling
grid 0, s, 2s, ... (s = ceil(video_fps / fps), as data/droid.py samples them) are cut into runs of
at most `frames_per_sample` frames that overlap by clip.frames - 1, so every window on the grid
lies in exactly one run. A run's `frame_ticks` are its video frame indices; its actions and
states are those of data/droid.py over the run (actions depend only on consecutive states, so a
window of a run is the clip the DROID loader would cut at that start). Only `windows: all`.

Output shard k holds trajectories k * P .. (k + 1) * P - 1 of the path list (P =
`trajectories_per_shard`), every view of `droid.camera_views` in turn; under torchrun rank r
writes the shards k with k % WORLD_SIZE == r. Outputs are written as NAME.partial and renamed
when complete; a rerun skips complete ones. A bad trajectory view is skipped and counted by kind
(data/droid_config.py). Decoding runs in the main process. OUT_DIR/scaler.json is the identity
scaler of `droid7` (DROID actions are fed raw), for `data.scaler`.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from craft_jepa.data.clips import Clip, ClipConfig
from craft_jepa.data.droid import DroidTrajectory, frame_step
from craft_jepa.data.droid_config import DroidConfig, TrajectoryError, read_path_list
from craft_jepa.encoders import EncoderConfig
from craft_jepa.pipelines.encode_features import (
    DecodedRun,
    EncodeConfig,
    EncodeSummary,
    PartialShard,
    RunEncoder,
    encoding_device,
    output_paths,
    rank_share,
    record_shard,
)
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import ActionScaler

log = logging.getLogger(__name__)


def run_starts(grid_frames: int, clip_frames: int, frames_per_sample: int) -> list[int]:
    """Grid positions where runs start: every window of `clip_frames` lies in exactly one run."""
    if frames_per_sample < clip_frames:
        raise ValueError(f"frames_per_sample={frames_per_sample} < clip.frames={clip_frames}")
    return list(range(0, grid_frames - clip_frames + 1, frames_per_sample - clip_frames + 1))


def segment_key(directory: str, view: str) -> str:
    """A WebDataset-safe key (no dots) naming the trajectory and view, unique per full path."""
    name = Path(directory).name.replace(".", "_") or "trajectory"
    return f"{name}-{zlib.crc32(str(directory).encode('utf-8')):08x}-{view.removesuffix('_mp4_path')}"


def trajectory_runs(trajectory: DroidTrajectory, shard: int, clip_cfg: ClipConfig, droid: DroidConfig,
                    frames_per_sample: int) -> Iterator[DecodedRun]:
    """The decoded runs of one trajectory view (see the module docstring)."""
    step = frame_step(trajectory.video_fps, clip_cfg.fps)
    grid = trajectory.num_frames // step + (trajectory.num_frames % step > 0)  # frames 0, s, 2s, ... < T
    if grid < clip_cfg.frames:
        raise TrajectoryError("too_short", f"{trajectory.key}: {grid} sampled frames < clip.frames {clip_cfg.frames}")
    key = segment_key(str(trajectory.directory), trajectory.camera_view)
    for start in run_starts(grid, clip_cfg.frames, frames_per_sample):
        length = min(frames_per_sample, grid - start)
        clip = trajectory.clip(start * step, length, clip_cfg.fps, droid, clip_cfg.size, clip_cfg.max_crop_aspect)
        yield DecodedRun(shard, key, clip.indices.tolist(), Clip(
            key=key, start_tick=int(clip.indices[0]), frames=clip.frames,  # (L, H, W, 3)
            actions=clip.actions.astype(np.float32), states=clip.states.astype(np.float32)),  # (L-1, 7), (L, 7)
            [False] * (length - 1))  # no null action in robot data


def encode_droid_features(clip_cfg: ClipConfig, droid: DroidConfig, encoder_cfg: EncoderConfig,
                          cfg: EncodeConfig, *, trajectories_per_shard: int = 100, rank: int | None = None,
                          world_size: int | None = None) -> EncodeSummary:
    """Encode this rank's shards of the path list `cfg.data` (see the module docstring)."""
    if cfg.windows != "all":
        raise ValueError(f"DROID feature shards hold every window (windows all), not {cfg.windows!r}")
    if droid.tubelet_size != 1 or get_action_layout(clip_cfg.action_layout).name != "droid7":
        raise ValueError("DROID features need clip.action_layout droid7 and droid.tubelet_size 1 (one state per frame)")
    if trajectories_per_shard < 1:
        raise ValueError(f"trajectories_per_shard must be >= 1, got {trajectories_per_shard}")
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    paths = [p for spec in ([cfg.data] if isinstance(cfg.data, str) else cfg.data) for p in read_path_list(spec)]
    groups = [paths[i:i + trajectories_per_shard] for i in range(0, len(paths), trajectories_per_shard)]
    outputs = output_paths(cfg.out, len(groups))
    summary = EncodeSummary()
    todo = rank_share(outputs, rank, world_size, summary)
    if rank == 0:
        _write_identity_scaler(clip_cfg, cfg.out)
    if not todo:
        return summary
    encode = RunEncoder(clip_cfg, encoder_cfg, cfg, encoding_device(cfg, rank, world_size))
    for k in todo:
        os.makedirs(os.path.dirname(os.path.abspath(outputs[k])), exist_ok=True)
        shard = PartialShard(outputs[k])
        for directory in groups[k]:
            for view in droid.camera_views:
                _write_trajectory(shard, encode, directory, view, k, clip_cfg, droid, cfg, summary)
        shard.finish()
        record_shard(summary, shard)
    return summary


def _write_trajectory(shard: PartialShard, encode: RunEncoder, directory: str, view: str, k: int,
                      clip_cfg: ClipConfig, droid: DroidConfig, cfg: EncodeConfig, summary: EncodeSummary) -> None:
    trajectory = None
    try:
        trajectory = DroidTrajectory(directory, view, decoder_threads=cfg.decoder_threads)
        for run in trajectory_runs(trajectory, k, clip_cfg, droid, cfg.frames_per_sample):
            shard.write(encode(run, directory), clip_cfg.frames)
    except TrajectoryError as err:  # runs of it already written stay valid
        summary.skipped[err.kind] += 1
        log.warning("skipped (%s): %s", err.kind, err)
    finally:
        if trajectory is not None:
            trajectory.close()


def _write_identity_scaler(clip_cfg: ClipConfig, out_pattern: str) -> None:
    path = os.path.join(os.path.dirname(os.path.abspath(out_pattern)), "scaler.json")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ActionScaler.identity(get_action_layout(clip_cfg.action_layout)).save(path)
