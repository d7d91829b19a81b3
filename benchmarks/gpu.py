"""The real-size checks on one GPU, in one command: prints one markdown table and writes it as JSON.

    python benchmarks/gpu.py --quick --out results.json        # < 5 min on one H100 (estimate)
    python benchmarks/gpu.py --out results.json                # every shape and horizon
    python benchmarks/gpu.py --quick --device cpu              # the CPU fallback (tiny shapes, < 60 s)

Random weights and random clips, nothing downloaded. Shapes come from the shipped presets
(configs/): `real` = ViT-L/16 and ViT-g/16 at 256 px, 8 frames, the presets' AC predictor, batch
8, bf16 (vitl16/vitg16 minecraft-256px-8f.yaml) and V-JEPA pre-training at the ViT-L preset
(vitl16/pretrain-256px-16f.yaml, batch 24); `tiny` = tiny-cpu.yaml and pretrain-tiny-cpu.yaml
(fp32). Default: real on CUDA, tiny on the CPU (a clear message says so when no CUDA device exists).

Rows:
- ac_step: one AC optimizer step from pixels (frozen encoder forward + predictor teacher forcing
  and rollout, backward, AdamW), with and without the predictor's activation checkpointing
  (predictor.activation_checkpointing; the frozen encoder runs without gradients, so
  checkpointing it would change nothing). Shares: encoder forward and predictor step measured
  alone, in time and in FLOPs.
- ac_step_features: the same step from cached tokens (predictor only), both checkpointing modes.
- encoder: the frozen encoder's forward at the feature cache's 64 frames per call -> clips/s.
- pretrain_step: one V-JEPA pre-training step (the preset's masks, crops and checkpointing).
- plan: one CEM plan with Meta's settings (400 samples, top 10, 10 iterations, momentum 0.15;
  tiny: 100 samples, 3 iterations), KV-cache rollout vs recompute, per horizon (seconds per plan).
  The predictor runs under the preset's autocast (bf16); `craft-jepa plan` itself runs float32
  today, which `--precision fp32` measures (for every row).
- max_batch: the largest AC batch (from pixels, the preset's checkpointing) that fits: doubling
  from the preset's batch, then bisection, catching torch.OutOfMemoryError. A CPU has no such
  signal: there the search stops at --max-batch and says so.
Peak memory: torch.cuda.max_memory_allocated over the timed calls (weights and optimizer state
included); none on the CPU. FLOPs: counted by torch.utils.flop_counter on one extra call (one
clip, times the batch: FLOPs are linear in it). TFLOP is the model's work per call (without
the recompute of activation checkpointing, which JSON's executed_tflop includes); MFU = TFLOP/s over the device's dense bf16 peak, read from the device name
(gpu_tools.BF16_PEAK_TFLOPS; --peak-tflops overrides; unknown -> n/a, stated).
A section that fails (say an error only a GPU shows) becomes a `failed` row with the error, the
other sections still run, and the exit status is 1; --skip ac pretrain plan leaves sections out.
--quick: 1 warm-up + 2 timed steps (full: 3 + 10), planning at horizons 1 and 2 only (full: 1, 2,
4, 8) timed once (full: best of 2), batch search of at most 4 probes (full: 10). The quick run's
time on one H100 is an estimate from FLOP counts (about 2-3 min); the header prints the real one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from gpu_plan import plan_rows
from gpu_tools import (
    Row,
    count_flops,
    describe_device,
    free_memory,
    is_out_of_memory,
    largest_batch,
    markdown_table,
    median,
    peak_gib,
    pick_device,
    predictor_on,
    reset_peak,
    time_calls,
)

from craft_jepa.configuration import load_config
from craft_jepa.data.loader import frame_norm, normalize_frames
from craft_jepa.pipelines.demo import preset_path
from craft_jepa.encoders import FrozenEncoder
from craft_jepa.planning.cem import CEMConfig
from craft_jepa.train.config import RunConfig
from craft_jepa.train.distributed import DistInfo
from craft_jepa.pipelines.encode_features import EncodeConfig
from craft_jepa.train.objectives.vjepa import build_vjepa_objective
from craft_jepa.train.distributed import autocast_dtype
from craft_jepa.train.objectives.ac import ACObjective
from craft_jepa.train.step import StepRunner


@dataclass(frozen=True)
class Size:
    ac: dict[str, str]  # shape -> AC preset (a file under configs/)
    pretrain: tuple[str, str]  # (shape, pre-training preset)
    cem: CEMConfig  # the planner's settings (horizon set per row)


SIZES = {
    "real": Size({"vitl": "vitl16/minecraft-256px-8f.yaml", "vitg": "vitg16/minecraft-256px-8f.yaml"},
                 ("vitl", "vitl16/pretrain-256px-16f.yaml"), CEMConfig()),  # Meta's: 400 samples, 10 iterations
    # A smaller planner keeps the CPU fallback under a minute on 2 cores; it exercises the same code.
    "tiny": Size({"tiny": "tiny-cpu.yaml"}, ("tiny", "pretrain-tiny-cpu.yaml"), CEMConfig(samples=100, iterations=3)),
}
# The presets read their data and encoder weights from the environment; neither is used here.
NO_DATA = ["data.train_shards=random-clips", "encoder.checkpoint=null"]


@dataclass
class Settings:
    device: torch.device
    quick: bool
    precision: str | None  # None: each preset's own
    warmup: int
    repeats: int
    horizons: tuple[int, ...]
    plan_repeats: int
    max_probes: int
    max_batch: int | None  # None: 128 x the preset's batch on CUDA, 2 x on the CPU
    peak_tflops: float | None


def load_preset(name: str, settings: Settings, extra: tuple[str, ...] = ()) -> RunConfig:
    overrides = [*NO_DATA, *extra] + ([f"precision={settings.precision}"] if settings.precision else [])
    return load_config(RunConfig, preset_path(name), overrides)


def random_ac_batch(cfg: RunConfig, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    """What the training loader yields, made on the device: uint8 frames (B, T, 3, H, W),
    actions (B, T-1, A), states (B, T, S)."""
    frames, size = cfg.clip.frames, cfg.clip.size
    generator = torch.Generator(device).manual_seed(0)
    pixels = torch.randint(0, 256, (batch, frames, 3, size, size), generator=generator, device=device,
                           dtype=torch.uint8)
    actions = torch.randn(batch, frames - 1, cfg.predictor.action_dim, generator=generator, device=device)
    states = torch.zeros(batch, frames, cfg.predictor.state_dim, device=device)
    return {"frames": pixels, "actions": actions, "states": states}


def ac_runner(cfg: RunConfig, encoder: FrozenEncoder, device: torch.device) -> StepRunner:
    """The training loop's StepRunner for an AC preset (random predictor, no action scaler)."""
    predictor = predictor_on(cfg.predictor, device)
    objective = ACObjective(predictor, encoder, None, cfg.loss, device)
    return StepRunner(objective, cfg.optim, cfg.schedule, DistInfo(device=device),
                      precision=cfg.precision, pixel_norm=(cfg.clip.mean, cfg.clip.std))


