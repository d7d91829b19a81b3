"""`craft-jepa droid-eval`: evaluate a DROID world model on held-out DROID trajectories.

The model is Meta's released AC predictor (`--predictor vjepa2-ac-vitg.pt` with
`--encoder-checkpoint vitg.pt`) or a craft-jepa DROID run or export (`--run`); the data a
path-list file. Each trajectory gives its fixed validation window (data/droid_loader.py).
Writes OUT/report.json: teacher-forced and rollout L1 against the baselines (copy-last, dataset
mean, zero and shuffled actions) per horizon, and the sensitivity per action dimension
(eval/droid.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from craft_jepa.cli.droid_plan import add_model_arguments, load_errors, load_model

HELP = "evaluate a DROID world model (Meta's released AC predictor or a DROID run): baselines, sensitivity"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--data", required=True, help="path-list file of held-out trajectory directories")
    parser.add_argument("--camera-view", default="left_mp4_path")
    parser.add_argument("--clips", type=int, default=64, help="clips (trajectories) to evaluate")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.data.droid_config import DroidConfig, read_path_list
    from craft_jepa.eval.droid import droid_latents, evaluate_droid
    from craft_jepa.vpt.layouts import DROID_ACTION_FEATURES

    try:
        model = load_model(args)
        z, actions, states, _ = droid_latents(model, DroidConfig(camera_views=[args.camera_view]),
                                              read_path_list(args.data), max_clips=args.clips, seed=args.seed,
                                              batch_size=args.batch_size)
        report = evaluate_droid(model, z, actions, states, seed=args.seed, batch_size=args.batch_size)
    except load_errors() as err:
        print(f"craft-jepa droid-eval: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    tf = report["horizons"]["tf"]
    print(f"{report['clips']} clips of {report['frames']} frames; teacher-forced L1 at h=1: "
          f"model {tf['model']['l1'][0]:.4f}, copy-last {tf['copy_last']['l1'][0]:.4f}, "
          f"zero actions {tf['zero_actions']['l1'][0]:.4f}, shuffled actions {tf['shuffled_actions']['l1'][0]:.4f}")
    print("sensitivity per action dimension (mean |pred' - pred| when that dimension is swapped):")
    for name in DROID_ACTION_FEATURES:
        print(f"  {name:14s} {report['sensitivity'][name]['delta_l1']:.5f}")
    print(f"wrote {out / 'report.json'}")
    return 0
