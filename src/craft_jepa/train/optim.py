"""AdamW with weight decay on weight matrices only (no decay on biases and norms)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from craft_jepa.configuration import require_range


@dataclass
class OptimConfig:
    lr: float = 4.25e-4  # peak learning rate (see ScheduleConfig for its shape)
    weight_decay: float = 0.04
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    accum_steps: int = 1  # micro-batches per optimizer step

    def __post_init__(self) -> None:
        # inf/nan pass every ordering check below (nan compares False), and lr: .inf is valid YAML.
        for name in ("lr", "weight_decay", "eps", "grad_clip"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if not all(math.isfinite(b) for b in self.betas):
            raise ValueError(f"betas must be finite numbers, got {self.betas}")
        require_range("lr", self.lr, above=0)
        require_range("weight_decay", self.weight_decay, at_least=0)
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")
        require_range("eps", self.eps, above=0)
        require_range("grad_clip", self.grad_clip, at_least=0)
        require_range("accum_steps", self.accum_steps, at_least=1)


def split_decay_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed): 1-D tensors (biases, norm scales) are never decayed."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or name.endswith(".bias"):
            no_decay.append(param)
        else:
            decay.append(param)
    return decay, no_decay


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; the schedule sets each step's lr."""
    decay, no_decay = split_decay_groups(model)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
