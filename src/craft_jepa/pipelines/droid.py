"""`craft-jepa eval` and `craft-jepa plan` on a DROID world model: Meta's released AC predictor (a
file laid out like `vjepa2-ac-vitg.pt`) or a craft-jepa run / export whose action layout is
`droid7` (every `data.source: droid` run). `is_droid_model` is what both commands dispatch on
(pipelines/evaluate.py, cli/plan.py), so a user has one command for either kind of model.

- `evaluate_droid_run`: load the model once, refuse a run's training trajectories, encode
  held-out clips (a path-list file) once, score them against the baselines with the sensitivity
  per action dimension (eval/droid.py), plan between recorded frames against the recorded
  actions (planning/droid_offline.py), write report.json / report.md / plots (eval/report.py:
  the VPT evaluation's layout).
- `plan_droid_clip`: plan on one recorded trajectory, `DIR:T:K` (planning/droid_trajectory.py).

The VPT commands' planning settings (`OfflinePlanConfig`, `CEMConfig`) are taken as they are and
mapped onto CEM over the end effector as Meta's notebook runs it; a setting that only means
something for VPT actions is refused, not ignored. The DROID modules need the optional `droid`
extra (h5py, scipy), so they are imported inside the functions: VPT evaluation runs without it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from craft_jepa.data.droid_config import CAMERA_VIEWS, DroidConfig, read_path_list
from craft_jepa.eval.heldout import EvalConfig
from craft_jepa.eval.overlap import check_trajectories
from craft_jepa.eval.report import write_report
from craft_jepa.models.released import ReleasedModelSpec
from craft_jepa.planning.action_space import ActionSpaceConfig
from craft_jepa.planning.cem import CEMConfig
from craft_jepa.planning.offline import OfflinePlanConfig
from craft_jepa.runs.loading import recorded_action_layout, resolve_source, run_training_shards


@dataclass
class DroidOptions:
    """What only a DROID model needs beside the VPT commands' settings."""

    released: ReleasedModelSpec = field(default_factory=ReleasedModelSpec)  # for a bare predictor file
    maxnorm: float = 0.05  # CEM's largest xyz step in metres (Meta's notebook)
    camera_view: str = "left_mp4_path"  # the view whose frames are encoded

    def __post_init__(self) -> None:
        if self.camera_view not in CAMERA_VIEWS:
            raise ValueError(f"camera view {self.camera_view!r} must be one of {CAMERA_VIEWS}")
        if not self.maxnorm > 0:
            raise ValueError(f"maxnorm must be > 0 metres, got {self.maxnorm}")


def is_droid_model(model: str | os.PathLike[str]) -> bool:
    """A released-layout predictor file, or a run / export whose action layout is droid7."""
    return Path(model).is_file() or recorded_action_layout(model) == "droid7"


def droid_cem(cem: CEMConfig, options: DroidOptions):
    """The VPT planner's CEM settings as CEM over the end effector (DroidCEMConfig)."""
    from craft_jepa.planning.droid import DroidCEMConfig  # optional `droid` extra (scipy)

    return DroidCEMConfig(horizon=cem.horizon, samples=cem.samples, top_k=cem.top_k, iterations=cem.iterations,
                          momentum_mean=cem.momentum, momentum_std=cem.momentum,
                          momentum_mean_gripper=cem.momentum, momentum_std_gripper=cem.momentum,
                          maxnorm=options.maxnorm, seed=cem.seed)


def droid_plan_config(plan: OfflinePlanConfig, options: DroidOptions, margin: float):
    """`craft-jepa eval`'s planning settings -> DroidOfflinePlanConfig; VPT-only ones are refused."""
    from craft_jepa.planning.droid_offline import DroidOfflinePlanConfig  # optional `droid` extra

    if plan.action_space != ActionSpaceConfig():
        raise ValueError(f"VPT planning settings ({plan.action_space}) choose VPT actions; a DROID model plans the "
                         "end effector's xyz and gripper as Meta's notebook does (leave --plan-features, --camera "
                         "and --camera-prior out)")
    if plan.energy != "last":
        raise ValueError(f"energy {plan.energy!r}: DROID planning scores the last predicted frame, as Meta's notebook")
    return DroidOfflinePlanConfig(pairs=plan.pairs, start_frame=plan.start_frame, cem_seeds=plan.cem_seeds,
                                  landscape_points=plan.landscape_points, margin=margin,
                                  cem=droid_cem(plan.cem, options))


def path_list_directories(data: str | list[str]) -> list[str]:
    """The trajectory directories of one or more DROID path-list files, in order."""
    return [d for spec in ([data] if isinstance(data, str) else data) for d in read_path_list(spec)]


