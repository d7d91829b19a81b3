"""The pixel-decoder objective: a small decoder from one frame's frozen latents to its RGB frame.

Per micro-batch: video clips (B, T, 3, H, W) -> the frozen encoder's tokens, layer-normed exactly
as the predictor's targets (encoders.normalize_targets) -> z (B*T, N, D); the decoder (models/pixel_decoder.py)
maps each frame's z to RGB in [0, 1] and the loss is L1 + `decoder.ssim_weight` * (1 - SSIM)
against the frame (un-normalized with the clip mean/std). The batch's mean frame is logged beside
it as a baseline (`mean_frame`: the L1 of predicting every frame as the batch's mean frame).

`pipelines.decoder_training.train_decoder` runs it on the shared run machinery under
RUN_DIR/decoder, for the encoder of an AC run, scores it and writes its files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from craft_jepa.encoders import FrozenEncoder, normalize_targets
from craft_jepa.models.pixel_decoder import DecoderConfig, TokenDecoder, psnr, ssim
from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.objectives.base import Objective
from craft_jepa.train.rng import seed_everything

if TYPE_CHECKING:  # typing only: train/config.py imports the objectives' config sections
    from craft_jepa.train.config import RunConfig


class DecoderLossModule(nn.Module):
    def __init__(self, decoder: TokenDecoder, cfg: DecoderConfig) -> None:
        super().__init__()
        self.decoder = decoder
        self.cfg = cfg

    def forward(self, z: Tensor, target: Tensor) -> dict[str, Tensor]:
        """z (M, N, D) normalized latents, target (M, 3, S, S) RGB in [0, 1]."""
        pred = self.decoder(z)
        l1 = (pred - target).abs().mean()
        out = {"l1": l1.detach()}
        loss = l1
        if self.cfg.ssim_weight > 0:
            score = ssim(pred, target, self.cfg.ssim_window)
            loss = loss + self.cfg.ssim_weight * (1 - score)
            out["ssim"] = score.detach()
        out["loss"] = loss
        with torch.no_grad():
            out["mean_frame"] = (target.mean(0, keepdim=True) - target).abs().mean()
            out["psnr"] = psnr(pred.detach(), target).mean()
        return out


def frames_to_rgb(frames: Tensor, mean: Any, std: Any) -> Tensor:
    """Normalized frames (..., 3, H, W) -> RGB in [0, 1]."""
    m = torch.as_tensor(mean, dtype=frames.dtype, device=frames.device).view(3, 1, 1)
    s = torch.as_tensor(std, dtype=frames.dtype, device=frames.device).view(3, 1, 1)
    return (frames * s + m).clamp(0, 1)


class DecoderObjective(Objective):
    name = "decoder"
    checkpoint_keys = ("decoder",)
    loss_names = ("loss", "l1", "ssim", "mean_frame", "psnr")

    def __init__(self, decoder: TokenDecoder, encoder: nn.Module, cfg: DecoderConfig, clip: Any,
                 device: torch.device) -> None:
        self.device = device
        self.decoder = decoder.to(device)
        self.encoder = encoder
        self.cfg = cfg
        self.clip = clip
        self.module = DecoderLossModule(self.decoder, cfg)
        if cfg.ssim_weight == 0:
            self.loss_names = tuple(k for k in self.loss_names if k != "ssim")

    @torch.no_grad()
    def prepare(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if "frames" not in batch:
            raise ValueError("the decoder objective needs pixels: a video batch (data.source=video), not features")
        frames = batch["frames"].to(self.device, non_blocking=True).float()  # (B, T, 3, H, W) normalized
        z = normalize_targets(self.encoder(frames))  # (B, T, N, D), the predictor's targets
        target = frames_to_rgb(frames, self.clip.mean, self.clip.std)
        return z.flatten(0, 1), target.flatten(0, 1)

    def checkpointed_modules(self) -> dict[str, nn.Module]:
        return {"decoder": self.decoder}

    def progress(self, losses: dict[str, float]) -> dict[str, float]:
        return {"l1": losses["l1"], "mean": losses["mean_frame"], "psnr": losses["psnr"]}

    def describe_validation(self, losses: dict[str, float]) -> str:
        return (f"val pixel L1 {losses['l1']:.4f} (batch-mean-frame baseline {losses['mean_frame']:.4f}), "
                f"PSNR {losses['psnr']:.2f} dB")


def build_decoder_objective(cfg: RunConfig, info: DistInfo, run_dir: Path, urls: list[str]) -> DecoderObjective:
    seed_everything(cfg.seed)
    decoder = TokenDecoder(cfg.decoder, cfg.encoder.embed_dim, cfg.encoder.grid_size, cfg.clip.size)
    encoder = FrozenEncoder.from_config(cfg.encoder, info.device)
    return DecoderObjective(decoder, encoder, cfg.decoder, cfg.clip, info.device)
