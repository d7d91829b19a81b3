"""`craft-jepa plan RUN_DIR --start FRAME.png --goal FRAME.png`: plan actions toward a goal frame.

Or take start and goal from a recorded clip: `--clip SHARD:KEY:T:K` plans from frame T to frame
T+K of the validation window of segment KEY in SHARD (horizon K) and prints the recorded
actions next to the plan.

A DROID model (Meta's released `vjepa2-ac-vitg.pt`, or a run with the droid7 layout) plans on a
recorded trajectory, `--clip TRAJECTORY_DIR:T:K` (the start pose comes from its trajectory.h5),
with CEM over the end effector as Meta's notebook, and writes OUT/plan.json and
OUT/energy_landscape.png (pipelines/droid.py).
"""

from __future__ import annotations

import argparse
import sys

from craft_jepa.cli.droid_options import add_droid_arguments, droid_options, model_errors

HELP = "Plan actions (VPT, or a DROID end effector) from a start frame to a goal frame with CEM and print them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="RUN_DIR (checkpoints/), EXPORT_DIR (craft_jepa.json), an exported "
                                        "model's Hub repo id (org/name, hf://org/name@revision), or a predictor "
                                        "file laid out like vjepa2-ac-vitg.pt")
    parser.add_argument("--start", help="start image (PNG, or any image PyAV reads)")
    parser.add_argument("--goal", help="goal image")
    parser.add_argument("--clip", help="SHARD:KEY:T:K, start = frame T, goal = frame T+K of that clip; for a DROID "
                                       "model TRAJECTORY_DIR:T:K, start = video frame T, goal K sampled frames later")
    parser.add_argument("--horizon", type=int, default=2, help="planned steps (default 2; --clip uses K)")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=10, help="elite samples (capped at --samples)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--momentum", type=float, default=0.15)
    parser.add_argument("--energy", choices=["last", "all"], default="last",
                        help="L1 to the goal at the last step or averaged over all steps")
    parser.add_argument("--camera-prior", type=float, default=None, metavar="W",
                        help="VPT: weight of the Gaussian prior on the camera motion, in units of the no-motion "
                             "energy (0: the model's energy alone; default: ActionSpaceConfig's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--which", default="best", help="run checkpoint: best, latest or a step")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights on this machine, when the run or export names another path")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--out", default=None, help="DROID: folder for plan.json and energy_landscape.png "
                                                    "(default ./plan-<trajectory name>)")
    parser.add_argument("--landscape-points", type=int, default=21, help="DROID: grid points per axis of the "
                                                                         "energy landscape (default 21)")
    add_droid_arguments(parser)


def read_image(path: str):
    """Image file -> uint8 or float RGB array (H, W, 3)."""
    import numpy as np

    if path.lower().endswith(".png"):
        import matplotlib.image

        image = matplotlib.image.imread(path)  # float32 in [0, 1], (H, W, 3 or 4)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        return np.ascontiguousarray(image[..., :3], dtype=np.float32)
    import av

    with av.open(path) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8


def _clip_latents(model, spec: str, seed: int):
    """SHARD:KEY:T:K -> (z_start, z_goal, recorded actions (K, A), K)."""
    from craft_jepa.data.loader import build_val_loader

    try:
        shard, key, t_text, k_text = spec.rsplit(":", 3)
        t, k = int(t_text), int(k_text)
    except ValueError:
        raise ValueError(f"--clip {spec!r} must look like SHARD:KEY:T:K (T, K integers)") from None
    frames = model.run.clip.frames
    if t < 0 or k < 1 or t + k >= frames:
        raise ValueError(f"--clip {spec!r}: need 0 <= T and T + K < {frames} (frames per clip), K >= 1")
    for batch in build_val_loader(model.run.clip, [shard], batch_size=1, num_workers=0,
                                  max_clips=None, seed=seed):
        if batch["key"][0] == key:
            z = model.encode(batch["frames"])[0]  # (T, N, D)
            return z[t], z[t + k], batch["actions"][0, t:t + k], k
    raise ValueError(f"--clip {spec!r}: no segment {key!r} in {shard}")


