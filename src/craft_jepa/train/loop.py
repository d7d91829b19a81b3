"""The training loop: set-up, resume, steps, validation, checkpoints, logging.

    cfg = load_config(RunConfig, "configs/tiny-cpu.yaml", ["optim.lr=3e-4"])
    summary = train(cfg)

Everything that decides the result of a step (weights, optimizer, schedule position,
RNG states, data-stream position) is in the checkpoint, so a run resumed from
`latest.pt` continues exactly as if it had never stopped. SIGTERM / SIGUSR1 stop the run at
the next step boundary on every rank, after a checkpoint (train/preempt.py).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from craft_jepa.configuration import config_to_dict, dump_config
from craft_jepa.data.config import resolve_shards
from craft_jepa.data.sources import build_val_batches, train_loader_factory
from craft_jepa.runs.checkpoints import CheckpointManager, load_checkpoint, require_keys, warn_stale
from craft_jepa.runs.compat import check_resume_compatible
from craft_jepa.train.config import RunConfig
from craft_jepa.train.distributed import (
    DistInfo,
    all_reduce_sum,
    any_rank,
    barrier,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from craft_jepa.train.metrics_log import MetricsLogger
from craft_jepa.train.objectives import build_objective
from craft_jepa.train.preempt import StopSignals, write_requeue_marker
from craft_jepa.train.rng import capture_rng_state, restore_rng_state, seed_everything
from craft_jepa.train.run_setup import check_same_step, shared_resume_path
from craft_jepa.train.step import StepRunner
from craft_jepa.train.stream import TrainStream

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "craft-jepa-train-checkpoint"
CHECKPOINT_VERSION = 1


class NonFiniteLossError(RuntimeError):
    """Too many optimizer steps in a row had a NaN/inf loss or gradient."""


@dataclass
class TrainSummary:
    run_dir: Path
    step: int  # optimizer steps done (including earlier runs of this run dir)
    train_losses: dict[str, float]  # of the last step
    val_losses: dict[str, float]  # of the last validation ({} if none)
    best_val_loss: float | None
    skipped_steps: int
    resumed_from: int | None  # step of the checkpoint this invocation started from
    history: list[dict[str, float]] = field(default_factory=list)  # per-step train losses
    preempted: bool = False  # stopped by SIGTERM/SIGUSR1 after checkpointing: requeue and resume
    bad_inputs: dict[str, int] = field(default_factory=dict)  # skipped input by kind, all ranks, whole run


def _gather_rng_states(info: DistInfo) -> list[dict[str, Any]]:
    """Every rank's RNG state (rank 0 writes them all into the checkpoint)."""
    state = capture_rng_state()
    if not info.enabled:
        return [state]
    gathered: list[Any] = [None] * info.world_size
    dist.all_gather_object(gathered, state)
    return gathered


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20

    # The process's high-water mark since it started (ru_maxrss: KiB on Linux, bytes on macOS),
    # not the current RSS, which misses every peak between two log rows.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _add_bad_inputs(totals: dict[str, int], batch: dict[str, Any]) -> None:
    """Add a batch's skipped-input counters (summed over its clips) into `totals`, by kind."""
    for kind, counts in (batch.get("stats") or {}).items():
        totals[kind] = totals.get(kind, 0) + int(counts.sum())


def _bad_inputs_all_ranks(base: dict[str, int], local: dict[str, int], device: torch.device) -> dict[str, int]:
    """Checkpointed totals + this invocation's counts summed over ranks (a collective call:
    every rank has the same kinds, the batch contract's `stats` keys)."""
    kinds = sorted(set(base) | set(local))
    summed = all_reduce_sum(torch.tensor([local.get(k, 0) for k in kinds], dtype=torch.float64, device=device))
    return {k: base.get(k, 0) + int(n) for k, n in zip(kinds, summed.tolist())}


def train(
    cfg: RunConfig,
    *,
    stop_at_step: int | None = None,
    single_process: bool = False,
) -> TrainSummary:
    """Train until `schedule.total_steps` (or `stop_at_step`), resuming from latest.pt."""
    info = DistInfo(device=_single_device(cfg)) if single_process else init_distributed(cfg.device)
    try:
        return _train(cfg, info, stop_at_step)
    finally:
        if not single_process:
            shutdown_distributed()


def _single_device(cfg: RunConfig) -> torch.device:
    return resolve_device(cfg.device, 0)


