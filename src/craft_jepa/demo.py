"""`craft-jepa demo`: the whole pipeline on a laptop CPU, on synthetic VPT recordings.

Each stage calls the same code the real commands use; only the sizes are tiny:

1. synth     synthetic VPT recordings (H.264 640x360 mp4 + jsonl) packed into shards
2. scaler    action standardization fitted on the training shards' jsonl only
3. train     a small predictor against a random-weight `vit_tiny` encoder (configs/tiny-cpu.yaml)
4. eval      held-out latent prediction vs copy-last / mean / zeroed / shuffled-action baselines,
             action sensitivity, the inverse-dynamics probe, offline CEM planning
5. plan      one start frame -> goal frame plan, printed in VPT terms

Everything lands under OUT; OUT/README.md says where.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

# Demo sizes. Training recordings differ in seed from the held-out ones (the last shards).
DEMO_TRAIN_RECORDINGS = 12
DEMO_VAL_RECORDINGS = 3
DEMO_SECONDS = 20.0
# Optimizer steps per minute of the --minutes training budget, measured on a 2-core CPU
# (about 0.2 s per tiny step); the schedule needs its length up front.
STEPS_PER_MINUTE = 240


@dataclass
class DemoResult:
    out: Path
    run_dir: Path
    report: dict
    plan_text: str
    timings: dict[str, float] = field(default_factory=dict)


def tiny_preset_path() -> Path:
    """configs/tiny-cpu.yaml, shipped inside the package (the repo's configs/ points there)."""
    return Path(str(resources.files("craft_jepa") / "configs" / "tiny-cpu.yaml"))


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def make_data(out: Path, seed: int, recordings: int, val_recordings: int, seconds: float) -> tuple[list[str], list[str]]:
    """Synthetic recordings -> (train shard paths, held-out shard paths), one segment per shard."""
    from craft_jepa.data.synth import write_synth_dataset

    total = recordings + val_recordings
    dataset = write_synth_dataset(str(out / "data"), seconds=(seconds,) * total, seed=seed, per_shard=1)
    shards = sorted(dataset.shard_urls)
    return shards[:recordings], shards[recordings:]


def fit_scaler(train_shards: list[str], path: Path) -> None:
    from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler

    result = fit_action_scaler(FitScalerConfig(data=train_shards, layout="vpt38", fps=5.0, val_fraction=0.0))
    result.scaler.save(str(path))


def train_model(run_dir: Path, train_shards: list[str], val_shards: list[str], scaler: Path,
                steps: int, seed: int) -> None:
    from craft_jepa.configuration import load_config, read_yaml
    from craft_jepa.train.config import RunConfig
    from craft_jepa.train.loop import train

    base = read_yaml(tiny_preset_path())
    base["data"].update({"train_shards": train_shards, "val_shards": val_shards, "val_fraction": 0.0,
                         "scaler": str(scaler)})
    overrides = [
        f"run_dir={run_dir}",
        f"seed={seed}",
        f"schedule.total_steps={steps}",
        f"schedule.decay_steps={max(steps // 5, 1)}",
        f"validation.every={max(steps // 4, 1)}",
        f"checkpoint.latest_every={max(steps // 4, 1)}",
        f"checkpoint.every={steps}",
    ]
    cfg = load_config(RunConfig, base, overrides, env={})
    train(cfg)


def evaluate(run_dir: Path, val_shards: list[str], out: Path, seed: int) -> dict:
    from craft_jepa.eval.runner import EvalConfig
    from craft_jepa.planning.cem import CEMConfig
    from craft_jepa.planning.evaluate import evaluate_run
    from craft_jepa.planning.offline import OfflinePlanConfig

    eval_cfg = EvalConfig(clips=48, windows_per_segment=16, seed=seed)
    plan_cfg = OfflinePlanConfig(pairs=24, cem=CEMConfig(horizon=2, seed=seed))
    report, _ = evaluate_run(run_dir, val_shards, out, eval_cfg, plan_cfg, which="best")
    return report


def plan_once(run_dir: Path, val_shard: str, out: Path, seed: int) -> str:
    """Plan from frame 0 to frame 2 of one held-out clip; returns the printed comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from craft_jepa.api import WorldModel
    from craft_jepa.data.loader import build_val_loader

    model = WorldModel.from_pretrained(run_dir)
    clip_cfg = model.run.clip
    batch = next(iter(build_val_loader(clip_cfg, [val_shard], batch_size=1, num_workers=0,
                                       max_clips=1, seed=seed)))
    frames = batch["frames"][0]  # (T, 3, H, W), normalized
    mean = np.asarray(clip_cfg.mean)[:, None, None]
    std = np.asarray(clip_cfg.std)[:, None, None]
    images = {}
    for name, index in (("start", 0), ("goal", 2)):
        images[name] = (frames[index].numpy() * std + mean).transpose(1, 2, 0).clip(0, 1)  # (H, W, 3)
        plt.imsave(out / f"plan_{name}.png", images[name])
    plan = model.plan(images["start"], images["goal"], horizon=2, seed=seed)
    recorded = model.describe(batch["actions"][0, :2])
    lines = ["planned (CEM, horizon 2):", plan.describe(), "recorded:"]
    lines += [f"  step {i}: " + json.dumps(step) for i, step in enumerate(recorded)]
    return "\n".join(lines)


def write_summary(result: DemoResult) -> Path:
    head = result.report["headline"]
    planning = result.report.get("planning", {}).get("summary", {})
    rows = [
        "# craft-jepa demo results",
        "",
        "Synthetic VPT recordings, random-weight `vit_tiny` encoder, tiny predictor, CPU.",
        "",
        "| held-out, horizon 1 | latent L1 |",
        "|---|---|",
        f"| trained model | {head['model_l1_h1']:.4f} |",
        f"| copy last frame | {head['copy_last_l1_h1']:.4f} |",
        f"| model, actions shuffled | {head['shuffled_actions_l1_h1']:.4f} |",
        "",
    ]
    if planning:
        rows += [f"Offline planning: yaw sign agreement {planning['yaw_sign_agreement']:.2f} over "
                 f"{planning['turning_pairs']} turning pairs (chance 0.5).", ""]
    rows += [
        "## Where things are",
        "",
        f"- recordings and shards: `{result.out / 'data'}`",
        f"- run (config, scaler, checkpoints, metrics.csv, TensorBoard): `{result.run_dir}`",
        f"- evaluation report and plots: `{result.out / 'eval' / 'report.md'}`",
        f"- one plan toward a goal frame: `{result.out / 'plan.txt'}` (frames: plan_start.png, plan_goal.png)",
        "",
        "## Timings (s)",
        "",
    ]
    rows += [f"- {k}: {v:.1f}" for k, v in result.timings.items()]
    path = result.out / "README.md"
    path.write_text("\n".join(rows) + "\n")
    return path


def run_demo(out: str | Path, minutes: float = 4.0, seed: int = 0,
             recordings: int = DEMO_TRAIN_RECORDINGS, val_recordings: int = DEMO_VAL_RECORDINGS,
             seconds: float = DEMO_SECONDS) -> DemoResult:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    _say(f"1/5 writing {recordings + val_recordings} synthetic recordings of {seconds:.0f} s and packing shards")
    train_shards, val_shards = make_data(out, seed, recordings, val_recordings, seconds)
    lap("synth_and_pack")
    _say("2/5 fitting the action scaler on the training shards (jsonl only)")
    scaler = out / "scaler.json"
    fit_scaler(train_shards, scaler)
    lap("fit_scaler")
    steps = max(int(minutes * STEPS_PER_MINUTE), 20)
    run_dir = out / "run"
    _say(f"3/5 training the predictor for {steps} steps (about {minutes:g} min)")
    train_model(run_dir, train_shards, val_shards, scaler, steps, seed)
    lap("train")
    _say("4/5 evaluating on held-out recordings against the baselines, with offline planning")
    report = evaluate(run_dir, val_shards, out / "eval", seed)
    lap("eval")
    _say("5/5 planning from a held-out start frame toward its goal frame")
    plan_text = plan_once(run_dir, val_shards[0], out, seed)
    (out / "plan.txt").write_text(plan_text + "\n")
    lap("plan")
    result = DemoResult(out, run_dir, report, plan_text, timings)
    write_summary(result)
    return result
