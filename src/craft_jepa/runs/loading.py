"""The one place a trained run or an export is read: configs, weights, scaler, training data.

Everything downstream of training (eval, planning, pipelines, the `WorldModel` API) starts here:

- `load_exported(ref, which)`: an export folder (craft_jepa.json + predictor.safetensors) or a run
  folder (checkpoints/{best,latest,step_XXXXXXXX}.pt) -> `ExportedModel` (configs, scaler, weights);
- `load_run(ref, device)`: the same, built into ready-to-use modules (`LoadedRun`): frozen encoder,
  predictor, scaler and layouts, so that all readers see the same latents: frames -> frozen
  encoder -> parameter-free layer norm (exactly the training targets) and the same action scaling;
- `run_training_shards(folder)`: the shards a run (or the run behind an export) trained on;
  `run_data_source(folder)`: what kind they are (video, features, droid).
- `recorded_action_layout(ref)`: the action layout it records, without reading weights (what
  `craft-jepa eval|plan` dispatch on: `droid7` is a DROID world model).

A Hub reference (`org/name`, `hf://org/name@rev`: craft_jepa.hub) is resolved once, by
`resolve_source`, at the public entry points; `LoadedRun.source` is then the local folder, so
files beside the export (a pixel decoder, its eval report) are found through it.

The encoder weights are not copied into an export; `encoder.checkpoint` names them. So that an
export is not tied to the training cluster's paths:
- a RELATIVE `encoder.checkpoint` in craft_jepa.json is relative to the export folder
  (`export_run(..., encoder_checkpoint=OUT_DIR/encoder.pt)` records "encoder.pt"), so a
  folder holding both moves as one;
- `encoder_checkpoint=PATH` (`WorldModel.from_pretrained`, `craft-jepa eval|plan
  --encoder-checkpoint`) points any export or run at moved weights;
- `encoder.checkpoint` may itself be a Hub reference: it is kept as written, and resolved through
  the Hub cache when the encoder is built.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file
from torch import Tensor

from craft_jepa.configuration import ConfigError, build_config
from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.config import DataConfig, resolve_shards
from craft_jepa.encoders import EncoderConfig, FrozenEncoder, load_state_dict_strict, normalize_targets
from craft_jepa.hub import local_path, parse_hub_ref
from craft_jepa.models import ACPredictor, PredictorConfig
from craft_jepa.runs import layout
from craft_jepa.runs.checkpoints import load_checkpoint, require_keys
from craft_jepa.vpt.layouts import ActionLayout, StateLayout, get_action_layout, get_state_layout
from craft_jepa.vpt.scaler import ActionScaler

log = logging.getLogger(__name__)

EXPORT_FORMAT = "craft-jepa-export"
EXPORT_VERSION = 1


def resolve_source(run_or_export: str | os.PathLike[str]) -> Path:
    """A run folder, an export folder, or a Hub reference of an export -> the local folder."""
    return Path(local_path(run_or_export, "world model"))


@dataclass
class ExportedModel:
    encoder: EncoderConfig
    predictor: PredictorConfig
    clip: ClipConfig
    scaler: ActionScaler
    predictor_state: dict[str, torch.Tensor]
    step: int | None = None  # optimizer step of the source checkpoint, when known


def _checkpoint_path(run_dir: Path, which: str | int) -> Path:
    folder = layout.checkpoint_dir(run_dir)
    if isinstance(which, int) or str(which).isdigit():
        return folder / layout.step_file_name(int(which))
    if which == "best":
        if (folder / layout.BEST).is_file():
            return folder / layout.BEST
        log.warning("%s has no best.pt (validation off?); using latest.pt", folder)
        return folder / layout.LATEST
    if which == "latest":
        return folder / layout.LATEST
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


def read_export_meta(path: Path) -> dict[str, Any]:
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
    return _load_exported_at(resolve_source(run_or_export_dir), which, encoder_checkpoint)


def _load_exported_at(path: Path, which: str | int, encoder_checkpoint: str | os.PathLike[str] | None) -> ExportedModel:
    if layout.is_export(path):
        meta = read_export_meta(path / layout.META_FILE)
        weights = path / layout.WEIGHTS_FILE
        try:
            state = load_file(str(weights))
        except Exception as err:  # SafetensorError / OSError do not name the file
            raise ValueError(f"{weights}: not a readable safetensors file: {err}") from None
        model = _from_parts(meta, meta["scaler"], state, str(path / layout.META_FILE), meta.get("step"))
        return _place_encoder(model, path, encoder_checkpoint)
    if layout.is_run(path):
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
    raise FileNotFoundError(f"{path} is neither an export folder ({layout.META_FILE}) nor a run folder "
                            f"({layout.CHECKPOINT_DIR}/)")


@dataclass
class LoadedRun:
    source: str
    encoder: FrozenEncoder
    predictor: ACPredictor
    scaler: ActionScaler
    clip: ClipConfig  # frames, fps, size, layouts, mean, std
    action_layout: ActionLayout
    state_layout: StateLayout
    device: torch.device
    encoder_config: EncoderConfig | None = None  # the config the latents come from (pixel decoders check it)

    @torch.no_grad()
    def latents(self, frames: Tensor, chunk_size: int | None = 64) -> Tensor:
        """Normalized frames (B, T, 3, H, W) -> latents z (B, T, N, D), as training targets."""
        return normalize_targets(self.encoder(frames.to(self.device), chunk_size=chunk_size))

    def scale(self, actions: Tensor) -> Tensor:
        """Raw layout vectors (..., A) -> the predictor's standardized inputs."""
        return self.scaler.transform(actions.float())

    def frames_to_input(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 RGB images (..., H, W, 3) of any size -> normalized (..., 3, size, size) float.

        Same preprocessing as the data stage: scale the short side to `clip.size`, centre crop,
        divide by 255, normalize with the clip mean/std."""
        x = torch.as_tensor(np.asarray(images))
        if x.shape[-1] != 3 or x.ndim < 3:
            raise ValueError(f"expected RGB images (..., H, W, 3), got shape {tuple(x.shape)}")
        lead = x.shape[:-3]
        is_uint8 = x.dtype == torch.uint8
        x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float()  # (M, 3, H, W)
        if is_uint8:
            x = x / 255.0  # float images are taken to be in [0, 1] already
        size = self.clip.size
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        x = x[..., top:top + size, left:left + size]  # (M, 3, size, size)
        mean = torch.tensor(self.clip.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.clip.std).view(1, 3, 1, 1)
        return ((x - mean) / std).reshape(*lead, 3, size, size)

    def to_rgb(self, frames: Tensor) -> Tensor:
        """Normalized frames (..., 3, S, S), as the loader yields them -> RGB in [0, 1]."""
        mean = torch.tensor(self.clip.mean).view(3, 1, 1)
        std = torch.tensor(self.clip.std).view(3, 1, 1)
        return (frames.float().cpu() * std + mean).clamp(0, 1)


def load_run(run_or_export_dir: str | os.PathLike[str], device: torch.device | str = "cpu",
             which: str = "best", encoder_checkpoint: str | os.PathLike[str] | None = None) -> LoadedRun:
    """A RUN_DIR (checkpoints/best.pt or latest.pt) or an EXPORT_DIR -> LoadedRun in eval mode.

    Either may be a Hub reference of an export (`org/name`, `hf://org/name@rev`: craft_jepa.hub).

    `encoder_checkpoint`: where the encoder weights are now, when not at the recorded path
    (an export made on the training cluster; see the module docstring)."""
    device = torch.device(device)
    run_or_export_dir = resolve_source(run_or_export_dir)
    exported = _load_exported_at(run_or_export_dir, which, encoder_checkpoint)
    weights = exported.encoder.checkpoint
    if (weights is not None and "://" not in weights and not os.path.exists(weights)
            and parse_hub_ref(weights) is None):
        raise FileNotFoundError(
            f"{run_or_export_dir}: encoder.checkpoint {weights} does not exist (an export records the "
            f"training machine's path); pass encoder_checkpoint=PATH (--encoder-checkpoint PATH) "
            f"to point it at the encoder weights here")
    encoder = FrozenEncoder.from_config(exported.encoder, device)
    predictor = ACPredictor(exported.predictor)
    load_state_dict_strict(predictor, exported.predictor_state, "predictor")
    predictor.to(device).eval()
    action_layout = get_action_layout(exported.clip.action_layout)
    exported.scaler.check_layout(action_layout)
    return LoadedRun(
        source=str(run_or_export_dir),
        encoder=encoder,
        predictor=predictor,
        scaler=exported.scaler,
        clip=exported.clip,
        action_layout=action_layout,
        state_layout=get_state_layout(exported.clip.state_layout),
        device=device,
        encoder_config=exported.encoder,
    )


def recorded_action_layout(run_or_export_dir: str | os.PathLike[str], which: str | int = "best") -> str:
    """The action layout name a run (RUN_DIR/config.yaml, else its checkpoint's config) or an export
    (craft_jepa.json) records, read without loading the predictor weights ('custom' for a list)."""
    path = resolve_source(run_or_export_dir)
    if layout.is_export(path):
        clip = read_export_meta(path / layout.META_FILE)["clip"]
    elif layout.config_path(path).is_file():
        clip = (yaml.safe_load(layout.config_path(path).read_text()) or {}).get("clip") or {}
    else:
        clip = dataclasses.asdict(_load_exported_at(path, which, None).clip)
    name = clip.get("action_layout", ClipConfig.action_layout)
    return name if isinstance(name, str) else "custom"


def _run_data_section(run_or_export_dir: str | os.PathLike[str]) -> dict:
    """The `data` section of a run's config (or of the run an export came from); {} if unreadable."""
    path = Path(run_or_export_dir)
    if layout.is_export(path):
        source = json.loads((path / layout.META_FILE).read_text()).get("source")
        path = Path(source) if source else path
    if not layout.config_path(path).is_file():
        return {}
    return (yaml.safe_load(layout.config_path(path).read_text()) or {}).get("data") or {}


def run_training_shards(run_or_export_dir: str | os.PathLike[str], *, warn: bool = True) -> list[str] | None:
    """The training shard URLs of a run (or of the run an export came from; a DROID run's: its
    training trajectory directories); None if unknown, with a warning (unless `warn` is False) that the data cannot be checked against them."""
    data = _run_data_section(run_or_export_dir)
    train = None
    if data:
        try:
            # source: a DROID run's train_shards are path lists, resolved to trajectory directories
            cfg = DataConfig(**{k: data[k] for k in ("source", "train_shards", "val_shards", "val_fraction")
                                if k in data})
            train, _ = resolve_shards(cfg)
        except (ValueError, TypeError, OSError):
            train = None  # shards moved or unreadable here: nothing to compare against
    if train is None and warn:
        warnings.warn(f"{run_or_export_dir}: the run's training shards are not readable here, so "
                      "the evaluation data could not be checked for overlap with them", stacklevel=2)
    return train


def run_data_source(run_or_export_dir: str | os.PathLike[str]) -> str:
    """What the run trained on (`data.source`: video, features or droid); the default when unknown."""
    return str(_run_data_section(run_or_export_dir).get("source", DataConfig.source))
