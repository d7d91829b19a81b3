"""Evaluating a DROID world model (Meta's released AC predictor, or a craft-jepa DROID run).

`DroidModel` holds what eval and planning need: the frozen encoder, the predictor, the action
scaling and the clip geometry. `released_model` builds it from a file laid out like
`vjepa2-ac-vitg.pt` (models/released.py) plus an encoder config; `run_model` from a craft-jepa run
or export whose action layout is `droid7` (eval/loading.py).

`evaluate_droid` runs the same measurements as the VPT evaluation on held-out DROID clips
(data/droid_loader.py's validation windows): teacher-forced and rollout L1 of the model against
the baselines (copy-last, dataset mean, zero and shuffled actions; eval/metrics.py), and the
sensitivity of the predictions to each of the 7 action dimensions (eval/sensitivity.py, one
group per dimension: a dimension whose swap barely moves the prediction is one the model ignores).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.droid_config import DroidConfig
from craft_jepa.data.droid_loader import build_droid_val_loader
from craft_jepa.encoders import EncoderConfig, FrozenEncoder
from craft_jepa.eval.metrics import evaluate_horizons
from craft_jepa.eval.sensitivity import action_sensitivity
from craft_jepa.models.predictor import ACPredictor
from craft_jepa.models.released import load_released_predictor
from craft_jepa.encoders import normalize_targets
from craft_jepa.vpt.layouts import DROID_ACTION_FEATURES


@dataclass
class DroidModel:
    source: str
    encoder: FrozenEncoder
    predictor: ACPredictor
    scale: Callable[[Tensor], Tensor]  # raw droid7 actions (..., 7) -> the predictor's inputs
    clip: ClipConfig  # frames, fps, size, crop, normalization the model sees
    device: torch.device

    @torch.no_grad()
    def latents(self, frames: Tensor) -> Tensor:
        """Normalized frames (B, T, 3, H, W) -> layer-normed tokens (B, T, N, D), as training targets."""
        return normalize_targets(self.encoder(frames.to(self.device)))


def released_model(predictor_path: str, encoder: EncoderConfig, *, heads: int = 16, frames: int = 8,
                   fps: float = 4.0, max_crop_aspect: float = 1.35, key: str = "predictor",
                   device: torch.device | str = "cpu") -> tuple[DroidModel, str]:
    """A released-layout AC predictor file + an encoder -> (DroidModel, the load report).

    The released model takes raw actions (metres, radians) and saw 8 frames at 4 fps."""
    predictor, report = load_released_predictor(predictor_path, heads=heads, grid_size=encoder.grid_size, key=key)
    clip = ClipConfig(frames=frames, fps=fps, size=encoder.img_size, max_crop_aspect=max_crop_aspect,
                      action_layout="droid7", state_layout="droid7")
    device = torch.device(device)
    model = DroidModel(f"{predictor_path}[{key}]", FrozenEncoder.from_config(encoder, device),
                       predictor.to(device).eval(), lambda actions: actions.float(), clip, device)
    return model, report.describe()


def run_model(run_or_export: str, *, which: str = "best", encoder_checkpoint: str | None = None,
              device: torch.device | str = "cpu") -> DroidModel:
    """A craft-jepa DROID run or export (action layout droid7) -> DroidModel."""
    from craft_jepa.runs.loading import load_run

    run = load_run(run_or_export, device=device, which=which, encoder_checkpoint=encoder_checkpoint)
    if run.action_layout.name != "droid7" or run.state_layout.name != "droid7":
        raise ValueError(f"{run_or_export}: layouts {run.action_layout.name}/{run.state_layout.name} are not "
                         "droid7/droid7: not a DROID world model")
    return DroidModel(run.source, run.encoder, run.predictor, run.scale, run.clip, run.device)


@torch.no_grad()
def droid_latents(model: DroidModel, droid: DroidConfig, directories: list[str], *, max_clips: int,
                  seed: int = 0, batch_size: int = 8) -> tuple[Tensor, Tensor, Tensor, list[str]]:
    """Held-out clips (each trajectory's fixed validation window) -> z (C, T, N, D) on the CPU,
    raw actions (C, T-1, 7), states (C, T, 7), keys."""
    loader = build_droid_val_loader(model.clip, droid, directories, batch_size=batch_size, num_workers=0,
                                    max_clips=max_clips, seed=seed)
    z, actions, states, keys = [], [], [], []
    for batch in loader:
        z.append(model.latents(batch["frames"]).cpu())
        actions.append(batch["actions"])
        states.append(batch["states"])
        keys += batch["key"]
    if len(keys) < 2:
        raise ValueError(f"evaluation needs at least 2 clips, the {len(directories)} trajectories gave {len(keys)}")
    return torch.cat(z), torch.cat(actions), torch.cat(states), keys


def evaluate_droid(model: DroidModel, z: Tensor, actions: Tensor, states: Tensor, *, seed: int = 0,
                   batch_size: int = 8) -> dict[str, Any]:
    """Baselines per horizon and sensitivity per action dimension (see the module docstring)."""
    scaled = model.scale(actions)  # (C, T-1, 7)
    predictor = model.predictor
    horizons = evaluate_horizons(predictor, z, scaled, states, seed=seed, batch_size=batch_size,
                                 device=model.device)
    sensitivity = action_sensitivity(predictor, z, scaled, states, list(DROID_ACTION_FEATURES), seed=seed,
                                     batch_size=batch_size, device=model.device)
    return {"source": model.source, "clips": int(z.shape[0]), "frames": int(z.shape[1]),
            "horizons": horizons, "sensitivity": sensitivity}
