"""Fixtures for train tests (config helpers live in testkit/train_configs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def predictor_state():
    """Load a checkpoint's predictor weights."""
    import torch

    def load(path: Path) -> dict[str, torch.Tensor]:
        return torch.load(path, map_location="cpu", weights_only=True)["predictor"]

    return load
