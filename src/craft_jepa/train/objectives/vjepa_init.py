"""Continued pre-training: start the V-JEPA objective from released (or our own) weights.

- Meta `.pt` (vitl.pt, vitg.pt, ... or a `craft-jepa pretrain` checkpoint, same layout):
  `encoder` -> context encoder; `target_encoder` -> target encoder (a copy of `encoder` when the
  file has none); `predictor` -> mask-token predictor when present and `vjepa.load_predictor`
  (else freshly initialised). Prefixes `module.`/`backbone.` are stripped; every entry loads
  strictly (missing, unexpected, mis-shaped keys listed), only the unused `pos_embed` is dropped.
- Hugging Face snapshot (or .safetensors): one set of encoder weights (converted from Meta's
  `encoder` entry) for both encoders; the predictor starts fresh (the snapshot's predictor is
  in transformers' layout and is not read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from craft_jepa.encoders.checkpoint import (
    load_encoder_weights,
    load_state_dict_strict,
    meta_encoder_state,
    strip_meta_prefixes,
)
from craft_jepa.hub import parse_hub_ref, resolve


def load_pretrained(objective: Any, checkpoint: str) -> list[str]:
    """Load `checkpoint` into a VJEPAObjective (context, target, predictor); returns log lines.

    `checkpoint` may be a Hub reference (craft_jepa.hub), resolved on every rank."""

    ref = parse_hub_ref(checkpoint)
    path = Path(checkpoint) if ref is None else resolve(ref, "encoder.checkpoint")
    hub_lines = [] if ref is None else [f"vjepa: encoder.checkpoint {ref} -> {path}"]
    return hub_lines + _load_local(objective, path)


def _load_local(objective: Any, path: Path) -> list[str]:
    if path.is_dir() or path.suffix == ".safetensors":
        read = load_encoder_weights(objective.encoder, path)
        objective.target_encoder.load_state_dict(objective.encoder.state_dict())
        return [read, "vjepa: target encoder = the same weights; predictor freshly initialised "
                      "(a Hugging Face snapshot's predictor is not read)"]
    if not path.is_file():
        raise FileNotFoundError(f"encoder.checkpoint not found: {path} (the weights to continue pre-training from)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise ValueError(f"{path}: cannot load with weights_only=True (damaged, or holds pickled objects "
                         f"that could run code): {err}") from None
    if not isinstance(blob, dict) or "encoder" not in blob:
        keys = sorted(blob) if isinstance(blob, dict) else type(blob).__name__
        raise KeyError(f"{path}: no 'encoder' entry to continue pre-training from (found {keys})")
    lines = []
    for key, module in (("encoder", objective.encoder), ("target_encoder", objective.target_encoder)):
        entry = key if key in blob else "encoder"
        state = meta_encoder_state(strip_meta_prefixes(blob[entry]), f"{path}[{entry}]")
        load_state_dict_strict(module, _cast(state, module), f"{path}[{entry}]")
        lines.append(f"vjepa: {key} <- {path} entry {entry!r}")
    if "predictor" in blob and objective.cfg.load_predictor:
        state = strip_meta_prefixes(blob["predictor"])
        try:
            load_state_dict_strict(objective.predictor, _cast(state, objective.predictor), f"{path}[predictor]")
        except RuntimeError as err:
            raise RuntimeError(f"{err}\nThe vjepa.predictor settings (depth, width, heads, num_mask_tokens) must "
                               f"match the file's predictor, or set vjepa.load_predictor=false") from None
        lines.append(f"vjepa: predictor <- {path} entry 'predictor'")
    else:
        why = "vjepa.load_predictor is false" if "predictor" in blob else "the file has no predictor entry"
        lines.append(f"vjepa: predictor freshly initialised ({why})")
    return lines


def _cast(state: dict[str, torch.Tensor], module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Released files may hold bf16/fp16 tensors: copy them at the module's dtypes."""
    reference = module.state_dict()
    return {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
