"""Model folders for eval / planning / API / CLI tests.

- `make_tiny_export(folder)`: an EXPORT_DIR with an untrained tiny predictor (32 px frames,
  2x2 tokens) and a scaler fitted on synthetic-like camera statistics. Built in
  milliseconds, through the public export format of `runs.export`.
- `trained_and_encoded(root)`: the demo's toy world model (craft_jepa.pipelines.demo pipeline, trained by
  the real loop from the feature cache) plus its encoded held-out clips; built once per test
  session (memoized here because the eval and planning bar tests share it).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

TINY_FRAMES = 4


def make_tiny_export(folder: str | os.PathLike[str], seed: int = 0) -> Path:
    from safetensors.torch import save_file

    from craft_jepa.configuration import config_to_dict
    from craft_jepa.data.clips import ClipConfig
    from craft_jepa.encoders import EncoderConfig
    from craft_jepa.models import ACPredictor, PredictorConfig
    from craft_jepa.runs.loading import EXPORT_FORMAT, EXPORT_VERSION
    from craft_jepa.runs.layout import META_FILE, WEIGHTS_FILE
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


# The bar tests run the demo's own pipeline (craft_jepa.pipelines.demo: ToyWorld data, the feature cache,
# configs/tiny-world-model.yaml) once per test session, for one training seed. Torch threads are
# pinned while it trains: the trained weights depend on the thread count, and CI machines differ
# in cores. CRAFT_JEPA_BAR_THREADS picks another count (to measure the spread across counts).
BAR_SEED = 0
BAR_THREADS = int(os.environ.get("CRAFT_JEPA_BAR_THREADS", "2"))
_TOY: dict[str, tuple[Path, list[str]]] = {}


def toy_run(root: str | os.PathLike[str]) -> tuple[Path, list[str]]:
    """(RUN_DIR, held-out video shards) of the demo pipeline, trained once per session."""
    key = str(root)
    if key in _TOY:
        return _TOY[key]
    from craft_jepa.pipelines import demo

    out = Path(root) / "toy-world"
    threads = torch.get_num_threads()
    torch.set_num_threads(BAR_THREADS)
    try:
        start = time.perf_counter()
        train_shards, heldout = demo.make_data(out, BAR_SEED)
        demo.fit_scaler(train_shards, out / "scaler.json")
        train_features = demo.encode_cache(train_shards, out / "features" / "train", "all")
        val_features = demo.encode_cache(heldout, out / "features" / "heldout", "val")
        demo.train_model(out / "run", train_features, val_features, out / "scaler.json", BAR_SEED,
                         ["logging.progress_bar=false", "logging.tensorboard=false"])
        print(f"toy world model: data, features and training in {time.perf_counter() - start:.0f} s")
    finally:
        torch.set_num_threads(threads)
    _TOY[key] = (out / "run", heldout)
    return _TOY[key]


_ENCODED: dict[str, tuple] = {}


def trained_and_encoded(root: str | os.PathLike[str]):
    """(LoadedRun, EncodedClips of the held-out shards) of the session's toy world model."""
    run_dir, heldout = toy_run(root)
    key = str(run_dir)
    if key not in _ENCODED:
        from craft_jepa.pipelines.demo import ToyWorld
        from craft_jepa.runs.loading import load_run
        from craft_jepa.eval.heldout import EvalConfig, encode_val_clips

        world = ToyWorld()
        run = load_run(run_dir, which="latest")
        cfg = EvalConfig(clips=world.eval_clips, windows_per_segment=world.windows_per_heldout, progress=False)
        _ENCODED[key] = (run, encode_val_clips(run, heldout, cfg))
    return _ENCODED[key]


# The pixel decoder of the session's toy world model, trained as the demo trains it
# (craft_jepa.pipelines.demo_pictures: the training video shards, DEMO_DECODER_STEPS steps).
_DECODER: dict[str, dict] = {}


def toy_decoder(root: str | os.PathLike[str]) -> tuple[Path, dict]:
    """(RUN_DIR, decoder.json record) of the toy world model's decoder, trained once per session."""
    run_dir, heldout = toy_run(root)
    key = str(run_dir)
    if key not in _DECODER:
        from craft_jepa.pipelines.demo_pictures import DEMO_DECODER, DEMO_DECODER_STEPS
        from craft_jepa.pipelines.decoder_training import train_decoder

        train_shards = sorted(str(p) for p in (run_dir.parent / "data" / "train").rglob("*.tar"))
        threads = torch.get_num_threads()
        torch.set_num_threads(BAR_THREADS)
        try:
            start = time.perf_counter()
            _DECODER[key] = train_decoder(run_dir, train_shards, heldout_shards=heldout, overrides=[
                *DEMO_DECODER, f"seed={BAR_SEED}", f"schedule.total_steps={DEMO_DECODER_STEPS}",
                f"schedule.decay_steps={DEMO_DECODER_STEPS // 5}"])
            print(f"toy decoder: trained and scored in {time.perf_counter() - start:.0f} s")
        finally:
            torch.set_num_threads(threads)
    return run_dir, _DECODER[key]
