"""A small convolutional pixel decoder: one frame's latents (N, D) -> its RGB frame.

It shows what a latent (true or predicted) looks like: trained on the frozen encoder's
layer-normed tokens (the predictor's targets, `train.losses.normalize_targets`), so it decodes
predictions and rollouts the same way (train/objectives/pixel_decoder.py is its objective).

    z (B, N, D) -> (B, D, g, g)             N = g * g tokens of one frame
      -> 1x1 conv to `width`, 3x3 conv       (B, width, g, g)
      -> log2(img_size / g) stages of        nearest x2, 3x3 conv, GroupNorm, GELU, 3x3 conv (+ skip)
      -> 3x3 conv to RGB, sigmoid            (B, 3, img_size, img_size) in [0, 1]

Its files (decoder.safetensors + decoder.json) are written and strictly read by
runs/decoder_files.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class DecoderConfig:
    width: int = 64  # channels at the token grid; halved per upsampling stage down to min_width
    min_width: int = 16
    ssim_weight: float = 0.1  # loss = L1 + ssim_weight * (1 - SSIM); 0: plain L1
    ssim_window: int = 7  # side of the uniform SSIM window (pixels)
    init_seed: int = 0

    def __post_init__(self) -> None:
        if self.width < 1 or self.min_width < 1:
            raise ValueError(f"width and min_width must be >= 1, got {self.width}, {self.min_width}")
        if not (math.isfinite(self.ssim_weight) and self.ssim_weight >= 0):
            raise ValueError(f"ssim_weight must be a finite number >= 0, got {self.ssim_weight}")
        if self.ssim_window < 1 or self.ssim_window % 2 == 0:
            raise ValueError(f"ssim_window must be an odd number >= 1, got {self.ssim_window}")


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class _UpStage(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.skip(x) + self.conv2(F.gelu(self.norm(self.conv1(x))))


class TokenDecoder(nn.Module):
    """Latents of one frame (B, N, D) (or (..., N, D)) -> RGB (..., 3, img_size, img_size) in [0, 1]."""

    def __init__(self, cfg: DecoderConfig, embed_dim: int, grid_size: int, img_size: int) -> None:
        super().__init__()
        factor = img_size / grid_size
        stages = round(math.log2(factor)) if factor >= 1 else -1
        if stages < 0 or 2**stages * grid_size != img_size:
            raise ValueError(f"the decoder upsamples by powers of 2: img_size {img_size} / grid {grid_size} "
                             f"= {factor:g} is not one")
        self.cfg, self.embed_dim, self.grid_size, self.img_size = cfg, embed_dim, grid_size, img_size
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(cfg.init_seed)  # the same weights on every machine and rank
        try:
            self.stem = nn.Sequential(nn.Conv2d(embed_dim, cfg.width, 1), nn.GELU(),
                                      nn.Conv2d(cfg.width, cfg.width, 3, padding=1))
            widths = [max(cfg.min_width, cfg.width // 2**i) for i in range(stages + 1)]
            self.stages = nn.ModuleList(_UpStage(widths[i], widths[i + 1]) for i in range(stages))
            self.head = nn.Conv2d(widths[-1], 3, 3, padding=1)
        finally:
            torch.random.set_rng_state(generator_state)

    def forward(self, z: Tensor) -> Tensor:
        if z.shape[-2:] != (self.grid_size**2, self.embed_dim):
            raise ValueError(f"latents must be (..., {self.grid_size**2}, {self.embed_dim}), got {tuple(z.shape)}")
        lead = z.shape[:-2]
        g = self.grid_size
        x = z.reshape(-1, g, g, self.embed_dim).permute(0, 3, 1, 2).float()  # (M, D, g, g), row-major tokens
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        rgb = torch.sigmoid(self.head(x))  # (M, 3, S, S)
        return rgb.reshape(*lead, 3, self.img_size, self.img_size)


# ---------------------------------------------------------------------- image losses and scores


def ssim(a: Tensor, b: Tensor, window: int = 7) -> Tensor:
    """Mean SSIM of images (M, C, H, W) in [0, 1] with a uniform window (no new dependency)."""
    c1, c2 = 0.01**2, 0.03**2
    pad = window // 2

    def blur(x: Tensor) -> Tensor:
        return F.avg_pool2d(F.pad(x, (pad,) * 4, mode="reflect"), window, stride=1)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    score = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return score.mean()


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Per-image PSNR (dB) of (..., C, H, W) images in [0, 1] -> (...)."""
    mse = ((pred.float() - target.float()) ** 2).flatten(-3).mean(-1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
