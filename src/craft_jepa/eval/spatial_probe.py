"""Probes of a frozen encoder's tokens that can see spatial layout.

Two questions a world model needs the latents to answer, each with a linear readout:

- how did the camera move between two frames? `shift_correlation` compares every token of the
  second frame with the tokens of the first at grid offsets d (a small window), giving one
  number per offset, c[d] = mean over tokens i of cos(z_next[i], z_t[i + d]) over the valid
  overlap. A pan moves content by some offset, so the map peaks off-centre on the side of the
  motion; a linear map of c can therefore read a shift's direction, which a linear map of the
  token change z_next - z_t cannot when a shift's effect on a token depends on its content.
- what is on screen where? `patch_pixels` is each token's own patch, downsampled to the mean
  RGB of its sub x sub cells: a per-token linear probe regresses it from the token.

Both are read by ridge regression (`fit_ridge`, penalty chosen over segment-grouped folds by
`choose_penalty`) and scored on held-out footage beside the constant guess, with bootstrap
intervals over blocks of consecutive items (`block_interval`: neighbouring frames are not
independent, so resampling single pairs would overstate the precision).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from craft_jepa.eval.spread import bootstrap

RIDGE_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def shift_correlation(z_t: Tensor, z_next: Tensor, grid: int, radius: int = 2) -> Tensor:
    """Token cross-correlation maps of frame pairs.

    z_t, z_next (M, N, D) tokens of N = grid * grid patches (row-major) -> (M, (2r+1)^2)
    features, offset (dy, dx) at row-major index (dy + r) * (2r+1) + (dx + r): the mean cosine
    of z_next at (y, x) with z_t at (y + dy, x + dx) over the positions where both exist."""
    m, n, d = z_t.shape
    if n != grid * grid or z_next.shape != z_t.shape:
        raise ValueError(f"shift_correlation: tokens {tuple(z_t.shape)} / {tuple(z_next.shape)} do not "
                         f"match a {grid} x {grid} grid")
    if not 0 <= radius < grid:
        raise ValueError(f"shift_correlation: radius {radius} must be in [0, {grid - 1}] for a {grid} grid")
    prev = F.normalize(z_t.double(), dim=-1).reshape(m, grid, grid, d)  # (M, G, G, D)
    nxt = F.normalize(z_next.double(), dim=-1).reshape(m, grid, grid, d)
    maps = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            # z_next[y, x] against z_t[y + dy, x + dx]: y in [max(0, -dy), grid - max(0, dy))
            ys, xs = slice(max(0, -dy), grid - max(0, dy)), slice(max(0, -dx), grid - max(0, dx))
            ys_prev, xs_prev = slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx)
            cos = (nxt[:, ys, xs] * prev[:, ys_prev, xs_prev]).sum(-1)  # (M, overlap_y, overlap_x)
            maps.append(cos.flatten(1).mean(1))
    return torch.stack(maps, dim=1)  # (M, (2r+1)^2)


def patch_pixels(frames: Tensor, grid: int, sub: int = 2) -> Tensor:
    """frames (M, C, H, W) -> (M, grid * grid, C * sub * sub): each patch's mean colour over a
    sub x sub split of it, patches in the encoder's row-major token order."""
    m, c, h, w = frames.shape
    if h % (grid * sub) or w % (grid * sub):
        raise ValueError(f"patch_pixels: frame {h} x {w} does not split into {grid} x {grid} patches of "
                         f"{sub} x {sub} cells")
    cells = F.adaptive_avg_pool2d(frames.double(), grid * sub)  # (M, C, G*s, G*s)
    cells = cells.reshape(m, c, grid, sub, grid, sub).permute(0, 2, 4, 1, 3, 5)  # (M, G, G, C, s, s)
    return cells.reshape(m, grid * grid, c * sub * sub)


@dataclass
class RidgeFit:
    """A ridge regression on standardized inputs: predict(x) = ((x - mean) / std) @ weights + bias."""

    mean: Tensor  # (F,)
    std: Tensor  # (F,)
    weights: Tensor  # (F, K)
    bias: Tensor  # (K,)
    penalty: float

    def predict(self, x: Tensor) -> Tensor:
        return ((x.double() - self.mean) / self.std) @ self.weights + self.bias


