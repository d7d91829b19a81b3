"""Encoder sizes by name, and the builder.

Released V-JEPA 2 weights exist for vit_large, vit_huge and vit_giant (256 px; vit_giant also at
384 px). vit_base has no released weights (custom checkpoints only). vit_tiny / vit_mini are for
tests and the demo: cheap on CPU at 64-128 px.
"""

from __future__ import annotations

import torch

from craft_jepa.encoders.vit import VisionTransformer, ViTSpec

ENCODER_SPECS: dict[str, ViTSpec] = {
    # head_dim 32: bands 10/10/10 plus 2 unrotated dims, so tests exercise the leftover path.
    "vit_tiny": ViTSpec(dim=96, depth=2, heads=3, mlp_hidden=384),
    # The same with 8 px patches: an 8x8 token grid at 64 px, so content moves in finer steps.
    "vit_tiny_p8": ViTSpec(dim=96, depth=2, heads=3, mlp_hidden=384, patch_size=8),
    # head_dim 64 like ViT-L: bands 20/20/20 plus 4 unrotated dims.
    "vit_mini": ViTSpec(dim=192, depth=4, heads=3, mlp_hidden=768),
    "vit_base": ViTSpec(dim=768, depth=12, heads=12, mlp_hidden=3072),
    "vit_large": ViTSpec(dim=1024, depth=24, heads=16, mlp_hidden=4096),
    "vit_huge": ViTSpec(dim=1280, depth=32, heads=16, mlp_hidden=5120),
    # Meta calls it vit_giant_xformers: mlp_ratio 48/11 -> hidden 6144.
    "vit_giant": ViTSpec(dim=1408, depth=40, heads=22, mlp_hidden=6144),
}
ENCODER_ALIASES = {"vit_giant_xformers": "vit_giant", "vitl": "vit_large", "vith": "vit_huge", "vitg": "vit_giant"}

# Released files per name, for messages and docs (Meta download path / Hugging Face repo ids).
RELEASED_WEIGHTS: dict[str, tuple[str, ...]] = {
    "vit_large": ("vitl.pt", "facebook/vjepa2-vitl-fpc64-256"),
    "vit_huge": ("vith.pt", "facebook/vjepa2-vith-fpc64-256"),
    "vit_giant": ("vitg.pt", "vitg-384.pt", "vjepa2-ac-vitg.pt", "facebook/vjepa2-vitg-fpc64-256"),
}


def encoder_spec(name: str) -> ViTSpec:
    key = ENCODER_ALIASES.get(name, name)
    if key not in ENCODER_SPECS:
        known = ", ".join(sorted(ENCODER_SPECS))
        raise ValueError(f"unknown encoder name {name!r}; known: {known}")
    return ENCODER_SPECS[key]


def build_encoder(name: str, img_size: int = 256, init_seed: int | None = 0) -> VisionTransformer:
    """A randomly initialized encoder; the same init_seed always gives the same weights."""
    key = ENCODER_ALIASES.get(name, name)
    model = VisionTransformer(encoder_spec(name), img_size=img_size, name=key)
    generator = None
    if init_seed is not None:
        generator = torch.Generator().manual_seed(init_seed)
    model.reset_parameters(generator)
    return model
