"""`craft-jepa fit-scaler`: action mean/std from the jsonl members of training shards."""

from __future__ import annotations

import argparse

HELP = "fit the action scaler (mean/std of continuous action dims) from shards' jsonl, never decoding video"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="shard spec, e.g. 'shards/vpt-{000000..000099}.tar'")
    parser.add_argument("--out", required=True, help="where to write scaler.json")
    parser.add_argument("--layout", default="vpt38", help="vpt13, vpt38, or comma-separated feature names")
    parser.add_argument("--fps", type=float, default=5.0, help="clip frame rate used in training")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--shard-every", type=int, default=1, help="use every k-th training shard")
    parser.add_argument("--shard-fraction", type=float, default=1.0,
                        help="then a seeded random fraction of those shards")
    parser.add_argument("--val-fraction", type=float, default=0.05,
                        help="last fraction of shards held out for validation (match training)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler

    layout = args.layout if "," not in args.layout else [n.strip() for n in args.layout.split(",")]
    started = time.perf_counter()
    try:
        cfg = FitScalerConfig(
            data=args.data, layout=layout, fps=args.fps, max_steps=args.max_steps,
            shard_every=args.shard_every, shard_fraction=args.shard_fraction,
            val_fraction=args.val_fraction, seed=args.seed, progress=not args.no_progress,
        )
        result = fit_action_scaler(cfg)
        result.scaler.save(args.out)
    except (ValueError, OSError) as err:
        print(f"craft-jepa fit-scaler: {err}", file=sys.stderr)
        return 2
    s, stats = result.scaler, result.stats
    elapsed = time.perf_counter() - started
    print(f"wrote {args.out}: layout {s.layout_name}, {s.count} steps from {stats.members} segments "
          f"in {stats.shards} shard(s), {stats.jsonl_bytes / 1e6:.1f} MB of jsonl in {elapsed:.1f} s",
          file=sys.stderr)
    for name, mean, scale in zip(s.continuous_features, s.mean, s.scale):
        print(f"  {name:>14s}  mean {mean:+.4f}  scale {scale:.4f}", file=sys.stderr)
    bad = stats.parse.bad_lines
    if stats.bad_shards or stats.bad_members or bad:
        print(f"skipped: {stats.bad_shards} broken shard(s), {stats.bad_members} unusable member(s), "
              f"{bad} bad line(s) read as null actions", file=sys.stderr)
        for message in stats.messages[:5] + stats.parse.messages[:5]:
            print("  " + message, file=sys.stderr)
    return 0
