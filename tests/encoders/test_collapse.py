"""collapse_stats: the spread numbers a pre-training run logs to show its targets do not collapse."""

from __future__ import annotations

import math

import pytest
import torch

from craft_jepa.encoders import collapse_stats


def test_identical_tokens_have_no_spread():
    tokens = torch.randn(1, 1, 16).expand(4, 32, 16)  # every token the same vector
    stats = collapse_stats(tokens)
    assert stats["feature_std"].item() == pytest.approx(0.0, abs=1e-6)
    assert stats["effective_rank"].item() == pytest.approx(1.0, abs=1e-3)


def test_tokens_on_one_line_have_rank_one_and_isotropic_ones_nearly_full_rank():
    g = torch.Generator().manual_seed(0)
    direction = torch.randn(32, generator=g)
    line = torch.randn(4000, 1, generator=g) * direction  # (M, D) all on one line
    assert collapse_stats(line)["effective_rank"].item() == pytest.approx(1.0, abs=1e-2)
    assert collapse_stats(line)["feature_std"].item() > 0.5  # std alone would not tell
    cloud = torch.randn(8, 500, 32, generator=g)
    stats = collapse_stats(cloud)
    assert 30.0 < stats["effective_rank"].item() <= 32.0
    assert stats["feature_std"].item() == pytest.approx(1.0, abs=0.03)
    # k equal directions: rank k
    k = 5
    basis = torch.linalg.qr(torch.randn(32, k, generator=g))[0]  # (D, k) orthonormal
    flat = torch.randn(20000, k, generator=g) @ basis.T
    assert collapse_stats(flat)["effective_rank"].item() == pytest.approx(k, rel=0.03)


def test_rank_does_not_depend_on_rotation_or_scale():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(600, 16, generator=g) * torch.linspace(0.1, 2.0, 16)
    rotation = torch.linalg.qr(torch.randn(16, 16, generator=g))[0]
    a, b = collapse_stats(x)["effective_rank"], collapse_stats(3.0 * x @ rotation)["effective_rank"]
    assert a.item() == pytest.approx(b.item(), rel=1e-4)
    assert 1.0 < a.item() < 16.0 and not math.isnan(a.item())


def test_many_tokens_are_subsampled_without_changing_the_answer():
    g = torch.Generator().manual_seed(2)
    basis = torch.linalg.qr(torch.randn(24, 6, generator=g))[0]  # (D, 6) orthonormal
    tokens = torch.randn(50_000, 6, generator=g) @ basis.T  # (M, D): 6 equal directions
    full = collapse_stats(tokens, max_rows=50_000)
    sampled = collapse_stats(tokens)  # 4096 rows at most
    assert sampled["effective_rank"].item() == pytest.approx(full["effective_rank"].item(), rel=0.02)
    assert sampled["feature_std"].item() == pytest.approx(full["feature_std"].item(), rel=0.02)
