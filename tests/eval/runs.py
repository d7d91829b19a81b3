"""Model folders for eval / planning / API / CLI tests.

- `make_tiny_export(folder)`: an EXPORT_DIR with an untrained tiny predictor (32 px frames,
  2x2 tokens) and a scaler fitted on synthetic-like camera statistics. Built in
  milliseconds, through the public export format of `train.export`.
- `trained_and_encoded(root)`: a RUN_DIR trained by the real loop on the bar's synthetic
  shards for a few CPU minutes plus its encoded held-out clips; built once per test session
  (memoized here because the eval and planning bar tests share it).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

TINY_FRAMES = 4
_TRAINED: dict[str, Path] = {}


def make_tiny_export(folder: str | os.PathLike[str], seed: int = 0) -> Path:
    from safetensors.torch import save_file

    from craft_jepa.configuration import config_to_dict
    from craft_jepa.data.clips import ClipConfig
    from craft_jepa.encoders import EncoderConfig
    from craft_jepa.models import ACPredictor, PredictorConfig
    from craft_jepa.train.export import EXPORT_FORMAT, EXPORT_VERSION, META_FILE, WEIGHTS_FILE
    from craft_jepa.vpt.layouts import get_action_layout
    from craft_jepa.vpt.scaler import ActionScaler

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    encoder = EncoderConfig(name="vit_tiny", img_size=32, init_seed=seed)
    predictor_cfg = PredictorConfig(preset="ac_tiny", encoder_dim=96, grid_size=2, action_dim=38,
                                    state_dim=0, init_seed=seed)
    clip = ClipConfig(frames=TINY_FRAMES, size=32, action_layout="vpt38")
    layout = get_action_layout("vpt38")
    rng = np.random.default_rng(seed)
    actions = np.zeros((500, layout.dim), dtype=np.float32)
    dx, dy = rng.normal(0, 40, 500), rng.normal(0, 15, 500)  # mouse units per step
    actions[:, :4] = np.stack([dx, dy, dx * 0.15, dy * 0.15], -1)
    scaler = ActionScaler.fit(layout, actions)
    predictor = ACPredictor(predictor_cfg)
    tensors = {k: v.detach().contiguous() for k, v in predictor.state_dict().items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": EXPORT_FORMAT})
    meta = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "step": 0, "source": "tests",
            "encoder": config_to_dict(encoder), "predictor": config_to_dict(predictor_cfg),
            "clip": config_to_dict(clip), "scaler": scaler.to_dict()}
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return out


# The bar tests train configs/tiny-cpu.yaml on their own synthetic set: 8 recordings of 12 s,
# one per shard, the last 2 held out (the shared `synth_dataset` holds out a single segment,
# mostly inventory-open static frames, which makes held-out metrics meaningless). Overrides
# only lengthen the schedule and skip work the tests do not read.
BAR_SECONDS, BAR_SEED, BAR_VAL_FRACTION = (12.0,) * 8, 99, 0.25
TRAIN_OVERRIDES = [
    "schedule.total_steps=300",
    "validation.every=0", "checkpoint.latest_every=1000", "checkpoint.every=1000",
    "logging.progress_bar=false", "logging.tensorboard=false",
]
_DATA: dict[str, list[str]] = {}


def bar_shards(root: str | os.PathLike[str]) -> list[str]:
    """The bar's synthetic shards, generated once per session (about 15 s)."""
    key = str(root)
    if key not in _DATA:
        from craft_jepa.data.synth import write_synth_dataset

        data = write_synth_dataset(str(Path(root) / "bar-data"), seconds=BAR_SECONDS, seed=BAR_SEED,
                                   per_shard=1)
        _DATA[key] = sorted(data.shard_urls)
    return _DATA[key]


def trained_run(root: str | os.PathLike[str], shards: list[str],
                val_fraction: float = BAR_VAL_FRACTION) -> Path:
    """Train configs/tiny-cpu.yaml on `shards` once per session; -> RUN_DIR."""
    key = ",".join(shards)
    if key in _TRAINED:
        return _TRAINED[key]
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig
    from craft_jepa.train.loop import train

    run_dir = Path(root) / "trained-run"
    config = Path(__file__).resolve().parents[2] / "configs" / "tiny-cpu.yaml"
    overrides = TRAIN_OVERRIDES + [f"run_dir={run_dir}", f"data.train_shards={json.dumps(list(shards))}",
                                   f"data.val_fraction={val_fraction}"]
    os.environ.setdefault("VPT_DATA_PATH", str(Path(shards[0]).parent))
    cfg = load_config(RunConfig, str(config), overrides)
    start = time.perf_counter()
    torch_threads = torch.get_num_threads()
    try:
        train(cfg, single_process=True)
    finally:
        torch.set_num_threads(torch_threads)
    print(f"trained the session's tiny run in {time.perf_counter() - start:.0f} s")
    _TRAINED[key] = run_dir
    return run_dir


_ENCODED: dict[str, tuple] = {}
BAR_CLIPS, BAR_WINDOWS = 32, 16


def trained_and_encoded(root: str | os.PathLike[str]):
    """(LoadedRun, EncodedClips of the held-out shards) of the session's trained run."""
    shards = bar_shards(root)
    run_dir = trained_run(root, shards)
    key = str(run_dir)
    if key not in _ENCODED:
        from craft_jepa.data.shards import split_train_val
        from craft_jepa.eval.loading import load_run
        from craft_jepa.eval.runner import EvalConfig, encode_val_clips

        _, val_urls = split_train_val(shards, BAR_VAL_FRACTION)
        run = load_run(run_dir, which="latest")
        cfg = EvalConfig(clips=BAR_CLIPS, windows_per_segment=BAR_WINDOWS, progress=False)
        _ENCODED[key] = (run, encode_val_clips(run, val_urls, cfg))
    return _ENCODED[key]
