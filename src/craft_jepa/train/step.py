"""One optimizer step of any objective: forward, backward, clip, update, post-step hook.

`StepRunner` keeps what is objective-free (autocast, gradient accumulation with DDP's no_sync,
grad clipping, non-finite skips agreed across ranks, the fp16 GradScaler, AdamW over the
objective's trainable modules). What the models are, how a batch becomes losses and what happens
after an update (an EMA) belongs to the objective (train/objectives/). It knows nothing about
files, logging or the data stream, so it can be tested with hand-made batches and compared
across process counts.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from craft_jepa.data.loader import frame_norm, normalize_frames
from craft_jepa.train.distributed import DistInfo, all_reduce_sum, autocast_dtype
from craft_jepa.train.objectives.base import Objective
from craft_jepa.train.optim import OptimConfig, build_optimizer
from craft_jepa.train.schedule import ScheduleConfig, set_lr


@dataclass
class StepResult:
    losses: dict[str, float]  # means over micro-batches and ranks
    grad_norm: float
    lr: float
    skipped: bool  # non-finite loss or gradients: no update was applied
    clips: int  # clips in this optimizer step, all ranks together
    extra: dict[str, float] = field(default_factory=dict)


class StepRunner:
    """Runs one `Objective` (train/objectives/): its modules, optimizer and one step at a time."""

    def __init__(
        self,
        objective: Objective,
        optim_cfg: OptimConfig,
        schedule_cfg: ScheduleConfig,
        dist: DistInfo,
        precision: str = "auto",
        compile: bool = False,
        *,
        pixel_norm: tuple[Sequence[float], Sequence[float]] | None = None,  # clip (mean, std) for uint8 frames
    ) -> None:
        self.objective = objective
        self.pixel_norm = pixel_norm
        self._device_consts: dict[str, Any] = {}  # moved to the device once
        self.device = dist.device
        self.dist = dist
        self.optim_cfg = optim_cfg
        self.schedule_cfg = schedule_cfg
        self.amp_dtype = autocast_dtype(precision, self.device)
        self.trainable = objective.module.to(self.device)  # the objective's modules + loss, unwrapped
        module: nn.Module = self.trainable
        if dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        self.model = torch.compile(module) if compile else module
        self.ddp = module if dist.enabled else None
        self.optimizer = build_optimizer(self.trainable, optim_cfg)
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    @property
    def predictor(self) -> nn.Module:
        """The AC objective's predictor (tests and benchmarks reach it here)."""
        return self.objective.predictor  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ inputs

    def _normalize_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, 3, H, W) on the device -> normalized float32, as the collator would."""

        if self.pixel_norm is None:
            raise ValueError("batch frames are uint8 but this StepRunner has no pixel_norm (clip mean, std) "
                             "to normalize them with")
        if "pixels" not in self._device_consts:
            self._device_consts["pixels"] = tuple(t.to(self.device) for t in frame_norm(*self.pixel_norm))
        return normalize_frames(pixels, *self._device_consts["pixels"])

    def prepare(self, batch: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        """batch -> the objective module's inputs (targets, masks, ...), without gradients.
        uint8 frames (the training loader's) are normalized here, on the device."""
        frames = batch.get("frames")
        if frames is not None and frames.dtype == torch.uint8:
            batch = {**batch, "frames": self._normalize_pixels(frames.to(self.device, non_blocking=True))}
        return self.objective.prepare(batch)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                              enabled=self.amp_dtype is not None)

    def _forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        inputs = self.prepare(batch)
        with self._autocast():
            return self.model(*inputs)

    # ------------------------------------------------------------------ training

    def train_step(self, batches: list[dict[str, Any]], step: int) -> StepResult:
        """One optimizer step over `batches` (the gradient-accumulation micro-batches)."""
        self.model.train()
        lr = set_lr(self.optimizer, self.schedule_cfg, self.optim_cfg.lr, step)
        self.optimizer.zero_grad(set_to_none=True)
        names = self.objective.loss_names
        sums = torch.zeros(len(names), device=self.device, dtype=torch.float64)
        clips = 0
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            sync_off = self.ddp is not None and not last
            with self.ddp.no_sync() if sync_off else contextlib.nullcontext():
                out = self._forward(batch)
                self.grad_scaler.scale(out["loss"] / len(batches)).backward()
            sums += torch.stack([out.get(k, torch.zeros((), device=self.device)).detach().double() for k in names])
            clips += self.objective.batch_clips(batch)
        # One small all-reduce: loss sums, clip count and "this rank saw a non-finite loss".
        nonfinite_local = 0.0 if bool(torch.isfinite(sums).all()) else 1.0
        packed = torch.cat([torch.nan_to_num(sums, nan=0.0, posinf=0.0, neginf=0.0),
                            torch.tensor([clips, nonfinite_local], device=self.device, dtype=torch.float64)])
        packed = all_reduce_sum(packed)
        nonfinite_any = packed[-1].item() > 0

        self.grad_scaler.unscale_(self.optimizer)
        params = [p for p in self.trainable.parameters() if p.requires_grad]
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
            self.objective.after_step(step + 1)  # e.g. the EMA target update, on every rank alike
        denom = len(batches) * self.dist.world_size
        losses = {k: packed[j].item() / denom for j, k in enumerate(names)}
        if nonfinite_any:
            losses = {k: math.nan for k in losses}
        return StepResult(losses, grad_norm, lr, skipped, int(packed[-2].item()))

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def validate(self, batches: Any) -> dict[str, float]:
        """Clip-weighted mean losses over a finite iterable, all-reduced across ranks."""
        self.model.eval()
        names = self.objective.loss_names
        sums = torch.zeros(len(names) + 1, device=self.device, dtype=torch.float64)
        with self.objective.validating():
            for batch in batches:
                inputs = self.prepare(batch)
                with self._autocast():
                    # Unwrapped module: no DDP forward bookkeeping without a backward.
                    out = self.trainable(*inputs)
                n = self.objective.batch_clips(batch)
                values = [out.get(k, torch.zeros((), device=self.device)).double() * n for k in names]
                sums += torch.stack(values + [torch.tensor(float(n), device=self.device, dtype=torch.float64)])
        sums = all_reduce_sum(sums)
        count = sums[-1].item()
        self.model.train()
        if count == 0:
            return {}
        result = {k: sums[j].item() / count for j, k in enumerate(names)}
        result["clips"] = count
        return result

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.grad_scaler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.objective.load_state_dict(state)
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("grad_scaler"):
            self.grad_scaler.load_state_dict(state["grad_scaler"])
