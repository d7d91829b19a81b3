"""Evaluating a DROID world model (Meta's released AC predictor, or a craft-jepa DROID run).

`DroidModel` holds what eval and planning need: the frozen encoder, the predictor, the action
scaling and the clip geometry. `load_droid_model` builds it from a file laid out like
`vjepa2-ac-vitg.pt` (models/released.py; `ReleasedModelSpec` gives what the file's shapes do not
say) or from a craft-jepa run or export whose action layout is `droid7` (runs/loading.py).

`encode_droid_clips` encodes held-out trajectories (each one's fixed validation window,
data/droid_loader.py) into the `EncodedClips` the VPT evaluation uses (eval/heldout.py), and
`evaluate_droid` scores them as the VPT evaluation does: teacher-forced and rollout L1 of the
model against the baselines (copy-last, dataset mean, zeroed and shuffled actions;
eval/metrics.py) with the same headline (eval/heldout.py), and the sensitivity of the predictions
to each of the 7 action dimensions (eval/sensitivity.py, one group per dimension: a dimension
whose swap barely moves the prediction is one the model ignores). The VPT-only parts (camera
mirroring, the inverse-dynamics probe over VPT feature groups) are left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.droid_config import DroidConfig
from craft_jepa.data.droid_loader import build_droid_val_loader
from craft_jepa.encoders import EncoderConfig, FrozenEncoder, normalize_targets
from craft_jepa.eval.heldout import EncodedClips, EvalConfig, encode_batches, headline
from craft_jepa.eval.metrics import evaluate_horizons
from craft_jepa.eval.sensitivity import action_sensitivity
from craft_jepa.models.predictor import ACPredictor
from craft_jepa.models.released import ReleasedModelSpec, load_released_predictor
from craft_jepa.runs.loading import load_run
from craft_jepa.vpt.layouts import DROID_ACTION_FEATURES


@dataclass
class DroidModel:
    source: str
    encoder: FrozenEncoder
    predictor: ACPredictor
    scale: Callable[[Tensor], Tensor]  # raw droid7 actions (..., 7) -> the predictor's inputs
    clip: ClipConfig  # frames, fps, size, crop, normalization the model sees
    device: torch.device
    load_report: str = ""  # how a released file loaded (every key by fate)

    @torch.no_grad()
    def latents(self, frames: Tensor) -> Tensor:
        """Normalized frames (B, T, 3, H, W) -> layer-normed tokens (B, T, N, D), as training targets."""
        return normalize_targets(self.encoder(frames.to(self.device)))


def released_model(predictor_path: str, encoder: EncoderConfig, *, heads: int = 16, frames: int = 8,
                   fps: float = 4.0, max_crop_aspect: float = 1.35, key: str = "predictor",
                   device: torch.device | str = "cpu") -> DroidModel:
    """A released-layout AC predictor file + an encoder -> DroidModel (`load_report` says how it loaded).

    The released model takes raw actions (metres, radians) and saw 8 frames at 4 fps."""
    predictor, report = load_released_predictor(predictor_path, heads=heads, grid_size=encoder.grid_size, key=key)
    clip = ClipConfig(frames=frames, fps=fps, size=encoder.img_size, max_crop_aspect=max_crop_aspect,
                      action_layout="droid7", state_layout="droid7")
    device = torch.device(device)
    return DroidModel(f"{predictor_path}[{key}]", FrozenEncoder.from_config(encoder, device),
                      predictor.to(device).eval(), lambda actions: actions.float(), clip, device, report.describe())


def run_model(run_or_export: str, *, which: str = "best", encoder_checkpoint: str | None = None,
              device: torch.device | str = "cpu") -> DroidModel:
    """A craft-jepa DROID run or export (action layout droid7) -> DroidModel."""
    run = load_run(run_or_export, device=device, which=which, encoder_checkpoint=encoder_checkpoint)
    if run.action_layout.name != "droid7" or run.state_layout.name != "droid7":
        raise ValueError(f"{run_or_export}: layouts {run.action_layout.name}/{run.state_layout.name} are not "
                         "droid7/droid7: not a DROID world model")
    return DroidModel(run.source, run.encoder, run.predictor, run.scale, run.clip, run.device)


def load_droid_model(model: str, spec: ReleasedModelSpec, *, which: str = "best",
                     encoder_checkpoint: str | None = None, device: torch.device | str = "cpu") -> DroidModel:
    """A released-layout predictor FILE (with `spec` and the encoder weights `encoder_checkpoint`,
    random weights when None) or a DROID run / export FOLDER -> DroidModel."""
    if not Path(model).is_file():
        return run_model(model, which=which, encoder_checkpoint=encoder_checkpoint, device=device)
    encoder = EncoderConfig(name=spec.encoder, img_size=spec.img_size, checkpoint=encoder_checkpoint,
                            checkpoint_key=spec.encoder_key)
    return released_model(model, encoder, heads=spec.heads, fps=spec.fps, frames=spec.frames,
                          max_crop_aspect=spec.max_crop_aspect, key=spec.predictor_key, device=device)


def encode_droid_clips(model: DroidModel, droid: DroidConfig, directories: list[str],
                       config: EvalConfig) -> EncodedClips:
    """Held-out clips (each trajectory's validation window fixed by (seed, key), through the first
    camera view; `windows_per_segment` passes with seeds seed, seed+1, ..., repeats dropped)
    -> EncodedClips: z (C, T, N, D) on the CPU, raw actions (C, T-1, 7), states (C, T, 7), keys,
    the loader's counters of skipped trajectories."""

    def batches() -> Iterable[dict]:  # windows_per_segment > 1: more passes, other seeds (as for VPT)
        for window in range(config.windows_per_segment):
            yield from build_droid_val_loader(model.clip, droid, directories, batch_size=config.batch_size,
                                              num_workers=config.num_workers, max_clips=config.clips,
                                              seed=config.seed + window)

    return encode_batches(model, batches(), config.clips, config.progress)


def evaluate_droid(model: DroidModel, clips: EncodedClips, config: EvalConfig) -> dict[str, Any]:
    """Baselines per horizon, the headline and the sensitivity per action dimension -> the report
    dict in the VPT evaluation's layout (eval/report.py renders both)."""
    timings: dict[str, float] = {}
    scaled = model.scale(clips.actions)  # (C, T-1, 7)
    kw = dict(batch_size=config.batch_size, device=model.device)
    start = time.perf_counter()
    horizons = evaluate_horizons(model.predictor, clips.z, scaled, clips.states, seed=config.seed,
                                 progress=config.progress, **kw)
    timings["horizons_s"] = time.perf_counter() - start
    start = time.perf_counter()
    sensitivity = action_sensitivity(model.predictor, clips.z, scaled, clips.states, list(DROID_ACTION_FEATURES),
                                     seed=config.seed, **kw)
    timings["sensitivity_s"] = time.perf_counter() - start
    return {
        "source": model.source,
        "clips": len(clips),
        "segments": len(set(clips.keys)),
        "frames_per_clip": int(clips.z.shape[1]),
        "horizon": int(clips.z.shape[1]) - 1,
        "tokens_per_frame": int(clips.z.shape[2]),
        "action_layout": "droid7",
        "seed": config.seed,
        "headline": headline(horizons, config.margin),
        "horizons": horizons,
        "sensitivity": {name: sensitivity[name] for name in DROID_ACTION_FEATURES},  # in layout order
        "data_stats": clips.stats,
        "timings": timings,
    }
