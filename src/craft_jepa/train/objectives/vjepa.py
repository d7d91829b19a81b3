"""V-JEPA self-supervised (continued) pre-training: the whole objective in one place.

Per micro-batch (Meta's app/vjepa/train.py, pretrain-256px-16f):
1. clips (B, T, 3, H, W) get one random resized crop each (data/video_augment.py);
2. each mask generator (`vjepa.masks`, masks.py) draws ONE 3-D multi-block mask for the batch:
   the union of its blocks is the target, the rest the context;
3. the target encoder (an EMA of the context encoder, no gradients) encodes the whole clip as
   tubelets; its tokens are layer-normed without affine parameters -> targets (B, L, D);
4. per generator, the context encoder sees only the context tokens (with their RoPE positions),
   the mask-token predictor (models/mask_predictor.py) predicts the target positions, and the
   loss is mean |pred - target|^p / p over the target positions only; generators are averaged;
5. after each applied optimizer update the target encoder moves towards the context encoder:
   target = m * target + (1 - m) * context, m from `vjepa.ema` (linear over the schedule).

Checkpoint entries use Meta's release layout (`encoder`, `target_encoder`, `predictor`, all
prefixed `module.backbone.` as DDP + Meta's MultiSeq wrappers write them), so a run checkpoint is
itself an `encoder.checkpoint` for `craft-jepa train` (which reads `target_encoder` by default).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from craft_jepa.data.video_augment import random_resized_crop
from craft_jepa.encoders.checkpoint import load_state_dict_strict, strip_meta_prefixes
from craft_jepa.encoders.collapse import collapse_stats
from craft_jepa.encoders.registry import build_encoder
from craft_jepa.encoders.vit import VisionTransformer
from craft_jepa.models.mask_predictor import MaskTokenPredictor
from craft_jepa.train.distributed import DistInfo, autocast_dtype
from craft_jepa.train.losses import latent_loss
from craft_jepa.train.objectives.base import Objective
from craft_jepa.train.objectives.masks import TokenGrid, mask_generator, sample_mask
from craft_jepa.train.objectives.vjepa_config import VJEPAConfig
from craft_jepa.train.objectives.vjepa_init import load_pretrained
from craft_jepa.train.rng import seed_everything

if TYPE_CHECKING:  # typing only: train/config.py imports the objectives' config sections
    from craft_jepa.train.config import RunConfig

META_PREFIX = "module.backbone."  # DDP's module. + Meta's MultiSeqWrapper/PredictorMultiSeqWrapper backbone.
_CROP_STREAM, _VAL_STREAM = 1 << 20, 1 << 21  # generator-key offsets: crops and validation masks differ from masks


def ema_momentum(cfg: VJEPAConfig, step: int, total_steps: int) -> float:
    """Momentum used after optimizer step `step` (1-based), linear from ema[0] to ema[1]."""
    start, end = cfg.ema
    return start + (end - start) * min(1.0, step / max(total_steps, 1))


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target = momentum * target + (1 - momentum) * online, parameter by parameter."""
    t_params = [p for p in target.parameters()]
    o_params = [p.detach() for p in online.parameters()]
    torch._foreach_mul_(t_params, momentum)
    torch._foreach_add_(t_params, o_params, alpha=1.0 - momentum)


