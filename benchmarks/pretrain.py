"""Time and peak memory of one V-JEPA pre-training step (train/objectives/vjepa.py) on this machine.

Each shape runs in its own process (peak RSS is a process-wide high-water mark), on random clips
(no data pipeline): one warm-up step, then --steps timed optimizer steps through the same
StepRunner `craft-jepa pretrain` uses (target encoder on the whole clip, context encoder and
predictor once per mask generator, backward, AdamW, EMA update). A FLOP model of the step, from
the masks actually drawn, gives the achieved GFLOP/s and projects Meta's per-GPU step
(pretrain-256px-16f: batch 24 per GPU, bf16, activation checkpointing).

    python benchmarks/pretrain.py                      # tiny and ViT-L shapes, CPU, a few minutes
    python benchmarks/pretrain.py --shapes tiny --steps 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SHAPES = {
    # name: encoder, px, frames, predictor (depth, width, heads), batch, activation checkpointing
    "tiny": ("vit_tiny", 64, 8, (2, 96, 3), 8, False),
    "vitl": ("vit_large", 256, 16, (12, 384, 12), 1, True),
}
META_BATCH = 24  # clips per GPU in Meta's ViT-L and ViT-g pretrain-256px-16f configs


def block_flops(tokens: int, width: int, hidden: int) -> float:
    """Forward FLOPs of one pre-LN block: qkv + proj + MLP matmuls and dense attention."""
    return 2.0 * (tokens * (4 * width * width + 2 * width * hidden) + 2 * tokens * tokens * width)


def step_flops_per_clip(spec, pred: tuple[int, int, int], tokens: int, contexts: list[int], ckpt: bool) -> float:
    """Target forward (all tokens) + per generator: context encoder and predictor forward and
    backward (2x forward), plus one recomputed forward with activation checkpointing."""
    depth, width, _ = pred
    train_mult = 4.0 if ckpt else 3.0
    embed = 2.0 * tokens * 3 * spec.tubelet_size * spec.patch_size**2 * spec.dim
    total = embed + spec.depth * block_flops(tokens, spec.dim, spec.mlp_hidden)  # target encoder, no grad
    for k in contexts:
        total += train_mult * (embed * k / tokens + spec.depth * block_flops(k, spec.dim, spec.mlp_hidden))
        total += train_mult * depth * block_flops(tokens, width, 4 * width)  # context + mask tokens
    return total


def child(shape: str, steps: int, threads: int) -> dict:
    import torch

    from craft_jepa.encoders import build_encoder
    from craft_jepa.models.mask_predictor import MaskPredictorConfig, MaskTokenPredictor
    from craft_jepa.train.distributed import DistInfo
    from craft_jepa.train.objectives.vjepa import VJEPAConfig, VJEPAObjective
    from craft_jepa.train.optim import OptimConfig
    from craft_jepa.train.schedule import ScheduleConfig
    from craft_jepa.train.step import StepRunner

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    name, px, frames, (depth, width, heads), batch, ckpt = SHAPES[shape]
    cfg = VJEPAConfig(predictor=MaskPredictorConfig(depth=depth, width=width, heads=heads,
                                                    activation_checkpointing=ckpt),
                      activation_checkpointing=ckpt)
    encoder = build_encoder(name, img_size=px, init_seed=0)
    objective = VJEPAObjective(encoder, MaskTokenPredictor(cfg.predictor, encoder.embed_dim), cfg, frames=frames,
                               total_steps=1000, seed=0, rank=0, device=torch.device("cpu"))
    runner = StepRunner(objective, OptimConfig(lr=1e-4), ScheduleConfig(total_steps=1000, warmup_steps=0,
                                      decay_steps=0), DistInfo(device=torch.device("cpu")), precision="fp32")
    clips = {"frames": torch.randn(batch, frames, 3, px, px)}  # (B, T, 3, H, W)
    contexts = [len(m) for m in objective.prepare(clips)[2::2]]  # the masks the first step will use
    objective.draws = 0
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        result = runner.train_step([clips], step=i)
        times.append(time.perf_counter() - start)
        assert not result.skipped
    tokens = objective.grid.size
    flops = step_flops_per_clip(encoder.spec, (depth, width, heads), tokens, contexts, ckpt)
    params = sum(p.numel() for p in objective.module.parameters())
    step_s = statistics.median(times[1:])
    return {"shape": shape, "encoder": name, "px": px, "frames": frames, "tokens": tokens, "contexts": contexts,
            "batch": batch, "ckpt": ckpt, "params_m": params / 1e6, "step_s": step_s,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "tflop_per_clip": flops / 1e12, "gflops": flops * batch / step_s / 1e9, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.threads)))
        return
    rows = []
    for shape in args.shapes:
        out = subprocess.run([sys.executable, __file__, "--child", shape, "--steps", str(args.steps),
                              "--threads", str(args.threads)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'shape':6} {'encoder':10} {'clip':>11} {'tokens':>6} {'context/gen':>12} {'batch':>5} {'ckpt':>5} "
          f"{'params M':>8} {'step s':>8} {'peak GiB':>8} {'TFLOP/clip':>10} {'GFLOP/s':>8}")
    for r in rows:
        clip = f"{r['frames']}x{r['px']}px"
        ctx = "/".join(str(c) for c in r["contexts"])
        print(f"{r['shape']:6} {r['encoder']:10} {clip:>11} {r['tokens']:>6} {ctx:>12} {r['batch']:>5} "
              f"{str(r['ckpt']):>5} {r['params_m']:>8.1f} {r['step_s']:>8.2f} {r['peak_rss_gib']:>8.2f} "
              f"{r['tflop_per_clip']:>10.4f} {r['gflops']:>8.1f}")
    for r in rows:
        if r["shape"] == "vitl":
            total = r["tflop_per_clip"] * META_BATCH
            print(f"\nMeta's ViT-L step (batch {META_BATCH} per GPU, same masks): {total:.0f} TFLOP per GPU step; at "
                  f"this CPU's {r['gflops']:.0f} GFLOP/s that is {total * 1e3 / r['gflops'] / 60:.0f} min, on a GPU "
                  f"sustaining 300 TFLOP/s in bf16 {total / 300:.2f} s. Memory at batch {META_BATCH} is not "
                  f"measured here (CPU, fp32, batch {r['batch']}).")


if __name__ == "__main__":
    main()
