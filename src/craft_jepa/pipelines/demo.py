"""`craft-jepa demo`: the whole pipeline on a laptop CPU, on synthetic VPT recordings or on the
user's own VPT-format shards (`--train-data SPEC --heldout-data SPEC`: the small-scale recipe).

Each stage calls the same code the real commands use; only the sizes are tiny:

1. data      synthetic VPT recordings (H.264 640x360 mp4 + jsonl) packed into shards; or the
             user's shards, checked before any work (data/shard_survey.py: usable segments,
             enough of them, nothing shared with the held-out data)
2. scaler    action standardization fitted on the training shards' jsonl only
   pretrain  (`--pretrain`) V-JEPA pre-training of the toy encoder on the training recordings
             (configs/pretrain-tiny-engine.yaml); the rest of the recipe freezes that encoder
3. encode    the feature cache: every training window encoded once by the frozen encoder
4. train     the predictor of configs/tiny-world-model.yaml from the cached features
5. eval      held-out latent prediction vs copy-last / mean / zeroed / shuffled-action baselines,
             action sensitivity, the inverse-dynamics probe, offline CEM planning over seeds
6. plan      one start frame -> goal frame plan, printed in VPT terms

`ToyWorld` holds the sizes; the bar tests (tests/eval, tests/planning) and
benchmarks/planning_grid.py run these same functions with the same preset.
Everything lands under OUT; OUT/README.md says where.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from craft_jepa.api import WorldModel
from craft_jepa.configuration import load_config
from craft_jepa.data.fit_scaler import FitScalerConfig, fit_action_scaler
from craft_jepa.data.loader import build_val_loader
from craft_jepa.data.shard_survey import check_recipe_data
from craft_jepa.data.synth import write_synth_dataset
from craft_jepa.eval.heldout import EvalConfig
from craft_jepa.eval.report import headline_lines, planning_table
from craft_jepa.pipelines.demo_pictures import draw_pictures, summary_lines
from craft_jepa.pipelines.encode_features import EncodeConfig, encode_features
from craft_jepa.pipelines.evaluate import evaluate_run
from craft_jepa.planning.action_space import ActionSpace
from craft_jepa.planning.cem import CEMConfig
from craft_jepa.planning.offline import OfflinePlanConfig
from craft_jepa.train.config import RunConfig
from craft_jepa.train.loop import train
from craft_jepa.vpt.actions import SOURCE_FPS


@dataclass(frozen=True)
class ToyWorld:
    """Data sizes of the demo and the bar tests. Held-out recordings have other seeds than the
    training ones; each gives `windows_per_heldout` evaluation clips (>= 8 segments and >= 40
    turning pairs, so that a planning score rests on enough pairs)."""

    train_recordings: int = 48  # 16 gave lower held-out ratios and, on seed 0, worse planning (docs/world-model.md)
    train_seconds: float = 20.0
    heldout_recordings: int = 36
    heldout_seconds: float = 6.0
    windows_per_heldout: int = 2
    heldout_seed_offset: int = 1000  # held-out recordings use seeds seed + offset + i

    @property
    def eval_clips(self) -> int:
        return self.heldout_recordings * self.windows_per_heldout


@dataclass(frozen=True)
class DemoData:
    """The shards a demo run reads and how held-out clips are cut from them."""

    train_shards: list[str]
    heldout: list[str]
    eval_clips: int
    windows_per_heldout: int
    description: str  # for the summary: where the recordings come from
    # Frame grids the training feature cache takes from each segment (data.feature_format):
    # 1 takes the windows starting on the 5 fps grid from tick 0; the user's footage is finite,
    # so the recipe takes every window of it (all 20 / fps tick offsets: on ViZDoom footage
    # that cut the planning camera error from 1.11 to 0.92 x planning no motion,
    # docs/world-model.md). The synthetic world generates as much footage as it needs.
    train_phases: int = 1

    @classmethod
    def synthetic(cls, train: list[str], heldout: list[str], world: ToyWorld) -> DemoData:
        return cls(train, heldout, world.eval_clips, world.windows_per_heldout,
                   f"{world.train_recordings} synthetic training recordings of {world.train_seconds:g} s and "
                   f"{world.heldout_recordings} held-out ones of {world.heldout_seconds:g} s (data/synth.py)")


# Held-out clips a recipe run on the user's data evaluates (and plans between): >= 60 turning
# pairs need about this many clips on footage that turns as players do.
USER_EVAL_CLIPS = 96


def user_data(train_spec: str | list[str], heldout_spec: str | list[str],
              min_eval_clips: int = USER_EVAL_CLIPS) -> DemoData:
    """The user's VPT-format shards, refused (data.shard_survey.DataRefused, naming the shard)
    before any work when the recipe cannot use them; enough windows per held-out segment for
    `min_eval_clips` evaluation clips."""
    cfg = _config([])
    checked = check_recipe_data(train_spec, heldout_spec, cfg.clip, min_train_windows=cfg.data.batch_size)
    segments = len(checked.heldout_segments)
    windows = -(-min_eval_clips // segments)  # ceil: every held-out segment gives the same number
    description = (f"{len(checked.train_segments)} training segments ({checked.train_seconds() / 60:.1f} min) "
                   f"in {len(checked.train_shards)} shard(s) and {segments} held-out segments in "
                   f"{len(checked.heldout_shards)} shard(s), the user's recordings")
    every_tick = int(SOURCE_FPS // cfg.clip.fps)  # the tick stride: every window of the footage
    return DemoData(checked.train_shards, checked.heldout_shards, segments * windows, windows, description,
                    train_phases=every_tick)


@dataclass
class DemoResult:
    out: Path
    run_dir: Path
    report: dict
    plan_text: str
    timings: dict[str, float] = field(default_factory=dict)
    data_description: str = ""
    pretrained_encoder: Path | None = None  # the pre-training checkpoint the recipe froze, if any


def preset_path(name: str = "tiny-world-model.yaml") -> Path:
    """A preset shipped inside the package (the repo's configs/ points there)."""
    return Path(str(resources.files("craft_jepa") / "configs" / name))


def toy_cem():
    """The CEM settings of the demo and the bar tests (see `evaluate`)."""

    return CEMConfig(horizon=2, samples=200, top_k=10, iterations=6)


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


SYNTH_WORKERS = 2


def make_data(out: Path, seed: int, world: ToyWorld = ToyWorld()) -> tuple[list[str], list[str]]:
    """Synthetic recordings -> (train shard paths, held-out shard paths), one segment per shard."""

    # Two writer processes: the files do not depend on the count (data/synth.py).
    train = write_synth_dataset(str(out / "data" / "train"), seconds=(world.train_seconds,) * world.train_recordings,
                                seed=seed, per_shard=1, workers=SYNTH_WORKERS)
    heldout = write_synth_dataset(str(out / "data" / "heldout"),
                                  seconds=(world.heldout_seconds,) * world.heldout_recordings,
                                  seed=seed + world.heldout_seed_offset, per_shard=1, workers=SYNTH_WORKERS)
    return sorted(train.shard_urls), sorted(heldout.shard_urls)


def fit_scaler(train_shards: list[str], path: Path) -> None:
    result = fit_action_scaler(FitScalerConfig(data=train_shards, layout="vpt38", fps=5.0, val_fraction=0.0))
    result.scaler.save(str(path))


def _config(overrides: list[str], features: Path | str = "unset"):
    """The preset with `overrides`; ${VPT_FEATURES_PATH} stands for `features`."""

    return load_config(RunConfig, str(preset_path()), overrides, env={"VPT_FEATURES_PATH": str(features)})


def shortened(steps: int, decay_percent: int) -> list[str]:
    """Overrides that shorten a preset to `steps` and keep its shape: a warm-up, a decay over the
    last `decay_percent` % of the steps, 4 validations and checkpoints, one kept at the end."""

    quarter = max(steps // 4, 1)
    return [f"schedule.total_steps={steps}", f"schedule.warmup_steps={min(20, steps // 10)}",
            f"schedule.decay_steps={max(steps * decay_percent // 100, 1)}", f"validation.every={quarter}",
            f"checkpoint.latest_every={quarter}", f"checkpoint.every={steps}"]


PRETRAIN_PRESET = "pretrain-tiny-engine.yaml"


def pretrain_encoder(train_shards: list[str], val_shards: list[str], run_dir: Path, seed: int,
                     overrides: list[str] = (), steps: int | None = None) -> Path:
    """V-JEPA pre-training of the world model's encoder on `train_shards` (the packaged
    pretrain-tiny-engine.yaml; `overrides`' encoder and clip size apply, so the encoder pre-trained
    is the one the recipe then freezes); -> the checkpoint to give as `encoder.checkpoint`.
    `val_shards` only log the validation loss, target std and effective rank (nothing is
    selected on them: keep_best is off), so a collapse shows in RUN_DIR/metrics.csv."""

    recipe = _config(list(overrides))
    settings = [f"run_dir={run_dir}", f"seed={seed}", "data.val_fraction=0.0"]
    if steps is not None:
        settings += shortened(steps, decay_percent=6)  # the preset decays over its last 6 %
    cfg = load_config(RunConfig, str(preset_path(PRETRAIN_PRESET)), settings, env={"VPT_DATA_PATH": "unset"})
    cfg = replace(cfg, encoder=recipe.encoder, clip=replace(cfg.clip, size=recipe.clip.size),
                  data=replace(cfg.data, train_shards=list(train_shards), val_shards=list(val_shards)))
    train(cfg, single_process=True)
    return run_dir / "checkpoints" / "latest.pt"


def encode_cache(shards: list[str], out: Path, windows: str, seed: int = 0, overrides: list[str] = (),
                 phases: int = 1) -> Path:
    """The feature cache of `shards` under OUT (fp32 tokens: training then sees exactly the
    latents a video run would); -> its folder. `overrides` (`encoder.checkpoint=...`, say) must
    also be given to `train_model`."""

    cfg = _config(list(overrides), features=out)  # only its clip and encoder sections matter here
    encode_features(cfg.clip, cfg.encoder, EncodeConfig(
        data=shards, out=str(out / "features-{000000..}.tar"), windows=windows, dtype="fp32", seed=seed,
        workers=0, progress=False, phases=phases))
    return out


def train_model(run_dir: Path, train_features: Path, val_features: Path, scaler: Path, seed: int,
                extra: list[str] = ()) -> None:
    """Train the preset's predictor from the feature cache (`extra`: more `key=value` overrides)."""

    overrides = [
        f"run_dir={run_dir}",
        f"seed={seed}",
        f"predictor.init_seed={seed}",
        f"data.train_shards={train_features}",
        f"data.val_shards={val_features}",
        f"data.scaler={scaler}",
        *extra,
    ]
    train(_config(overrides), single_process=True)


def evaluate(run_dir: Path, heldout: list[str], out: Path, seed: int, world: ToyWorld = ToyWorld(),
             cem_seeds: tuple[int, ...] = (0, 1, 2), progress: bool = True,
             clips: int | None = None, windows_per_segment: int | None = None) -> dict:
    """Held-out evaluation and offline planning (camera planned, horizon 2), as `craft-jepa eval`.
    `clips` / `windows_per_segment` default to the toy world's held-out sizes.

    CEM draws 200 samples for 6 iterations (V-JEPA 2-AC: 400 for 10): planning the camera alone
    searches 2 angles x 2 steps, where the smaller search scored the same (docs/world-model.md)."""

    clips = world.eval_clips if clips is None else clips
    windows = world.windows_per_heldout if windows_per_segment is None else windows_per_segment
    eval_cfg = EvalConfig(clips=clips, windows_per_segment=windows, seed=seed, progress=progress)
    plan_cfg = OfflinePlanConfig(pairs=clips, min_yaw_deg=2.0, cem_seeds=cem_seeds, cem=toy_cem())
    report, _ = evaluate_run(run_dir, heldout, out, eval_cfg, plan_cfg, which="latest")
    return report


def plan_once(run_dir: Path, val_shard: str, out: Path, seed: int) -> tuple[str, np.ndarray]:
    """Plan from frame 0 to frame 2 of one held-out clip -> (the printed comparison, the planned raw
    actions (2, A)), which the picture step draws rather than planning the same pair again."""
    import matplotlib  # heavy (about 0.5 s): only this picture needs it; Agg draws without a display

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = WorldModel.from_pretrained(run_dir)
    clip_cfg = model.run.clip
    batch = next(iter(build_val_loader(clip_cfg, [val_shard], batch_size=1, num_workers=0,
                                       max_clips=1, seed=seed)))
    rgb = model.run.to_rgb(batch["frames"][0])  # (T, 3, H, W) in [0, 1]
    images = {}
    for name, index in (("start", 0), ("goal", 2)):
        images[name] = rgb[index].permute(1, 2, 0).numpy()  # (H, W, 3)
        plt.imsave(out / f"plan_{name}.png", images[name])
    # The hotbar slot and GUI flag are what the start frame shows: hold them (and only them, keys
    # stay 0) while planning the camera.

    space = ActionSpace.from_layout(model.run.action_layout, model.run.scaler)
    plan = model.plan(images["start"], images["goal"], horizon=2, seed=seed, samples=200, iterations=6,
                      hold=space.hold_from(batch["actions"][0, 0]))
    recorded = model.describe(batch["actions"][0, :2])
    lines = ["planned (CEM, horizon 2):", plan.describe(), "recorded:"]
    lines += [f"  step {i}: " + json.dumps(step) for i, step in enumerate(recorded)]
    return "\n".join(lines), np.asarray(plan.actions)


def write_summary(result: DemoResult) -> Path:
    rows = [
        "# craft-jepa demo results",
        "",
        f"Data: {result.data_description}.",
        "",
        "The `configs/tiny-world-model.yaml` predictor over a frozen "
        + ("random-weight `vit_tiny` encoder" if result.pretrained_encoder is None else
           f"`vit_tiny` encoder pre-trained on the training recordings (`{result.pretrained_encoder}`; its "
           "log with target std and effective rank: `metrics.csv` beside `checkpoints/`)")
        + ", trained on CPU from the feature cache. Ratios are "
        "baseline / model latent L1 with 95 % bootstrap intervals over held-out clips.",
        "",
        "```",
        *headline_lines(result.report),
        "```",
        "",
    ]
    if "planning" in result.report:
        rows += ["## Offline planning", "", *planning_table(result.report["planning"])]
    rows += [
        "## Where things are",
        "",
        f"- the feature cache: `{result.out / 'features'}` (synthetic recordings and shards: `{result.out / 'data'}`)",
        f"- run (config, scaler, checkpoints, metrics.csv, TensorBoard): `{result.run_dir}`",
        *([] if result.pretrained_encoder is None else
          [f"- the encoder's pre-training run (config, checkpoints, metrics.csv): `{result.pretrained_encoder.parent.parent}`"]),
        f"- evaluation report and plots: `{result.out / 'eval' / 'report.md'}`",
        f"- one plan toward a goal frame: `{result.out / 'plan.txt'}` (frames: plan_start.png, plan_goal.png)",
        f"- what the model imagines (pixel decoder: `{result.run_dir / 'decoder'}`): strips, counterfactuals and "
        f"the plan's imagined end in `{result.out / 'eval' / 'pictures'}` (shown below and in the report)",
        "",
        "## Timings (s)",
        "",
    ]
    rows += [f"- {k}: {v:.1f}" for k, v in result.timings.items()]

    rows += ["", *summary_lines(result.out)]
    path = result.out / "README.md"
    path.write_text("\n".join(rows) + "\n")
    return path


# Torch threads of the whole demo: float rounding, and so the trained weights, depend on the
# thread count, and the demo must give the same numbers on every machine.
DEMO_THREADS = 2


def run_demo(out: str | Path, seed: int = 0, steps: int | None = None, world: ToyWorld = ToyWorld(),
             threads: int = DEMO_THREADS, data: DemoData | None = None, overrides: tuple[str, ...] = (),
             pretrain: bool = False, pretrain_steps: int | None = None) -> DemoResult:
    """The whole pipeline; `steps` overrides the preset's training length. `data`: the user's
    shards (`user_data`, checked before this is called); None: synthetic recordings of `world`.
    `overrides`: `key=value` settings of the preset (encoder and predictor too: the feature cache
    is encoded with them), e.g. ("encoder.name=vit_tiny_p8", "predictor.grid_size=8").
    `pretrain`: pre-train the encoder on the training recordings first (`pretrain_encoder`,
    `pretrain_steps` shortening it) and freeze that one instead of random weights."""

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_demo(Path(out).resolve(), seed, steps, world, data, list(overrides),
                         pretrain, pretrain_steps)
    finally:
        torch.set_num_threads(previous)


def _run_demo(out: Path, seed: int, steps: int | None, world: ToyWorld, data: DemoData | None,
              overrides: list[str], pretrain: bool, pretrain_steps: int | None) -> DemoResult:
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    if data is None:
        _say(f"1/6 writing {world.train_recordings} training and {world.heldout_recordings} held-out "
             "synthetic recordings and packing shards")
        data = DemoData.synthetic(*make_data(out, seed, world), world)
        lap("synth_and_pack")
    else:
        _say(f"1/6 your data: {data.description}")
    train_shards, heldout = data.train_shards, data.heldout
    _say("2/6 fitting the action scaler on the training shards (jsonl only)")
    scaler = out / "scaler.json"
    fit_scaler(train_shards, scaler)
    lap("fit_scaler")
    checkpoint = None
    if pretrain:
        _say("   pre-training the encoder on the training recordings (V-JEPA, configs/pretrain-tiny-engine.yaml)")
        checkpoint = pretrain_encoder(train_shards, heldout, out / "pretrain", seed, overrides, pretrain_steps)
        overrides = [*overrides, f"encoder.checkpoint={checkpoint}"]  # encode, train and eval freeze it
        lap("pretrain")
    _say("3/6 encoding every training window once with the frozen encoder (the feature cache)")
    train_features = encode_cache(train_shards, out / "features" / "train", "all", overrides=overrides,
                                  phases=data.train_phases)
    val_features = encode_cache(heldout, out / "features" / "heldout", "val", overrides=overrides)
    lap("encode")
    run_dir = out / "run"
    extra = [*overrides, *([] if steps is None else shortened(steps, decay_percent=15))]
    _say(f"4/6 training the predictor from the cached features ({_config(extra).schedule.total_steps} steps)")
    train_model(run_dir, train_features, val_features, scaler, seed, extra)
    lap("train")
    _say("5/6 evaluating on held-out recordings against the baselines, with offline planning")
    report = evaluate(run_dir, heldout, out / "eval", seed, world, clips=data.eval_clips,
                      windows_per_segment=data.windows_per_heldout)
    lap("eval")
    _say("6/6 planning from a held-out start frame toward its goal frame")
    plan_text, planned = plan_once(run_dir, heldout[0], out, seed)
    (out / "plan.txt").write_text(plan_text + "\n")
    lap("plan")
    _say("then: training the pixel decoder and drawing what the model imagines (eval/pictures/)")

    draw_pictures(run_dir, train_shards, heldout, out / "eval", report, seed,
                  steps=None if steps is None else max(steps, 20), planned=planned)
    lap("pictures")
    result = DemoResult(out, run_dir, report, plan_text, timings, data.description, checkpoint)
    write_summary(result)
    return result
