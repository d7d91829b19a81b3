"""`craft-jepa plan RUN_DIR --start FRAME.png --goal FRAME.png`: plan actions toward a goal frame.

Or take start and goal from a recorded clip: `--clip SHARD:KEY:T:K` plans from frame T to frame
T+K of the validation window of segment KEY in SHARD (horizon K) and prints the recorded
actions next to the plan.
"""

from __future__ import annotations

import argparse
import sys

HELP = "Plan VPT actions from a start frame to a goal frame with CEM and print them."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="RUN_DIR (checkpoints/), EXPORT_DIR (craft_jepa.json), or an exported "
                                        "model's Hub repo id (org/name, hf://org/name@revision)")
    parser.add_argument("--start", help="start image (PNG, or any image PyAV reads)")
    parser.add_argument("--goal", help="goal image")
    parser.add_argument("--clip", help="SHARD:KEY:T:K, start = frame T, goal = frame T+K of that clip")
    parser.add_argument("--horizon", type=int, default=2, help="planned steps (default 2; --clip uses K)")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--top-k", type=int, default=10, help="elite samples (capped at --samples)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--momentum", type=float, default=0.15)
    parser.add_argument("--energy", choices=["last", "all"], default="last",
                        help="L1 to the goal at the last step or averaged over all steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--which", default="best", help="run checkpoint: best, latest or a step")
    parser.add_argument("--encoder-checkpoint", default=None, metavar="PATH",
                        help="encoder weights on this machine, when the run or export names another path")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


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


def run(args: argparse.Namespace) -> int:
    import json

    from craft_jepa.api import WorldModel

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
                          energy=args.energy)
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