@dataclass
class Measured:
    seconds: float | None  # None: out of memory
    peak_gib: float | None
    flops: int  # executed by one call, as counted (activation-checkpointing recompute included)


def measure(call, settings: Settings, warmup: int | None = None, repeats: int | None = None,
            count=None, count_times: int = 1) -> Measured:
    """Warm-up, timed calls (median) with the peak memory of the timed ones, then the FLOPs of one
    call: `count` (e.g. the same step on one clip, FLOPs being linear in the batch) x count_times.
    Out of memory while timing gives seconds None (the peak is then where it failed)."""
    device = settings.device
    warmup = settings.warmup if warmup is None else warmup
    repeats = settings.repeats if repeats is None else repeats
    try:
        call()  # first call outside the peak: lazy initialisation (optimizer state, kernels)
        reset_peak(device)
        seconds = median(time_calls(call, device, max(0, warmup - 1), repeats))
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        free_memory(device)
        seconds = None  # the row says "out of memory"; its FLOPs are still counted (on one clip)
    peak = peak_gib(device)
    return Measured(seconds, peak, count_flops(count or call, device) * count_times)


def step_call(runner: StepRunner, batch: dict[str, torch.Tensor]):
    counter = iter(range(10**9))
    return lambda: runner.train_step([batch], next(counter))