def fit_ridge(x: Tensor, y: Tensor, penalty: float) -> RidgeFit:
    """x (M, F), y (M, K) -> RidgeFit, in float64; the dual form when features outnumber rows.
    Constant features (std 0) get weight 0 rather than a division by zero."""
    x, y = x.double(), y.double()
    mean, std = x.mean(0), x.std(0)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    xs = (x - mean) / std  # (M, F)
    bias = y.mean(0)
    centred = y - bias
    if xs.shape[1] <= xs.shape[0]:
        gram = xs.T @ xs + penalty * torch.eye(xs.shape[1], dtype=xs.dtype)  # (F, F)
        weights = torch.linalg.solve(gram, xs.T @ centred)
    else:
        gram = xs @ xs.T + penalty * torch.eye(xs.shape[0], dtype=xs.dtype)  # (M, M)
        weights = xs.T @ torch.linalg.solve(gram, centred)
    return RidgeFit(mean, std, weights, bias, float(penalty))


def choose_penalty(x: Tensor, y: Tensor, groups: Sequence[str], grid: Sequence[float] = RIDGE_GRID,
                   folds: int = 3) -> float:
    """The penalty of `grid` with the lowest squared error over folds that never split a group
    (a segment): rows of one recording on both sides would score memory, not the probe."""
    keys = sorted(set(groups), key=lambda k: zlib.crc32(k.encode("utf-8")))
    folds = min(folds, len(keys))
    if folds < 2:
        raise ValueError(f"choose_penalty needs rows of at least 2 groups, got {len(keys)}")
    fold_of = {k: i % folds for i, k in enumerate(keys)}
    row_fold = torch.tensor([fold_of[g] for g in groups])
    errors = []
    for penalty in grid:
        err = 0.0
        for fold in range(folds):
            held = row_fold == fold
            fit = fit_ridge(x[~held], y[~held], penalty)
            err += float((fit.predict(x[held]) - y[held].double()).pow(2).sum())
        errors.append(err)
    return float(grid[int(np.argmin(errors))])  # ties: the first of the grid


def block_interval(items: int, statistic: Callable[[np.ndarray], float], block: int, seed: int = 0) -> dict[str, float]:
    """{"value", "lo", "hi"} of statistic(item indices) with a 95 % bootstrap interval that
    resamples blocks of `block` consecutive items (the caller orders items in time)."""
    starts = np.arange(0, items, block)

    def on_blocks(chosen: np.ndarray) -> float:
        index = np.concatenate([np.arange(s, min(s + block, items)) for s in chosen.astype(int)])
        return statistic(index)

    return bootstrap(starts.astype(np.float64), on_blocks, seed=seed)


def camera_scores(predicted: Tensor, true: Tensor, fit_mean: float, block: int, seed: int = 0) -> dict[str, dict]:
    """One camera axis (M,) predicted vs recorded (degrees): Pearson r, MAE beside the constant
    guess (`fit_mean`, the fitting set's mean), and sign accuracy beside the majority sign, over
    the items that moved; each with a block-bootstrap interval."""
    pred, rec = predicted.double().numpy(), true.double().numpy()
    moved = rec != 0
    majority = 1.0 if (rec[moved] > 0).mean() >= 0.5 else -1.0

    def corr(i: np.ndarray) -> float:
        p, r = pred[i], rec[i]
        return float(np.corrcoef(p, r)[0, 1]) if p.std() > 0 and r.std() > 0 else float("nan")

    def sign(i: np.ndarray, guess: np.ndarray | None = None) -> float:
        i = i[moved[i]]
        guess_sign = np.sign(pred[i]) if guess is None else guess
        return float((guess_sign == np.sign(rec[i])).mean()) if len(i) else float("nan")

    return {
        "r": block_interval(len(rec), corr, block, seed),
        "mae": block_interval(len(rec), lambda i: float(np.abs(pred[i] - rec[i]).mean()), block, seed),
        "mae_constant": block_interval(len(rec), lambda i: float(np.abs(fit_mean - rec[i]).mean()), block, seed),
        "sign": block_interval(len(rec), sign, block, seed),
        "sign_majority": block_interval(len(rec), lambda i: sign(i, np.float64(majority)), block, seed),
    }


def r_squared(predicted: Tensor, true: Tensor, fit_mean: Tensor, block: int, seed: int = 0) -> dict[str, float]:
    """Held-out R^2 of per-item predictions (M, P, K) of targets (M, P, K), pooled over P and K,
    against the fitting set's mean per output (K,) (the constant guess scores <= 0), with a
    block-bootstrap interval over the M items."""
    sse = (predicted.double() - true.double()).pow(2).flatten(1).sum(1).numpy()  # (M,)
    sst = (true.double() - fit_mean.double()).pow(2).flatten(1).sum(1).numpy()
    return block_interval(len(sse), lambda i: float(1.0 - sse[i].sum() / sst[i].sum()), block, seed)