def _train(cfg: RunConfig, info: DistInfo, stop_at_step: int | None) -> TrainSummary:
    run_dir = Path(cfg.run_dir)
    ckpt = CheckpointManager(run_dir / "checkpoints", cfg.checkpoint)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.folder.mkdir(parents=True, exist_ok=True)
        warn_stale(ckpt.remove_stale_temporaries())
    barrier()

    train_urls, val_urls = resolve_shards(cfg.data)
    # cfg.objective's models (identical init on every rank), targets and losses (train/objectives/).
    objective = build_objective(cfg, info, run_dir, train_urls + val_urls)
    runner = StepRunner(objective, cfg.optim, cfg.schedule, info, precision=cfg.precision,
                                      compile=cfg.compile, pixel_norm=(cfg.clip.mean, cfg.clip.std))
    seed_everything(cfg.seed + 1_000 * info.rank)  # per-rank randomness from here on

    chunk_steps = cfg.data.chunk_steps or cfg.checkpoint.latest_every
    # uint8 frames, pinned on CUDA: the runner normalizes them on the device (pixel_norm above).
    factory = train_loader_factory(cfg.data, cfg.clip, train_urls, pin_memory=info.device.type == "cuda",
                                   uint8_frames=True)
    stream = TrainStream(factory, cfg.seed, chunk_batches=chunk_steps * cfg.optim.accum_steps)

    step, best_val, skipped_total, in_row, resumed_from = 0, None, 0, 0, None
    bad_base: dict[str, int] = {}  # skipped input by kind, all ranks, up to the resumed checkpoint
    resume_path = shared_resume_path(ckpt, cfg.checkpoint.resume, info)
    if resume_path is not None:
        state = load_checkpoint(resume_path, mmap=True)  # pages in what is used, not the whole file
        require_keys(state, ["format", "step", *objective.checkpoint_keys, "optimizer", "rng", "data_stream",
                             "config"], resume_path)
        check_resume_compatible(state, config_to_dict(cfg), objective.scaler_dict or {}, resume_path)
        check_same_step(int(state["step"]), resume_path, info)
        bad_base = {str(k): int(v) for k, v in (state.get("bad_inputs") or {}).items()}
        runner.load_state_dict(state)
        stream.load_state_dict(state["data_stream"])
        step = resumed_from = int(state["step"])
        best_val = state["best_val_loss"]
        skipped_total = int(state["nonfinite"]["total"])
        in_row = int(state["nonfinite"]["in_row"])
        rng_states = state["rng"]
        if len(rng_states) == info.world_size:
            restore_rng_state(rng_states[info.rank])
        else:
            log.warning("world size changed (%d -> %d): RNG streams restart", len(rng_states), info.world_size)
        del state
    if info.is_main:  # only now: a refused resume leaves the config of the run that wrote the checkpoint
        dump_config(cfg, run_dir / "config.yaml")

    # A resumed run already has its weights; a fresh one may start from released ones (strict,
    # the same on every rank).
    start_lines = objective.fresh_start() if resume_path is None else []

    total = cfg.schedule.total_steps
    stop = total if stop_at_step is None else min(total, stop_at_step)
    logger = MetricsLogger(run_dir, cfg.logging, enabled=info.is_main, total_steps=total, start_step=step)
    if resumed_from is not None:
        logger.write(f"resumed from {resume_path} at step {step}")
    for line in objective.start_messages() + start_lines:
        logger.write(line)  # where the weights came from (which file and entry)

    def checkpoint_state() -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "step": step,
            **runner.state_dict(),
            "rng": _gather_rng_states(info),
            "data_stream": stream.state_dict(),
            "config": config_to_dict(cfg),
            "scaler": objective.scaler_dict,
            "best_val_loss": best_val,
            "nonfinite": {"total": skipped_total, "in_row": in_row},
            "bad_inputs": _bad_inputs_all_ranks(bad_base, bad_by_kind, info.device),  # collective
            "world_size": info.world_size,
        }

    history: list[dict[str, float]] = []
    last_losses: dict[str, float] = {}
    val_losses: dict[str, float] = {}
    bad_by_kind: dict[str, int] = {}  # skipped/damaged input seen by this rank's loader since start
    bad_totals: dict[str, int] = dict(bad_base)
    bad_reported = sum(bad_base.values())
    preempted = False
    signals = StopSignals()
    try:
        signals.__enter__()
        while step < stop:
            t_start = time.perf_counter()
            batches = [next(stream) for _ in range(cfg.optim.accum_steps)]
            t_data = time.perf_counter()
            result = runner.train_step(batches, step)
            step += 1
            if info.device.type == "cuda":
                torch.cuda.synchronize(info.device)
            t_end = time.perf_counter()
            for b in batches:
                _add_bad_inputs(bad_by_kind, b)
            last_losses = result.losses
            history.append(dict(result.losses))

            if result.skipped:
                skipped_total += 1
                in_row += 1
                logger.write(f"step {step}: non-finite loss or gradients, update skipped "
                             f"({in_row} in a row, {skipped_total} in total)")
                if in_row >= cfg.max_nonfinite_steps:
                    raise NonFiniteLossError(
                        f"stopping at step {step}: {in_row} optimizer steps in a row had a non-finite "
                        f"loss or gradient norm ({skipped_total} skipped in total). Lower optim.lr, "
                        f"check optim.grad_clip and the data; the last good checkpoint is "
                        f"{ckpt.folder / 'latest.pt'}"
                    )
            else:
                in_row = 0

            clips_per_s = result.clips / max(t_end - t_start, 1e-9)
            logger.advance(1, **objective.progress(result.losses), lr=result.lr, clips_s=clips_per_s)
            if step % cfg.logging.every == 0 or step == stop:
                bad_totals = _bad_inputs_all_ranks(bad_base, bad_by_kind, info.device)  # collective
                bad_inputs = sum(bad_totals.values())
                logger.log(step, "train", {
                    **result.losses, "lr": result.lr, "grad_norm": result.grad_norm,
                    "clips_per_s": clips_per_s, "data_time_s": t_data - t_start,
                    "step_time_s": t_end - t_data, "peak_mem_mb": _peak_memory_mb(info.device),
                    "skipped_steps": skipped_total, "bad_inputs": bad_inputs,
                    **{f"skipped_{kind}": n for kind, n in bad_totals.items()},
                })
                if bad_inputs > bad_reported:  # the kinds, where a user reading the log sees them
                    kinds = ", ".join(f"{kind}={n}" for kind, n in sorted(bad_totals.items()) if n)
                    logger.write(f"step {step}: skipped or damaged input so far: {kinds} "
                                 f"(DataWarnings name the files)")
                    bad_reported = bad_inputs

            is_best = False
            if val_urls and cfg.validation.every and (step % cfg.validation.every == 0 or step == total):
                val_losses = _validate(cfg, runner, val_urls)
                if val_losses:
                    logger.log(step, "val", val_losses)
                    logger.write(f"step {step}: {objective.describe_validation(val_losses)}")
                    if best_val is None or val_losses["loss"] < best_val:
                        best_val, is_best = val_losses["loss"], True

            # Every rank asks at the same step; one signalled rank stops them all here.
            preempted = any_rank(signals.requested(), info.device) and step < stop
            at_boundary = step % cfg.checkpoint.latest_every == 0 or step == stop or preempted
            if at_boundary or is_best:
                state = checkpoint_state()  # collective: every rank takes part
                if info.is_main:
                    if at_boundary:
                        ckpt.save(state, step, best=is_best)
                    else:
                        ckpt.save_best(state)
                bad_totals = state["bad_inputs"]
                del state
            if preempted:
                logger.write(f"step {step}: stop signal received: checkpointed {ckpt.folder / 'latest.pt'}, "
                             f"exiting to be requeued (the next start resumes here)")
                if info.is_main:
                    write_requeue_marker(step, signals.received)
                break
    finally:
        signals.__exit__()
        logger.close()
    barrier()
    return TrainSummary(run_dir, step, last_losses, val_losses, best_val, skipped_total, resumed_from, history,
                        preempted=preempted, bad_inputs=bad_totals)


def _validate(cfg: RunConfig, runner: StepRunner, val_urls: list[str]) -> dict[str, float]:
    """Bounded, deterministic validation; RNG states are put back so training is unaffected."""
    rng = capture_rng_state()
    try:
        batches = build_val_batches(
            cfg.data, cfg.clip, val_urls,
            batch_size=cfg.validation.batch_size or cfg.data.batch_size,
            max_clips=cfg.validation.max_clips, seed=cfg.validation.seed,
        )
        return runner.validate(batches)
    finally:
        restore_rng_state(rng)


def debug_overrides() -> list[str]:
    """Overrides applied by `craft-jepa train --debug`: one process, a few quick steps."""
    return [
        "data.num_workers=0",
        "logging.every=1",
        "validation.max_clips=4",
        "checkpoint.resume=false",
    ]

