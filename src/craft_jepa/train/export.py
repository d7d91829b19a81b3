"""Export a trained predictor (safetensors + craft_jepa.json) and load runs or exports.

EXPORT_DIR/predictor.safetensors   predictor weights only
EXPORT_DIR/craft_jepa.json         encoder, predictor and clip configs, the action scaler

`load_exported(path, which)` reads either an export folder or a run folder
(RUN_DIR/checkpoints/{best,latest,step_XXXXXXXX}.pt) into the same `ExportedModel`.

The encoder weights are not copied into an export; `encoder.checkpoint` names them. So that an
export is not tied to the training cluster's paths:
- a RELATIVE `encoder.checkpoint` in craft_jepa.json is relative to the export folder
  (`export_run(..., encoder_checkpoint=OUT_DIR/encoder.pt)` records "encoder.pt"), so a
  folder holding both moves as one;
- `load_exported(..., encoder_checkpoint=PATH)` (and `WorldModel.from_pretrained`,
  `craft-jepa eval|plan --encoder-checkpoint`) points any export or run at moved weights.
- `encoder.checkpoint` may be a Hub reference (`hf://org/name[@rev]`, craft_jepa.hub): it is
  kept as written, and resolved through the Hub cache when the encoder is built.

An export folder may itself be on the Hub: `load_exported("org/name")` (or `hf://org/name@rev`)
reads the repo's snapshot from the Hugging Face cache, downloading it when allowed.

Every export also holds its model card, EXPORT_DIR/README.md (train/model_card.py), and, when
the run was evaluated, the evaluation report in EXPORT_DIR/eval/ (report.json, report.md, plots).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from craft_jepa.configuration import ConfigError, build_config, config_to_dict
from craft_jepa.data.clips import ClipConfig
from craft_jepa.encoders import EncoderConfig
from craft_jepa.models import PredictorConfig
from craft_jepa.train.checkpoint import BEST, LATEST, load_checkpoint, require_keys, step_file_name
from craft_jepa.vpt.scaler import ActionScaler

log = logging.getLogger(__name__)

EXPORT_FORMAT = "craft-jepa-export"
EXPORT_VERSION = 1
WEIGHTS_FILE = "predictor.safetensors"
META_FILE = "craft_jepa.json"


@dataclass
class ExportedModel:
    encoder: EncoderConfig
    predictor: PredictorConfig
    clip: ClipConfig
    scaler: ActionScaler
    predictor_state: dict[str, torch.Tensor]
    step: int | None = None  # optimizer step of the source checkpoint, when known


def _checkpoint_path(run_dir: Path, which: str | int) -> Path:
    folder = run_dir / "checkpoints"
    if isinstance(which, int) or str(which).isdigit():
        return folder / step_file_name(int(which))
    if which == "best":
        if (folder / BEST).is_file():
            return folder / BEST
        log.warning("%s has no best.pt (validation off?); using latest.pt", folder)
        return folder / LATEST
    if which == "latest":
        return folder / LATEST
    return folder / (which if str(which).endswith(".pt") else f"{which}.pt")


def _from_parts(config: dict[str, Any], scaler: dict[str, Any], state: dict[str, torch.Tensor],
                source: str, step: int | None) -> ExportedModel:
    try:
        encoder = build_config(EncoderConfig, config["encoder"], "encoder")
        predictor = build_config(PredictorConfig, config["predictor"], "predictor")
        clip = build_config(ClipConfig, config["clip"], "clip")
    except KeyError as err:
        raise ValueError(f"{source}: missing config section {err}") from None
    except ConfigError as err:  # names the dotted key; add the file
        raise ConfigError(f"{source}: {err}") from None
    return ExportedModel(encoder, predictor, clip, ActionScaler.from_dict(scaler, source), state, step)


def _read_meta(path: Path) -> dict[str, Any]:
    """craft_jepa.json -> dict, with errors that name the file and the key."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: not a craft-jepa export (format {meta.get('format')!r})")
    for key in ("encoder", "predictor", "clip", "scaler"):
        if not isinstance(meta.get(key), dict):
            got = "missing" if key not in meta else f"a {type(meta[key]).__name__}"
            raise ValueError(f"{path}: key {key!r} should be a JSON object, got {got}")
    if meta.get("step") is not None and type(meta["step"]) is not int:
        raise ValueError(f"{path}: key 'step' should be an integer or null, got {meta['step']!r}")
    return meta


def _is_local(checkpoint: str) -> bool:
    return not (checkpoint.startswith("pipe:") or "://" in checkpoint)


def _place_encoder(model: ExportedModel, base: Path | None, override: str | os.PathLike[str] | None) -> ExportedModel:
    """Apply an encoder_checkpoint override, or resolve a relative one against the export folder.

    A Hub reference stays as written (a bare org/name only when no such path exists in the
    export folder). Paths are made absolute without following links: a Hub cache snapshot holds
    links to blobs without the file's suffix, which tells a .safetensors file from a .pt one."""
    from craft_jepa.hub import parse_hub_ref

    checkpoint = model.encoder.checkpoint
    if override is not None:
        if parse_hub_ref(override) is None:
            checkpoint = str(Path(override).expanduser().resolve())
        else:
            checkpoint = os.fspath(override)
    elif (base is not None and checkpoint and _is_local(checkpoint) and not os.path.isabs(checkpoint)
          and parse_hub_ref(checkpoint, base=base) is None):
        checkpoint = os.path.abspath(base / checkpoint)
    if checkpoint != model.encoder.checkpoint:
        model.encoder = dataclasses.replace(model.encoder, checkpoint=checkpoint)
    return model


