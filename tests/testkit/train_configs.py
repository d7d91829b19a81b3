"""Helpers for train tests: a very small RunConfig over the shared synthetic shards.

(A uniquely named module, not conftest.py: several test folders have a conftest.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TINY_PRESET = REPO / "configs" / "tiny-cpu.yaml"


def _merge(tree: dict[str, Any], dotted: dict[str, Any]) -> dict[str, Any]:
    for key, value in dotted.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def tiny_tree(run_dir: Path, shard_urls: list[str] | tuple[str, ...], **dotted: Any) -> dict[str, Any]:
    """The tiny-cpu preset shrunk further for tests; `dotted` keys override (a.b=value)."""
    tree = yaml.safe_load(TINY_PRESET.read_text())
    base = {
        "run_dir": str(run_dir),
        "clip.frames": 3,
        "clip.clips_per_segment": 2,
        "data.train_shards": list(shard_urls),
        "data.val_fraction": 0.0,
        "data.val_shards": list(shard_urls),
        "data.batch_size": 2,
        "data.shuffle_buffer_clips": 4,
        "data.scaler_fit_max_steps": 500,
        "schedule.total_steps": 6,
        "schedule.warmup_steps": 2,
        "schedule.decay_steps": 2,
        "validation.every": 3,
        "validation.max_clips": 2,
        "checkpoint.latest_every": 2,
        "checkpoint.every": 2,
        "checkpoint.keep_last": 2,
        "logging.every": 1,
        "logging.progress_bar": False,
        "logging.tensorboard": False,
    }
    return _merge(_merge(tree, base), dotted)


def tiny_config(run_dir: Path, shard_urls, **dotted: Any):
    from craft_jepa.configuration import load_config
    from craft_jepa.train.config import RunConfig

    return load_config(RunConfig, tiny_tree(run_dir, shard_urls, **dotted))
