"""`craft-jepa download`: fetch the recordings of an OpenAI VPT index (and optionally pack them)."""

from __future__ import annotations

import argparse
import os

HELP = "download the mp4 + jsonl segments of an OpenAI VPT index (resumable, retried, in parallel)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", metavar="INDEX",
                        help="path or URL of a VPT index JSON (all_7xx_Jun_29.json, find-cave-Jul-28.json, ...)")
    parser.add_argument("--out", help="RAW_DIR: segments land at RAW_DIR/<relpath>.{mp4,jsonl}")
    subset = parser.add_mutually_exclusive_group()
    subset.add_argument("--limit", type=int, help="take N segments")
    subset.add_argument("--fraction", type=float, help="take this fraction of each version's segments")
    subset.add_argument("--hours", type=float, help="take segments until they hold this many hours")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random subset (every version represented); default 0")
    parser.add_argument("--versions", default="",
                        help="comma-separated contractor groups or versions to keep, e.g. 6xx,7xx or 6.13")
    parser.add_argument("--workers", type=int, default=4, help="segments downloaded in parallel (1-64)")
    parser.add_argument("--retries", type=int, default=8, help="retries per request on 5xx, resets, timeouts")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the next byte")
    parser.add_argument("--verify", action="store_true",
                        help="check each pair as pack does (video opens, frame/line counts agree); remove failures")
    parser.add_argument("--dry-run", action="store_true",
                        help="size the selection with HEAD requests (bytes, estimated hours); write nothing")
    parser.add_argument("--pack", metavar="SHARDS_DIR",
                        help="then pack the done segments into shards, as `pack RAW_DIR --index "
                             "RAW_DIR/download-index.json` would")
    parser.add_argument("--shard-size", default="1GB", help="with --pack: max bytes per shard")
    parser.add_argument("--pack-seed", type=int, default=0, help="with --pack: pack's mixing seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace):
    from craft_jepa.data.download import DownloadConfig
    from craft_jepa.data.http_fetch import HttpConfig
    from craft_jepa.data.vpt_index import Selection

    versions = tuple(v.strip() for v in args.versions.split(",") if v.strip())
    selection = Selection(limit=args.limit, fraction=args.fraction, hours=args.hours, seed=args.seed,
                          versions=versions)
    return DownloadConfig(out_dir=args.out or "", selection=selection, workers=args.workers,
                          http=HttpConfig(retries=args.retries, read_timeout=args.timeout),
                          verify=args.verify, progress=not args.no_progress)


def run(args: argparse.Namespace) -> int:
    from craft_jepa.data.download import DONE_INDEX_NAME, REPORT_NAME, download
    from craft_jepa.data.download_dry_run import dry_run
    from craft_jepa.data.pack import pack, parse_size

    if args.out is None and not args.dry_run:
        print("craft-jepa download: --out RAW_DIR is required (except with --dry-run)")
        return 2
    try:
        config = _config(args)
    except ValueError as err:
        print(f"craft-jepa download: {err}")
        return 2
    try:
        if args.dry_run:
            print(dry_run(args.index, config).summary())
            return 0
        report = download(args.index, config)
    except ValueError as err:  # a bad index file or an unknown --versions entry, named in the message
        print(f"craft-jepa download: {err}")
        return 2
    except KeyboardInterrupt as err:
        print(f"\n{err}\nrerun the same command to fetch the rest ({os.path.join(args.out, REPORT_NAME)})")
        return 130
    print(report.summary())
    print(f"report: {os.path.join(args.out, REPORT_NAME)}")
    if args.pack:
        if not report.done:
            print("craft-jepa download: no segment done, nothing to pack")
            return 1
        packed = pack(args.out, args.pack, shard_size=parse_size(args.shard_size),
                      index_json=os.path.join(args.out, DONE_INDEX_NAME), seed=args.pack_seed)
        print(packed.summary())
    if report.failed:
        print(f"{len(report.failed)} segment(s) failed: rerun the same command to retry them")
        return 1
    return 0
