"""Strict loading of V-JEPA 2 encoder weights from Meta `.pt` files and Hugging Face snapshots.

Meta `.pt` (vitl.pt, vith.pt, vitg.pt, vitg-384.pt, vjepa2-ac-vitg.pt): a dict with `encoder`,
`target_encoder`, `predictor` (+ optimizer state). Keys carry `module.` and/or `backbone.`
prefixes. The file also holds a `pos_embed` table that RoPE models never use: we drop it ON
PURPOSE (and only it); anything else that does not match raises.

Hugging Face snapshot directory (`facebook/vjepa2-*`): config.json + model.safetensors (or a
sharded model.safetensors.index.json) in transformers' VJEPA2Model layout. Keys are renamed with
the explicit table below; the separate q/k/v projections are concatenated into Meta's fused qkv.
The snapshot's mask predictor (`predictor.*`) and any classification head are not part of the
encoder and are skipped on purpose.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from craft_jepa.hub import parse_hub_ref, resolve

logger = logging.getLogger(__name__)

META_PREFIXES = ("module.", "backbone.")
META_IGNORED_KEYS = frozenset({"pos_embed"})  # unused by RoPE encoders (see module docstring)

# transformers' VJEPA2Model encoder key (regex) -> our (Meta) key template.
HF_KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"encoder\.embeddings\.patch_embeddings\.proj\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"encoder\.layer\.(\d+)\.norm1\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"encoder\.layer\.(\d+)\.norm2\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"encoder\.layer\.(\d+)\.attention\.proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.layer\.(\d+)\.mlp\.fc1\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"encoder\.layer\.(\d+)\.mlp\.fc2\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"encoder\.layernorm\.(weight|bias)", r"norm.\1"),
)
# q/k/v are separate Linear layers in transformers; Meta fuses them as rows [q; k; v].
HF_QKV = re.compile(r"encoder\.layer\.(\d+)\.attention\.(query|key|value)\.(weight|bias)")
HF_SKIPPED_PREFIXES = ("predictor.", "pooler.", "classifier.")
HF_STRIPPED_PREFIXES = ("vjepa2.",)  # VJEPA2ForVideoClassification wraps the base model


class StateDictMismatchError(RuntimeError):
    """A checkpoint does not match the model: lists every missing, unexpected, mis-shaped key."""

    def __init__(self, source: str, missing: list[str], unexpected: list[str], mismatched: list[str]) -> None:
        self.source, self.missing, self.unexpected, self.mismatched = source, missing, unexpected, mismatched
        lines = [f"{source}: state dict does not match the model"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mismatched)):
            if keys:
                shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
                lines.append(f"  {len(keys)} {label} key(s): {shown}")
        super().__init__("\n".join(lines))


def load_state_dict_strict(module: nn.Module, state: Mapping[str, Tensor], source: str, assign: bool = False) -> None:
    """Copy `state` into `module`, raising StateDictMismatchError on ANY key or shape difference.

    assign=True adopts the checkpoint tensors instead of copying (for modules built on the meta device).
    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{key} (checkpoint {tuple(state[key].shape)} vs model {tuple(expected[key].shape)})"
        for key in set(expected) & set(state)
        if tuple(state[key].shape) != tuple(expected[key].shape)
    )
    if missing or unexpected or mismatched:
        raise StateDictMismatchError(source, missing, unexpected, mismatched)
    module.load_state_dict(dict(state), strict=True, assign=assign)


def strip_meta_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove leading `module.` / `backbone.` prefixes (in any order, any number)."""
    cleaned: dict[str, Tensor] = {}
    for key, value in state.items():
        new_key = key
        while new_key.startswith(META_PREFIXES):
            new_key = new_key.split(".", 1)[1]
        cleaned[new_key] = value
    return cleaned


def read_meta_checkpoint(path: Path, key: str, what: str = "encoder checkpoint") -> dict[str, Tensor]:
    """The cleaned sub-dict `key` of a Meta `.pt` file (weights_only: no pickled code runs)."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's message does not name the file
        raise ValueError(f"{path}: cannot load {what} with weights_only=True "
                         f"(damaged, or holds pickled objects that could run code): {err}") from None
    if not isinstance(blob, Mapping):
        raise ValueError(f"{path}: expected a dict checkpoint, got {type(blob).__name__}")
    if key not in blob:
        raise KeyError(f"{path}: no {key!r} entry; top-level keys are {sorted(blob)}")
    return strip_meta_prefixes(blob[key])


def meta_encoder_state(state: Mapping[str, Tensor], source: str = "<meta>") -> dict[str, Tensor]:
    """Drop the entries a RoPE encoder ignores on purpose (`pos_embed`), and say so."""
    ignored = sorted(k for k in state if k in META_IGNORED_KEYS)
    if ignored:
        logger.info("%s: ignoring %s on purpose (unused by the RoPE encoder)", source, ", ".join(ignored))
    return {k: v for k, v in state.items() if k not in META_IGNORED_KEYS}


