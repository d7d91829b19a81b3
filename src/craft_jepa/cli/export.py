"""`craft-jepa export RUN_DIR OUT_DIR`: predictor weights as safetensors + craft_jepa.json."""

from __future__ import annotations

import argparse

HELP = "export a trained predictor (safetensors + craft_jepa.json) from a run directory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="training run directory (holds checkpoints/)")
    parser.add_argument("out_dir", help="folder to write predictor.safetensors and craft_jepa.json into")
    parser.add_argument("--which", default="best",
                        help="best (default; latest when the run has no validation), latest, or a step number")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights to record instead of the run's path; a file inside OUT_DIR "
                             "is recorded relative to it, so the folder can be moved whole")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.train.export import export_run

    out = export_run(args.run_dir, args.out_dir, args.which, encoder_checkpoint=args.encoder_checkpoint)
    print(f"exported {args.run_dir} ({args.which}) to {out}")
    return 0
