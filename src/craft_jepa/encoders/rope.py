"""3-D rotary position embedding exactly as Meta's released V-JEPA 2 weights expect.

Each attention head of size ``head_dim`` is split into three equal even bands (time, height,
width) of ``band = 2 * ((head_dim // 3) // 2)`` dims; dims past ``3 * band`` are not rotated.

The quirk (REFERENCE.md section 3): inside one band of size ``b`` the released code computes
``b / 2`` frequencies, TILES the cos/sin tables (``[c0 .. c_{b/2-1}, c0 .. c_{b/2-1}]``) instead
of interleaving them, yet rotates ADJACENT pairs ``(x0, x1), (x2, x3), ...``. The two dims of a
pair therefore see different angles and the map is not a rotation. The weights were trained with
it, so we reproduce it bit for bit; do not "fix" it.

Because every band has an even size, a pair never straddles two bands, so the whole head can be
rotated in one go with full-width cos/sin tables (identity entries: cos 1, sin 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

ROPE_THETA = 10000.0


def rope_band_dim(head_dim: int) -> int:
    """Size of each of the three (time, height, width) bands for one head."""
    return 2 * ((head_dim // 3) // 2)


def _band_tables(positions: Tensor, band: int, rotation: bool = False) -> tuple[Tensor, Tensor]:
    """cos/sin tables (L, band) for float32 positions (L,), tiled as the released code does.

    `rotation=True` interleaves them instead (both dims of a pair see one angle): a true
    rotation, so q.k depends on relative positions only (see `rope_tables`)."""
    # Same float32 arithmetic as the released code, so angles match to the last bit.
    omega = torch.arange(band // 2, dtype=torch.float32, device=positions.device)
    omega /= band / 2.0
    omega = 1.0 / ROPE_THETA**omega  # (band/2,)
    freq = positions.to(torch.float32)[:, None] * omega[None, :]  # (L, band/2)
    if rotation:
        return freq.cos().repeat_interleave(2, dim=1), freq.sin().repeat_interleave(2, dim=1)  # (L, band)
    # The quirk: tile (repeat the whole half) rather than interleave.
    return freq.cos().repeat(1, 2), freq.sin().repeat(1, 2)  # (L, band) each


def rope_tables(
    time_pos: Tensor,
    height_pos: Tensor,
    width_pos: Tensor,
    head_dim: int,
    spatial: Tensor | None = None,
    rotation: bool = False,
) -> tuple[Tensor, Tensor]:
    """Full-width cos/sin tables (L, head_dim) in float32.

    time_pos, height_pos, width_pos: (L,) positions of each token.
    spatial: optional bool (L,); where False (conditioning tokens of the predictor) only the time
    band is rotated and the height/width bands are left as they are.
    rotation: False (default) reproduces the released quirk, which released weights need;
    True gives the standard rotary embedding, for models trained from scratch. Measured on the
    tiny world model (docs/world-model.md): with the quirk a predictor trained from scratch
    barely learns to move content sideways, so planning the yaw fails.
    """
    band = rope_band_dim(head_dim)
    length = time_pos.shape[0]
    device = time_pos.device
    cos_parts, sin_parts = [], []
    for positions in (time_pos, height_pos, width_pos):
        cos, sin = _band_tables(positions, band, rotation)
        cos_parts.append(cos)
        sin_parts.append(sin)
    if spatial is not None:
        keep = spatial[:, None]  # (L, 1)
        for i in (1, 2):
            cos_parts[i] = torch.where(keep, cos_parts[i], torch.ones_like(cos_parts[i]))
            sin_parts[i] = torch.where(keep, sin_parts[i], torch.zeros_like(sin_parts[i]))
    rest = head_dim - 3 * band
    if rest:
        cos_parts.append(torch.ones(length, rest, device=device))
        sin_parts.append(torch.zeros(length, rest, device=device))
    return torch.cat(cos_parts, dim=-1), torch.cat(sin_parts, dim=-1)  # (L, head_dim) each


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate adjacent pairs of x (..., L, head_dim) with tables (L, head_dim)."""
    pairs = x.unflatten(-1, (-1, 2))  # (..., L, head_dim/2, 2)
    first, second = pairs.unbind(dim=-1)
    swapped = torch.stack((-second, first), dim=-1).flatten(-2)  # (..., L, head_dim)
    return x * cos.to(x.dtype) + swapped * sin.to(x.dtype)


def grid_positions(
    steps: int, grid_h: int, grid_w: int, device: torch.device | str, first_step: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """(time, row, column) positions (steps*grid_h*grid_w,) in raster order per step."""
    time = torch.arange(first_step, first_step + steps, device=device)
    rows = torch.arange(grid_h, device=device)
    cols = torch.arange(grid_w, device=device)
    t, r, c = torch.meshgrid(time, rows, cols, indexing="ij")  # (steps, grid_h, grid_w) each
    return t.flatten(), r.flatten(), c.flatten()
