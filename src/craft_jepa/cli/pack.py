"""`craft-jepa pack`: validate raw VPT recordings and write them into WebDataset shards."""

from __future__ import annotations

import argparse

HELP = "pair STEM.mp4 + STEM.jsonl under RAW_DIR, validate them and write WebDataset tar shards"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("raw_dir", metavar="RAW_DIR", help="directory holding the downloaded recordings")
    parser.add_argument("--out", required=True, help="shard directory (shard-000000.tar, ...)")
    parser.add_argument("--shard-size", default="1GB", help="max bytes per shard, e.g. 1GB or 500MB")
    parser.add_argument("--index", default=None,
                        help="VPT index JSON (e.g. all_7xx_Jun_29.json); its relpaths are looked up under RAW_DIR")
    parser.add_argument("--seed", default="0",
                        help="mix segments across shards in this seeded order (default 0), so shards do not "
                             "hold one player each; 'none' keeps stem order")
    parser.add_argument("--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.data.pack import pack, parse_size

    if args.seed.lower() == "none":
        seed = None
    else:
        try:
            seed = int(args.seed)
        except ValueError:
            print(f"craft-jepa pack: --seed must be an integer or 'none', got {args.seed!r}")
            return 2
    report = pack(args.raw_dir, args.out, shard_size=parse_size(args.shard_size), index_json=args.index,
                  verbose=args.verbose, seed=seed)
    print(report.summary())
    return 0 if report.written > 0 else 1
