"""One optimizer step: targets from the frozen encoder, losses, backward, clip, update.

`StepRunner` owns the trainable side (predictor, optional DDP/compile wrapper, AdamW,
GradScaler) and knows nothing about files, logging or the data stream, so it can be
tested with hand-made batches and compared across process counts.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from craft_jepa.train.distributed import DistInfo, all_reduce_sum
from craft_jepa.train.losses import LossConfig, normalize_targets, predictor_losses
from craft_jepa.train.optim import OptimConfig, build_optimizer
from craft_jepa.train.schedule import ScheduleConfig, set_lr

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


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """None = plain float32. 'auto' is bf16 on CUDA and float32 on CPU."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@dataclass
class StepResult:
    losses: dict[str, float]  # means over micro-batches and ranks
    grad_norm: float
    lr: float
    skipped: bool  # non-finite loss or gradients: no update was applied
    clips: int  # clips in this optimizer step, all ranks together
    extra: dict[str, float] = field(default_factory=dict)


class StepRunner:
    def __init__(
        self,
        predictor: nn.Module,
        encoder: nn.Module | None,
        scaler: Any,  # ActionScaler: raw layout vectors -> standardized
        loss_cfg: LossConfig,
        optim_cfg: OptimConfig,
        schedule_cfg: ScheduleConfig,
        dist: DistInfo,
        precision: str = "auto",
        compile: bool = False,
    ) -> None:
        self.device = dist.device
        self.dist = dist
        self.predictor = predictor.to(self.device)
        self.encoder = encoder
        self.scaler = scaler
        self.loss_cfg = loss_cfg
        self.optim_cfg = optim_cfg
        self.schedule_cfg = schedule_cfg
        self.amp_dtype = autocast_dtype(precision, self.device)
        module: nn.Module = LossModule(self.predictor, loss_cfg)
        if dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        self.model = torch.compile(module) if compile else module
        self.ddp = module if dist.enabled else None
        self.optimizer = build_optimizer(self.predictor, optim_cfg)
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    # ------------------------------------------------------------------ inputs

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

    def _forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        z, actions, states = self.prepare(batch)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            return self.model(z, actions, states)

    # ------------------------------------------------------------------ training

    def train_step(self, batches: list[dict[str, Any]], step: int) -> StepResult:
        """One optimizer step over `batches` (the gradient-accumulation micro-batches)."""
        self.model.train()
        lr = set_lr(self.optimizer, self.schedule_cfg, self.optim_cfg.lr, step)
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(len(LOSS_NAMES), device=self.device, dtype=torch.float64)
        clips = 0
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            sync_off = self.ddp is not None and not last
            with self.ddp.no_sync() if sync_off else contextlib.nullcontext():
                out = self._forward(batch)
                self.grad_scaler.scale(out["loss"] / len(batches)).backward()
            sums += torch.stack([out.get(k, torch.zeros((), device=self.device)).detach().double() for k in LOSS_NAMES])
            clips += int(batch["actions"].shape[0])
        # One small all-reduce: loss sums, clip count and "this rank saw a non-finite loss".
        nonfinite_local = 0.0 if bool(torch.isfinite(sums).all()) else 1.0
        packed = torch.cat([torch.nan_to_num(sums, nan=0.0, posinf=0.0, neginf=0.0),
                            torch.tensor([clips, nonfinite_local], device=self.device, dtype=torch.float64)])
        packed = all_reduce_sum(packed)
        nonfinite_any = packed[-1].item() > 0

        self.grad_scaler.unscale_(self.optimizer)
        params = [p for p in self.predictor.parameters() if p.requires_grad]
        max_norm = self.optim_cfg.grad_clip if self.optim_cfg.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        skipped = nonfinite_any or not math.isfinite(grad_norm)
        if skipped:
            self.optimizer.zero_grad(set_to_none=True)
            if self.grad_scaler.is_enabled():
                self.grad_scaler.update(self.grad_scaler.get_scale() / 2)
        else:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        denom = len(batches) * self.dist.world_size
        losses = {k: packed[j].item() / denom for j, k in enumerate(LOSS_NAMES)}
        if self.loss_cfg.auto_steps == 0:
            losses.pop("rollout")
        if nonfinite_any:
            losses = {k: math.nan for k in losses}
        return StepResult(losses, grad_norm, lr, skipped, int(packed[-2].item()))

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def validate(self, batches: Any) -> dict[str, float]:
        """Clip-weighted mean losses over a finite iterable, all-reduced across ranks."""
        self.model.eval()
        sums = torch.zeros(len(LOSS_NAMES) + 1, device=self.device, dtype=torch.float64)
        for batch in batches:
            z, actions, states = self.prepare(batch)
            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                enabled=self.amp_dtype is not None):
                # Unwrapped module: no DDP forward bookkeeping without a backward.
                out = predictor_losses(self.predictor, z, actions, states, self.loss_cfg)
            n = z.shape[0]
            values = [out.get(k, torch.zeros((), device=self.device)).double() * n for k in LOSS_NAMES]
            sums += torch.stack(values + [torch.tensor(float(n), device=self.device, dtype=torch.float64)])
        sums = all_reduce_sum(sums)
        count = sums[-1].item()
        self.model.train()
        if count == 0:
            return {}
        result = {k: sums[j].item() / count for j, k in enumerate(LOSS_NAMES)}
        if self.loss_cfg.auto_steps == 0:
            result.pop("rollout")
        result["clips"] = count
        return result

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.grad_scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from craft_jepa.train.checkpoint import load_state_strict

        load_state_strict(self.predictor, state["predictor"], "predictor")
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state["grad_scaler"])

