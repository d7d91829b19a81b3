"""Warmup-stable-decay schedule and AdamW parameter groups."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from craft_jepa.train.optim import OptimConfig, build_optimizer, split_decay_groups
from craft_jepa.train.schedule import ScheduleConfig, lr_at, set_lr


def test_warmup_stable_decay_shape():
    cfg = ScheduleConfig(total_steps=100, warmup_steps=10, decay_steps=20, start_lr=1e-5, final_lr=0.0)
    peak = 1e-3
    lrs = [lr_at(cfg, peak, s) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-5)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))  # strictly rising warmup
    assert all(lr == pytest.approx(peak) for lr in lrs[10:81])  # stable plateau
    assert all(a > b for a, b in zip(lrs[80:100], lrs[81:101]))  # strictly falling decay
    assert lrs[100] == pytest.approx(0.0)
    assert max(lrs) <= peak + 1e-12


def test_schedule_validation_names_fields():
    with pytest.raises(ValueError, match="exceed total_steps"):
        ScheduleConfig(total_steps=10, warmup_steps=6, decay_steps=6)
    with pytest.raises(ValueError, match="warmup_steps"):
        ScheduleConfig(warmup_steps=-1)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.token = nn.Parameter(torch.zeros(1, 1, 4))  # 3-D: decayed like a weight
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_no_decay_on_biases_and_norms():
    model = Tiny()
    decay, no_decay = split_decay_groups(model)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay) == {id(model.proj.weight), id(model.token)}
    assert ids(no_decay) == {id(model.proj.bias), id(model.norm.weight), id(model.norm.bias)}
    opt = build_optimizer(model, OptimConfig(lr=1e-3, weight_decay=0.5))
    wd = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert wd[id(model.proj.weight)] == 0.5 and wd[id(model.norm.weight)] == 0.0
    # Without gradients, one AdamW step only decays: biases and norms must not move.
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    torch.nn.init.ones_(model.norm.bias)
    before["norm.bias"] = model.norm.bias.detach().clone()
    set_lr(opt, ScheduleConfig(total_steps=1, warmup_steps=0, decay_steps=0), 1e-1, 0)
    opt.step()
    assert torch.equal(model.norm.bias, before["norm.bias"])
    assert torch.equal(model.proj.bias, before["proj.bias"])
    assert not torch.equal(model.proj.weight, before["proj.weight"])


def test_optim_validation():
    with pytest.raises(ValueError, match="accum_steps"):
        OptimConfig(accum_steps=0)
