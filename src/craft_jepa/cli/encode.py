"""`craft-jepa encode`: run the frozen encoder once over video shards, write feature shards.

One process:   craft-jepa encode --config configs/vitl16/minecraft-256px-8f.yaml \\
                   --data '/data/vpt/shard-*.tar' --out '/data/vitl-features/features-{000000..}.tar'
One node:      torchrun --nproc-per-node 8 -m craft_jepa encode --config ... --data ... --out ...

Then train with `--set data.source=features --set data.train_shards=/data/vitl-features/
--set data.scaler=/data/vitl-features/scaler.json`. Rerunning the same command resumes:
complete output shards are skipped. See docs/feature-cache.md for the storage it takes.
"""

from __future__ import annotations

import argparse

HELP = "Encode video shards once with the frozen encoder into feature shards (resumable, torchrun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="run config YAML: its clip and encoder sections are used")
    parser.add_argument("--data", required=True, help="video shards, e.g. '/data/vpt/shard-*.tar'")
    parser.add_argument("--out", required=True, help="output pattern, e.g. 'features/features-{000000..}.tar' "
                                                     "(output k holds input shard k)")
    parser.add_argument("--windows", default="all",
                        help="all: every window of each segment; val: the validation window build_val_loader "
                             "takes (same --seed as validation.seed); N: N random windows per segment")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="stored token dtype")
    parser.add_argument("--pool", type=int, default=1, help="average KxK patches (K^2 fewer tokens per frame)")
    parser.add_argument("--batch-size", type=int, default=64, help="frames per encoder forward")
    parser.add_argument("--frames-per-sample", type=int, default=64,
                        help="longest run per tar sample with --windows all (runs overlap by clip.frames-1)")
    parser.add_argument("--phases", type=int, default=1,
                        help="with --windows all: frame grids starting at ticks 0..K-1 (K <= 20/clip.fps); "
                             "K times the windows of short footage, as the video loader's random starts see them")
    parser.add_argument("--seed", type=int, default=0, help="picks the windows of --windows val|N")
    parser.add_argument("--workers", type=int, default=2,
                        help="video decoding processes per rank (each takes whole input shards)")
    parser.add_argument("--device", default=None, help="default: the config's device (auto: cuda:LOCAL_RANK)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override of the run config, e.g. --set encoder.checkpoint=/w/vitl.pt")
    parser.add_argument("--no-scaler", action="store_true",
                        help="do not fit OUT_DIR/scaler.json on the video shards' actions (rank 0, at the end)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    import time

    from craft_jepa.configuration import ConfigError, load_config, read_yaml
    from craft_jepa.pipelines.encode_features import EncodeConfig, encode_features
    from craft_jepa.train.config import RunConfig

    try:
        tree = read_yaml(args.config)
        tree.setdefault("data", {})["train_shards"] = args.data  # the config's own may be an unset ${ENV}
        cfg = load_config(RunConfig, tree, args.overrides)
        encode_cfg = EncodeConfig(
            data=args.data, out=args.out, windows=args.windows, dtype=args.dtype, pool=args.pool,
            batch_size=args.batch_size, frames_per_sample=args.frames_per_sample, seed=args.seed,
            phases=args.phases,
            device=args.device or cfg.device, workers=args.workers, progress=not args.no_progress,
        )
    except (ConfigError, ValueError, OSError) as err:
        print(f"craft-jepa encode: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        summary = encode_features(cfg.clip, cfg.encoder, encode_cfg)
    except (ValueError, OSError) as err:
        print(f"craft-jepa encode: {err}", file=sys.stderr)
        return 2
    rank = int(os.environ.get("RANK", "0"))
    elapsed = time.perf_counter() - started
    print(f"rank {rank}: wrote {len(summary.shards_written)} shard(s) ({summary.runs} runs, {summary.frames} frames, "
          f"{summary.windows} windows) in {elapsed:.1f} s; {len(summary.shards_skipped)} already complete",
          file=sys.stderr)
    if summary.skipped:
        print(f"rank {rank}: skipped segments: {dict(summary.skipped)}", file=sys.stderr)
    for url, error in summary.shards_failed.items():
        print(f"rank {rank}: FAILED {url}: {error} (no output written; rerun to retry)", file=sys.stderr)
    if rank == 0 and not args.no_scaler:
        _fit_scaler(cfg, args, encode_cfg.out)
    return 1 if summary.shards_failed else 0


def _fit_scaler(cfg, args: argparse.Namespace, out_pattern: str) -> None:
    """OUT_DIR/scaler.json from the video shards' jsonl, as training would fit it."""
    import os
    import sys

    from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler

    path = os.path.join(os.path.dirname(os.path.abspath(out_pattern)), "scaler.json")
    if os.path.exists(path):
        return
    fit = fit_action_scaler(FitScalerConfig(
        data=args.data, layout=cfg.clip.action_layout, fps=float(cfg.clip.fps),
        max_steps=cfg.data.scaler_fit_max_steps, val_fraction=cfg.data.val_fraction, progress=False,
    ))
    fit.scaler.save(path)
    print(f"wrote {path} (set data.scaler to it when training from these features)", file=sys.stderr)
