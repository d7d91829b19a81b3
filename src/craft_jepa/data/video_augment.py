"""Random resized crops of whole clips, on the training device (V-JEPA pre-training).

The loader (data/loader.py) hands out frames already cropped and resized to `clip.size`; this
takes one random box per clip (area `scale` of the frame, width/height ratio `aspect`, the same
box for every frame of the clip so motion stays consistent) and resamples it back to the full
size with one batched `grid_sample`. Boxes are drawn from a caller-seeded `torch.Generator`, so
a resumed run crops as an uninterrupted one would. Set `clip.max_crop_aspect` to let the loader
keep more of the 16:9 VPT frame for these boxes to choose from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def crop_boxes(batch: int, generator: torch.Generator, scale: tuple[float, float],
               aspect: tuple[float, float], tries: int = 10) -> Tensor:
    """(B, 4) boxes (x0, y0, w, h) as fractions of the frame, torchvision's RandomResizedCrop rule:
    area ~ U(scale), log aspect ~ U(log aspect), redraw a box that does not fit, else the whole frame."""
    boxes = []
    log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(batch):
        box = (0.0, 0.0, 1.0, 1.0)
        for _ in range(tries):
            area = scale[0] + float(torch.rand((), generator=generator)) * (scale[1] - scale[0])
            ratio = math.exp(log_lo + float(torch.rand((), generator=generator)) * (log_hi - log_lo))
            w, h = math.sqrt(area * ratio), math.sqrt(area / ratio)
            if w <= 1.0 and h <= 1.0:
                x0 = float(torch.rand((), generator=generator)) * (1.0 - w)
                y0 = float(torch.rand((), generator=generator)) * (1.0 - h)
                box = (x0, y0, w, h)
                break
        boxes.append(box)
    return torch.tensor(boxes, dtype=torch.float32)  # (B, 4)


def resized_crop(frames: Tensor, boxes: Tensor) -> Tensor:
    """frames (B, T, C, H, W), boxes (B, 4) fractions -> (B, T, C, H, W), each clip's box resampled."""
    b, t, c, h, w = frames.shape
    x0, y0, bw, bh = boxes.to(frames.device, torch.float32).unbind(-1)  # (B,) each
    theta = torch.zeros(b, 2, 3, device=frames.device)  # output [-1, 1] -> input [-1, 1] coordinates
    theta[:, 0, 0], theta[:, 0, 2] = bw, 2 * x0 + bw - 1
    theta[:, 1, 1], theta[:, 1, 2] = bh, 2 * y0 + bh - 1
    theta = theta.repeat_interleave(t, dim=0)  # (B*T, 2, 3): one box per clip
    flat = frames.reshape(b * t, c, h, w)  # (B*T, C, H, W)
    grid = F.affine_grid(theta.to(flat.dtype), [b * t, c, h, w], align_corners=False)
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(b, t, c, h, w)


def random_resized_crop(frames: Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.3, 1.0),
                        aspect: tuple[float, float] = (0.75, 1.35)) -> Tensor:
    return resized_crop(frames, crop_boxes(frames.shape[0], generator, scale, aspect))