def load_exported(run_or_export_dir: str | os.PathLike[str], which: str | int = "best", *,
                  encoder_checkpoint: str | os.PathLike[str] | None = None) -> ExportedModel:
    """An export folder (craft_jepa.json) or a run folder (checkpoints/) -> ExportedModel.

    `which` picks the run checkpoint: "best" (falls back to "latest" when the run has no
    validation), "latest", a step number, or a file name; it is ignored for an export folder.
    `encoder_checkpoint` replaces the recorded encoder weights path (see the module docstring).
    `run_or_export_dir` may be a Hub reference of an exported model (craft_jepa.hub).
    """
    from craft_jepa.hub import local_path

    path = Path(local_path(run_or_export_dir, "world model"))
    if (path / META_FILE).is_file():
        from safetensors.torch import load_file

        meta = _read_meta(path / META_FILE)
        try:
            state = load_file(str(path / WEIGHTS_FILE))
        except Exception as err:  # SafetensorError / OSError do not name the file
            raise ValueError(f"{path / WEIGHTS_FILE}: not a readable safetensors file: {err}") from None
        model = _from_parts(meta, meta["scaler"], state, str(path / META_FILE), meta.get("step"))
        return _place_encoder(model, path, encoder_checkpoint)
    if (path / "checkpoints").is_dir():
        ckpt_path = _checkpoint_path(path, which)
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"no checkpoint {ckpt_path} (which={which!r})")
        state = load_checkpoint(ckpt_path, mmap=True)  # the predictor only, not the optimizer state
        require_keys(state, ["predictor", "config", "scaler", "step"], ckpt_path)
        if state["config"].get("objective", "ac") != "ac":  # a pre-training run has no world model
            raise ValueError(f"{ckpt_path} is a {state['config']['objective']} pre-training checkpoint, not a "
                             f"world model: use it as encoder.checkpoint of an AC run (craft-jepa train)")
        model = _from_parts(state["config"], state["scaler"], state["predictor"], str(ckpt_path), int(state["step"]))
        return _place_encoder(model, None, encoder_checkpoint)
    raise FileNotFoundError(f"{path} is neither an export folder ({META_FILE}) nor a run folder (checkpoints/)")


def copy_report(report: str | os.PathLike[str], out_dir: Path) -> Path:
    """Copy a `craft-jepa eval` report (report.json, or its folder) with report.md and plots into
    OUT_DIR/eval/."""
    import shutil

    from craft_jepa.train.model_card import REPORT_DIR

    source = Path(report)
    source = source / "report.json" if source.is_dir() else source
    try:
        parsed = json.loads(source.read_text(encoding="utf-8"))
    except OSError as err:
        raise FileNotFoundError(f"evaluation report {source}: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{source}: not valid JSON ({err})") from None
    if not isinstance(parsed, dict) or "headline" not in parsed:
        raise ValueError(f"{source}: not a craft-jepa eval report.json (no 'headline')")
    target = out_dir / REPORT_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in ["report.json", "report.md", *sorted(p.name for p in source.parent.glob("*.png"))]:
        if (source.parent / name).is_file() and (source.parent / name).resolve() != (target / name).resolve():
            shutil.copyfile(source.parent / name, target / name)
    return target / "report.json"


def export_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], which: str | int = "best", *,
               encoder_checkpoint: str | os.PathLike[str] | None = None,
               report: str | os.PathLike[str] | None = None, repo_id: str | None = None) -> Path:
    """Write EXPORT_DIR/predictor.safetensors + craft_jepa.json + README.md from a run's checkpoint.

    `encoder_checkpoint`: the encoder weights path to record instead of the run's; a path inside
    OUT_DIR is recorded relative to it, so the export folder can be moved or copied whole.
    `report`: a `craft-jepa eval` report.json (or its folder) for the model card; default
    RUN_DIR/eval/report.json when it exists. `repo_id`: the Hub repo the card's examples name."""
    from safetensors.torch import save_file

    from craft_jepa.hub import local_path
    from craft_jepa.train.model_card import training_summary, write_card

    run_dir = local_path(run_dir, "world model")  # an export on the Hub may be exported again
    model = load_exported(run_dir, which, encoder_checkpoint=encoder_checkpoint)
    training = training_summary(run_dir, model.step)
    if (Path(run_dir) / META_FILE).is_file():  # re-exporting an export keeps what it knew
        training = _read_meta(Path(run_dir) / META_FILE).get("training") or training
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if encoder_checkpoint is not None:
        weights = Path(model.encoder.checkpoint)
        if weights.is_relative_to(out.resolve()):
            model.encoder = dataclasses.replace(model.encoder, checkpoint=str(weights.relative_to(out.resolve())))
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.predictor_state.items()}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": EXPORT_FORMAT})
    meta = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "step": model.step,
        "source": str(Path(run_dir).resolve()),
        "encoder": config_to_dict(model.encoder),
        "predictor": config_to_dict(model.predictor),
        "clip": config_to_dict(model.clip),
        "scaler": model.scaler.to_dict(),
        "training": training,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if report is None and (Path(run_dir) / "eval" / "report.json").is_file():
        report = Path(run_dir) / "eval" / "report.json"
    if report is not None:
        copy_report(report, out)
    from craft_jepa.models.decoder import copy_decoder

    copy_decoder(run_dir, out)  # the pixel decoder + its pictures, when the run has one
    write_card(out, repo_id)
    return out
