"""`craft-jepa export RUN_DIR OUT_DIR [--push-to-hub ORG/NAME]`: predictor weights as safetensors +
craft_jepa.json + a model card (README.md), optionally uploaded to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import sys

HELP = "export a trained predictor (safetensors + craft_jepa.json + model card), optionally to the Hub"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="training run directory (holds checkpoints/)")
    parser.add_argument("out_dir", help="folder to write predictor.safetensors, craft_jepa.json and README.md into")
    parser.add_argument("--which", default="best",
                        help="best (default; latest when the run has no validation), latest, or a step number")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights to record instead of the run's path (or a Hub repo id, "
                             "hf://org/name); a file inside OUT_DIR is recorded relative to it, so the "
                             "folder can be moved whole")
    parser.add_argument("--report", default=None, metavar="REPORT_JSON",
                        help="a `craft-jepa eval` report.json (or its folder) for the model card's evaluation "
                             "table (default RUN_DIR/eval/report.json when it exists)")
    parser.add_argument("--push-to-hub", default=None, metavar="ORG/NAME",
                        help="then upload OUT_DIR to this Hugging Face model repo (created if missing)")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    parser.add_argument("--revision", default=None, help="with --push-to-hub: the branch to commit to")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.runs.export import export_run
    from craft_jepa.runs.push import HubPushError, check_repo_id, push_to_hub

    try:
        repo_id = check_repo_id(args.push_to_hub) if args.push_to_hub else None
        out = export_run(args.run_dir, args.out_dir, args.which, encoder_checkpoint=args.encoder_checkpoint,
                         report=args.report, repo_id=repo_id)
        print(f"exported {args.run_dir} ({args.which}) to {out} (model card: {out / 'README.md'})")
        if repo_id is not None:
            url, files = push_to_hub(out, repo_id, private=True if args.private else None, revision=args.revision)
            print(f"uploaded {len(files)} files to https://huggingface.co/{repo_id}: {url}")
    except (HubPushError, ValueError, FileNotFoundError) as err:
        print(f"craft-jepa export: {err}", file=sys.stderr)
        return 2
    return 0