def ac_rows(shape: str, preset: str, settings: Settings) -> list[Row]:
    """AC steps from pixels and from cached tokens, both checkpointing modes; encoder throughput;
    the largest batch that fits."""
    device = settings.device
    cfg = load_preset(preset, settings)
    encoder = FrozenEncoder.from_config(cfg.encoder, device)
    batch_size = cfg.data.batch_size
    batch = random_ac_batch(cfg, batch_size, device)
    norm = [t.to(device) for t in frame_norm(cfg.clip.mean, cfg.clip.std)]
    frames = normalize_frames(batch["frames"], *norm)  # (B, T, 3, H, W) float32, as the step normalizes
    features = {**{k: v for k, v in batch.items() if k != "frames"}, "tokens": encoder(frames)}
    one_clip = {k: v[:1] for k, v in batch.items()}  # FLOPs are counted on one clip x batch (linear in it)
    one_clip_features = {k: v[:1] for k, v in features.items()}

    # The frozen encoder alone, at the feature cache's frames per forward (fewer if the batch has fewer).
    per_forward = min(EncodeConfig.__dataclass_fields__["batch_size"].default, frames.shape[0] * frames.shape[1])
    encoder_frames = frames.flatten(0, 1)[:per_forward][:, None]  # (F, 1, 3, H, W): one frame per clip
    repeats = settings.repeats if settings.quick else max(5, settings.repeats)  # cheap next to a step
    enc = measure(lambda: encoder(encoder_frames), settings, settings.warmup, repeats)
    step_enc = measure(lambda: encoder(frames), settings, settings.warmup, repeats,
                       count=lambda: encoder(frames[:1]), count_times=batch_size)

    preset_ckpt = cfg.predictor.activation_checkpointing
    results: dict[bool, tuple[Measured, Measured]] = {}
    runner = None
    for ckpt in (not preset_ckpt, preset_ckpt):  # the preset's last: its runner goes on to the batch search
        del runner  # one predictor and its optimizer state on the device at a time
        free_memory(device)
        variant_cfg = load_preset(preset, settings, (f"predictor.activation_checkpointing={ckpt}",))
        runner = ac_runner(variant_cfg, encoder, device)
        results[ckpt] = (measure(step_call(runner, batch), settings, count=step_call(runner, one_clip),
                                 count_times=batch_size),
                         measure(step_call(runner, features), settings, count=step_call(runner, one_clip_features),
                                 count_times=batch_size))
    model_flops = {name: results[False][i].flops for i, name in enumerate(("pixels", "features"))}

    rows = []
    for ckpt, (full, feat) in results.items():
        variant = "ckpt" if ckpt else "no ckpt"
        extra = {"activation_checkpointing": ckpt, "executed_tflop": full.flops / 1e12, "encoder_tflop": step_enc.flops / 1e12}
        note = "out of memory" if full.seconds is None else ""
        if full.seconds is not None and feat.seconds is not None:
            parts = step_enc.seconds + feat.seconds
            extra |= {"encoder_time_share": step_enc.seconds / parts, "predictor_time_share": feat.seconds / parts,
                      "encoder_flop_share": step_enc.flops / (step_enc.flops + model_flops["features"])}
            note = (f"encoder/predictor: {100 * extra['encoder_time_share']:.0f}/{100 * extra['predictor_time_share']:.0f}"
                    f"% of time, {100 * extra['encoder_flop_share']:.0f}/{100 - 100 * extra['encoder_flop_share']:.0f}"
                    "% of FLOPs")
        rows.append(Row("ac_step", shape, variant, batch_size, full.seconds, full.peak_gib, model_flops["pixels"] / 1e12,
                        note, extra))
        rows.append(Row("ac_step_features", shape, variant, batch_size, feat.seconds, feat.peak_gib,
                        model_flops["features"] / 1e12, "predictor only, tokens given" if feat.seconds else "out of memory",
                        {"activation_checkpointing": ckpt, "executed_tflop": feat.flops / 1e12}))
    clips = per_forward / cfg.clip.frames
    rows.append(Row("encoder", shape, f"{per_forward} frames/forward", None, enc.seconds, enc.peak_gib, enc.flops / 1e12,
                    f"{clips / enc.seconds:.4g} clips/s of {cfg.clip.frames} frames" if enc.seconds else "out of memory",
                    {"clips_per_s": clips / enc.seconds if enc.seconds else None, "frames_per_forward": per_forward}))
    rows.append(batch_search_row(shape, cfg, runner, settings))
    return rows


