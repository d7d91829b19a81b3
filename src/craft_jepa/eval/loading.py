"""Load a trained run (or an export) into ready-to-use parts: encoder, predictor, scaler, layouts.

Everything downstream of training (eval, planning, the `WorldModel` API) starts here, so all of
them see the same latents: frames -> frozen encoder -> parameter-free layer norm (exactly the
training targets, `train.losses.normalize_targets`), and the same action scaling.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from craft_jepa.encoders.frozen import FrozenEncoder
from craft_jepa.models import ACPredictor
from craft_jepa.train.checkpoint import load_state_strict
from craft_jepa.train.losses import normalize_targets
from craft_jepa.vpt.layouts import ActionLayout, StateLayout, get_action_layout, get_state_layout
from craft_jepa.vpt.scaler import ActionScaler


@dataclass
class LoadedRun:
    source: str
    encoder: FrozenEncoder
    predictor: ACPredictor
    scaler: ActionScaler
    clip: object  # data.clips.ClipConfig (frames, fps, size, layouts, mean, std)
    action_layout: ActionLayout
    state_layout: StateLayout
    device: torch.device
    encoder_config: object = None  # encoders.EncoderConfig the latents come from (pixel decoders check it)

    @torch.no_grad()
    def latents(self, frames: Tensor, chunk_size: int | None = 64) -> Tensor:
        """Normalized frames (B, T, 3, H, W) -> latents z (B, T, N, D), as training targets."""
        return normalize_targets(self.encoder(frames.to(self.device), chunk_size=chunk_size))

    def scale(self, actions: Tensor) -> Tensor:
        """Raw layout vectors (..., A) -> the predictor's standardized inputs."""
        return self.scaler.transform(actions.float())

    def frames_to_input(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 RGB images (..., H, W, 3) of any size -> normalized (..., 3, size, size) float.

        Same preprocessing as the data stage: scale the short side to `clip.size`, centre crop,
        divide by 255, normalize with the clip mean/std."""
        x = torch.as_tensor(np.asarray(images))
        if x.shape[-1] != 3 or x.ndim < 3:
            raise ValueError(f"expected RGB images (..., H, W, 3), got shape {tuple(x.shape)}")
        lead = x.shape[:-3]
        is_uint8 = x.dtype == torch.uint8
        x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float()  # (M, 3, H, W)
        if is_uint8:
            x = x / 255.0  # float images are taken to be in [0, 1] already
        size = self.clip.size
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        x = x[..., top:top + size, left:left + size]  # (M, 3, size, size)
        mean = torch.tensor(self.clip.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.clip.std).view(1, 3, 1, 1)
        return ((x - mean) / std).reshape(*lead, 3, size, size)

    def to_rgb(self, frames: Tensor) -> Tensor:
        """Normalized frames (..., 3, S, S), as the loader yields them -> RGB in [0, 1]."""
        mean = torch.tensor(self.clip.mean).view(3, 1, 1)
        std = torch.tensor(self.clip.std).view(3, 1, 1)
        return (frames.float().cpu() * std + mean).clamp(0, 1)


def load_run(run_or_export_dir: str | os.PathLike[str], device: torch.device | str = "cpu",
             which: str = "best", encoder_checkpoint: str | os.PathLike[str] | None = None) -> LoadedRun:
    """A RUN_DIR (checkpoints/best.pt or latest.pt) or an EXPORT_DIR -> LoadedRun in eval mode.

    Either may be a Hub reference of an export (`org/name`, `hf://org/name@rev`: craft_jepa.hub).

    `encoder_checkpoint`: where the encoder weights are now, when not at the recorded path
    (an export made on the training cluster; see train/export.py)."""
    from craft_jepa.hub import local_path, parse_hub_ref
    from craft_jepa.train.export import load_exported

    device = torch.device(device)
    # A Hub repo id becomes its snapshot folder here, so `source` is always a folder on disk
    # (files beside the export, e.g. a pixel decoder, are found through it).
    run_or_export_dir = local_path(run_or_export_dir, "world model")
    exported = load_exported(run_or_export_dir, which=which, encoder_checkpoint=encoder_checkpoint)
    weights = exported.encoder.checkpoint
    if (weights is not None and "://" not in weights and not os.path.exists(weights)
            and parse_hub_ref(weights) is None):
        raise FileNotFoundError(
            f"{run_or_export_dir}: encoder.checkpoint {weights} does not exist (an export records the "
            f"training machine's path); pass encoder_checkpoint=PATH (--encoder-checkpoint PATH) "
            f"to point it at the encoder weights here")
    encoder = FrozenEncoder.from_config(exported.encoder, device)
    predictor = ACPredictor(exported.predictor)
    load_state_strict(predictor, exported.predictor_state, "predictor")
    predictor.to(device).eval()
    action_layout = get_action_layout(exported.clip.action_layout)
    exported.scaler.check_layout(action_layout)
    return LoadedRun(
        source=str(run_or_export_dir),
        encoder=encoder,
        predictor=predictor,
        scaler=exported.scaler,
        clip=exported.clip,
        action_layout=action_layout,
        state_layout=get_state_layout(exported.clip.state_layout),
        device=device,
        encoder_config=exported.encoder,
    )
