"""Training objectives served by one run machinery (train/step.py, train/loop.py).

- `ac` (objectives/ac.py): the action-conditioned predictor against a frozen encoder (`craft-jepa train`);
- `vjepa` (objectives/vjepa.py): self-supervised V-JEPA (continued) pre-training (`craft-jepa pretrain`);
- `decoder` (objectives/decoder.py): a pixel decoder of the frozen latents (`craft-jepa decoder train`).

`RunConfig.objective` selects one; `build_objective` builds it with its models.
"""

from __future__ import annotations

from typing import Any

from craft_jepa.train.objectives.base import Objective


def build_objective(cfg: Any, info: Any, run_dir: Any, urls: list[str]) -> Objective:
    """cfg.objective's Objective for a RunConfig (seeds cfg.seed before building models)."""
    if cfg.objective == "ac":
        from craft_jepa.train.objectives.ac import build_ac_objective

        return build_ac_objective(cfg, info, run_dir, urls)
    if cfg.objective == "vjepa":
        from craft_jepa.train.objectives.vjepa import build_vjepa_objective

        return build_vjepa_objective(cfg, info, run_dir, urls)
    if cfg.objective == "decoder":
        from craft_jepa.train.objectives.decoder import build_decoder_objective

        return build_decoder_objective(cfg, info, run_dir, urls)
    raise ValueError(f"unknown objective {cfg.objective!r}")


__all__ = ["Objective", "build_objective"]