def _held_out(model_ref: str | os.PathLike[str], released: bool, directories: list[str], allow_train_data: bool) -> str:
    """Refuse a run's training trajectories (TrainingDataOverlap); -> what the report says about it."""
    if allow_train_data:
        return "not checked (allow_train_data): the clips may come from the training data"
    if released:
        return "unknown: a released predictor file does not say what it trained on (Meta's: DROID itself)"
    train = run_training_shards(model_ref)
    if train is None:
        return "unknown: the run's training trajectories are not readable here"
    check_trajectories(model_ref, train, directories)
    return "checked: no trajectory directory shared with the training data"


def evaluate_droid_run(model_ref: str | os.PathLike[str], data: str | list[str], out_dir: str | os.PathLike[str],
                       eval_config: EvalConfig, plan_config: OfflinePlanConfig | None,
                       options: DroidOptions | None = None, device: str = "cpu", which: str = "best",
                       encoder_checkpoint: str | None = None, allow_train_data: bool = False) -> tuple[dict, dict]:
    """`craft-jepa eval` on a DROID model (see the module docstring); -> (report, written paths)."""
    # optional `droid` extra (h5py, scipy)
    from craft_jepa.eval.droid import encode_droid_clips, evaluate_droid, load_droid_model
    from craft_jepa.planning.droid_offline import evaluate_droid_planning

    options = options or DroidOptions()
    planning = None if plan_config is None else droid_plan_config(plan_config, options, eval_config.margin)
    start = time.perf_counter()
    directories = path_list_directories(data)
    released = Path(model_ref).is_file()
    # refused before the (ViT-g sized) model is built; a Hub id is resolved to its local folder
    held_out = _held_out(model_ref if released else str(resolve_source(model_ref)), released, directories,
                         allow_train_data)
    model = load_droid_model(os.fspath(model_ref), options.released, which=which,
                             encoder_checkpoint=encoder_checkpoint, device=device)
    clips = encode_droid_clips(model, DroidConfig(camera_views=[options.camera_view]), directories, eval_config)
    encode_s = time.perf_counter() - start
    report = evaluate_droid(model, clips, eval_config)
    report["timings"]["encode_s"] = encode_s
    report["held_out"] = held_out
    if model.load_report:
        report["load_report"] = model.load_report
    if planning is not None:
        start = time.perf_counter()
        report["planning"] = evaluate_droid_planning(model, clips, planning, eval_config.progress)
        report["timings"]["planning_s"] = time.perf_counter() - start
    return report, write_report(report, out_dir)


def parse_trajectory_clip(spec: str) -> tuple[str, int, int]:
    """`DIR:T:K` -> (trajectory directory, start video frame T, horizon K in sampled frames)."""
    try:
        directory, t_text, k_text = spec.rsplit(":", 2)
        t, k = int(t_text), int(k_text)
    except ValueError:
        raise ValueError(f"--clip {spec!r} must look like TRAJECTORY_DIR:T:K for a DROID model "
                         "(T: video frame of the start, K: planned steps)") from None
    if t < 0 or k < 1:
        raise ValueError(f"--clip {spec!r}: need T >= 0 and K >= 1")
    return directory, t, k


def plan_droid_clip(model_ref: str | os.PathLike[str], clip: str, cem: CEMConfig,
                    out_dir: str | os.PathLike[str] | None = None, options: DroidOptions | None = None,
                    landscape_points: int = 21, device: str = "cpu", which: str = "best",
                    encoder_checkpoint: str | None = None) -> dict:
    """`craft-jepa plan MODEL --clip DIR:T:K` on a DROID model: K steps (cem.horizon is replaced by K)
    from video frame T to the sampled frame K steps later; writes OUT/plan.json and
    OUT/energy_landscape.png (OUT default ./plan-<trajectory name>) and returns plan.json's content
    (planned and recorded actions, the energy of each and of no motion, `out_dir`)."""
    # optional `droid` extra (h5py, scipy)
    from craft_jepa.eval.droid import load_droid_model
    from craft_jepa.planning.droid_trajectory import TrajectoryPlanSetup, plan_on_trajectory

    options = options or DroidOptions()
    directory, start, horizon = parse_trajectory_clip(clip)
    out_dir = out_dir if out_dir is not None else f"plan-{Path(directory).name}"
    setup = TrajectoryPlanSetup(trajectory=directory, camera_view=options.camera_view, start=start,
                                landscape_points=landscape_points)
    model = load_droid_model(os.fspath(model_ref), options.released, which=which,
                             encoder_checkpoint=encoder_checkpoint, device=device)
    result = plan_on_trajectory(model, setup, droid_cem(replace(cem, horizon=horizon), options), out_dir)
    result["out_dir"] = os.fspath(out_dir)
    if model.load_report:
        result["load_report"] = model.load_report
    return result
