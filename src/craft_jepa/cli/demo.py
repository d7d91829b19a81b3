"""`craft-jepa demo [--out DIR] [--minutes M]`: the whole pipeline on CPU, synthetic data, no downloads."""

from __future__ import annotations

import argparse

HELP = "Run everything on CPU in minutes: synthetic VPT data, scaler, training, evaluation, planning."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default: configs/tiny-world-model.yaml's schedule.total_steps)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from craft_jepa.eval.report import headline_lines, planning_table
    from craft_jepa.pipelines.demo import run_demo

    if args.steps is not None and args.steps < 1:
        raise SystemExit("craft-jepa demo: --steps must be positive")
    result = run_demo(args.out, seed=args.seed, steps=args.steps)
    print()
    print("\n".join(headline_lines(result.report)))
    if "planning" in result.report:
        print("\n".join(planning_table(result.report["planning"])))
    print(result.plan_text)
    print(f"\nsummary: {result.out / 'README.md'}")
    print(f"report:  {result.out / 'eval' / 'report.md'}")
    return 0
