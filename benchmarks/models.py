"""Predictor speed and memory: our actual-length block mask vs the reference's dense mask, and
cached vs uncached rollouts, and our encoder vs transformers' VJEPA2Model (per-frame encoding).
Prints a table with ratios.

Defaults are the ViT-L AC configuration on CPU: 8 frames, 16x16 = 256 patches per frame, action
+ state tokens (258 tokens per step, as the reference), width 1024, 24 blocks, 16 heads, batch 2.
The dense baseline builds ONE bool mask for 256 steps up front (66048^2 bools, ~4 GiB) and slices
it, exactly as the reference does. Each measurement runs in its own process so that peak host
memory (ru_maxrss) is per variant.

    python benchmarks/models.py                 # full size (minutes on 2 cores)
    python benchmarks/models.py --depth 4       # quick
    python benchmarks/models.py --threads 1     # steadier timings on a shared, busy machine
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


def encoder_step(variant: str, args: argparse.Namespace):
    """Per-frame encoding of batch x frames images: transformers' VJEPA2Model vs ours."""
    from craft_jepa.encoders import build_encoder, encoder_spec

    spec = encoder_spec(args.encoder)
    frames = torch.randn(args.batch, args.encoder_frames, 3, args.img_size, args.img_size)
    if variant == "encoder_hf":
        import transformers

        config = transformers.VJEPA2Config(crop_size=args.img_size, frames_per_clip=2, hidden_size=spec.dim,
                                           num_attention_heads=spec.heads, num_hidden_layers=spec.depth,
                                           mlp_ratio=spec.mlp_hidden / spec.dim, pred_num_hidden_layers=1)
        model = transformers.VJEPA2Model(config).eval()
        video = frames.flatten(0, 1)[:, None].expand(-1, 2, -1, -1, -1)  # (B*T, 2, C, H, W)
        return lambda: model(pixel_values_videos=video, skip_predictor=True)
    model = build_encoder(args.encoder, img_size=args.img_size).eval()
    return lambda: model(frames)


def make_step(variant: str, args: argparse.Namespace):
    """The callable to time for one variant, built inside the measuring process."""
    if variant.startswith("encoder"):
        encode = encoder_step(variant, args)
        return lambda: torch.no_grad()(encode)()
    model = build(args, dense=variant == "train_dense")
    if variant.startswith("train"):
        model.train()
        tokens, actions, states = inputs(args, args.frames)

        def train_step() -> None:
            model.zero_grad(set_to_none=True)
            model(tokens, actions, states).abs().mean().backward()
        return train_step
    model.eval()
    tokens, actions, states = inputs(args, 1 + args.rollout_steps)
    rollout = model.rollout if variant == "rollout_cached" else model.rollout_uncached
    return lambda: torch.no_grad()(rollout)(tokens[:, :1], actions, states, steps=args.rollout_steps)


def measure(variant: str, args: argparse.Namespace, queue: mp.Queue) -> None:
    """Runs in a fresh process; reports (seconds per call, peak RSS in GiB)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    step = make_step(variant, args)
    warmup, repeats = args.warmup, args.repeats
    if variant.startswith("encoder"):  # cheap next to the predictor: always warm up and repeat
        warmup, repeats = max(1, warmup), max(3, repeats)
    seconds = timed(step, warmup, repeats)
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
    parser.add_argument("--encoder", default="vit_base", help="encoder size for the transformers comparison")
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--encoder-frames", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads per measurement (0: torch's default); 1 is steadier on a busy box")
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "rollout", "encoder"])
    args = parser.parse_args()

    print(f"predictor depth {args.depth} x width {args.width} x {args.heads} heads, batch {args.batch}, "
          f"{args.frames} frames x {args.grid**2} patches (+{1 + (args.state_dim > 0)} cond tokens), "
          f"torch threads {args.threads or torch.get_num_threads()}")
    pairs = [
        ("train", f"fwd+bwd, {args.frames} frames", "train_dense", "train_block",
         f"dense mask ({args.max_steps} st.)", "actual-length mask"),
        ("rollout", f"{args.rollout_steps}-step rollout", "rollout_uncached", "rollout_cached", "uncached", "KV cache"),
        ("encoder", f"{args.encoder} x{args.batch * args.encoder_frames} frames", "encoder_hf", "encoder_ours",
         "transformers", "ours"),
    ]
    pairs = [p[1:] for p in pairs if p[0] not in args.skip]
    results = {v: run_isolated(v, args) for _, base, ours, _, _ in pairs for v in (base, ours)}
    print(f"{'task':<22}{'baseline':<24}{'ours':<20}{'base s':>9}{'ours s':>9}{'speedup':>9}"
          f"{'base GiB':>10}{'ours GiB':>10}{'mem ratio':>10}")
    for task, base, ours, base_name, ours_name in pairs:
        (tb, mb), (to, mo) = results[base], results[ours]
        print(f"{task:<22}{base_name:<24}{ours_name:<20}{tb:>9.2f}{to:>9.2f}{tb / to:>8.2f}x"
              f"{mb:>10.2f}{mo:>10.2f}{mb / mo:>9.2f}x")


if __name__ == "__main__":
    main()