def batch_search_row(shape: str, cfg: RunConfig, runner: StepRunner, settings: Settings) -> Row:
    """Largest AC batch (pixels in, the preset's checkpointing) for which one step runs."""
    device = settings.device
    start = cfg.data.batch_size
    cap = settings.max_batch or start * (128 if device.type == "cuda" else 2)

    def fits(batch_size: int) -> bool:
        free_memory(device)
        try:
            runner.train_step([random_ac_batch(cfg, batch_size, device)], 0)
            return True
        except (torch.OutOfMemoryError, RuntimeError) as err:  # only out-of-memory means "does not fit"
            if not is_out_of_memory(err):
                raise
            return False
        finally:
            free_memory(device)

    search = largest_batch(fits, start, cap, settings.max_probes)
    ckpt = "ckpt" if cfg.predictor.activation_checkpointing else "no ckpt"
    note = search.describe() + ("" if search.exact else f" (all {settings.max_probes} probes spent)")
    if device.type == "cpu":
        note += " (a CPU gives no out-of-memory signal: the search stops at the cap)"
    return Row("max_batch", shape, f"{ckpt}, pixels in", search.largest, None, None, None, note,
               {"largest": search.largest, "first_failing": search.first_failing, "exact": search.exact, "cap": cap,
                "probes": search.probes})


@contextlib.contextmanager
def checkpointing_off(objective):
    """The pre-training step without recompute, for its model FLOPs (flags read at each forward)."""
    saved = objective.encoder.activation_checkpointing, objective.predictor.cfg.activation_checkpointing
    objective.encoder.activation_checkpointing = objective.predictor.cfg.activation_checkpointing = False
    try:
        yield
    finally:
        objective.encoder.activation_checkpointing, objective.predictor.cfg.activation_checkpointing = saved


def pretrain_row(shape: str, preset: str, settings: Settings) -> Row:
    """One V-JEPA pre-training step at the preset's batch; every step draws the same masks and
    crops (`draws` reset), so one counted step gives the FLOPs of each timed one."""
    device = settings.device
    cfg = load_preset(preset, settings)
    info = DistInfo(device=device)
    objective = build_vjepa_objective(cfg, info, None, [])
    runner = StepRunner(objective, cfg.optim, cfg.schedule, info, precision=cfg.precision,
                                      pixel_norm=(cfg.clip.mean, cfg.clip.std))
    batch_size, frames, size = cfg.data.batch_size, cfg.clip.frames, cfg.clip.size
    generator = torch.Generator(device).manual_seed(0)

    def clips(n: int) -> dict[str, torch.Tensor]:
        return {"frames": torch.randint(0, 256, (n, frames, 3, size, size), generator=generator, device=device,
                                        dtype=torch.uint8)}

    def same_masks(batch: dict[str, torch.Tensor]):
        def call() -> None:
            objective.draws = 0
            runner.train_step([batch], 0)
        return call

    one_clip = same_masks(clips(1))  # FLOPs are linear in the batch: counted on one clip
    full = measure(same_masks(clips(batch_size)), settings, settings.warmup, max(2, settings.repeats - 1),
                   count=one_clip, count_times=batch_size)
    with checkpointing_off(objective):
        model_flops = count_flops(one_clip, device) * batch_size
    ckpt = "ckpt" if cfg.vjepa.activation_checkpointing else "no ckpt"
    return Row("pretrain_step", shape, f"{ckpt}, {frames}f {size}px", batch_size, full.seconds, full.peak_gib,
               model_flops / 1e12, "out of memory" if full.seconds is None else f"{cfg.encoder.name}, masks as preset",
               {"executed_tflop": full.flops / 1e12, "activation_checkpointing": cfg.vjepa.activation_checkpointing})


