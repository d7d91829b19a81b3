"""Planning rows of `benchmarks/gpu.py`: one CEM plan with Meta's settings per horizon, KV-cache
rollout vs recompute, on a random predictor of an AC preset (plan.py's `time_plan` times it)."""

from __future__ import annotations

from dataclasses import replace

import torch
from gpu_tools import (
    Row,
    count_flops,
    free_memory,
    is_out_of_memory,
    peak_gib,
    predictor_on,
    reset_peak,
)
from plan import time_plan

from craft_jepa.models import ACPredictor
from craft_jepa.planning.action_space import ActionSpace
from craft_jepa.planning.cem import CEMConfig, cem
from craft_jepa.planning.objectives import rollout_energy
from craft_jepa.train.config import RunConfig
from craft_jepa.vpt.layouts import get_action_layout
from craft_jepa.vpt.scaler import ActionScaler

MODES = {True: "kv cache", False: "recompute"}


class AutocastRollouts:
    """The predictor's two rollouts under autocast; CEM's sampling around them stays float32."""

    def __init__(self, predictor: ACPredictor, device: torch.device, dtype: torch.dtype) -> None:
        self.predictor, self.device_type, self.dtype = predictor, device.type, dtype

    def rollout(self, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.predictor.rollout(*args, **kwargs)

    def rollout_uncached(self, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.predictor.rollout_uncached(*args, **kwargs)


def plan_rows(shape: str, cfg: RunConfig, device: torch.device, cem_base: CEMConfig, horizons: tuple[int, ...],
              repeats: int, amp_dtype: torch.dtype | None) -> list[Row]:
    """Per horizon, both rollouts: seconds per plan (best of `repeats`), its peak memory and FLOPs
    (one counted CEM iteration x iterations), seconds per planned action, speed-up, same plan."""
    predictor = predictor_on(cfg.predictor, device).eval()
    layout = get_action_layout(cfg.clip.action_layout)
    scaler = ActionScaler.identity(layout)  # a trained run's scaler only moves the numbers
    space = ActionSpace.from_layout(layout, scaler)
    generator = torch.Generator().manual_seed(0)
    shape_tokens = (1, cfg.predictor.tokens_per_frame, cfg.predictor.encoder_dim)
    z_start = torch.randn(shape_tokens, generator=generator).to(device)  # (1, N, D)
    z_goal = torch.randn(shape_tokens, generator=generator).to(device)  # (1, N, D)
    model = predictor if amp_dtype is None else AutocastRollouts(predictor, device, amp_dtype)
    rows = []
    with torch.no_grad():
        # Warm-up: kernels, allocator, masks of both rollouts, before anything is timed.
        for cached in MODES:
            time_plan(model, scaler.transform, space, z_start, z_goal, replace(cem_base, horizon=2, iterations=1),
                      cached, 1, str(device))
        for horizon in horizons:
            cem_cfg = replace(cem_base, horizon=horizon)
            timed = {}
            for cached in MODES:
                try:
                    reset_peak(device)
                    seconds, plan = time_plan(model, scaler.transform, space, z_start, z_goal, cem_cfg, cached,
                                              repeats, str(device))
                    peak = peak_gib(device)
                    energy = rollout_energy(model.rollout if cached else model.rollout_uncached,
                                            scaler.transform, z_start, z_goal)
                    one = replace(cem_cfg, iterations=1)
                    flops = count_flops(lambda e=energy, c=one: cem(space, e, 1, c, device=device),
                                        device) * cem_base.iterations
                except (torch.OutOfMemoryError, RuntimeError) as err:
                    if not is_out_of_memory(err):
                        raise
                    free_memory(device)
                    seconds, plan, peak, flops = None, None, peak_gib(device), None
                timed[cached] = (seconds, plan, peak, flops)
            rows += _horizon_rows(shape, horizon, cem_cfg, timed)
    del predictor, model
    free_memory(device)
    return rows


def _horizon_rows(shape: str, horizon: int, cem_cfg: CEMConfig, timed: dict) -> list[Row]:
    (cached_s, cached_plan, *_), (recompute_s, recompute_plan, *_) = timed[True], timed[False]
    both = cached_s is not None and recompute_s is not None
    same = bool(torch.allclose(cached_plan, recompute_plan, atol=1e-3)) if both else None
    rows = []
    for cached, (seconds, _, peak, flops) in timed.items():
        extra = {"horizon": horizon, "kv_cache": cached, "samples": cem_cfg.samples, "iterations": cem_cfg.iterations,
                 "seconds_per_action": seconds / horizon if seconds else None}
        if seconds is None:
            note = "out of memory"
        else:
            note = f"{seconds / horizon:.4g} s/action"
        if cached and both:
            extra |= {"speedup": recompute_s / cached_s, "same_plan": same}
            note += f", {recompute_s / cached_s:.2f}x faster than recompute, same plan: {same}"
        rows.append(Row("plan", shape, f"h={horizon} {MODES[cached]}", cem_cfg.samples, seconds, peak,
                        None if flops is None else flops / 1e12, note, extra))
    return rows
