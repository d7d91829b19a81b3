"""Training from cached features vs from video, same clips setup and the same tiny encoder,
side by side in one run; then what the saving projects to for ViT-L and ViT-g.

1. writes synthetic VPT shards (or uses --data), encodes them once (`windows=all`, bf16),
2. trains the same predictor for --steps optimizer steps from each source (after --warmup
   steps), timing data loading and compute per step,
3. times the encoder forward and the predictor step alone on one batch,
4. prints steps/s of both sources, their ratio, and a FLOP model: encoder forward E and
   predictor training P (forward + backward ~ 3x forward, teacher forcing + rollout) per
   clip. With data loading hidden behind loader workers, a step costs E + P from video and
   P from features, so the projected speed-up is (E + P) / P.

    python benchmarks/feature_cache.py                       # tiny, CPU, about a minute
    python benchmarks/feature_cache.py --encoder vit_mini --size 128 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.features import build_feature_train_loader
from craft_jepa.data.loader import build_train_loader
from craft_jepa.encoders import EncoderConfig, FrozenEncoder, encoder_spec
from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.models.predictor import PREDICTOR_PRESETS
from craft_jepa.train.distributed import DistInfo
from craft_jepa.pipelines.encode_features import EncodeConfig, encode_features
from craft_jepa.train.losses import LossConfig
from craft_jepa.train.optim import OptimConfig
from craft_jepa.train.schedule import ScheduleConfig
from craft_jepa.train.objectives.ac import ACObjective
from craft_jepa.train.step import StepRunner
from craft_jepa.vpt.layouts import get_action_layout


# ---------------------------------------------------------------------- FLOP model


def block_flops(tokens: int, width: int, hidden: int) -> float:
    """One pre-LN transformer block over `tokens` tokens: qkv + proj + MLP + dense attention."""
    matmuls = tokens * (4 * width * width + 2 * width * hidden)  # multiply-adds
    attention = 2 * tokens * tokens * width  # QK^T and AV, full (masked) score matrix
    return 2.0 * (matmuls + attention)


def encoder_flops_per_clip(name: str, img_size: int, frames: int) -> float:
    """Forward FLOPs: every frame encoded alone (repeated to fill one 2-frame tubelet)."""
    spec = encoder_spec(name)
    n = (img_size // spec.patch_size) ** 2
    patch_embed = 2.0 * n * (3 * 2 * spec.patch_size**2) * spec.dim
    return frames * (patch_embed + spec.depth * block_flops(n, spec.dim, spec.mlp_hidden))


def predictor_flops_per_clip(preset: str, encoder_dim: int, tokens_per_frame: int, frames: int,
                             auto_steps: int, cond_tokens: int = 1) -> float:
    """Training FLOPs (forward x 3 for forward + backward): teacher forcing + rollout calls."""
    depth, width, _ = PREDICTOR_PRESETS[preset]

    def call(steps: int) -> float:
        seq = steps * (cond_tokens + tokens_per_frame)
        io = 2.0 * steps * tokens_per_frame * encoder_dim * width * 2  # embed in + project out
        return io + depth * block_flops(seq, width, 4 * width)

    rollout = sum(call(n + 1) for n in range(1, auto_steps))
    return 3.0 * (call(frames - 1) + rollout)


# ---------------------------------------------------------------------- measurements


@dataclass
class PathTiming:
    data_s: list[float]
    step_s: list[float]

    @property
    def data(self) -> float:
        return statistics.median(self.data_s)

    @property
    def step(self) -> float:
        return statistics.median(self.step_s)

    @property
    def steps_per_s(self) -> float:
        return 1.0 / (self.data + self.step)


def make_runner(args: argparse.Namespace, encoder: FrozenEncoder | None, enc_cfg: EncoderConfig) -> StepRunner:
    predictor = ACPredictor(PredictorConfig(preset=args.predictor, encoder_dim=enc_cfg.embed_dim,
                                            grid_size=enc_cfg.grid_size, action_dim=get_action_layout("vpt38").dim,
                                            init_seed=0))
    objective = ACObjective(predictor, encoder, None, LossConfig(auto_steps=2), torch.device(args.device))
    return StepRunner(objective, OptimConfig(lr=1e-4),
                      ScheduleConfig(total_steps=10**6, warmup_steps=0, decay_steps=0),
                      DistInfo(device=torch.device(args.device)), precision="fp32")


def time_training(paths: list[tuple[StepRunner, object]], args: argparse.Namespace) -> list[PathTiming]:
    """Steps of all paths interleaved (so a busy machine slows them alike); medians per step."""
    iterators = [iter(loader) for _, loader in paths]
    timings = [PathTiming([], []) for _ in paths]
    for step in range(args.warmup + args.steps):
        for (runner, _), batches, timing in zip(paths, iterators, timings):
            t0 = time.perf_counter()
            batch = next(batches)
            t1 = time.perf_counter()
            runner.train_step([batch], step)
            t2 = time.perf_counter()
            if step >= args.warmup:
                timing.data_s.append(t1 - t0)
                timing.step_s.append(t2 - t1)
    return timings


def median_times(fns: list, repeats: int = 7) -> list[float]:
    """Median seconds per call of each function, calls interleaved."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="video shards (default: synthetic ones in a temp dir)")
    parser.add_argument("--encoder", default="vit_tiny")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--predictor", default="ac_tiny")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    clip = ClipConfig(frames=args.frames, fps=5.0, size=args.size, clips_per_segment=4)
    enc_cfg = EncoderConfig(name=args.encoder, img_size=args.size)

    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            from craft_jepa.data.synth import write_synth_dataset

            data = list(write_synth_dataset(tmp + "/synth", seconds=(20.0, 20.0, 20.0), seed=7, per_shard=1).shard_urls)
        else:
            data = args.data
        t0 = time.perf_counter()
        summary = encode_features(clip, enc_cfg, EncodeConfig(data=data, out=tmp + "/features/f-{000000..}.tar",
                                                              dtype="bf16", device=args.device, progress=False))
        encode_s = time.perf_counter() - t0
        features = summary.shards_written

        encoder = FrozenEncoder.from_config(enc_cfg, args.device)
        video_loader = build_train_loader(clip, data, batch_size=args.batch, num_workers=args.workers, seed=0,
                                          shuffle_buffer_clips=16)
        feature_loader = build_feature_train_loader(clip, features, batch_size=args.batch, num_workers=args.workers,
                                                    seed=0, shuffle_buffer_clips=16)
        video, feats = time_training([(make_runner(args, encoder, enc_cfg), video_loader),
                                      (make_runner(args, None, enc_cfg), feature_loader)], args)

        # Compute alone, on one batch: encoder forward, predictor step from tokens.
        batch = next(iter(build_train_loader(clip, data, batch_size=args.batch, num_workers=0, seed=1,
                                             shuffle_buffer_clips=0)))
        frames = batch["frames"].to(args.device)
        token_batch = {**batch, "tokens": encoder(frames)}
        del token_batch["frames"]
        runner = make_runner(args, None, enc_cfg)
        encoder_s, predictor_s = median_times([lambda: encoder(frames), lambda: runner.train_step([token_batch], 0)])

    n_tokens = enc_cfg.tokens_per_frame
    print(f"\nfeature cache benchmark: {args.encoder} @ {args.size}px ({n_tokens} tokens/frame), {args.predictor} "
          f"predictor, {args.frames} frames, batch {args.batch}, {args.workers} loader workers, {args.device}, "
          f"{torch.get_num_threads()} threads")
    print(f"encode once: {summary.frames} frames ({summary.windows} windows) in {encode_s:.1f} s "
          f"= {summary.frames / encode_s:.0f} frames/s (decode + encode + write)\n")
    print(f"{'source':<10} {'data s/step':>12} {'compute s/step':>15} {'steps/s':>9}   (medians)")
    for name, t in (("video", video), ("features", feats)):
        print(f"{name:<10} {t.data:>12.4f} {t.step:>15.4f} {t.steps_per_s:>9.2f}")
    print(f"ratio features / video: {feats.steps_per_s / video.steps_per_s:.2f}x steps/s")
    measured = (encoder_s + predictor_s) / predictor_s
    print(f"compute alone on one batch: encoder {encoder_s * 1e3:.1f} ms, predictor step {predictor_s * 1e3:.1f} ms "
          f"-> (E+P)/P = {measured:.2f}x\n")

    print(f"FLOP model per clip ({args.frames} frames, rollout 2): E = encoder forward, P = predictor fwd+bwd")
    print(f"{'setup':<30} {'E GFLOP':>10} {'P GFLOP':>10} {'(E+P)/P':>9}")
    setups = [
        (f"{args.encoder} {args.size}px + {args.predictor}", args.encoder, args.size, args.predictor),
        ("ViT-L 256px + ac_vitl", "vit_large", 256, "ac_vitl"),
        ("ViT-H 256px + ac_vitl", "vit_huge", 256, "ac_vitl"),
        ("ViT-g 256px + ac_vitg", "vit_giant", 256, "ac_vitg"),
        ("ViT-g 384px + ac_vitg", "vit_giant", 384, "ac_vitg"),
    ]
    for label, name, size, preset in setups:
        e = encoder_flops_per_clip(name, size, args.frames)
        p = predictor_flops_per_clip(preset, encoder_spec(name).dim, (size // 16) ** 2, args.frames, auto_steps=2)
        print(f"{label:<30} {e / 1e9:>10.1f} {p / 1e9:>10.1f} {(e + p) / p:>8.2f}x")
    print("\n(E+P)/P is the projected steps/s gain from features when the GPU is compute-bound and loader "
          "workers hide decoding; a decode-bound video pipeline gains more (features need no decoding).")


if __name__ == "__main__":
    main()
