"""`craft-jepa droid-plan`: a DROID world model plans on a recorded DROID trajectory with CEM over
the 7-D end-effector action, as Meta's planning notebook does (planning/droid.py).

The model is Meta's released AC predictor (`--predictor vjepa2-ac-vitg.pt`, any file in its
layout, with `--encoder-checkpoint vitg.pt`) or a craft-jepa DROID run or export (`--run`):

    craft-jepa droid-plan --predictor vjepa2-ac-vitg.pt --encoder-checkpoint vitg.pt \\
        --trajectory /data/droid/<trajectory_dir> --start 30 --out droid-plan/

writes OUT/plan.json (planned and recorded actions and their energies) and
OUT/energy_landscape.png (energy of one-step (dx, dy) actions toward the next sampled frame).
`add_model_arguments` / `load_model` are shared with `craft-jepa droid-eval`.
"""

from __future__ import annotations

import argparse
import sys

HELP = "plan on a DROID trajectory with Meta's released AC predictor or a DROID run (CEM, 7-D end effector)"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--predictor", help="AC predictor .pt laid out like vjepa2-ac-vitg.pt")
    model.add_argument("--run", help="a craft-jepa DROID run or export (action layout droid7)")
    parser.add_argument("--predictor-key", default="predictor", help="entry of the .pt holding the predictor")
    parser.add_argument("--heads", type=int, default=16, help="--predictor: attention heads (released: 16)")
    parser.add_argument("--encoder", default="vit_giant", help="--predictor: encoder name (released: vit_giant)")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights (vitg.pt, an HF snapshot or a Hub id); with --predictor and "
                             "none: random weights; with --run: where the run's encoder weights are now")
    parser.add_argument("--encoder-key", default="target_encoder", help="--predictor: entry of the encoder .pt")
    parser.add_argument("--img-size", type=int, default=256, help="--predictor: frame size")
    parser.add_argument("--fps", type=float, default=4.0, help="--predictor: sampled frames per second")
    parser.add_argument("--frames", type=int, default=8, help="--predictor: frames per evaluated clip (recipe: 8)")
    parser.add_argument("--which", default="best", help="--run: checkpoint (best, latest or a step)")
    parser.add_argument("--device", default="cpu")


def load_model(args: argparse.Namespace):
    """The DroidModel the arguments name (the load report goes to stderr)."""
    from craft_jepa.encoders import EncoderConfig
    from craft_jepa.eval.droid import released_model, run_model

    if args.run:
        return run_model(args.run, which=args.which, encoder_checkpoint=args.encoder_checkpoint, device=args.device)
    encoder = EncoderConfig(name=args.encoder, img_size=args.img_size, checkpoint=args.encoder_checkpoint,
                            checkpoint_key=args.encoder_key)
    model, report = released_model(args.predictor, encoder, heads=args.heads, fps=args.fps, frames=args.frames,
                                   key=args.predictor_key, device=args.device)
    print(report, file=sys.stderr)
    print(model.encoder.weights_source, file=sys.stderr)
    return model


def load_errors() -> tuple[type[BaseException], ...]:
    """What a bad model, trajectory or path list raises: reported, exit status 2."""
    from craft_jepa.data.droid_config import TrajectoryError
    from craft_jepa.encoders import StateDictMismatchError

    return (ValueError, OSError, KeyError, TrajectoryError, StateDictMismatchError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--trajectory", required=True, help="a DROID trajectory directory")
    parser.add_argument("--camera-view", default="left_mp4_path")
    parser.add_argument("--start", type=int, default=0, help="video frame of the start")
    parser.add_argument("--horizon", type=int, default=2, help="planned steps; the goal is this many "
                                                               "sampled frames after the start")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--maxnorm", type=float, default=0.05, help="largest xyz step (metres)")
    parser.add_argument("--landscape-points", type=int, default=21, help="grid points per axis of the landscape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.planning.droid import DroidCEMConfig
    from craft_jepa.planning.droid_trajectory import TrajectoryPlanSetup, plan_on_trajectory

    try:
        model = load_model(args)
        setup = TrajectoryPlanSetup(trajectory=args.trajectory, camera_view=args.camera_view, start=args.start,
                                    landscape_points=args.landscape_points)
        cem = DroidCEMConfig(horizon=args.horizon, samples=args.samples, top_k=args.top_k,
                             iterations=args.iterations, maxnorm=args.maxnorm, seed=args.seed)
        result = plan_on_trajectory(model, setup, cem, args.out)
    except load_errors() as err:
        print(f"craft-jepa droid-plan: {err}", file=sys.stderr)
        return 2
    print(f"planned {args.horizon} step(s), energy {result['planned_energy']:.4f} "
          f"(recorded actions {result['recorded_energy']:.4f}, no motion {result['zero_action_energy']:.4f})")
    for name, rows in (("planned", result["planned_actions"]), ("recorded", result["recorded_actions"])):
        for t, row in enumerate(rows):
            print(f"  {name} step {t}: " + " ".join(f"{v:+.4f}" for v in row))
    print(f"wrote {args.out}/plan.json and {args.out}/energy_landscape.png")
    return 0
