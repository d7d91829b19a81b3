"""The action-conditioned objective (V-JEPA 2-AC fine-tuning): a predictor against a frozen encoder.

Targets are the frozen encoder's per-frame tokens (or pre-encoded feature tokens), layer-normed;
the losses are teacher forcing + rollout, beside the copy-last baseline (train/losses.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from craft_jepa.configuration import config_to_dict
from craft_jepa.data.features import FeatureConfigError, check_feature_shards
from craft_jepa.encoders import FrozenEncoder, normalize_targets
from craft_jepa.models import ACPredictor
from craft_jepa.models.warm_start import warm_start_from_meta
from craft_jepa.runs.compat import encoder_differences
from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.losses import LossConfig, predictor_losses
from craft_jepa.train.objectives.base import Objective
from craft_jepa.train.rng import seed_everything
from craft_jepa.train.run_setup import shared_scaler

if TYPE_CHECKING:  # typing only: train/config.py imports the objectives' config sections
    from craft_jepa.train.config import RunConfig

LOSS_NAMES = ("loss", "teacher_forcing", "rollout", "copy_last")


class LossModule(nn.Module):
    """predictor + losses in ONE forward, so DDP sees one forward per backward even though
    the rollout calls the predictor several times."""

    def __init__(self, predictor: nn.Module, cfg: LossConfig) -> None:
        super().__init__()
        self.predictor = predictor
        self.cfg = cfg

    def forward(self, z: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> dict[str, torch.Tensor]:
        return predictor_losses(self.predictor, z, actions, states, self.cfg)


class ACObjective(Objective):
    name = "ac"
    checkpoint_keys = ("predictor",)

    def __init__(self, predictor: nn.Module, encoder: nn.Module | None, scaler: Any, loss_cfg: LossConfig,
                 device: torch.device, warm_start: str | None = None) -> None:
        self.device = device
        self.predictor = predictor.to(device)
        self.encoder = encoder
        self.scaler = scaler  # ActionScaler: raw layout vectors -> standardized
        self.loss_cfg = loss_cfg
        self.warm_start = warm_start
        self.module = LossModule(self.predictor, loss_cfg)
        self.loss_names = tuple(k for k in LOSS_NAMES if k != "rollout" or loss_cfg.auto_steps > 0)
        self.scaler_dict = scaler.to_dict() if scaler is not None else None

    def prepare(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """batch -> (z (B,T,N,D) normalized targets, actions (B,T-1,A) scaled, states (B,T,S))."""
        if "tokens" in batch:
            tokens = batch["tokens"].to(self.device, non_blocking=True)
        else:
            if self.encoder is None:
                raise ValueError("batch has frames but the run has no encoder (data.source=features?)")
            frames = batch["frames"].to(self.device, non_blocking=True)  # (B, T, 3, H, W)
            tokens = self.encoder(frames)  # (B, T, N, D), no grad
        z = normalize_targets(tokens)
        actions = batch["actions"].to(self.device, non_blocking=True).float()
        actions = self.scaler.transform(actions) if self.scaler is not None else actions
        states = batch["states"].to(self.device, non_blocking=True).float()
        return z, actions, states

    def batch_clips(self, batch: dict[str, Any]) -> int:
        return int(batch["actions"].shape[0])

    def fresh_start(self) -> list[str]:
        if not self.warm_start:
            return []

        return [warm_start_from_meta(self.predictor, self.warm_start).describe()]  # strict; same on every rank

    def checkpointed_modules(self) -> dict[str, nn.Module]:
        return {"predictor": self.predictor}

    def progress(self, losses: dict[str, float]) -> dict[str, float]:
        # Teacher forcing beside copy-last: the two are on the same scale (the total adds rollout).
        return {"loss": losses["loss"], "tf": losses["teacher_forcing"], "copy": losses["copy_last"]}

    def describe_validation(self, losses: dict[str, float]) -> str:
        return (f"val loss {losses['loss']:.4f}, teacher forcing {losses['teacher_forcing']:.4f} "
                f"(copy-last baseline {losses['copy_last']:.4f})")


def build_ac_objective(cfg: RunConfig, info: DistInfo, run_dir: Path, urls: list[str]) -> ACObjective:
    """The AC objective of a RunConfig: shared action scaler, predictor, frozen encoder (video)."""

    # Rank 0 loads or fits the action scaler and hands it to every rank (RUN_DIR may be node-local).
    scaler = shared_scaler(cfg, run_dir)
    if cfg.data.source == "features":  # fail now, not in a loader worker, on shards made for another setup

        meta = check_feature_shards(urls, cfg.clip, embed_dim=cfg.encoder.embed_dim,
                                    grid_size=cfg.predictor.grid_size, encoder=cfg.encoder.name)
        # Same name and width is not the same encoder: other weights (checkpoint, seed) give other
        # latents, and eval / planning re-encode video with the run's encoder.
        if meta.encoder_config:
            differences = encoder_differences(meta.encoder_config, config_to_dict(cfg.encoder))
            if differences:
                raise FeatureConfigError(f"{urls[0]} (encoded from {meta.source or '?'}): the feature shards were "
                                         "encoded by another encoder than the run's (feature shard -> run): "
                                         + "; ".join(differences))
    seed_everything(cfg.seed)  # identical predictor init on every rank
    predictor = ACPredictor(cfg.predictor)
    pixels = cfg.data.source in ("video", "droid")  # features: tokens come pre-encoded
    encoder = FrozenEncoder.from_config(cfg.encoder, info.device) if pixels else None
    return ACObjective(predictor, encoder, scaler, cfg.loss, info.device, warm_start=cfg.predictor.warm_start)
