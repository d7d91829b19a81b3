"""Fixtures for encoder tests: a tiny transformers VJEPA2Model used as an independent oracle."""

from __future__ import annotations

import pytest
import torch

IMG = 64  # 4x4 patches per frame


@pytest.fixture(scope="module")
def hf_model():
    transformers = pytest.importorskip("transformers")
    config = transformers.VJEPA2Config(
        patch_size=16, crop_size=IMG, frames_per_clip=2, tubelet_size=2,
        hidden_size=96, num_attention_heads=3, num_hidden_layers=2, mlp_ratio=4.0,
        pred_hidden_size=48, pred_num_attention_heads=3, pred_num_hidden_layers=1,
        num_pooler_layers=1,
    )
    torch.manual_seed(0)
    model = transformers.VJEPA2Model(config).eval()
    # Make biases and norms non-trivial so a mis-mapped bias or LayerNorm cannot hide.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.fixture
def frames() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 3, IMG, IMG, generator=generator)  # (B, T, C, H, W)
