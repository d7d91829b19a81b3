"""The pixel decoder's files, in a run (RUN_DIR/decoder/) or an export (EXPORT_DIR/ itself).

FOLDER/decoder.safetensors (weights) and FOLDER/decoder.json (its config, the encoder config and
clip it was trained for, the frame size, held-out PSNR beside the mean-frame baseline). Loading
is strict, and a decoder made for another encoder (width, token grid, frame size, weights) is
refused, naming the difference (the same rules as a resumed run: runs/compat.py).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from craft_jepa.configuration import config_to_dict
from craft_jepa.encoders import load_state_dict_strict
from craft_jepa.models.pixel_decoder import DecoderConfig, TokenDecoder
from craft_jepa.runs import layout
from craft_jepa.runs.compat import encoder_differences
from craft_jepa.runs.loading import LoadedRun

DECODER_FORMAT = "craft-jepa-decoder"
DECODER_VERSION = 1
DECODER_WEIGHTS, DECODER_META = layout.DECODER_WEIGHTS, layout.DECODER_META



class DecoderMismatchError(ValueError):
    """A decoder trained for another encoder or frame size than the model it is used with."""


def save_decoder(folder: str | os.PathLike[str], decoder: TokenDecoder, meta: dict[str, Any]) -> Path:
    """FOLDER/decoder.safetensors + FOLDER/decoder.json (meta + the decoder's own shape)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
    save_file(tensors, str(out / DECODER_WEIGHTS), metadata={"format": DECODER_FORMAT})
    record = {"format": DECODER_FORMAT, "version": DECODER_VERSION, "decoder": asdict(decoder.cfg),
              "embed_dim": decoder.embed_dim, "grid_size": decoder.grid_size, "img_size": decoder.img_size, **meta}
    tmp = out / (DECODER_META + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / DECODER_META)
    return out


def read_decoder_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(folder) / DECODER_META
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DecoderMismatchError(f"{path}: unreadable decoder record ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != DECODER_FORMAT:
        raise DecoderMismatchError(f"{path}: not a {DECODER_FORMAT} record")
    if meta.get("version") != DECODER_VERSION:
        raise DecoderMismatchError(f"{path}: version {meta.get('version')} != {DECODER_VERSION}")
    return meta


def find_decoder(folder: str | os.PathLike[str]) -> Path | None:
    """The decoder folder of a RUN_DIR (RUN_DIR/decoder/) or an EXPORT_DIR (the folder itself)."""
    base = Path(folder)
    for candidate in (base, base / layout.DECODER_DIR):
        if (candidate / DECODER_META).is_file() and (candidate / DECODER_WEIGHTS).is_file():
            return candidate
    return None


def load_decoder(folder: str | os.PathLike[str], *, embed_dim: int, grid_size: int, img_size: int,
                 encoder: dict[str, Any] | None = None, device: torch.device | str = "cpu") -> TokenDecoder:
    """A strict load of FOLDER's decoder, refused when it was trained for another encoder.

    `encoder`: the model's encoder config (dict); its latent-defining settings must match the
    ones the decoder was trained on (as on resume: runs/compat.py)."""
    meta = read_decoder_meta(folder)
    where = str(Path(folder) / DECODER_META)
    problems = [f"{name} {meta.get(name)} (the model's is {want})"
                for name, want in (("embed_dim", embed_dim), ("grid_size", grid_size), ("img_size", img_size))
                if meta.get(name) != want]
    if encoder is not None and meta.get("encoder"):
        problems += encoder_differences(meta["encoder"], encoder)
    if problems:
        raise DecoderMismatchError(f"{where}: this decoder was trained for another encoder than the model's "
                                   "(decoder -> model): " + "; ".join(problems))
    decoder = TokenDecoder(DecoderConfig(**meta["decoder"]), embed_dim, grid_size, img_size)
    load_state_dict_strict(decoder, load_file(str(Path(folder) / DECODER_WEIGHTS)), str(Path(folder) / DECODER_WEIGHTS))
    return decoder.to(device).eval()


def copy_decoder(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path | None:
    """Export: RUN_DIR's decoder as OUT_DIR/decoder.safetensors + decoder.json, with its newest
    pictures (RUN_DIR/eval/pictures/, else RUN_DIR/decoder/pictures/) as OUT_DIR/rollout.png etc.,
    named in decoder.json under "pictures". None when the run has no decoder."""
    folder = find_decoder(run_dir)
    out = Path(out_dir)
    if folder is None or folder.resolve() == out.resolve():
        return None
    meta = read_decoder_meta(folder)
    shutil.copyfile(folder / DECODER_WEIGHTS, out / DECODER_WEIGHTS)
    pictures = {}
    for source in (Path(run_dir) / layout.EVAL_DIR / layout.PICTURES_DIR, folder / layout.PICTURES_DIR):
        for name in layout.PICTURE_NAMES:
            if name not in pictures.values() and (source / name).is_file():
                shutil.copyfile(source / name, out / name)
                pictures[name.removesuffix(".png")] = name
    meta["pictures"] = pictures
    (out / DECODER_META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out / DECODER_META


def load_run_decoder(run: LoadedRun, folder: str | os.PathLike[str] | None = None) -> TokenDecoder | None:
    """The pixel decoder of a LoadedRun (FOLDER, else the run's: RUN_DIR/decoder/ or EXPORT_DIR/),
    strictly loaded and refused when trained for another encoder; None when there is none."""
    folder = folder if folder is not None else find_decoder(run.source)
    if folder is None:
        return None
    grid = int(round(run.encoder.tokens_per_frame**0.5))  # tokens of one frame form a square grid
    encoder = config_to_dict(run.encoder_config) if run.encoder_config is not None else None
    return load_decoder(folder, embed_dim=run.encoder.embed_dim, grid_size=grid, img_size=run.clip.size,
                        encoder=encoder, device=run.device)
