"""Predictor speed and memory: our actual-length block mask vs the reference's dense mask, and
cached vs uncached rollouts. Prints a table with ratios.

Defaults are the ViT-L AC configuration on CPU: 8 frames, 16x16 = 256 patches per frame, action
+ state tokens (258 tokens per step, as the reference), width 1024, 24 blocks, 16 heads, batch 2.
The dense baseline builds ONE bool mask for 256 steps up front (66048^2 bools, ~4 GiB) and slices
it, exactly as the reference does. Each measurement runs in its own process so that peak host
memory (ru_maxrss) is per variant.

    python benchmarks/models.py                 # full size (minutes on 2 cores)
    python benchmarks/models.py --depth 4       # quick
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import torch

from craft_jepa.models import ACPredictor, PredictorConfig


class DenseMaskPredictor(ACPredictor):
    """The reference approach: a dense frame-causal mask for `max_steps` steps, built once."""

    def __init__(self, config: PredictorConfig, max_steps: int) -> None:
        super().__init__(config)
        per_step = config.cond_tokens + config.tokens_per_frame
        total = max_steps * per_step
        step_of = torch.arange(total) // per_step  # (total,)
        self.dense_mask = step_of[:, None] >= step_of[None, :]  # (total, total) bool

    def attention_mask(self, steps, past, per_step, device):
        start, stop = past * per_step, (past + steps) * per_step
        return self.dense_mask[start:stop, :stop].to(device)


def build(args: argparse.Namespace, dense: bool) -> ACPredictor:
    config = PredictorConfig(preset="ac_vitl", encoder_dim=args.encoder_dim, grid_size=args.grid,
                             action_dim=args.action_dim, state_dim=args.state_dim, depth=args.depth,
                             width=args.width, heads=args.heads, init_seed=0,
                             activation_checkpointing=args.checkpointing)
    return DenseMaskPredictor(config, args.max_steps) if dense else ACPredictor(config)


def inputs(args: argparse.Namespace, steps: int):
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(args.batch, steps, args.grid**2, args.encoder_dim, generator=generator)
    actions = torch.randn(args.batch, steps, args.action_dim, generator=generator)
    states = torch.randn(args.batch, steps, args.state_dim, generator=generator) if args.state_dim else None
    return tokens, actions, states


def timed(fn, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def measure(variant: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    """Runs in a fresh process; reports (seconds per call, peak RSS in GiB)."""
    torch.manual_seed(0)
    model = build(args, dense=variant == "train_dense")
    if variant.startswith("train"):
        model.train()
        tokens, actions, states = inputs(args, args.frames)

        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(tokens, actions, states).abs().mean().backward()
    else:
        model.eval()
        tokens, actions, states = inputs(args, 1 + args.rollout_steps)
        rollout = model.rollout if variant == "rollout_cached" else model.rollout_uncached

        def step() -> None:
            with torch.no_grad():
                rollout(tokens[:, :1], actions, states, steps=args.rollout_steps)
    seconds = timed(step, args.warmup, args.repeats)
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))


def run_isolated(variant: str, args: argparse.Namespace) -> tuple[float, float]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=measure, args=(variant, args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--encoder-dim", type=int, default=1024)
    parser.add_argument("--grid", type=int, default=16, help="patches per side (256 px / 16)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--action-dim", type=int, default=38)
    parser.add_argument("--state-dim", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=256, help="length the dense baseline mask is built for")
    parser.add_argument("--rollout-steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpointing", action="store_true", help="activation checkpointing in both variants")
    args = parser.parse_args()

    print(f"predictor depth {args.depth} x width {args.width} x {args.heads} heads, batch {args.batch}, "
          f"{args.frames} frames x {args.grid**2} patches (+{1 + (args.state_dim > 0)} cond tokens), "
          f"torch threads {torch.get_num_threads()}")
    rows = []
    results = {v: run_isolated(v, args) for v in ("train_dense", "train_block", "rollout_uncached", "rollout_cached")}
    pairs = (
        (f"fwd+bwd, {args.frames} frames", "train_dense", "train_block", f"dense mask ({args.max_steps} steps)", "actual-length mask"),
        (f"{args.rollout_steps}-step rollout", "rollout_uncached", "rollout_cached", "uncached", "KV cache"),
    )
    print(f"{'task':<22}{'baseline':<24}{'ours':<20}{'base s':>9}{'ours s':>9}{'speedup':>9}"
          f"{'base GiB':>10}{'ours GiB':>10}{'mem ratio':>10}")
    for task, base, ours, base_name, ours_name in pairs:
        (tb, mb), (to, mo) = results[base], results[ours]
        rows.append((task, base_name, ours_name, tb, to, tb / to, mb, mo, mb / mo))
        print(f"{task:<22}{base_name:<24}{ours_name:<20}{tb:>9.2f}{to:>9.2f}{tb / to:>8.2f}x"
              f"{mb:>10.2f}{mo:>10.2f}{mb / mo:>9.2f}x")


if __name__ == "__main__":
    main()