class VJEPALossModule(nn.Module):
    """Context encoder + predictor + masked L1, in ONE forward (DDP: one forward per backward)."""

    def __init__(self, encoder: VisionTransformer, predictor: MaskTokenPredictor, grid: TokenGrid,
                 loss_exp: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor
        self.grid = grid
        self.loss_exp = loss_exp

    def forward(self, video: Tensor, targets: Tensor, *masks: Tensor) -> dict[str, Tensor]:
        """video (B, 3, T, H, W), targets (B, L, D) normed, masks = context_0, target_0, context_1, ..."""
        grid = (self.grid.steps, self.grid.height, self.grid.width)
        losses, baselines = [], []
        for g in range(len(masks) // 2):
            context_idx, target_idx = masks[2 * g], masks[2 * g + 1]  # (K,), (M,)
            context = self.encoder.forward_video(video, keep=context_idx)  # (B, K, D)
            pred = self.predictor(context, context_idx, target_idx, grid, mask_index=g)  # (B, M, D)
            wanted = targets[:, target_idx]  # (B, M, D): the loss sees masked positions only
            losses.append(latent_loss(pred, wanted, self.loss_exp))
            # Baseline: every masked token predicted as the mean target token of the clip's context.
            mean_token = targets[:, context_idx].mean(dim=1, keepdim=True)  # (B, 1, D)
            baselines.append(latent_loss(mean_token.expand_as(wanted), wanted, self.loss_exp).detach())
        out = {"loss": torch.stack(losses).mean(), "mean_token": torch.stack(baselines).mean()}
        for g, value in enumerate(losses):
            out[f"loss_mask{g}"] = value.detach()
        # No collapse: the targets' spread, logged beside the loss (encoders/collapse.py).
        stats = collapse_stats(targets)
        out["target_std"], out["target_rank"] = stats["feature_std"], stats["effective_rank"]
        return out


def with_prefix(state: dict[str, Tensor], prefix: str = META_PREFIX) -> dict[str, Tensor]:
    return {prefix + k: v for k, v in state.items()}


class VJEPAObjective(Objective):
    name = "vjepa"
    checkpoint_keys = ("encoder", "target_encoder", "predictor", "vjepa")

    def __init__(self, encoder: VisionTransformer, predictor: MaskTokenPredictor, cfg: VJEPAConfig, *,
                 frames: int, total_steps: int, seed: int, rank: int, device: torch.device,
                 amp_dtype: torch.dtype | None = None, init_checkpoint: str | None = None) -> None:
        self.cfg = cfg
        self.device = device
        self.seed, self.rank = seed, rank
        self.total_steps = total_steps
        self.amp_dtype = amp_dtype
        self.init_checkpoint = init_checkpoint
        spec = encoder.spec
        self.grid = TokenGrid(frames // spec.tubelet_size, encoder.grid_size, encoder.grid_size)
        encoder.activation_checkpointing = cfg.activation_checkpointing
        self.encoder = encoder.to(device)
        self.predictor = predictor.to(device)
        self.target_encoder = copy.deepcopy(self.encoder).eval()  # outside `module`: no optimizer, no DDP
        self.target_encoder.activation_checkpointing = False
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)
        self.module = VJEPALossModule(self.encoder, self.predictor, self.grid, cfg.loss_exp)
        self.loss_names = ("loss", "mean_token", *[f"loss_mask{g}" for g in range(len(cfg.masks))],
                           "target_std", "target_rank")
        self.draws = 0  # training micro-batches prepared so far (seeds this batch's masks and crops)
        self._val_draws: int | None = None  # set while validating

    # ------------------------------------------------------------------ per micro-batch
    def draw_masks(self, key: int) -> list[Tensor]:
        masks: list[Tensor] = []
        for g, mask_cfg in enumerate(self.cfg.masks):
            context, target = sample_mask(self.grid, mask_cfg, mask_generator(self.seed, self.rank, key, g))
            masks += [context.to(self.device), target.to(self.device)]
        return masks

    @torch.no_grad()
    def targets(self, video: Tensor) -> Tensor:
        """The target encoder's layer-normed tokens of the whole clip (B, L, D), float32."""
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            tokens = self.target_encoder.forward_video(video)  # (B, L, D)
        tokens = tokens.float()
        return F.layer_norm(tokens, tokens.shape[-1:])

    def prepare(self, batch: dict[str, Any]) -> tuple[Tensor, ...]:
        frames = batch["frames"].to(self.device, non_blocking=True).float()  # (B, T, 3, H, W)
        if self._val_draws is None:
            key = self.draws
            self.draws += 1
            crop = mask_generator(self.seed, self.rank, key, _CROP_STREAM)
            frames = random_resized_crop(frames, crop, self.cfg.crop_scale, self.cfg.crop_aspect)
        else:  # validation: fixed masks per batch index, no augmentation
            key = _VAL_STREAM + self._val_draws
            self._val_draws += 1
        video = frames.permute(0, 2, 1, 3, 4).contiguous()  # (B, 3, T, H, W): tubelets span time
        return (video, self.targets(video), *self.draw_masks(key))

    @contextlib.contextmanager
    def validating(self) -> Iterator[None]:
        self._val_draws = 0
        try:
            yield
        finally:
            self._val_draws = None

    def after_step(self, step: int) -> None:
        ema_update(self.target_encoder, self.encoder, ema_momentum(self.cfg, step, self.total_steps))

    # ------------------------------------------------------------------ weights
    def fresh_start(self) -> list[str]:
        if self.init_checkpoint is None:
            return [f"vjepa: random-weight {self.encoder.name} encoder; target encoder = a copy of it"]

        return load_pretrained(self, self.init_checkpoint)

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": with_prefix(self.encoder.state_dict()),
            "target_encoder": with_prefix(self.target_encoder.state_dict()),
            "predictor": with_prefix(self.predictor.state_dict()),
            "vjepa": {"draws": self.draws},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, module in (("encoder", self.encoder), ("target_encoder", self.target_encoder),
                            ("predictor", self.predictor)):
            load_state_dict_strict(module, strip_meta_prefixes(state[key]), key)
        self.draws = int(state["vjepa"]["draws"])

    # ------------------------------------------------------------------ reports
    def progress(self, losses: dict[str, float]) -> dict[str, float]:
        return {"loss": losses["loss"], "base": losses["mean_token"]}

    def describe_validation(self, losses: dict[str, float]) -> str:
        return (f"val masked-prediction loss {losses['loss']:.4f} (predict-the-mean-token baseline "
                f"{losses['mean_token']:.4f})")


def build_vjepa_objective(cfg: RunConfig, info: DistInfo, run_dir: Path, urls: list[str]) -> VJEPAObjective:
    """The V-JEPA objective of a RunConfig (objective: vjepa); weights are random until fresh_start."""

    seed_everything(cfg.seed)  # identical init on every rank
    encoder = build_encoder(cfg.encoder.name, img_size=cfg.encoder.img_size, init_seed=cfg.encoder.init_seed)
    predictor = MaskTokenPredictor(cfg.vjepa.predictor, encoder.embed_dim)
    return VJEPAObjective(encoder, predictor, cfg.vjepa, frames=cfg.clip.frames, total_steps=cfg.schedule.total_steps,
                          seed=cfg.seed, rank=info.rank, device=info.device,
                          amp_dtype=autocast_dtype(cfg.precision, info.device), init_checkpoint=cfg.encoder.checkpoint)
