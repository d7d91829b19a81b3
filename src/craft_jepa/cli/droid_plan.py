"""`craft-jepa droid-plan`: Meta's released AC predictor (or any file in its layout) plans on a
recorded DROID trajectory with CEM over the 7-D end-effector action, as Meta's notebook does.

    craft-jepa droid-plan --predictor vjepa2-ac-vitg.pt --encoder-checkpoint vitg.pt \\
        --trajectory /data/droid/<traj dir> --start 30 --out droid-plan/

writes OUT/plan.json (planned and recorded actions and their energies) and
OUT/energy_landscape.png (energy of one-step (dx, dy) actions toward the next sampled frame).
"""

from __future__ import annotations

import argparse
import sys

HELP = "plan on a DROID trajectory with Meta's released AC predictor (CEM over the 7-D end-effector action)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictor", required=True, help="AC predictor .pt laid out like vjepa2-ac-vitg.pt")
    parser.add_argument("--predictor-key", default="predictor", help="entry of the .pt holding the predictor")
    parser.add_argument("--heads", type=int, default=16, help="predictor attention heads (released: 16)")
    parser.add_argument("--encoder", default="vit_giant", help="encoder name (released: vit_giant)")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights (vitg.pt, an HF snapshot or a Hub id); none: random weights")
    parser.add_argument("--encoder-key", default="target_encoder", help="entry of the encoder .pt")
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--trajectory", required=True, help="a DROID trajectory directory")
    parser.add_argument("--camera-view", default="left_mp4_path")
    parser.add_argument("--start", type=int, default=0, help="video frame of the start")
    parser.add_argument("--fps", type=float, default=4.0, help="sampled frames per second (the goal is "
                                                               "--horizon sampled frames after the start)")
    parser.add_argument("--horizon", type=int, default=2)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--maxnorm", type=float, default=0.05, help="largest xyz step (metres)")
    parser.add_argument("--landscape-points", type=int, default=21, help="grid points per axis of the landscape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    from craft_jepa.encoders import EncoderConfig, FrozenEncoder, StateDictMismatchError
    from craft_jepa.data.droid_config import TrajectoryError
    from craft_jepa.models.released import ReleasedLayoutError, load_released_predictor
    from craft_jepa.planning.droid import DroidCEMConfig
    from craft_jepa.planning.droid_trajectory import TrajectoryPlanSetup, plan_on_trajectory

    try:
        encoder_cfg = EncoderConfig(name=args.encoder, img_size=args.img_size, checkpoint=args.encoder_checkpoint,
                                    checkpoint_key=args.encoder_key)
        predictor, report = load_released_predictor(args.predictor, heads=args.heads,
                                                    grid_size=encoder_cfg.grid_size, key=args.predictor_key)
        print(report.describe(), file=sys.stderr)
        encoder = FrozenEncoder.from_config(encoder_cfg, args.device)
        print(encoder.weights_source, file=sys.stderr)
        setup = TrajectoryPlanSetup(trajectory=args.trajectory, camera_view=args.camera_view, start=args.start,
                                    fps=args.fps, landscape_points=args.landscape_points)
        cem = DroidCEMConfig(horizon=args.horizon, samples=args.samples, top_k=args.top_k,
                             iterations=args.iterations, maxnorm=args.maxnorm, seed=args.seed)
        result = plan_on_trajectory(predictor.to(args.device), encoder, args.img_size, setup, cem, args.out)
    except (ValueError, OSError, KeyError, TrajectoryError, StateDictMismatchError, ReleasedLayoutError) as err:
        print(f"craft-jepa droid-plan: {err}", file=sys.stderr)
        return 2
    print(f"planned {args.horizon} step(s), energy {result['planned_energy']:.4f} "
          f"(recorded actions {result['recorded_energy']:.4f}, no motion {result['zero_action_energy']:.4f})")
    for name, rows in (("planned", result["planned_actions"]), ("recorded", result["recorded_actions"])):
        for t, row in enumerate(rows):
            print(f"  {name} step {t}: " + " ".join(f"{v:+.4f}" for v in row))
    print(f"wrote {args.out}/plan.json and {args.out}/energy_landscape.png")
    return 0
