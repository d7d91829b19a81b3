"""`craft-jepa record`: play a real game engine with a smooth random policy, write VPT recordings."""

from __future__ import annotations

import argparse
import os
import sys
import time

HELP = "record VPT-format footage (mp4 + jsonl + options) of a real game engine played by a random policy"
ENGINES = ("vizdoom",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINES, default="vizdoom",
                        help="game engine (needs the optional extra: pip install 'craft-jepa[engine]')")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--segments", type=int, default=4, help="number of recordings")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each recording")
    parser.add_argument("--seed", type=int, default=0, help="segment i uses seed + i (engine, policy, start)")
    parser.add_argument("--maps", default=None,
                        help="comma-separated maps to draw from in a seeded order (default: all; "
                             "MAP01-MAP32 of Freedoom 2, E1M1-E4M9 of Freedoom 1, deathmatch, defend_the_center)")
    parser.add_argument("--shards", action="store_true",
                        help="also pack them into OUT/shards/shard-*.tar (recordings go to OUT/raw)")
    parser.add_argument("--shard-size", default="1GB", help="with --shards: bytes per shard (e.g. 200MB)")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.data.engines.vizdoom_recorder import (
        MAPS,
        segment_configs,
        write_recordings,
    )
    from craft_jepa.data.pack import pack, parse_size

    maps = list(MAPS) if args.maps is None else [name.strip() for name in args.maps.split(",") if name.strip()]
    unknown = [name for name in maps if name not in MAPS]
    if unknown or not maps:
        print(f"craft-jepa record: unknown map(s) {', '.join(unknown) or '(none given)'}; "
              f"known: {', '.join(MAPS)}", file=sys.stderr)
        return 2
    if args.segments < 1 or not args.seconds > 0:
        print("craft-jepa record: --segments must be >= 1 and --seconds > 0", file=sys.stderr)
        return 2
    try:
        import vizdoom  # noqa: F401  (optional extra: checked here for a clear message)
    except ImportError:
        print("craft-jepa record: the vizdoom engine is not installed; pip install 'craft-jepa[engine]'",
              file=sys.stderr)
        return 2
    raw_dir = os.path.join(args.out, "raw") if args.shards else args.out
    started = time.perf_counter()
    stems, skipped = write_recordings(raw_dir, segment_configs(args.segments, args.seconds, args.seed, maps),
                                      progress=lambda text: print(f"recorded {text}", flush=True))
    print(f"wrote {len(stems)} recording(s) to {raw_dir} in {time.perf_counter() - started:.1f} s")
    for message in skipped:
        print(f"skipped: {message}", file=sys.stderr)
    if not stems:
        return 1
    if args.shards:
        report = pack(raw_dir, os.path.join(args.out, "shards"), shard_size=parse_size(args.shard_size))
        print(report.summary())
        for shard in report.shards:
            print(shard)
        if report.written != len(stems):
            return 1
    return 0
