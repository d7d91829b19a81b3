"""Frozen V-JEPA 2 encoders: frames (B,T,C,H,W) -> tokens (B,T,N,D)."""

from craft_jepa.encoders.checkpoint import StateDictMismatchError, load_encoder_weights, load_state_dict_strict
from craft_jepa.encoders.frozen import EncoderConfig, FrozenEncoder
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
    "encoder_spec",
    "load_encoder_weights",
    "load_state_dict_strict",
]
