"""The spatial-layout probes: a shifted token grid is read as its shift, a constant encoder as nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from craft_jepa.eval.spatial_probe import (
    block_interval,
    camera_scores,
    choose_penalty,
    fit_ridge,
    patch_pixels,
    r_squared,
    shift_correlation,
)

GRID, DIM, RADIUS = 6, 16, 2


def _shifted_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random token worlds wider than the grid; the second frame views it `shift` columns to the
    right (a pan), shift in -2..2. -> z_t, z_next (n, G*G, D), shift (n,)."""
    gen = torch.Generator().manual_seed(seed)
    world = torch.randn(n, GRID, GRID + 4, DIM, generator=gen)  # (n, G, G+4, D)
    shift = torch.randint(-2, 3, (n,), generator=gen)
    z_t = world[:, :, 2 : 2 + GRID]
    z_next = torch.stack([world[i, :, 2 + s : 2 + s + GRID] for i, s in enumerate(shift.tolist())])
    return z_t.reshape(n, GRID * GRID, DIM), z_next.reshape(n, GRID * GRID, DIM), shift.double()


def test_shift_correlation_peaks_at_the_shift():
    z_t, z_next, shift = _shifted_pairs(20, seed=0)
    maps = shift_correlation(z_t, z_next, GRID, RADIUS).reshape(20, 5, 5)  # (n, dy, dx)
    peak = maps.flatten(1).argmax(1)
    # z_next[y, x] = world[y, x + s + 2] = z_t[y, x + s]: the peak sits at dy = 0, dx = +s
    assert torch.equal(peak // 5, torch.full((20,), RADIUS))
    assert torch.equal(peak % 5 - RADIUS, shift.long())
    assert torch.allclose(maps.flatten(1).max(1).values, torch.ones(20, dtype=torch.float64))


def test_shift_correlation_checks_the_grid():
    z = torch.zeros(2, 10, DIM)
    with pytest.raises(ValueError, match="3 x 3 grid"):
        shift_correlation(z, z, grid=3)
    with pytest.raises(ValueError, match="radius"):
        shift_correlation(torch.zeros(2, 9, DIM), torch.zeros(2, 9, DIM), grid=3, radius=3)


def test_ridge_on_correlation_maps_reads_the_shift_and_a_constant_encoder_reads_nothing():
    z_t, z_next, shift = _shifted_pairs(300, seed=1)
    groups = [f"seg{i // 30}" for i in range(300)]
    y = shift[:, None]  # (n, 1) "yaw"
    x = shift_correlation(z_t, z_next, GRID, RADIUS)
    test_t, test_next, test_shift = _shifted_pairs(100, seed=2)
    predicted = fit_ridge(x, y, choose_penalty(x, y, groups)).predict(shift_correlation(test_t, test_next, GRID))
    scores = camera_scores(predicted[:, 0], test_shift, float(y.mean()), block=10)
    assert scores["r"]["lo"] > 0.9
    assert scores["sign"]["value"] > 0.95 > scores["sign_majority"]["value"] + 0.3
    assert scores["mae"]["value"] < 0.5 * scores["mae_constant"]["value"]

    constant = torch.ones(300, GRID * GRID, DIM)  # every token alike: no layout to read
    x_const = shift_correlation(constant, constant, GRID, RADIUS)
    flat = fit_ridge(x_const, y, choose_penalty(x_const, y, groups)).predict(x_const[:100])
    assert torch.allclose(flat[:, 0], y.mean().expand(100))  # the constant guess, nothing more


def test_patch_pixels_order_matches_the_token_grid():
    frames = torch.zeros(1, 3, 8, 8)
    frames[0, 1, 0:2, 6:8] = 1.0  # green, top-right patch (row 0, col 1 of a 2 x 2 grid), its top-right cell
    cells = patch_pixels(frames, grid=2, sub=2)  # (1, 4, 12)
    assert cells.shape == (1, 4, 12)
    hot = (cells[0] > 0).nonzero().tolist()
    assert hot == [[1, 4 + 1]]  # token 1; channel 1, cell (0, 1) -> 1 * 4 + 0 * 2 + 1
    assert cells[0, 1, 5].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="does not split"):
        patch_pixels(torch.zeros(1, 3, 10, 10), grid=2, sub=2)


def test_per_token_probe_of_patch_colours_reads_a_linear_encoding_and_not_noise():
    gen = torch.Generator().manual_seed(3)
    frames = torch.rand(60, 3, 16, 16, generator=gen)
    target = patch_pixels(frames, grid=4, sub=2)  # (60, 16, 12)
    mixing = torch.randn(12, 24, generator=gen, dtype=torch.float64)
    tokens = target @ mixing  # a random linear "encoder": the colours are all there
    noise = torch.randn(60, 16, 24, generator=gen, dtype=torch.float64)  # an encoder blind to the frame
    groups = [f"seg{i // 10}" for i in range(40) for _ in range(16)]
    fit_mean = target[:40].flatten(0, 1).mean(0)
    for x, low, high in ((tokens, 0.99, 1.01), (noise, -0.2, 0.05)):
        x_fit, y_fit = x[:40].flatten(0, 1), target[:40].flatten(0, 1)
        ridge = fit_ridge(x_fit, y_fit, choose_penalty(x_fit, y_fit, groups))
        predicted = ridge.predict(x[40:].flatten(0, 1)).reshape(20, 16, 12)
        assert low < r_squared(predicted, target[40:], fit_mean, block=5)["value"] < high


def test_dual_and_primal_ridge_agree():
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(30, 8, generator=gen), torch.randn(30, 2, generator=gen)
    wide = torch.cat([x, x], dim=1)  # 16 features: still primal; 40 rows of 60 features: dual
    x_wide = torch.randn(20, 60, generator=gen)
    y_wide = torch.randn(20, 2, generator=gen)
    dual = fit_ridge(x_wide, y_wide, 5.0)
    # the primal solution of the same problem, by hand
    xs = (x_wide.double() - dual.mean) / dual.std
    primal = torch.linalg.solve(xs.T @ xs + 5.0 * torch.eye(60, dtype=torch.float64), xs.T @ (y_wide.double() - dual.bias))
    assert torch.allclose(dual.weights, primal, atol=1e-8)
    assert fit_ridge(wide, y, 1.0).predict(wide).shape == (30, 2)


def test_block_interval_resamples_whole_blocks():
    values = np.repeat(np.arange(4.0), 5)  # 4 blocks of 5 equal items
    seen = []

    def mean(index: np.ndarray) -> float:
        seen.append(index)
        return float(values[index].mean())

    s = block_interval(20, mean, block=5)
    assert s["value"] == pytest.approx(1.5) and s["lo"] < 1.5 < s["hi"]
    for index in seen:  # every draw: 4 whole blocks of consecutive items
        blocks = index.reshape(4, 5)
        assert (blocks % 5 == np.arange(5)).all() and (np.diff(blocks, axis=1) == 1).all()
