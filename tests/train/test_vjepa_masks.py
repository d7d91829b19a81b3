"""V-JEPA 3-D multi-block masks: sizes, bounds, union, one mask per batch, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from craft_jepa.train.objectives.masks import (
    MaskBlockConfig,
    TokenGrid,
    block_size,
    mask_generator,
    recipe_masks,
    sample_mask,
)

GRID = TokenGrid(8, 16, 16)  # 16 frames / tubelet 2, 256 px / patch 16


@pytest.mark.parametrize("index, area", [(0, 0.15), (1, 0.7)])
def test_block_sizes_follow_scale_and_aspect(index, area):
    cfg = recipe_masks()[index]
    for key in range(50):
        t, h, w = block_size(GRID, cfg, mask_generator(0, 0, key, index))
        assert t == GRID.steps  # temporal scale 1.0: every block spans all time
        target = int(GRID.height * GRID.width * area)  # 38 and 179 patches
        # h = round(sqrt(n * ar)), w = round(sqrt(n / ar)): within rounding of n and of the ratio range
        assert abs(h * w - target) <= h + w
        assert 0.75 - 1.5 / w <= h / w <= 1.5 + 1.5 / w


def test_masks_are_disjoint_complete_sorted_and_in_bounds():
    for g, cfg in enumerate(recipe_masks()):
        for key in range(20):
            context, target = sample_mask(GRID, cfg, mask_generator(1, 0, key, g))
            assert context.dtype == target.dtype == torch.int64 and context.ndim == target.ndim == 1
            both = torch.cat([context, target])
            assert torch.equal(both.sort().values, torch.arange(GRID.size))  # a partition of the grid
            assert torch.all(context[1:] > context[:-1]) and torch.all(target[1:] > target[:-1])
            assert len(context) > 0 and len(target) > 0


def test_target_is_the_union_of_blocks_spanning_all_time():
    cfg = recipe_masks()[0]  # 8 blocks of 0.15
    for key in range(20):
        gen = mask_generator(2, 0, key, 0)
        _, h, w = block_size(GRID, cfg, mask_generator(2, 0, key, 0))
        _, target = sample_mask(GRID, cfg, gen)
        grid = torch.zeros(GRID.size, dtype=torch.bool)
        grid[target] = True
        grid = grid.view(GRID.steps, GRID.height, GRID.width)  # (T', H', W')
        assert torch.equal(grid, grid[:1].expand_as(grid))  # the same spatial mask at every time step
        per_frame = int(grid[0].sum())
        assert h * w <= per_frame <= cfg.num_blocks * h * w  # a union of 8 blocks of h x w, overlaps allowed
        assert per_frame > h * w  # 8 blocks of 38 patches on 256 never all coincide


def test_union_of_large_blocks_masks_most_of_the_frame():
    fractions = []
    for key in range(30):
        _, target = sample_mask(GRID, recipe_masks()[1], mask_generator(3, 0, key, 1))
        fractions.append(len(target) / GRID.size)
    assert 0.7 <= min(fractions) and max(fractions) < 1.0
    assert 0.75 < sum(fractions) / len(fractions) < 0.98


def test_same_key_same_mask_other_keys_other_masks():
    cfg = recipe_masks()[0]
    a = sample_mask(GRID, cfg, mask_generator(5, 1, 7, 0))
    b = sample_mask(GRID, cfg, mask_generator(5, 1, 7, 0))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    others = [sample_mask(GRID, cfg, mask_generator(*key))[1] for key in [(6, 1, 7, 0), (5, 2, 7, 0), (5, 1, 8, 0)]]
    assert all(not torch.equal(o, a[1]) for o in others)  # seed, rank and draw counter all matter


def test_a_small_grid_always_keeps_some_context():
    tiny = TokenGrid(1, 2, 2)
    big = MaskBlockConfig(num_blocks=2, spatial_scale=(0.7, 0.7))
    for key in range(30):
        context, target = sample_mask(tiny, big, mask_generator(0, 0, key, 0))
        assert len(context) >= 1 and len(context) + len(target) == 4


def test_a_mask_that_can_only_cover_everything_is_refused():
    with pytest.raises(RuntimeError, match="masks the whole"):
        sample_mask(TokenGrid(1, 2, 2), MaskBlockConfig(num_blocks=1, spatial_scale=(1.0, 1.0)),
                    mask_generator(0), max_tries=5)


def test_bad_ranges_are_config_errors():
    with pytest.raises(ValueError, match="spatial_scale"):
        MaskBlockConfig(spatial_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="<= 1"):
        MaskBlockConfig(spatial_scale=(0.5, 1.2))
    with pytest.raises(ValueError, match="num_blocks"):
        MaskBlockConfig(num_blocks=0)
    assert not math.isnan(MaskBlockConfig().aspect_ratio[0])