def planning(shape: str, preset: str, settings: Settings, size: Size) -> list[Row]:
    cfg = load_preset(preset, settings)
    return plan_rows(shape, cfg, settings.device, size.cem, settings.horizons, settings.plan_repeats,
                     autocast_dtype(cfg.precision, settings.device))


def run(settings: Settings, size: Size, skip: list[str]) -> list[Row]:
    """Every section in turn. A section that fails becomes a `failed` row (traceback on stderr)
    and the others still run: a lent GPU's few minutes are not lost to one error."""
    pre_shape, pre_preset = size.pretrain
    sections = [("ac", shape, lambda s=shape, p=preset: ac_rows(s, p, settings)) for shape, preset in size.ac.items()]
    sections.append(("pretrain", pre_shape, lambda: [pretrain_row(pre_shape, pre_preset, settings)]))
    sections += [("plan", shape, lambda s=shape, p=preset: planning(s, p, settings, size))
                 for shape, preset in size.ac.items()]
    rows: list[Row] = []
    for name, shape, section in sections:
        if name in skip:
            continue
        t0 = time.perf_counter()
        try:
            rows += section()
        except Exception as err:  # noqa: BLE001 - reported as a row and in the exit status
            traceback.print_exc()
            rows.append(Row(name, shape, "failed", None, None, None, None, f"{type(err).__name__}: {err}"[:300]))
        free_memory(settings.device)
        print(f"[gpu.py] {name} at {shape}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return [row.rate(settings.peak_tflops) for row in rows]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when present, else cpu)")
    parser.add_argument("--size", choices=sorted(SIZES), help="real or tiny shapes (default: real on CUDA, tiny on CPU)")
    parser.add_argument("--quick", action="store_true", help="fewer timings and horizons (see above)")
    parser.add_argument("--precision", choices=["bf16", "fp32"], help="instead of the presets' own")
    parser.add_argument("--max-batch", type=int, help="cap of the batch search")
    parser.add_argument("--peak-tflops", type=float, help="the device's bf16 peak, when the table does not know it")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--skip", nargs="*", default=[], choices=["ac", "pretrain", "plan"],
                        help="sections to leave out (ac: the AC steps, encoder and batch search)")
    parser.add_argument("--out", type=Path, help="write the rows as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    name, peak, peak_note = describe_device(device, args.device, args.peak_tflops)
    size = args.size or ("real" if device.type == "cuda" else "tiny")
    settings = Settings(device=device, quick=args.quick, precision=args.precision,
                        warmup=1 if args.quick else 3, repeats=2 if args.quick else 10,
                        horizons=(1, 2) if args.quick else (1, 2, 4, 8), plan_repeats=1 if args.quick else 2,
                        max_probes=4 if args.quick else 10, max_batch=args.max_batch, peak_tflops=peak)
    torch.manual_seed(0)
    started = time.perf_counter()
    rows = run(settings, SIZES[size], args.skip)
    total = time.perf_counter() - started
    header = [(f"device: {device} = {name}; torch {torch.__version__}; shapes: {size}; "
               f"{'quick' if args.quick else 'full'} run in {total:.0f} s"), f"peak: {peak_note}"]
    print("\n".join(header) + "\n\n" + markdown_table(rows))
    if args.out:
        report = {"device": str(device), "device_name": name, "peak_bf16_tflops": peak, "peak_note": peak_note,
                  "torch": torch.__version__, "size": size, "quick": args.quick, "seconds": total,
                  "rows": [asdict(r) for r in rows]}
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    failed = [f"{r.task} at {r.shape}" for r in rows if r.variant == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)} (tracebacks above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
