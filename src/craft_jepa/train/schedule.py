"""Warmup-stable-decay learning-rate schedule (the V-JEPA 2-AC recipe).

lr(step) rises linearly from `start_lr` to the peak `optim.lr` over `warmup_steps`,
stays at the peak, then falls linearly to `final_lr` over the last `decay_steps` of `total_steps`.
The schedule is a pure function of the step, so resuming needs only the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from craft_jepa.configuration import require_range


@dataclass
class ScheduleConfig:
    total_steps: int = 94_500  # optimizer steps (315 epochs x 300 iterations in the recipe)
    warmup_steps: int = 4_500
    decay_steps: int = 4_500
    start_lr: float = 7.5e-5  # the peak lr lives in OptimConfig.lr
    final_lr: float = 0.0

    def __post_init__(self) -> None:
        require_range("total_steps", self.total_steps, above=0)
        for name in ("warmup_steps", "decay_steps"):
            require_range(f"{name}", getattr(self, name), at_least=0)
        if self.warmup_steps + self.decay_steps > self.total_steps:
            raise ValueError(
                f"warmup_steps + decay_steps ({self.warmup_steps} + {self.decay_steps}) "
                f"exceed total_steps ({self.total_steps})"
            )
        for name in ("start_lr", "final_lr"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")


def lr_at(cfg: ScheduleConfig, peak_lr: float, step: int) -> float:
    """Learning rate for optimizer step `step` (0-based)."""
    if step < cfg.warmup_steps:
        return cfg.start_lr + (peak_lr - cfg.start_lr) * step / cfg.warmup_steps
    decay_start = cfg.total_steps - cfg.decay_steps
    if step < decay_start or cfg.decay_steps == 0:
        return peak_lr
    progress = min(1.0, (step - decay_start) / cfg.decay_steps)
    return peak_lr + (cfg.final_lr - peak_lr) * progress


def set_lr(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, peak_lr: float, step: int
) -> float:
    """Write lr(step) into every parameter group (scaled by the group's `lr_scale`)."""
    lr = lr_at(cfg, peak_lr, step)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
    return lr
