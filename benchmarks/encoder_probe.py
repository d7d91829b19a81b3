"""Does a frozen encoder's output carry the camera motion? A per-token linear probe, before any predictor.

A world model can only learn how the camera moves the latents if the latents move with the camera.
This probe asks that of the frozen encoder alone: from pairs of consecutive frames (one step at
`--fps`), a ridge regression reads the recorded yaw and pitch (degrees) from the change of every
token, z_t+1 - z_t flattened over the token grid (spatial layout kept), and, as the row to beat,
from the change of the token MEAN (what a pooled probe sees; no layout). Penalties are chosen by
cross-validation grouped by segment on the training shards; scores are on held-out shards:
Pearson r with a 95 % bootstrap interval, and the mean absolute error beside the constant guess.

    python benchmarks/encoder_probe.py --train 'T/*.tar' --heldout 'H/*.tar' \
        --encoder vit_tiny:64 --encoder vit_tiny:128 --encoder vit_tiny_p8:64

Caveat (measured 2026-12-07, docs/world-model.md): on ViZDoom footage this probe reads r ~ 0.05 for
4x4 and 8x8 grids alike, also where a trained predictor finds the turning direction. A linear map of
the token change alone cannot tell a shift's direction when its effect on a token depends on that
token's content, so a flat result here is no verdict on an encoder; benchmarks/spatial_probe.py reads the
shift from the token cross-correlation map instead.

Each `--encoder NAME:SIZE[:CHECKPOINT]` is a frozen encoder (random weights from init seed 0 unless
a checkpoint is given). Prints one table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.loader import build_val_loader
from craft_jepa.data.shards import expand_urls
from craft_jepa.encoders import EncoderConfig, FrozenEncoder, normalize_targets
from craft_jepa.eval.spatial_probe import choose_penalty, fit_ridge
from craft_jepa.eval.spread import correlation_interval
from craft_jepa.vpt.action_groups import camera_degrees
from craft_jepa.vpt.layouts import get_action_layout


def encode_pairs(encoder: FrozenEncoder, size: int, urls: list[str], windows: int, fps: float, seed: int):
    """-> (token changes (M, N, D), camera (M, 2) degrees, segment ids (M,)) of 2-frame clips."""
    clip = ClipConfig(frames=2, fps=fps, size=size)
    layout = get_action_layout(clip.action_layout)
    deltas, cameras, groups, seen = [], [], [], set()
    for window in range(windows):
        for batch in build_val_loader(clip, urls, batch_size=16, num_workers=0, max_clips=None, seed=seed + window):
            z = normalize_targets(encoder(batch["frames"]))  # (B, 2, N, D)
            for i, key in enumerate(batch["key"]):
                if (key, int(batch["start_tick"][i])) in seen:
                    continue  # a repeated window
                seen.add((key, int(batch["start_tick"][i])))
                deltas.append(z[i, 1] - z[i, 0])  # (N, D)
                cameras.append(camera_degrees(batch["actions"][i, 0], layout.feature_names, layout.continuous_mask))
                groups.append(key)
    return torch.stack(deltas).double(), torch.stack(cameras).double(), groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--heldout", required=True)
    parser.add_argument("--encoder", action="append", required=True, help="NAME:SIZE[:CHECKPOINT]")
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--windows", type=int, default=8, help="windows per training segment")
    parser.add_argument("--heldout-windows", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_urls, heldout_urls = expand_urls(args.train), expand_urls(args.heldout)
    print("| encoder | grid | pairs fit / scored | probe | yaw r [95 % CI] | yaw MAE (const) deg | "
          "pitch r [95 % CI] | pitch MAE (const) deg | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.encoder:
        name, size, *checkpoint = spec.split(":", 2)
        start = time.perf_counter()
        cfg = EncoderConfig(name=name, img_size=int(size), checkpoint=checkpoint[0] if checkpoint else None)
        encoder = FrozenEncoder.from_config(cfg, torch.device("cpu"))
        x_fit, y_fit, g_fit = encode_pairs(encoder, int(size), train_urls, args.windows, args.fps, seed=0)
        x_test, y_test, _ = encode_pairs(encoder, int(size), heldout_urls, args.heldout_windows, args.fps, seed=1000)
        for probe, flat in (("per-token change", lambda d: d.flatten(1)), ("mean-token change", lambda d: d.mean(1))):
            fit = fit_ridge(flat(x_fit), y_fit, choose_penalty(flat(x_fit), y_fit, g_fit))
            pred = fit.predict(flat(x_test)).numpy()
            true = y_test.numpy()
            cells = []
            for a in (0, 1):
                r = correlation_interval(pred[:, a], true[:, a])
                mae = float(np.abs(pred[:, a] - true[:, a]).mean())
                const = float(np.abs(y_fit[:, a].mean().item() - true[:, a]).mean())
                cells += [f"{r['value']:+.2f} [{r['lo']:+.2f}, {r['hi']:+.2f}]", f"{mae:.2f} ({const:.2f})"]
            grid = cfg.grid_size
            print(f"| {spec} | {grid}x{grid} | {len(x_fit)} / {len(x_test)} | {probe} | " + " | ".join(cells)
                  + f" | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
