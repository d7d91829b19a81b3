"""`craft-jepa synth`: write synthetic VPT-format recordings (and optionally pack them into shards)."""

from __future__ import annotations

import argparse
import os

HELP = "write synthetic VPT recordings (mp4 + jsonl + options) whose frames respond to the actions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--videos", type=int, default=4, help="number of recordings")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each recording")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shards", action="store_true",
                        help="also pack them into OUT/shards/shard-*.tar (recordings go to OUT/raw)")
    parser.add_argument("--shard-size", default="1GB", help="with --shards: bytes per shard (e.g. 200MB)")
    parser.add_argument("--stamp-index", action="store_true", help="draw each frame's index (for tests)")
    parser.add_argument("--keyint", type=int, default=20,
                        help="frames between keyframes; 0 = libx264's default (250)")
    parser.add_argument("--preset", default="ultrafast", help="libx264 preset")
    parser.add_argument("--workers", type=int, default=1,
                        help="writer processes (the files are the same for any count)")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.data.pack import pack, parse_size
    from craft_jepa.data.synth import write_recordings

    if args.videos < 1 or args.workers < 1:
        raise SystemExit("--videos and --workers must be >= 1")
    raw_dir = os.path.join(args.out, "raw") if args.shards else args.out
    stems = write_recordings(raw_dir, args.videos, args.seconds, args.seed, workers=args.workers,
                             stamp_index=args.stamp_index,
                             keyint=args.keyint or None, preset=args.preset)
    print(f"wrote {len(stems)} recording(s) to {raw_dir}")
    if args.shards:
        report = pack(raw_dir, os.path.join(args.out, "shards"), shard_size=parse_size(args.shard_size))
        print(report.summary())
        for shard in report.shards:
            print(shard)
    return 0
