"""Time per planned action with and without the predictor's KV cache (same CEM settings).

    python benchmarks/plan.py                       # tiny random predictor, CPU
    python benchmarks/plan.py --preset ac_vitl --encoder-dim 1024 --grid 16 --device cuda
    python benchmarks/plan.py --run RUN_DIR         # a trained run or export

Both sides run the identical CEM (same seed, samples, iterations, horizon); only the rollout
differs: `ACPredictor.rollout` (KV cache, O(H) frame passes) vs `rollout_uncached` (re-runs the
whole sequence each step, O(H^2)). Prints a table and the speed-up ratio. Longer horizons
favour the cache; at horizon 1 both do the same work.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from craft_jepa.planning.action_space import ActionSpace  # noqa: E402
from craft_jepa.planning.cem import CEMConfig, cem  # noqa: E402
from craft_jepa.planning.objectives import rollout_energy  # noqa: E402


def build(args: argparse.Namespace):
    """-> (predictor, scale_fn, action_space, tokens_per_frame, encoder_dim)."""
    from craft_jepa.vpt.layouts import get_action_layout
    from craft_jepa.vpt.scaler import ActionScaler

    if args.run:
        from craft_jepa.runs.loading import load_run

        run = load_run(args.run, args.device)
        space = ActionSpace.from_layout(run.action_layout, run.scaler)
        cfg = run.predictor.config
        return run.predictor, run.scale, space, cfg.tokens_per_frame, cfg.encoder_dim
    from craft_jepa.models import ACPredictor, PredictorConfig

    layout = get_action_layout("vpt38")
    cfg = PredictorConfig(preset=args.preset, encoder_dim=args.encoder_dim, grid_size=args.grid,
                          action_dim=layout.dim, state_dim=0, init_seed=0)
    predictor = ACPredictor(cfg).to(args.device).eval()
    scaler = ActionScaler.identity(layout)
    space = ActionSpace.from_layout(layout, scaler)
    return predictor, scaler.transform, space, cfg.tokens_per_frame, cfg.encoder_dim


def time_plan(predictor, scale, space, z_start, z_goal, cfg: CEMConfig, cached: bool,
              repeats: int, device: str) -> tuple[float, torch.Tensor]:
    rollout = predictor.rollout if cached else predictor.rollout_uncached
    energy = rollout_energy(rollout, scale, z_start, z_goal)
    best, actions = float("inf"), None
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = cem(space, energy, z_start.shape[0], cfg, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        actions = result.actions
    return best, actions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="RUN_DIR or EXPORT_DIR (default: a random predictor)")
    parser.add_argument("--preset", default="ac_tiny")
    parser.add_argument("--encoder-dim", type=int, default=96)
    parser.add_argument("--grid", type=int, default=4, help="patches per side (tokens = grid^2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--horizons", default="1,2,4", help="comma-separated planning horizons")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor, scale, space, tokens, dim = build(args)
    g = torch.Generator().manual_seed(0)
    z_start = torch.randn(1, tokens, dim, generator=g).to(args.device)
    z_goal = torch.randn(1, tokens, dim, generator=g).to(args.device)
    print(f"device {args.device}, tokens/frame {tokens}, dim {dim}, samples {args.samples}, "
          f"iterations {args.iterations}, best of {args.repeats}")
    print(f"{'horizon':>7} | {'cached s/action':>15} | {'uncached s/action':>17} | {'speed-up':>8} | same plan")
    print("-" * 70)
    with torch.no_grad():
        for horizon in (int(h) for h in args.horizons.split(",")):
            cfg = CEMConfig(horizon=horizon, samples=args.samples, iterations=args.iterations,
                            top_k=min(10, args.samples), seed=0)
            cached, plan_a = time_plan(predictor, scale, space, z_start, z_goal, cfg, True,
                                       args.repeats, args.device)
            uncached, plan_b = time_plan(predictor, scale, space, z_start, z_goal, cfg, False,
                                         args.repeats, args.device)
            same = torch.allclose(plan_a, plan_b, atol=1e-3)
            print(f"{horizon:>7} | {cached / horizon:>15.4f} | {uncached / horizon:>17.4f} | "
                  f"{uncached / cached:>7.2f}x | {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
