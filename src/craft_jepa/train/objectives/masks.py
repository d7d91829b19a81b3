"""V-JEPA 3-D multi-block masks over the (T/tubelet, H/patch, W/patch) token grid.

One mask generator (a `MaskBlockConfig`) draws one block size per call, then `num_blocks`
block positions; the UNION of the blocks is what the predictor must predict (the target), the
rest is what the context encoder sees. Each block spans `temporal_scale` of the clip's time
steps (1.0 in Meta's recipe: every block covers all of time, so no frame leaks the masked
region), `spatial_scale` of each frame's patches, at an aspect ratio (height / width) drawn
from `aspect_ratio`. Size arithmetic follows Meta's `src/masks/multiseq_multiblock3d.py`.

Unlike Meta's collator (one block size per batch, block positions per sample) one mask is drawn
per generator and SHARED by the whole batch: context and target are then plain index vectors
(K,) and (M,), every clip has the same token count, and RoPE tables are built once.

Masks are a pure function of a `torch.Generator` (seeded by the caller from the run seed, rank
and a draw counter), so a resumed run draws the masks an uninterrupted run would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from craft_jepa.configuration import require_range


@dataclass
class MaskBlockConfig:
    """One mask generator (one entry of Meta's `mask:` list)."""

    num_blocks: int = 8
    spatial_scale: tuple[float, float] = (0.15, 0.15)  # fraction of a frame's patches per block
    temporal_scale: tuple[float, float] = (1.0, 1.0)  # fraction of the time steps per block
    aspect_ratio: tuple[float, float] = (0.75, 1.5)  # block height / width

    def __post_init__(self) -> None:
        require_range("num_blocks", self.num_blocks, at_least=1)
        for name in ("spatial_scale", "temporal_scale", "aspect_ratio"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"{name} must be a range 0 < low <= high, got {(low, high)}")
            setattr(self, name, (float(low), float(high)))
        if self.spatial_scale[1] > 1 or self.temporal_scale[1] > 1:
            raise ValueError(f"spatial_scale and temporal_scale must be <= 1, got "
                             f"{self.spatial_scale}, {self.temporal_scale}")


def recipe_masks() -> list[MaskBlockConfig]:
    """Meta's pretrain-256px-16f generators: 8 small blocks, and 2 large ones."""
    return [MaskBlockConfig(num_blocks=8, spatial_scale=(0.15, 0.15)),
            MaskBlockConfig(num_blocks=2, spatial_scale=(0.7, 0.7))]


@dataclass(frozen=True)
class TokenGrid:
    steps: int  # frames / tubelet
    height: int  # patches per column
    width: int  # patches per row

    @property
    def size(self) -> int:
        return self.steps * self.height * self.width


def _uniform(low_high: tuple[float, float], generator: torch.Generator) -> float:
    low, high = low_high
    return low + float(torch.rand((), generator=generator)) * (high - low)


def block_size(grid: TokenGrid, cfg: MaskBlockConfig, generator: torch.Generator) -> tuple[int, int, int]:
    """(t, h, w) of this call's blocks, as Meta computes it (rounded, clamped to the grid)."""
    t = max(1, int(grid.steps * _uniform(cfg.temporal_scale, generator)))
    patches = int(grid.height * grid.width * _uniform(cfg.spatial_scale, generator))
    aspect = _uniform(cfg.aspect_ratio, generator)
    h = min(max(1, int(round(math.sqrt(patches * aspect)))), grid.height)
    w = min(max(1, int(round(math.sqrt(patches / aspect)))), grid.width)
    return t, h, w


def sample_mask(grid: TokenGrid, cfg: MaskBlockConfig, generator: torch.Generator,
                max_tries: int = 100) -> tuple[Tensor, Tensor]:
    """(context (K,), target (M,)) sorted int64 raster indices; disjoint, together the whole grid.

    Redraws the block positions while the union leaves no context (large blocks on a small grid)."""
    t, h, w = block_size(grid, cfg, generator)
    for _ in range(max_tries):
        masked = torch.zeros(grid.steps, grid.height, grid.width, dtype=torch.bool)  # (T', H', W')
        for _ in range(cfg.num_blocks):
            start = int(torch.randint(0, grid.steps - t + 1, (), generator=generator))
            top = int(torch.randint(0, grid.height - h + 1, (), generator=generator))
            left = int(torch.randint(0, grid.width - w + 1, (), generator=generator))
            masked[start:start + t, top:top + h, left:left + w] = True
        flat = masked.flatten()  # (L,) raster order: time, row, column
        if not bool(flat.all()):
            return torch.nonzero(~flat).flatten(), torch.nonzero(flat).flatten()
    raise RuntimeError(f"{cfg} masks the whole {grid} grid in {max_tries} draws: lower num_blocks or spatial_scale")


def mask_generator(*key: int) -> torch.Generator:
    """A torch.Generator seeded from integers (run seed, rank, draw counter, generator index)."""
    seed = int(np.random.SeedSequence([int(k) for k in key]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(seed)
