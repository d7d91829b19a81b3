"""The frozen encoder as used by training, evaluation and planning.

Frozen means: eval mode (and it stays there), every parameter has requires_grad False (so no
optimizer ever sees it), calls run under torch.no_grad, and it is held once. Keep it OUTSIDE the
predictor's module tree so it never lands in a training checkpoint; a random-weight encoder is
rebuilt from `EncoderConfig.init_seed` instead of being saved.

We use torch.no_grad rather than torch.inference_mode on purpose: inference tensors may not be
saved for backward, and the predictor's first linear layer saves its input tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from craft_jepa.encoders.checkpoint import load_encoder_weights
from craft_jepa.encoders.registry import ENCODER_ALIASES, ENCODER_SPECS, build_encoder, encoder_spec
from craft_jepa.encoders.vit import PatchGrid, VisionTransformer, ViTSpec
from craft_jepa.hub import parse_hub_ref

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def normalize_targets(tokens: Tensor) -> Tensor:
    """The latents z: a parameter-free layer norm over the feature dim D of (..., D) tokens, in
    float32. The predictor's targets, and what eval, planning and decoders read."""
    tokens = tokens.float()
    return F.layer_norm(tokens, (tokens.shape[-1],))


@dataclass
class EncoderConfig(PatchGrid):
    """Which encoder, its input size, and where its weights come from."""

    name: str = "vit_large"
    img_size: int = 256
    # Meta .pt file, HF snapshot dir, or a Hub repo id (hf://org/name[@rev][/file], or a bare
    # org/name that is not a local path: craft_jepa.hub); None = random weights
    checkpoint: str | None = None
    checkpoint_key: str = "target_encoder"
    dtype: str = "float32"  # "float32" | "bfloat16" (weights and compute)
    init_seed: int = 0  # random-weight encoders are rebuilt from it
    # Layer-norm the output tokens without affine parameters (the V-JEPA 2-AC recipe's
    # normalize_reps). Off by default: train/eval apply `train.losses.normalize_targets` themselves.
    normalize: bool = False

    def __post_init__(self) -> None:
        if ENCODER_ALIASES.get(self.name, self.name) not in ENCODER_SPECS:
            raise ValueError(f"EncoderConfig.name={self.name!r} unknown; known: {sorted(ENCODER_SPECS)}")
        patch = self.spec.patch_size
        if self.img_size <= 0 or self.img_size % patch:
            raise ValueError(f"EncoderConfig.img_size={self.img_size} must be a positive multiple of {patch}")
        if self.dtype not in DTYPES:
            raise ValueError(f"EncoderConfig.dtype={self.dtype!r} must be one of {sorted(DTYPES)}")
        if not self.checkpoint_key:
            raise ValueError("EncoderConfig.checkpoint_key must be a non-empty string")
        if self.checkpoint is not None:
            try:  # a malformed hf:// reference fails with the config, not at the first load
                parse_hub_ref(self.checkpoint, allow_bare=False)
            except ValueError as err:
                raise ValueError(f"EncoderConfig.checkpoint: {err}") from None

    @property
    def spec(self) -> ViTSpec:
        return encoder_spec(self.name)

    @property
    def embed_dim(self) -> int:
        return self.spec.dim



class FrozenEncoder(nn.Module):
    """frames (B, T, C, H, W) -> tokens (B, T, N, D) in float32, without gradients.

    With normalize=True the tokens are layer-normed without affine parameters (the AC recipe).
    """

    def __init__(self, encoder: VisionTransformer, dtype: torch.dtype = torch.float32, normalize: bool = False) -> None:
        super().__init__()
        self.encoder = encoder.to(dtype)
        self.compute_dtype = dtype
        self.normalize = normalize
        self.weights_source = "encoder weights: given module"
        self.encoder.eval()
        for param in self.encoder.parameters():
            param.requires_grad_(False)

    @classmethod
    def from_config(cls, config: EncoderConfig, device: torch.device | str = "cpu") -> FrozenEncoder:
        if config.checkpoint is None:
            encoder = build_encoder(config.name, img_size=config.img_size, init_seed=config.init_seed)
            source = f"encoder weights: random ({config.name}, init_seed {config.init_seed})"
        else:
            # Build without allocating or initializing (ViT-g: 1B parameters), then adopt the weights.
            with torch.device("meta"):
                encoder = VisionTransformer(encoder_spec(config.name), config.img_size, name=config.name)
            source = load_encoder_weights(encoder, config.checkpoint, key=config.checkpoint_key, assign=True)
        frozen = cls(encoder, DTYPES[config.dtype], normalize=config.normalize).to(device)
        frozen.weights_source = source  # which file and entry were read, for run logs
        return frozen

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    @property
    def tokens_per_frame(self) -> int:
        return self.encoder.tokens_per_frame

    def train(self, mode: bool = True) -> FrozenEncoder:
        # A frozen encoder never leaves eval mode, whatever the caller's model.train() says.
        return super().train(False)

    @torch.no_grad()
    def forward(self, frames: Tensor, chunk_size: int | None = None) -> Tensor:
        """Encode (B, T, C, H, W); chunk_size bounds how many frames go through at once."""
        batch, steps = frames.shape[:2]
        flat = frames.reshape(batch * steps, 1, *frames.shape[2:])  # (B*T, 1, C, H, W)
        step = chunk_size or flat.shape[0]
        parts = [self.encoder(flat[i : i + step].to(self.compute_dtype)) for i in range(0, flat.shape[0], step)]
        tokens = torch.cat(parts, dim=0).float()  # (B*T, 1, N, D)
        if self.normalize:
            tokens = F.layer_norm(tokens, tokens.shape[-1:])
        return tokens.reshape(batch, steps, *tokens.shape[2:])  # (B, T, N, D)
