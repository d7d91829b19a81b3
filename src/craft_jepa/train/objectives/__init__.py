"""Training objectives served by one run machinery (train/step.py, train/loop.py).

    base.py            Objective: what an objective tells StepRunner and the loop
    ac.py              `ac`: the action-conditioned predictor against a frozen encoder (`craft-jepa train`)
    vjepa.py           `vjepa`: self-supervised V-JEPA (continued) pre-training (`craft-jepa pretrain`)
    vjepa_config.py    its config section (`vjepa:`)
    vjepa_init.py      continued pre-training: Meta's released encoder/predictor entries
    masks.py           V-JEPA's multi-block masks on the token grid
    pixel_decoder.py   `decoder`: a pixel decoder of the frozen latents (`craft-jepa decoder train`)

`RunConfig.objective` selects one; `build_objective` builds it with its models. A new objective
is a module here with an Objective subclass and a builder, added to BUILDERS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from craft_jepa.train.distributed import DistInfo
from craft_jepa.train.objectives.ac import build_ac_objective
from craft_jepa.train.objectives.base import Objective
from craft_jepa.train.objectives.pixel_decoder import build_decoder_objective
from craft_jepa.train.objectives.vjepa import build_vjepa_objective

if TYPE_CHECKING:  # typing only: train/config.py composes the objectives' config sections
    from craft_jepa.train.config import RunConfig

# (run config, this process, RUN_DIR, every shard URL the run reads) -> the objective
ObjectiveBuilder = Callable[["RunConfig", DistInfo, Path, list[str]], Objective]
BUILDERS: dict[str, ObjectiveBuilder] = {
    "ac": build_ac_objective,
    "vjepa": build_vjepa_objective,
    "decoder": build_decoder_objective,
}


def build_objective(cfg: RunConfig, info: DistInfo, run_dir: Path, urls: list[str]) -> Objective:
    """cfg.objective's Objective for a RunConfig (seeds cfg.seed before building models)."""
    if cfg.objective not in BUILDERS:
        raise ValueError(f"unknown objective {cfg.objective!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[cfg.objective](cfg, info, run_dir, urls)


__all__ = ["BUILDERS", "Objective", "build_objective"]
