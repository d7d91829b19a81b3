"""Golden numbers from Meta's V-JEPA 2 reference code (tests/fixtures/meta-golden/README.md).

Loads the stored tensors (cloned: unaligned safetensors buffers change CPU rounding, see the
README), writes the Meta-layout weights into Meta-style `.pt` files and builds OUR modules from
them through our own loaders, and injects the deliberate bugs the README lists so a test can show
the golden comparison catches each of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta-golden"
TOKEN_ATOL = 1e-5  # README "Recommendation": 1.8x the largest legitimate float32 difference
LOSS_ATOL = 1e-6  # measured at most 2.4e-7
B, T, N, D = 2, 4, 16, 192  # batch, frames, tokens per frame (4x4 grid), encoder width
ENCODER_SPEC = dict(dim=192, depth=2, heads=3, mlp_hidden=768)  # encoder.json model.kwargs
PREDICTOR_KWARGS = dict(preset="ac_tiny", encoder_dim=192, grid_size=4, depth=2, width=128, heads=2)

BUGS = ("layernorm_eps_1e-5", "gelu_tanh", "rope_interleaved", "not_frame_causal")


def load_golden(name: str) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    return {k: v.clone() for k, v in load_file(str(FIXTURES / f"{name}.safetensors")).items()}


def frames_of(flat: Tensor, frames: int) -> Tensor:
    """Meta's flattened (B, frames*N, D) -> our (B, frames, N, D); time is the outer factor."""
    return flat.view(flat.shape[0], frames, N, flat.shape[-1])


def write_meta_checkpoint(path: Path, name: str, entry: str) -> dict[str, Tensor]:
    """The fixture's `module.` weights as a Meta-style .pt ({entry: {"module.…": tensor}}), as stored (float16)."""
    state = {k: v for k, v in load_golden(name).items() if k.startswith("module.")}
    torch.save({entry: state, "epoch": 1}, path)
    return state


def golden_encoder(tmp_path: Path):
    """Our VisionTransformer, loaded by our Meta .pt loader from the fixture's `target_encoder`."""
    from craft_jepa.encoders.checkpoint import load_encoder_weights
    from craft_jepa.encoders.vit import VisionTransformer, ViTSpec

    path = tmp_path / "golden-encoder.pt"
    write_meta_checkpoint(path, "encoder", "target_encoder")
    encoder = VisionTransformer(ViTSpec(**ENCODER_SPEC), img_size=64).eval()
    load_encoder_weights(encoder, path, key="target_encoder")
    return encoder


def golden_predictor(tmp_path: Path, normalize_outputs: bool = False, **overrides):
    """Our ACPredictor (7-D actions and states, as DROID), warm-started from the fixture's `predictor`."""
    from craft_jepa.models import ACPredictor, PredictorConfig
    from craft_jepa.models.warm_start import warm_start_from_meta

    path = tmp_path / "golden-predictor.pt"
    write_meta_checkpoint(path, "predictor", "predictor")
    kwargs = dict(PREDICTOR_KWARGS, action_dim=7, state_dim=7, normalize_outputs=normalize_outputs, **overrides)
    predictor = ACPredictor(PredictorConfig(**kwargs)).eval()
    report = warm_start_from_meta(predictor, path)
    return predictor, report


def max_error(ours: Tensor, stored: Tensor) -> float:
    assert ours.shape == stored.shape, (tuple(ours.shape), tuple(stored.shape))
    return float((ours.detach() - stored).abs().max())


def inject_bug(bug: str, monkeypatch: pytest.MonkeyPatch, *modules: nn.Module) -> None:
    """Put one of the README's deliberate bugs into our code (the modules must be built already)."""
    from craft_jepa.encoders import rope
    from craft_jepa.encoders.vit import MLP
    from craft_jepa.models import predictor as predictor_module

    if bug == "layernorm_eps_1e-5":
        for module in modules:
            for layer in module.modules():
                if isinstance(layer, nn.LayerNorm):
                    layer.eps = 1e-5
    elif bug == "gelu_tanh":
        for module in modules:
            for layer in module.modules():
                if isinstance(layer, MLP):
                    layer.act = nn.GELU(approximate="tanh")
    elif bug == "rope_interleaved":
        original = rope._band_tables

        def interleaved(positions: Tensor, band: int, rotation: bool = False) -> tuple[Tensor, Tensor]:
            cos, sin = original(positions, band)  # (L, band): tiled [c0..c_{h-1}, c0..c_{h-1}]
            half = band // 2
            # The "fix" Meta left commented out: each adjacent pair shares one frequency.
            return cos[:, :half].repeat_interleave(2, dim=1), sin[:, :half].repeat_interleave(2, dim=1)

        monkeypatch.setattr(rope, "_band_tables", interleaved)
    elif bug == "not_frame_causal":
        monkeypatch.setattr(predictor_module, "frame_causal_mask", lambda *args, **kwargs: None)
    else:
        raise ValueError(f"unknown bug {bug!r}; known: {BUGS}")
