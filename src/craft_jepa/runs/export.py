"""Export a trained run: EXPORT_DIR/predictor.safetensors + craft_jepa.json + model card.

EXPORT_DIR/predictor.safetensors   predictor weights only
EXPORT_DIR/craft_jepa.json         encoder, predictor and clip configs, the action scaler, training data
EXPORT_DIR/README.md               model card (runs/model_card.py)
EXPORT_DIR/eval/                   the run's `craft-jepa eval` report (report.json, report.md, plots)
EXPORT_DIR/decoder.*, *.png        the pixel decoder and its pictures, when the run has one

An export reads back through `runs.loading.load_exported`, like a run folder. A relative
`encoder.checkpoint` in craft_jepa.json is relative to the export folder (see runs/loading.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from safetensors.torch import save_file

from craft_jepa.configuration import config_to_dict
from craft_jepa.runs import layout
from craft_jepa.runs.decoder_files import copy_decoder
from craft_jepa.runs.loading import EXPORT_FORMAT, EXPORT_VERSION, load_exported, read_export_meta, resolve_source
from craft_jepa.runs.model_card import training_summary, write_card


def copy_report(report: str | os.PathLike[str], out_dir: Path) -> Path:
    """Copy a `craft-jepa eval` report (report.json, or its folder) with report.md and plots into
    OUT_DIR/eval/."""
    source = Path(report)
    source = source / layout.REPORT_JSON if source.is_dir() else source
    try:
        parsed = json.loads(source.read_text(encoding="utf-8"))
    except OSError as err:
        raise FileNotFoundError(f"evaluation report {source}: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(parsed, dict) or "headline" not in parsed:
        raise ValueError(f"{source}: not a craft-jepa eval report.json (no 'headline')")
    target = out_dir / layout.EVAL_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in [layout.REPORT_JSON, layout.REPORT_MD, *sorted(p.name for p in source.parent.glob("*.png"))]:
        if (source.parent / name).is_file() and (source.parent / name).resolve() != (target / name).resolve():
            shutil.copyfile(source.parent / name, target / name)
    return target / layout.REPORT_JSON


def export_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], which: str | int = "best", *,
               encoder_checkpoint: str | os.PathLike[str] | None = None,
               report: str | os.PathLike[str] | None = None, repo_id: str | None = None) -> Path:
    """Write EXPORT_DIR/predictor.safetensors + craft_jepa.json + README.md from a run's checkpoint.

    `encoder_checkpoint`: the encoder weights path to record instead of the run's; a path inside
    OUT_DIR is recorded relative to it, so the export folder can be moved or copied whole.
    `report`: a `craft-jepa eval` report.json (or its folder) for the model card; default
    RUN_DIR/eval/report.json when it exists. `repo_id`: the Hub repo the card's examples name."""
    run_dir = resolve_source(run_dir)  # an export on the Hub may be exported again
    model = load_exported(run_dir, which, encoder_checkpoint=encoder_checkpoint)
    training = training_summary(run_dir, model.step)
    if layout.is_export(run_dir):  # re-exporting an export keeps what it knew
        training = read_export_meta(run_dir / layout.META_FILE).get("training") or training
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if encoder_checkpoint is not None:
        weights = Path(model.encoder.checkpoint)
        if weights.is_relative_to(out.resolve()):
            model.encoder = dataclasses.replace(model.encoder, checkpoint=str(weights.relative_to(out.resolve())))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.predictor_state.items()}
    save_file(tensors, str(out / layout.WEIGHTS_FILE), metadata={"format": EXPORT_FORMAT})
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "step": model.step,
        "source": str(run_dir.resolve()),
        "encoder": config_to_dict(model.encoder),
        "predictor": config_to_dict(model.predictor),
        "clip": config_to_dict(model.clip),
        "scaler": model.scaler.to_dict(),
        "training": training,
    }
    (out / layout.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if report is None and layout.eval_report(run_dir).is_file():
        report = layout.eval_report(run_dir)
    if report is not None:
        copy_report(report, out)
    copy_decoder(run_dir, out)  # the pixel decoder + its pictures, when the run has one
    write_card(out, repo_id)
    return out
