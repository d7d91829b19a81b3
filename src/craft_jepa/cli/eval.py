"""`craft-jepa eval RUN_DIR --data 'val-*.tar'`: report.json, report.md and plots.

Scores the predictor against baselines per horizon, measures action sensitivity, runs the
inverse-dynamics probe and (unless --plan-pairs 0) the offline planning evaluation.
A DROID model (Meta's released `vjepa2-ac-vitg.pt`, or a run with the droid7 layout) takes a
DROID path-list file as --data and gets the same report: baselines, sensitivity per action
dimension, CEM over the end effector scored against the recorded actions (pipelines/droid.py).
"""

from __future__ import annotations

import argparse
import sys

from craft_jepa.cli.droid_options import add_droid_arguments, droid_options, model_errors

HELP = "Evaluate a run, export or released DROID predictor on held-out data: baselines, sensitivity, planning."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="RUN_DIR (checkpoints/), EXPORT_DIR (craft_jepa.json), an exported "
                                        "model's Hub repo id (org/name, hf://org/name@revision), or a predictor "
                                        "file laid out like vjepa2-ac-vitg.pt")
    parser.add_argument("--data", required=True, help="held-out shard spec: glob, {a..b} braces, dir or URL; "
                                                       "for a DROID model a path-list file")
    parser.add_argument("--clips", type=int, default=64, help="clips to evaluate (default 64)")
    parser.add_argument("--windows", type=int, default=1,
                        help="windows taken per segment (the val loader takes one per pass; default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="output folder (default RUN_DIR/eval; for a Hub repo id ./eval-ORG--NAME, for a "
                             "predictor file ./eval-STEM)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--which", default="best", help="run checkpoint: best, latest or a step (default best)")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights on this machine, when the run or export names another path")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--plan-pairs", type=int, default=16,
                        help="start/goal pairs for offline planning (0 skips it; default 16)")
    parser.add_argument("--horizon", type=int, default=2, help="planning horizon = goal offset k (default 2)")
    parser.add_argument("--samples", type=int, default=400, help="CEM samples (default 400)")
    parser.add_argument("--iterations", type=int, default=10, help="CEM iterations (default 10)")
    parser.add_argument("--cem-seeds", type=int, default=3,
                        help="CEM runs with seeds seed, seed+1, ...; the report gives their spread (default 3)")
    parser.add_argument("--plan-features", default=None, choices=["camera", "camera+movement", "actions", "all"],
                        help="VPT: what CEM samples; the rest is held at the start's hotbar/GUI state and 0 "
                             "(default camera). DROID plans xyz + gripper as Meta's notebook")
    parser.add_argument("--camera", default="per_step", choices=["per_step", "held"],
                        help="VPT: one camera motion per step (default), or one held over the horizon (the goal "
                             "frame fixes only the total)")
    parser.add_argument("--camera-prior", type=float, default=None, metavar="W",
                        help="VPT: weight of the planner's Gaussian prior on the camera motion (the training data's "
                             "mean and std), in units of each pair's no-motion energy; 0: the model's energy alone "
                             "(V-JEPA 2-AC). Default: ActionSpaceConfig's")
    parser.add_argument("--landscape-points", type=int, default=21,
                        help="grid points per axis of the planning energy landscape (0: none; default 21)")
    parser.add_argument("--allow-train-data", action="store_true",
                        help="evaluate even when --data overlaps the run's training shards or segments")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_droid_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from craft_jepa.eval.heldout import EvalConfig
    from craft_jepa.pipelines.evaluate import default_eval_dir, evaluate_run
    from craft_jepa.planning.action_space import ActionSpaceConfig
    from craft_jepa.planning.cem import CEMConfig
    from craft_jepa.planning.offline import OfflinePlanConfig

    try:
        eval_cfg = EvalConfig(clips=args.clips, windows_per_segment=args.windows,
                              batch_size=args.batch_size, num_workers=args.num_workers,
                              seed=args.seed, progress=not args.no_progress)
        plan_cfg = None
        if args.plan_pairs > 0:
            cem = CEMConfig(horizon=args.horizon, samples=args.samples, iterations=args.iterations,
                            top_k=min(10, args.samples), seed=args.seed)
            chosen = {"plan": args.plan_features, "camera_prior": args.camera_prior}
            space = ActionSpaceConfig(camera=args.camera, **{k: v for k, v in chosen.items() if v is not None})
            plan_cfg = OfflinePlanConfig(pairs=args.plan_pairs, cem=cem,
                                         cem_seeds=tuple(range(args.seed, args.seed + args.cem_seeds)),
                                         action_space=space, landscape_points=args.landscape_points)
        out = args.out or default_eval_dir(args.run_dir)
        report, paths = evaluate_run(args.run_dir, args.data, out, eval_cfg, plan_cfg,
                                     device=args.device, which=args.which,
                                     encoder_checkpoint=args.encoder_checkpoint,
                                     allow_train_data=args.allow_train_data, droid=droid_options(args))
    except model_errors() as err:
        print(f"craft-jepa eval: {err}", file=sys.stderr)
        return 2
    from craft_jepa.eval.report import headline_lines

    print("\n".join(headline_lines(report)))
    print(f"report: {paths['markdown']}")
    return 0
