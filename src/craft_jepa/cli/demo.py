"""`craft-jepa demo [--out DIR] [--train-data SPEC --heldout-data SPEC]`: the whole pipeline on CPU,
on synthetic recordings (no downloads) or on the user's own VPT-format shards."""

from __future__ import annotations

import argparse

HELP = "Run everything on CPU in minutes: synthetic VPT data (or your shards), scaler, training, evaluation, planning."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default: configs/tiny-world-model.yaml's schedule.total_steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-data", default=None, metavar="SPEC",
                        help="your VPT-format training shards (glob, braces, folder) instead of synthetic ones")
    parser.add_argument("--heldout-data", default=None, metavar="SPEC",
                        help="your held-out shards (no segment shared with --train-data); with --train-data")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of configs/tiny-world-model.yaml, e.g. --set encoder.name=vit_tiny_p8 "
                             "--set predictor.grid_size=8 (repeatable)")
    parser.add_argument("--pretrain", action="store_true",
                        help="pre-train the encoder on the training recordings first (V-JEPA, "
                             "configs/pretrain-tiny-engine.yaml) and freeze it instead of random weights")
    parser.add_argument("--pretrain-steps", type=int, default=None, metavar="N",
                        help="with --pretrain: its length (default: the preset's schedule.total_steps)")
    parser.add_argument("--eval-clips", type=int, default=None, metavar="N",
                        help="held-out clips to evaluate and plan between, with --heldout-data (default 96: "
                             ">= 60 turning pairs on footage that turns as players do)")


def run(args: argparse.Namespace) -> int:
    # Imported here, as in every cli module: building the parser imports them all (torch is slow).
    from craft_jepa.data.shard_survey import DataRefused
    from craft_jepa.eval.report import headline_lines, planning_table
    from craft_jepa.pipelines.demo import run_demo, user_data

    if args.steps is not None and args.steps < 1:
        raise SystemExit("craft-jepa demo: --steps must be positive")
    if args.eval_clips is not None and (args.eval_clips < 2 or args.heldout_data is None):
        raise SystemExit("craft-jepa demo: --eval-clips needs --heldout-data and at least 2 clips")
    if args.pretrain_steps is not None and (args.pretrain_steps < 1 or not args.pretrain):
        raise SystemExit("craft-jepa demo: --pretrain-steps needs --pretrain and a positive count")
    if (args.train_data is None) != (args.heldout_data is None):
        raise SystemExit("craft-jepa demo: give --train-data and --heldout-data together (or neither: synthetic data)")
    data = None
    if args.train_data is not None:
        try:
            data = user_data(args.train_data, args.heldout_data, *([args.eval_clips] if args.eval_clips else []))
        except (DataRefused, FileNotFoundError, ValueError) as err:
            raise SystemExit(f"craft-jepa demo: refused before any work: {err}") from None
    result = run_demo(args.out, seed=args.seed, steps=args.steps, data=data, overrides=tuple(args.overrides),
                      pretrain=args.pretrain, pretrain_steps=args.pretrain_steps)
    print()
    print("\n".join(headline_lines(result.report)))
    if "planning" in result.report:
        print("\n".join(planning_table(result.report["planning"])))
    print(result.plan_text)
    print(f"\nsummary: {result.out / 'README.md'}")
    print(f"report:  {result.out / 'eval' / 'report.md'}")
    return 0
