"""`craft-jepa demo [--out DIR] [--minutes M]`: the whole pipeline on CPU, synthetic data, no downloads."""

from __future__ import annotations

import argparse

HELP = "Run everything on CPU in minutes: synthetic VPT data, scaler, training, evaluation, planning."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="training budget in minutes on a 2-core CPU (default 4; data, evaluation "
                             "and planning add about 1.5 minutes)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from craft_jepa.demo import run_demo

    if args.minutes <= 0:
        raise SystemExit("craft-jepa demo: --minutes must be positive")
    result = run_demo(args.out, minutes=args.minutes, seed=args.seed)
    head = result.report["headline"]
    print()
    print(f"held-out latent L1 at horizon 1: model {head['model_l1_h1']:.4f}, "
          f"copy-last {head['copy_last_l1_h1']:.4f}, shuffled actions {head['shuffled_actions_l1_h1']:.4f}")
    print(result.plan_text)
    print(f"\nsummary: {result.out / 'README.md'}")
    print(f"report:  {result.out / 'eval' / 'report.md'}")
    return 0
