"""Frozen V-JEPA 2 encoders: frames (B,T,C,H,W) -> tokens (B,T,N,D); the latents z.

    vit.py         the V-JEPA 2 ViT, parameter-for-parameter Meta's
    rope.py        3-D RoPE with the released weights' quirk
    init.py        Meta's weight init (shared with the predictors)
    registry.py    encoder sizes by name, the builder
    checkpoint.py  strict loading of Meta .pt files and HF snapshots (load_state_dict_strict: the one strict loader)
    frozen.py      EncoderConfig, FrozenEncoder, normalize_targets (the latents every stage reads)
    collapse.py    collapse_stats: per-dimension std and effective rank of tokens (is a representation collapsing?)
"""

from craft_jepa.encoders.collapse import collapse_stats
from craft_jepa.encoders.checkpoint import StateDictMismatchError, load_encoder_weights, load_state_dict_strict
from craft_jepa.encoders.frozen import EncoderConfig, FrozenEncoder, normalize_targets
from craft_jepa.encoders.registry import ENCODER_SPECS, build_encoder, encoder_spec
from craft_jepa.encoders.vit import VisionTransformer, ViTSpec

__all__ = [
    "ENCODER_SPECS",
    "EncoderConfig",
    "FrozenEncoder",
    "StateDictMismatchError",
    "ViTSpec",
    "VisionTransformer",
    "build_encoder",
    "collapse_stats",
    "encoder_spec",
    "load_encoder_weights",
    "load_state_dict_strict",
    "normalize_targets",
]
