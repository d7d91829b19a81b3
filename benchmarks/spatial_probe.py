"""Do a frozen encoder's tokens keep spatial layout? Two linear probes that can see it.

Compares frozen encoders (random weights vs pre-training checkpoints) on probes fitted on the
training shards and scored on held-out shards (craft_jepa.eval.spatial_probe):

- camera: ridge regression of the recorded yaw and pitch (degrees) of a frame pair, one step at
  `--fps`, from the token cross-correlation map of the two frames (offsets -r..r in x and y).
  Pearson r, MAE beside the constant guess, yaw sign accuracy (pairs that turned) beside the
  majority sign.
- on screen: per-token ridge regression of the token's own patch, downsampled to the mean RGB
  of 2 x 2 cells; held-out R^2 (the constant guess: 0).

A reference row, `patch pixels`, runs the camera probe on the patch cells themselves (4 x 4
cells of RGB per patch in place of a token): what the layout of the pixels alone gives at that
grid. Every number carries a 95 % bootstrap interval over blocks of `--block` consecutive
pairs (frames of one recording are not independent).

    python benchmarks/spatial_probe.py --train 'T/*.tar' --heldout 'H/*.tar' \
        --encoder vit_tiny:64 --encoder vit_tiny:64:runs/x/checkpoints/latest.pt

Each `--encoder NAME:SIZE[:CHECKPOINT]` is as in benchmarks/encoder_probe.py (random weights
from init seed 0 unless a checkpoint is given; its `target_encoder` entry); `NAME:SIZE:seed=N`
is the random encoder of init seed N (how much random encoders differ among themselves). Every training and
held-out segment is read once as one clip of `--frames` frames at `--fps`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.loader import build_val_loader
from craft_jepa.data.shards import expand_urls
from craft_jepa.encoders import (
    EncoderConfig,
    FrozenEncoder,
    collapse_stats,
    normalize_targets,
)
from craft_jepa.eval.spatial_probe import (
    block_interval,
    camera_scores,
    choose_penalty,
    fit_ridge,
    patch_pixels,
    shift_correlation,
)
from craft_jepa.vpt.action_groups import camera_degrees
from craft_jepa.vpt.layouts import get_action_layout


@dataclass
class Footage:
    """Tokens of every frame of every segment, in time order within a segment."""

    tokens: dict[str, list[torch.Tensor]]  # encoder spec -> per segment (T, N, D)
    cells: list[torch.Tensor]  # per segment (T, 3, H, W) downsampled frames (for patch_pixels)
    camera: list[torch.Tensor]  # per segment (T-1, 2) degrees
    keys: list[str]


def read_footage(urls: list[str], encoders: dict[str, FrozenEncoder], size: int, frames: int, fps: float,
                 cell_size: int) -> Footage:
    """Every segment as one clip, encoded by every encoder (decoded once)."""
    clip = ClipConfig(frames=frames, fps=fps, size=size)
    layout = get_action_layout(clip.action_layout)
    out = Footage({spec: [] for spec in encoders}, [], [], [])
    for batch in build_val_loader(clip, urls, batch_size=1, num_workers=0, max_clips=None, seed=0):
        video = batch["frames"]  # (1, T, C, H, W), normalized
        for spec, encoder in encoders.items():
            out.tokens[spec].append(normalize_targets(encoder(video, chunk_size=32))[0])  # (T, N, D)
        out.cells.append(torch.nn.functional.adaptive_avg_pool2d(video[0].double(), cell_size))  # (T, C, c, c)
        out.camera.append(camera_degrees(batch["actions"][0], layout.feature_names, layout.continuous_mask).double())
        out.keys.append(batch["key"][0])
    if len(out.keys) < 2:
        raise ValueError(f"{urls}: the probe needs at least 2 segments, read {len(out.keys)}")
    return out


def pair_features(tokens: list[torch.Tensor], grid: int, radius: int) -> torch.Tensor:
    """Per segment (T, N, D) tokens -> (sum of T-1, (2r+1)^2) correlation maps of consecutive frames."""
    return torch.cat([shift_correlation(z[:-1], z[1:], grid, radius) for z in tokens])


def cells_as_tokens(footage: Footage, grid: int) -> list[torch.Tensor]:
    """Per segment (T, N, 3 * s * s): every patch's cells in place of a token (the reference row)."""
    return [patch_pixels(c, grid, sub=c.shape[-1] // grid) for c in footage.cells]


def pair_groups(footage: Footage) -> list[str]:
    return [key for key, cam in zip(footage.keys, footage.camera) for _ in range(len(cam))]


def camera_row(fit_x: torch.Tensor, fit: Footage, test_x: torch.Tensor, test: Footage,
               block: int) -> tuple[list[str], torch.Tensor]:
    """Table cells of the camera probe and its held-out yaw predictions (M',)."""
    y_fit, y_test = torch.cat(fit.camera), torch.cat(test.camera)  # (M, 2) degrees
    penalty = choose_penalty(fit_x, y_fit, pair_groups(fit))
    predicted = fit_ridge(fit_x, y_fit, penalty).predict(test_x)  # (M', 2)
    cells = []
    for axis in (0, 1):
        s = camera_scores(predicted[:, axis], y_test[:, axis], float(y_fit[:, axis].mean()), block)
        cells += [_ci(s["r"], "+.2f"), f"{_ci(s['mae'], '.2f')} ({s['mae_constant']['value']:.2f})"]
        if axis == 0:
            cells.append(f"{_ci(s['sign'], '.2f')} ({s['sign_majority']['value']:.2f})")
    return cells, predicted[:, 0]


def pixel_probe(spec: str, fit: Footage, test: Footage, grid: int, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per held-out frame (F',): squared error of the per-token probe of each patch's 2 x 2 mean
    colours, and of the constant guess (the fitting set's mean); R^2 = 1 - sum / sum."""
    x_fit = torch.cat(fit.tokens[spec]).double()  # (F, N, D) over every frame
    y_fit = torch.cat([patch_pixels(c, grid, sub=2) for c in fit.cells])  # (F, N, 12)
    groups = [key for key, z in zip(fit.keys, fit.tokens[spec]) for _ in range(len(z)) for _ in range(grid * grid)]
    rows = torch.arange(0, x_fit.shape[0] * x_fit.shape[1], max(1, x_fit.shape[0] * x_fit.shape[1] // max_rows))
    x_rows, y_rows = x_fit.flatten(0, 1)[rows], y_fit.flatten(0, 1)[rows]  # (R, D), (R, 12): an even stride
    penalty = choose_penalty(x_rows, y_rows, [groups[i] for i in rows.tolist()])
    ridge = fit_ridge(x_rows, y_rows, penalty)
    x_test = torch.cat(test.tokens[spec]).double()  # (F', N, D)
    y_test = torch.cat([patch_pixels(c, grid, sub=2) for c in test.cells])
    predicted = ridge.predict(x_test.flatten(0, 1)).reshape(y_test.shape)  # (F', N, 12)
    sse = (predicted - y_test).pow(2).flatten(1).sum(1).numpy()
    sst = (y_test - y_fit.flatten(0, 1).mean(0)).pow(2).flatten(1).sum(1).numpy()
    return sse, sst


@dataclass
class Scores:
    """One encoder's held-out predictions, kept for paired comparisons."""

    yaw: np.ndarray  # (M',) predicted yaw, degrees
    sse: np.ndarray  # (F',) pixel probe squared error per frame
    sst: np.ndarray  # (F',) constant guess squared error per frame


def paired_gain(a: Scores, b: Scores, yaw: np.ndarray, block: int) -> list[str]:
    """Yaw r and patch-colour R^2 of `a` minus those of `b`, resampling the same blocks for both."""

    def r(pred: np.ndarray, i: np.ndarray) -> float:
        return float(np.corrcoef(pred[i], yaw[i])[0, 1]) if yaw[i].std() > 0 else float("nan")

    def r2(s: Scores, i: np.ndarray) -> float:
        return 1.0 - s.sse[i].sum() / s.sst[i].sum()

    d_r = block_interval(len(yaw), lambda i: r(a.yaw, i) - r(b.yaw, i), block)
    d_r2 = block_interval(len(a.sse), lambda i: r2(a, i) - r2(b, i), block)
    return [_ci(d_r, "+.2f"), _ci(d_r2, "+.3f")]


def spread_cell(tokens: list[torch.Tensor]) -> str:
    """Per-dimension std and effective rank of the held-out tokens (what pre-training logs)."""
    stats = collapse_stats(torch.cat(tokens))
    return f"{float(stats['feature_std']):.3f} / {float(stats['effective_rank']):.1f}"


def encoder_config(name: str, size: int, source: str | None) -> EncoderConfig:
    """`source`: a checkpoint path, `seed=N` (random weights from init seed N), or None (init seed 0)."""
    if source is not None and source.startswith("seed="):
        return EncoderConfig(name=name, img_size=size, init_seed=int(source.removeprefix("seed=")))
    return EncoderConfig(name=name, img_size=size, checkpoint=source)


def _ci(s: dict[str, float], fmt: str) -> str:
    return f"{s['value']:{fmt}} [{s['lo']:{fmt}}, {s['hi']:{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--heldout", required=True)
    parser.add_argument("--encoder", action="append", required=True, help="NAME:SIZE[:CHECKPOINT]")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--frames", type=int, default=140, help="frames per segment clip (at --fps)")
    parser.add_argument("--radius", type=int, default=2, help="correlation offsets -r..r")
    parser.add_argument("--block", type=int, default=25, help="pairs per bootstrap block")
    parser.add_argument("--max-rows", type=int, default=40000, help="token rows fitting the pixel probe")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    specs = [(spec, *spec.split(":", 2)) for spec in args.encoder]
    sizes = {int(size) for _, _, size, *_ in specs}
    if len(sizes) != 1:
        raise SystemExit(f"--encoder: every encoder must read one frame size, got {sorted(sizes)}")
    size = sizes.pop()
    configs = {spec: encoder_config(name, size, rest[0] if rest else None) for spec, name, _, *rest in specs}
    encoders = {spec: FrozenEncoder.from_config(cfg, torch.device("cpu")) for spec, cfg in configs.items()}
    cell_size = max(cfg.grid_size for cfg in configs.values()) * 4  # 4 x 4 cells per patch at the finest grid
    start = time.perf_counter()
    fit = read_footage(expand_urls(args.train), encoders, size, args.frames, args.fps, cell_size)
    test = read_footage(expand_urls(args.heldout), encoders, size, args.frames, args.fps, cell_size)
    n_fit, n_test = sum(len(c) for c in fit.camera), sum(len(c) for c in test.camera)
    print(f"read {len(fit.keys)} training / {len(test.keys)} held-out segments ({n_fit} / {n_test} pairs) "
          f"in {time.perf_counter() - start:.0f} s")
    print("| encoder | grid | token std / eff. rank | yaw r | yaw MAE (constant) deg | yaw sign (majority) | pitch r "
          "| pitch MAE (constant) deg | patch colour R^2 |")
    print("|---|---|---|---|---|---|---|---|---|")
    grids = sorted({cfg.grid_size for cfg in configs.values()})
    for grid in grids:  # the reference: patch cells as tokens
        row, _ = camera_row(pair_features(cells_as_tokens(fit, grid), grid, args.radius), fit,
                            pair_features(cells_as_tokens(test, grid), grid, args.radius), test, args.block)
        print(f"| patch pixels (no encoder) | {grid}x{grid} | - | " + " | ".join(row) + " | - |", flush=True)
    scores = {}
    for spec, cfg in configs.items():
        grid = cfg.grid_size
        row, yaw = camera_row(pair_features(fit.tokens[spec], grid, args.radius), fit,
                              pair_features(test.tokens[spec], grid, args.radius), test, args.block)
        scores[spec] = Scores(yaw.numpy(), *pixel_probe(spec, fit, test, grid, args.max_rows))
        r2 = block_interval(len(scores[spec].sse), lambda i, s=scores[spec]: 1.0 - s.sse[i].sum() / s.sst[i].sum(),
                            args.block)
        print(f"| {spec} | {grid}x{grid} | {spread_cell(test.tokens[spec])} | " + " | ".join(row)
              + f" | {_ci(r2, '.3f')} |", flush=True)
    print_gains(configs, scores, torch.cat(test.camera)[:, 0].numpy(), args.block)


def print_gains(configs: dict[str, EncoderConfig], scores: dict[str, Scores], yaw: np.ndarray, block: int) -> None:
    """Each other encoder against the random-weight encoder (init seed 0) of its name and size, when
    one was given: pre-training starts from it, so the gain is what the training added."""
    random = {(cfg.name, cfg.img_size): spec for spec, cfg in configs.items()
              if cfg.checkpoint is None and cfg.init_seed == 0}  # what pre-training starts from
    rows = [(spec, random[(cfg.name, cfg.img_size)]) for spec, cfg in configs.items()
            if (cfg.name, cfg.img_size) in random and spec != random[(cfg.name, cfg.img_size)]]
    if not rows:
        return
    print("\n| encoder | against | yaw r gain [95 % CI] | patch colour R^2 gain [95 % CI] |\n|---|---|---|---|")
    for spec, reference in rows:
        print(f"| {spec} | {reference} | " + " | ".join(paired_gain(scores[spec], scores[reference], yaw, block)) + " |")


if __name__ == "__main__":
    main()