def remap_hf_encoder_state(state: Mapping[str, Tensor], source: str = "<hf>") -> dict[str, Tensor]:
    """transformers VJEPA2Model layout -> our (Meta) layout. Unknown encoder keys raise."""
    out: dict[str, Tensor] = {}
    qkv_parts: dict[tuple[str, str], dict[str, Tensor]] = {}
    unknown: list[str] = []
    skipped = 0
    for key, value in state.items():
        for prefix in HF_STRIPPED_PREFIXES:
            key = key.removeprefix(prefix)
        if key.startswith(HF_SKIPPED_PREFIXES):
            skipped += 1
            continue
        match = HF_QKV.fullmatch(key)
        if match:
            layer, which, kind = match.groups()
            qkv_parts.setdefault((layer, kind), {})[which] = value
            continue
        for pattern, template in HF_KEY_MAP:
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, template, key)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise StateDictMismatchError(source, [], sorted(unknown), [])
    if skipped:
        logger.info("%s: skipped %d non-encoder tensors (%s) on purpose", source, skipped, "/".join(HF_SKIPPED_PREFIXES))
    for (layer, kind), parts in qkv_parts.items():
        absent = [name for name in ("query", "key", "value") if name not in parts]
        if absent:
            missing = [f"encoder.layer.{layer}.attention.{name}.{kind}" for name in absent]
            raise StateDictMismatchError(source, missing, [], [])
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def read_hf_snapshot(directory: Path) -> tuple[dict, dict[str, Tensor]]:
    """(config.json contents, raw safetensors state) of a local Hugging Face snapshot."""

    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{directory}: not a Hugging Face snapshot (no config.json)")
    config = json.loads(config_path.read_text())
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    else:
        raise FileNotFoundError(f"{directory}: no model.safetensors or model.safetensors.index.json")
    state: dict[str, Tensor] = {}
    for file in files:
        state.update(load_file(str(file)))
    return config, state


def _check_hf_config(config: dict, model: nn.Module, source: str) -> None:
    spec = getattr(model, "spec", None)
    if spec is None:
        return
    for field, ours in (("hidden_size", spec.dim), ("num_hidden_layers", spec.depth),
                        ("num_attention_heads", spec.heads), ("patch_size", spec.patch_size),
                        ("tubelet_size", spec.tubelet_size)):
        if field in config and config[field] != ours:
            raise ValueError(f"{source}/config.json: {field}={config[field]} but the encoder has {ours}")


def load_encoder_weights(model: nn.Module, path: str | Path, key: str = "target_encoder", assign: bool = False) -> str:
    """Load weights into `model` strictly from a Meta `.pt` file or a Hugging Face snapshot dir.

    key: which entry of a Meta file to read (`target_encoder`, the EMA weights used by the AC
    recipe, or `encoder`, which Meta's hub loaders read). Ignored for Hugging Face snapshots,
    which hold one set of weights (converted from the `encoder` entry).
    assign: adopt the tensors (for a model built on the meta device), see load_state_dict_strict.
    path may also be a Hugging Face Hub reference (`hf://org/name[@revision][/file]`, or a bare
    `org/name` that is not a local path), resolved through the Hub cache (`craft_jepa.hub`).
    Returns (and logs) a line saying which file and entry were read.
    """

    ref = parse_hub_ref(path)
    path = Path(path) if ref is None else resolve(ref, "encoder.checkpoint")
    if path.is_dir():
        config, raw = read_hf_snapshot(path)
        _check_hf_config(config, model, str(path))
        state = remap_hf_encoder_state(raw, str(path))
    elif path.suffix == ".safetensors":
        raw = load_file(str(path))
        hf_layout = any(k.removeprefix("vjepa2.").startswith("encoder.layer.") for k in raw)
        if hf_layout:
            state = remap_hf_encoder_state(raw, str(path))
        else:
            state = meta_encoder_state(strip_meta_prefixes(raw), str(path))
    elif path.is_file():
        state = meta_encoder_state(read_meta_checkpoint(path, key), f"{path}[{key}]")
    else:
        raise FileNotFoundError(f"encoder checkpoint not found: {path}")
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    meta_pt = path.is_file() and path.suffix != ".safetensors"
    shown = path if ref is None else f"{ref} ({path})"
    source = f"{shown}[{key}]" if meta_pt else str(shown)
    load_state_dict_strict(model, state, source, assign=assign)
    if meta_pt:
        # Say which entry: 'target_encoder' (EMA, the AC recipe's) and 'encoder' (what the Hugging
        # Face snapshots were converted from) are different weights.
        read = (f"encoder weights: {shown}, entry {key!r} (encoder.checkpoint_key; the Hugging Face "
                f"snapshots hold the 'encoder' entry, the AC recipe reads 'target_encoder')")
    else:
        read = f"encoder weights: {shown} (safetensors: one set of weights, encoder.checkpoint_key unused)"
    logger.info("%s", read)
    return read
