"""The one home of every file name in a run directory and an export folder.

Written by train/ and pipelines/, read by runs/loading.py, eval/ and the API. A module that
needs a path of a run asks here instead of spelling the name:

    RUN_DIR/config.yaml                      resolved RunConfig (no ${ENV} left)
    RUN_DIR/scaler.json                      the ActionScaler of the run
    RUN_DIR/checkpoints/latest.pt            predictor, optimizer, schedule, step, RNG, data position
    RUN_DIR/checkpoints/best.pt              best validation loss
    RUN_DIR/checkpoints/step_XXXXXXXX.pt     every `checkpoint.every` steps
    RUN_DIR/metrics.csv, RUN_DIR/tb/         logs
    RUN_DIR/eval/report.json + report.md     `craft-jepa eval`, with plots and pictures/
    RUN_DIR/decoder/                         the pixel decoder's own run + decoder.safetensors/json

    EXPORT_DIR/predictor.safetensors + craft_jepa.json   weights + configs and scaler
    EXPORT_DIR/README.md                      model card
    EXPORT_DIR/eval/                          the run's eval report, when there is one
    EXPORT_DIR/decoder.safetensors + decoder.json, rollout.png, counterfactual.png, plan.png
"""

from __future__ import annotations

import os
from pathlib import Path

# ------------------------------------------------------------------ run directory
CONFIG_FILE = "config.yaml"
SCALER_FILE = "scaler.json"
CHECKPOINT_DIR = "checkpoints"
LATEST = "latest.pt"
BEST = "best.pt"
METRICS_CSV = "metrics.csv"
TENSORBOARD_DIR = "tb"
EVAL_DIR = "eval"  # RUN_DIR/eval/ and EXPORT_DIR/eval/: report.json, report.md, plots
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PICTURES_DIR = "pictures"  # inside EVAL_DIR or DECODER_DIR
DECODER_DIR = "decoder"  # RUN_DIR/decoder/: the decoder's own run and files

# ------------------------------------------------------------------ export folder
WEIGHTS_FILE = "predictor.safetensors"
META_FILE = "craft_jepa.json"
CARD_FILE = "README.md"

# ------------------------------------------------------------------ pixel decoder (in either)
DECODER_WEIGHTS = "decoder.safetensors"
DECODER_META = "decoder.json"
PICTURE_NAMES = ("rollout.png", "counterfactual.png", "plan.png")


def step_file_name(step: int) -> str:
    """checkpoints/step_XXXXXXXX.pt of an optimizer step."""
    return f"step_{step:08d}.pt"


def checkpoint_dir(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path:
    return checkpoint_dir(run_dir) / LATEST


def config_path(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / CONFIG_FILE


def eval_report(run_dir: str | os.PathLike[str]) -> Path:
    return Path(run_dir) / EVAL_DIR / REPORT_JSON


def is_export(folder: str | os.PathLike[str]) -> bool:
    return (Path(folder) / META_FILE).is_file()


def is_run(folder: str | os.PathLike[str]) -> bool:
    return checkpoint_dir(folder).is_dir()
