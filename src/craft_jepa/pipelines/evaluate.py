"""`craft-jepa eval` composed: load the run once, refuse training data, encode held-out clips once,
score the metrics (eval/), plan between recorded frames (planning/), draw pictures when the run
has a decoder, write the report. A DROID model goes to pipelines/droid.py (same report layout).
The CLI stays a thin argument parser.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from craft_jepa.data.shards import expand_urls
from craft_jepa.eval.heldout import EvalConfig, encode_probe_fit_clips, encode_val_clips, evaluate_encoded
from craft_jepa.eval.overlap import check_keys, check_shards
from craft_jepa.eval.pictures import write_pictures
from craft_jepa.eval.report import write_report
from craft_jepa.hub import parse_hub_ref
from craft_jepa.pipelines.droid import DroidOptions, evaluate_droid_run, is_droid_model
from craft_jepa.planning.offline import OfflinePlanConfig, evaluate_planning
from craft_jepa.runs import layout
from craft_jepa.runs.decoder_files import load_run_decoder
from craft_jepa.runs.loading import load_run, run_data_source, run_training_shards


def default_eval_dir(model_ref: str) -> str:
    """Where `craft-jepa eval` writes by default: RUN_DIR/eval (EXPORT_DIR/eval), ./eval-ORG--NAME for
    a Hub repo id (never into the Hub cache), ./eval-STEM for a released predictor file."""
    if os.path.isfile(model_ref):
        return f"eval-{Path(model_ref).stem}"
    ref = parse_hub_ref(model_ref)
    return os.path.join(model_ref, layout.EVAL_DIR) if ref is None else f"eval-{ref.repo_id.replace('/', '--')}"


def evaluate_run(run_or_export_dir: str | os.PathLike[str], data: str | list[str],
                 out_dir: str | os.PathLike[str], eval_config: EvalConfig,
                 plan_config: OfflinePlanConfig | None, device: str = "cpu",
                 which: str = "best", encoder_checkpoint: str | None = None,
                 allow_train_data: bool = False, droid: DroidOptions | None = None) -> tuple[dict, dict[str, Path]]:
    """Evaluate, plan (when plan_config is given) and write the report; -> (report, paths).

    Data that overlaps the run's training shards or segments is refused
    (`eval.overlap.TrainingDataOverlap`) unless `allow_train_data`. A DROID model (a released
    predictor file, or a run / export with the droid7 layout) is evaluated on DROID path-list
    files by pipelines/droid.py, with `droid`'s settings, into the same report layout."""
    if is_droid_model(run_or_export_dir):
        return evaluate_droid_run(run_or_export_dir, data, out_dir, eval_config, plan_config, droid, device=device,
                                  which=which, encoder_checkpoint=encoder_checkpoint,
                                  allow_train_data=allow_train_data)
    start = time.perf_counter()
    run = load_run(run_or_export_dir, device, which, encoder_checkpoint)
    # run.source is the local folder (a Hub reference resolved once, in load_run), so the overlap
    # check reads the export's own record of its training data.
    urls = expand_urls(data)
    train = None if allow_train_data else run_training_shards(run.source)
    if train is not None:
        check_shards(run.source, train, urls)  # shared shards: refused before encoding
    clips = encode_val_clips(run, urls, eval_config)
    if train is not None:
        check_keys(train, clips.keys)  # the same recordings packed into other shards
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    # The probe fits on training clips (the run's own data, many segments); with training data
    # allowed as evaluation data, or none readable, it fits on half of the held-out segments.
    probe_fit = (None if train is None else
                 encode_probe_fit_clips(run, train, run_data_source(run.source), eval_config))
    probe_fit_s = time.perf_counter() - start
    report = evaluate_encoded(run, clips, eval_config, probe_fit)
    report["timings"]["encode_s"] = encode_s
    report["timings"]["probe_fit_encode_s"] = probe_fit_s
    if allow_train_data:  # for readers of the report (and an export's model card)
        report["held_out"] = "not checked (allow_train_data): the clips may come from the training data"
    elif train is None:
        report["held_out"] = "unknown: the run's training shards are not readable here"
    else:
        report["held_out"] = "checked: no shard or segment key shared with the training data"
    if plan_config is not None:
        start = time.perf_counter()
        report["planning"] = evaluate_planning(run, clips, plan_config, eval_config.progress)
        report["timings"]["planning_s"] = time.perf_counter() - start

    decoder = load_run_decoder(run)  # RUN_DIR/decoder/ or EXPORT_DIR/decoder.*: `craft-jepa decoder train`
    if decoder is not None:
        start = time.perf_counter()
        report["pictures"] = write_pictures(run, decoder, urls, Path(out_dir) / "pictures", seed=eval_config.seed,
                                            plan=_plan_example(report.get("planning"), clips))
        report["timings"]["pictures_s"] = time.perf_counter() - start
    return report, write_report(report, out_dir)


def _plan_example(planning: dict | None, clips) -> dict | None:
    """plan_strip's arguments for the planning report's example pair (None without planning)."""

    if not planning or "example" not in planning:
        return None
    example, t, k = planning["example"], planning["start_frame"], planning["horizon"]
    i = example["pair"]
    state = clips.states[i, t] if clips.states.shape[-1] else None
    return {"z_start": clips.z[i, t], "z_goal": clips.z[i, t + k], "state_start": state,
            "planned": torch.tensor(example["planned"]), "recorded": torch.tensor(example["recorded"])}
