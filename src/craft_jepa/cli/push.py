"""`craft-jepa push EXPORT_DIR ORG/NAME`: upload an existing export folder to the Hugging Face Hub.

The model card (README.md) is written again first, so pictures or an evaluation report added to
the folder after `craft-jepa export` are shown. `craft-jepa export RUN_DIR OUT --push-to-hub
ORG/NAME` exports and pushes in one go.
"""

from __future__ import annotations

import argparse
import sys

HELP = "upload an export folder (with its regenerated model card) to a Hugging Face model repo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export_dir", help="an EXPORT_DIR written by craft-jepa export")
    parser.add_argument("repo_id", metavar="ORG/NAME", help="the Hugging Face model repo (created if missing)")
    parser.add_argument("--report", default=None, metavar="REPORT_JSON",
                        help="a `craft-jepa eval` report.json (or its folder) to copy into EXPORT_DIR/eval first")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--revision", default=None, help="the branch to commit to")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from craft_jepa.runs.export import copy_report
    from craft_jepa.runs.push import HubPushError, push_to_hub

    try:
        if args.report:
            copy_report(args.report, Path(args.export_dir))
        url, files = push_to_hub(args.export_dir, args.repo_id, private=True if args.private else None,
                                 revision=args.revision)
    except (HubPushError, ValueError, FileNotFoundError) as err:
        print(f"craft-jepa push: {err}", file=sys.stderr)
        return 2
    print(f"uploaded {len(files)} files to https://huggingface.co/{args.repo_id}: {url}")
    return 0
