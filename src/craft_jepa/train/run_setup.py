"""What every rank must agree on before the first step, decided on rank 0 and shared.

Ranks may not share a filesystem for RUN_DIR (node-local scratch, a copy per node). Anything
rank 0 reads or writes there is therefore handed to the other ranks over torch.distributed
instead of being re-read from "the same" path:

- the action scaler: rank 0 loads or fits it (and saves RUN_DIR/scaler.json); every rank
  gets its values by broadcast, so no rank trains on unscaled actions;
- the checkpoint to resume from: rank 0 picks it; a rank that cannot read that file stops the
  run at start with an error naming the path, instead of silently starting from step 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from craft_jepa.runs.checkpoints import CheckpointManager
from craft_jepa.train.distributed import DistInfo, all_ranks_ok, from_rank_zero
from craft_jepa.train.stream import resolve_scaler
from craft_jepa.vpt.scaler import ActionScaler


class RunDirNotSharedError(RuntimeError):
    """A rank cannot see the checkpoint rank 0 resumes from."""


def shared_scaler(cfg: Any, run_dir: Path) -> ActionScaler:
    """The run's ActionScaler on every rank (cfg: a RunConfig); fitted once, on rank 0."""

    def resolve() -> dict[str, Any]:
        scaler = resolve_scaler(cfg.data, cfg.clip, run_dir, may_fit=True)
        if not (run_dir / "scaler.json").is_file():
            scaler.save(run_dir / "scaler.json")
        return scaler.to_dict()

    values = from_rank_zero(resolve, "the action scaler (data.scaler or RUN_DIR/scaler.json)")
    return ActionScaler.from_dict(values, "the action scaler broadcast by rank 0")


def shared_resume_path(ckpt: CheckpointManager, resume: bool, info: DistInfo) -> Path | None:
    """Rank 0's resume checkpoint (or None), found under each rank's own RUN_DIR.

    Rank 0 picks the file (latest.pt, or the newest step file); every rank opens the file of
    that name in its own RUN_DIR/checkpoints, so node-local copies of one run dir work too.
    """
    name = from_rank_zero(lambda: None if not resume else _name(ckpt.resume_path()), "the resume checkpoint")
    if name is None:
        return None
    path = ckpt.folder / name
    seen = path.is_file()
    if not all_ranks_ok(seen, info.device):
        where = "this rank" if not seen else "another rank"
        raise RunDirNotSharedError(
            f"rank 0 resumes from {name} in its RUN_DIR, but {where} cannot read {path} (rank {info.rank} "
            f"of {info.world_size}): RUN_DIR must be one shared folder for every rank to resume. Put "
            f"run_dir on a shared filesystem, or copy rank 0's {ckpt.folder} to every node first."
        )
    return path


def check_same_step(step: int, path: Path, info: DistInfo) -> None:
    """Every rank resumed from the same step (a stale node-local copy would silently diverge)."""
    main_step = from_rank_zero(lambda: step, "the resumed step")
    if not all_ranks_ok(step == main_step, info.device):
        raise RunDirNotSharedError(
            f"ranks resume from different steps (rank {info.rank}: {path} holds step {step}, rank 0's "
            f"holds {main_step}): RUN_DIR must be one shared folder, or identical copies"
        )


def _name(path: Path | None) -> str | None:
    return None if path is None else path.name


__all__ = ["RunDirNotSharedError", "check_same_step", "shared_resume_path", "shared_scaler"]