def _action_space(args: argparse.Namespace):
    """The VPT action space of --camera-prior (None: the API's default)."""
    from craft_jepa.planning.action_space import ActionSpaceConfig

    return None if args.camera_prior is None else ActionSpaceConfig(camera_prior=args.camera_prior)


def run_droid(args: argparse.Namespace) -> int:
    """A DROID model plans on a recorded trajectory (pipelines/droid.py)."""
    import json

    from craft_jepa.pipelines.droid import plan_droid_clip
    from craft_jepa.planning.cem import CEMConfig

    if not args.clip or args.start or args.goal or args.energy != "last" or args.camera_prior is not None:
        print("craft-jepa plan: a DROID model plans on a recorded trajectory, --clip TRAJECTORY_DIR:T:K (the "
              "start pose comes from its trajectory.h5), with the last frame's energy and no camera prior",
              file=sys.stderr)
        return 2
    try:
        cem = CEMConfig(horizon=args.horizon, samples=args.samples, top_k=min(args.top_k, args.samples),
                        iterations=args.iterations, momentum=args.momentum, seed=args.seed)
        result = plan_droid_clip(args.run_dir, args.clip, cem, args.out, droid_options(args), args.landscape_points,
                                 device=args.device, which=args.which, encoder_checkpoint=args.encoder_checkpoint)
    except model_errors() as err:
        print(f"craft-jepa plan: {err}", file=sys.stderr)
        return 2
    if "load_report" in result:
        print(result["load_report"], file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    steps = len(result["planned_actions"])
    print(f"planned {steps} step(s) from video frame {result['frames'][0]} to {result['frames'][-1]}, energy "
          f"{result['planned_energy']:.4f} (recorded actions {result['recorded_energy']:.4f}, no motion "
          f"{result['zero_action_energy']:.4f}); columns: dx dy dz droll dpitch dyaw gripper")
    for name, rows in (("planned", result["planned_actions"]), ("recorded", result["recorded_actions"])):
        for t, row in enumerate(rows):
            print(f"  {name} step {t}: " + " ".join(f"{v:+.4f}" for v in row))
    print(f"energy landscape minimum at (dx, dy) = ({result['landscape_min_at'][0]:+.4f}, "
          f"{result['landscape_min_at'][1]:+.4f}); wrote {result['out_dir']}/plan.json and energy_landscape.png")
    return 0


def run(args: argparse.Namespace) -> int:
    import json

    from craft_jepa.api import WorldModel
    from craft_jepa.pipelines.droid import is_droid_model

    try:
        droid = is_droid_model(args.run_dir)
    except model_errors() as err:
        print(f"craft-jepa plan: {err}", file=sys.stderr)
        return 2
    if droid:
        return run_droid(args)

    if bool(args.clip) == bool(args.start or args.goal) or (not args.clip and not (args.start and args.goal)):
        print("craft-jepa plan: give --start and --goal, or --clip SHARD:KEY:T:K", file=sys.stderr)
        return 2
    try:
        model = WorldModel.from_pretrained(args.run_dir, device=args.device, which=args.which,
                                           encoder_checkpoint=args.encoder_checkpoint)
        recorded, horizon = None, args.horizon
        if args.clip:
            start, goal, recorded, horizon = _clip_latents(model, args.clip, args.seed)
        else:
            start, goal = read_image(args.start), read_image(args.goal)
        plan = model.plan(start, goal, horizon=horizon, samples=args.samples, top_k=min(args.top_k, args.samples),
                          iterations=args.iterations, momentum=args.momentum, seed=args.seed,
                          energy=args.energy, action_space=_action_space(args))
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"craft-jepa plan: {err}", file=sys.stderr)
        return 2
    if args.json:
        out = {"energy": plan.energy, "steps": plan.steps, "actions": plan.actions.tolist(),
               "feature_names": list(plan.feature_names)}
        if recorded is not None:
            out["recorded_steps"] = model.describe(recorded)
        print(json.dumps(out, indent=2))
        return 0
    print(f"planned {horizon} step(s), energy {plan.energy:.4f}:")
    print(plan.describe())
    if recorded is not None:
        from craft_jepa.api import Plan

        shown = Plan(recorded.numpy(), float("nan"), plan.feature_names, model.describe(recorded))
        print("recorded:")
        print(shown.describe())
    return 0
