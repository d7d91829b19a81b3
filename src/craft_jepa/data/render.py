"""A tiny procedural Minecraft-like renderer for synthetic recordings (numpy only).

The picture is built so that every action leaves a visible trace a world model can learn:
- camera yaw/pitch slide a precomputed 360-degree sky/mountain panorama (integer pixel
  shifts, about 5 px per degree, so a 5 fps step of mouse motion moves tens of pixels);
- the ground is a textured block plane drawn in perspective from the player's position and
  eye height, so WASD movement makes it flow and a jump or sneak changes its perspective;
- a hotbar highlights the selected slot, an inventory panel covers the view while a GUI is
  open, and the arm in the lower right swings while attacking.

Angles follow Minecraft: yaw 0 looks along +z, yaw grows turning right, +pitch looks down.
Every step is array slicing or a vectorized gather; a 640x360 frame costs about 1-2 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 640, 360
VFOV_DEG = 70.0  # Minecraft's default vertical field of view
PX_PER_DEG = HEIGHT / VFOV_DEG  # ~5.14; used for both axes (a cylindrical projection)
PANO_W = int(round(360.0 * PX_PER_DEG))  # one full turn of yaw
PANO_TOP_DEG = 90.0 + VFOV_DEG / 2  # highest elevation ever visible (looking straight up)
PANO_H = int(np.ceil(PANO_TOP_DEG * PX_PER_DEG))  # rows from PANO_TOP_DEG down to the horizon
GROUND_TEX = 256  # ground texture is GROUND_TEX^2 texels, 4 texels per block, tiled
TEXELS_PER_BLOCK = 4
HOTBAR_SLOT = 40  # px
FOG_LEVELS = 16


@dataclass
class ViewState:
    """Everything the renderer needs for one frame."""

    yaw: float
    pitch: float
    x: float
    z: float
    eye_height: float  # above the ground plane, in blocks
    hotbar: int  # 0..8
    gui_open: bool
    swing_phase: float  # 0 = arm at rest; (0, 1) = mid-swing


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1), periodic along the width, shape (h, w)."""
    gh, gw = h // cell + 2, w // cell
    grid = rng.random((gh, gw)).astype(np.float32)
    ys = np.arange(h, dtype=np.float32) / cell
    xs = np.arange(w, dtype=np.float32) / cell
    y0 = ys.astype(np.int64)
    x0 = xs.astype(np.int64)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    x1 = (x0 + 1) % gw
    x0 = x0 % gw
    a = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    b = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x1] * fx
    return a * (1 - fy) + b * fy


class SceneRenderer:
    """Renders frames of one procedurally generated world (fixed by `seed`)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.panorama = self._make_panorama(rng)  # (PANO_H, PANO_W + WIDTH, 3) uint8
        self.ground = self._make_ground(rng)  # (GROUND_TEX, GROUND_TEX, 3) uint8
        fog = np.linspace(0.0, 1.0, FOG_LEVELS, dtype=np.float32)[:, None, None, None]
        fogged = self.ground[None].astype(np.float32) * (1 - fog) + 175.0 * fog  # (L, T, T, 3)
        self.fogged_ground = fogged.astype(np.uint8).reshape(-1, 3)  # (L*T*T, 3)
        self.hotbars = self._make_hotbars(rng)  # (9, h, w, 3) uint8, one per selected slot
        self.inventory = self._make_inventory(rng)  # (h, w, 3) uint8
        # Per-column angle (relative to the view centre), used by the ground projection.
        cols = np.arange(0, WIDTH, 2, dtype=np.float32) + 1.0
        self._col_rel_yaw = np.deg2rad((cols - WIDTH / 2) / PX_PER_DEG)  # (W/2,)

    # ---------------------------------------------------------------- precomputed pieces
    def _make_panorama(self, rng: np.random.Generator) -> np.ndarray:
        elev = PANO_TOP_DEG - (np.arange(PANO_H, dtype=np.float32) + 0.5) / PX_PER_DEG  # (H,)
        yaw = np.arange(PANO_W, dtype=np.float32) * (2 * np.pi / PANO_W)  # (W,) radians
        t = np.clip(elev / 90.0, 0.0, 1.0)[:, None, None]  # 0 at horizon, 1 at zenith
        horizon_rgb = np.array([190, 215, 245], np.float32)
        zenith_rgb = np.array([60, 110, 200], np.float32)
        img = horizon_rgb * (1 - t) + zenith_rgb * t  # (H, 1, 3)
        img = np.broadcast_to(img, (PANO_H, PANO_W, 3)).copy()
        # Clouds: periodic value noise thresholded, only above 8 degrees.
        clouds = _smooth_noise(rng, PANO_H, PANO_W, cell=24)
        cloud_mask = ((clouds > 0.62) & (elev[:, None] > 8.0))[..., None]
        img = np.where(cloud_mask, np.float32(245.0), img)
        # Sun: a square at a random yaw, 40 degrees up.
        sun_col = int(rng.integers(0, PANO_W - 60))
        sun_row = int((PANO_TOP_DEG - 40.0) * PX_PER_DEG)
        img[sun_row : sun_row + 50, sun_col : sun_col + 50] = (255, 240, 120)
        # Mountains: sum of integer-frequency sines (periodic in yaw), two layers.
        for layer, (height_deg, rgb) in enumerate([(14.0, (95, 110, 130)), (8.0, (55, 105, 60))]):
            ridge = np.zeros(PANO_W, np.float32)
            for freq in (2, 3, 5, 7, 11, 17):
                ridge += rng.uniform(0.3, 1.0) / freq**0.5 * np.sin(freq * yaw + rng.uniform(0, 2 * np.pi))
            ridge = (ridge - ridge.min()) / (ridge.max() - ridge.min() + 1e-6) * height_deg + 1.0
            below = elev[:, None] < ridge[None, :]  # (H, W)
            shade = 1.0 - 0.25 * layer * (elev[:, None] / height_deg)
            img = np.where(below[..., None], np.asarray(rgb, np.float32) * shade[..., None], img)
        # Landmarks: coloured towers at a few yaws so absolute orientation is recognisable.
        for _ in range(6):
            col = int(rng.integers(0, PANO_W - 30))
            top = int((PANO_TOP_DEG - rng.uniform(12.0, 25.0)) * PX_PER_DEG)
            img[top:, col : col + int(rng.integers(10, 30))] = rng.integers(40, 255, 3)
        pano = np.clip(img, 0, 255).astype(np.uint8)
        # Pad with the first WIDTH columns so any view is one contiguous slice (no modulo).
        return np.concatenate([pano, pano[:, :WIDTH]], axis=1)

    def _make_ground(self, rng: np.random.Generator) -> np.ndarray:
        blocks = GROUND_TEX // TEXELS_PER_BLOCK
        palette = np.array(
            [[95, 160, 60], [110, 175, 70], [130, 95, 60], [125, 125, 125], [215, 200, 140], [60, 90, 200]],
            np.float32,
        )
        # Patches of block types from low-frequency noise, plus per-block jitter.
        kind_noise = _smooth_noise(rng, blocks, blocks, cell=8)
        kinds = np.digitize(kind_noise, [0.25, 0.5, 0.6, 0.72, 0.82])  # (B, B) in 0..5
        colors = palette[kinds] * rng.uniform(0.85, 1.15, (blocks, blocks, 1))  # (B, B, 3)
        tex = np.repeat(np.repeat(colors, TEXELS_PER_BLOCK, 0), TEXELS_PER_BLOCK, 1)  # (T, T, 3)
        tex *= rng.uniform(0.85, 1.1, (GROUND_TEX, GROUND_TEX, 1))  # texel grain
        edge = (np.arange(GROUND_TEX) % TEXELS_PER_BLOCK) == 0
        tex[edge, :] *= 0.7  # dark block borders make motion easy to see
        tex[:, edge] *= 0.7
        return np.clip(tex, 0, 255).astype(np.uint8)

    def _make_hotbars(self, rng: np.random.Generator) -> np.ndarray:
        h, w = HOTBAR_SLOT + 4, 9 * HOTBAR_SLOT + 4
        base = np.full((h, w, 3), 40, np.uint8)
        for s in range(9):
            x0 = 2 + s * HOTBAR_SLOT
            base[4:h - 4, x0 + 2 : x0 + HOTBAR_SLOT - 2] = 120
            base[12:h - 12, x0 + 10 : x0 + HOTBAR_SLOT - 10] = rng.integers(30, 255, 3)  # item icon
        out = np.repeat(base[None], 9, axis=0)  # (9, h, w, 3)
        for s in range(9):
            x0 = 2 + s * HOTBAR_SLOT
            sel = out[s, :, max(0, x0 - 2) : x0 + HOTBAR_SLOT + 2]
            sel[:4], sel[-4:], sel[:, :4], sel[:, -4:] = 255, 255, 255, 255
        return out

    def _make_inventory(self, rng: np.random.Generator) -> np.ndarray:
        h, w = 250, 300
        panel = np.full((h, w, 3), 198, np.uint8)
        panel[:4], panel[-4:], panel[:, :4], panel[:, -4:] = 85, 85, 85, 85
        for r in range(4):
            for c in range(9):
                y0, x0 = 110 + r * 34, 8 + c * 32
                panel[y0 : y0 + 30, x0 : x0 + 30] = 139
                if rng.random() < 0.5:
                    panel[y0 + 6 : y0 + 24, x0 + 6 : x0 + 24] = rng.integers(30, 255, 3)
        panel[12:100, 20:90] = (60, 60, 70)  # the player preview box
        return panel

    # ---------------------------------------------------------------- per frame
    def render(self, view: ViewState, out: np.ndarray | None = None) -> np.ndarray:
        """Draw one frame, (HEIGHT, WIDTH, 3) uint8."""
        frame = out if out is not None else np.empty((HEIGHT, WIDTH, 3), np.uint8)
        top_elev = VFOV_DEG / 2 - view.pitch  # elevation of the frame's top row, degrees
        horizon_row = int(np.clip(round(top_elev * PX_PER_DEG), 0, HEIGHT))
        if horizon_row > 0:
            pano_row = int(round((PANO_TOP_DEG - top_elev) * PX_PER_DEG))
            pano_col = int(round((view.yaw - VFOV_DEG * WIDTH / HEIGHT / 2) * PX_PER_DEG)) % PANO_W
            frame[:horizon_row] = self.panorama[pano_row : pano_row + horizon_row, pano_col : pano_col + WIDTH]
        if horizon_row < HEIGHT:
            self._draw_ground(frame, view, horizon_row, top_elev)
        self._draw_overlays(frame, view)
        return frame

    def _draw_ground(self, frame: np.ndarray, view: ViewState, horizon_row: int, top_elev: float) -> None:
        # Computed at half resolution, then doubled: the ground is blocky anyway.
        rows = np.arange(horizon_row, HEIGHT, 2, dtype=np.float32) + 1.0  # (R,)
        depression = np.clip(rows / PX_PER_DEG - np.float32(top_elev), 0.3, 89.5)  # degrees below horizon
        dist = np.float32(view.eye_height) / np.tan(np.deg2rad(depression))  # (R,) blocks
        ang = np.float32(np.deg2rad(view.yaw)) + self._col_rel_yaw  # (C,) absolute direction of each column
        # Minecraft's forward at yaw a is (-sin a, cos a) in (x, z). The texel grid wraps every
        # GROUND_TEX texels, so positions are taken modulo one texture period first (float32
        # keeps its precision) and offset to stay positive before the integer cast.
        period = GROUND_TEX / TEXELS_PER_BLOCK
        scale = np.float32(TEXELS_PER_BLOCK)
        px, pz = np.float32(view.x % period + period), np.float32(view.z % period + period)
        dist_t = dist[:, None] * scale  # (R, 1)
        tu = ((px * scale - dist_t * np.sin(ang)[None, :]) + np.float32(1 << 16)).astype(np.int32)  # (R, C)
        tv = ((pz * scale + dist_t * np.cos(ang)[None, :]) + np.float32(1 << 16)).astype(np.int32)
        tu &= GROUND_TEX - 1
        tv &= GROUND_TEX - 1
        # Far ground fades to haze: FOG_LEVELS pre-fogged copies of the texture, picked per row.
        level = np.clip((dist - 12.0) / 40.0 * (FOG_LEVELS - 1), 0, FOG_LEVELS - 1).astype(np.int32)  # (R,)
        flat = (level[:, None] * GROUND_TEX + tv) * GROUND_TEX + tu  # (R, C) index into fogged texels
        half = self.fogged_ground[flat]  # (R, C, 3) uint8
        n_rows = HEIGHT - horizon_row
        target = frame[horizon_row:]  # (n_rows, W, 3)
        wide = np.repeat(half, 2, axis=1)  # (R, W, 3)
        target[0::2] = wide[: (n_rows + 1) // 2]
        target[1::2] = wide[: n_rows // 2]

    def _draw_overlays(self, frame: np.ndarray, view: ViewState) -> None:
        cy, cx = HEIGHT // 2, WIDTH // 2
        frame[cy - 1 : cy + 1, cx - 9 : cx + 9] = 255  # crosshair
        frame[cy - 9 : cy + 9, cx - 1 : cx + 1] = 255
        # Arm: rests in the lower right, swings up and left while attacking.
        swing = np.sin(np.pi * view.swing_phase)
        ay, ax = int(280 - 70 * swing), int(500 - 90 * swing)
        frame[ay : ay + 80, ax : ax + 60] = (200, 150, 110)
        frame[ay : ay + 80, ax : ax + 4] = (150, 105, 75)
        if view.gui_open:
            frame[:] = frame // 2  # the dimmed world behind the screen
            ih, iw = self.inventory.shape[:2]
            y0, x0 = (HEIGHT - ih) // 2, (WIDTH - iw) // 2
            frame[y0 : y0 + ih, x0 : x0 + iw] = self.inventory
        hb = self.hotbars[view.hotbar]
        y0, x0 = HEIGHT - hb.shape[0] - 2, (WIDTH - hb.shape[1]) // 2
        frame[y0 : y0 + hb.shape[0], x0 : x0 + hb.shape[1]] = hb


# ------------------------------------------------------------------------ index stamps
STAMP_BITS = 16
STAMP_GRID = 4  # 4 x 4 blocks of 80 px covering the centre 320x320 (inside any centre crop)
STAMP_BLOCK = 80


def stamp_index(frame: np.ndarray, index: int) -> None:
    """Write `index` (< 2**16) into the centre of a 640x360 frame as 16 black/white blocks.

    The blocks survive H.264 and any resize, and lie inside the square centre crop that the
    clip loader takes, so `read_stamp` can recover the index from a loaded clip frame.
    """
    y0 = (HEIGHT - STAMP_GRID * STAMP_BLOCK) // 2
    x0 = (WIDTH - STAMP_GRID * STAMP_BLOCK) // 2
    for bit in range(STAMP_BITS):
        r, c = divmod(bit, STAMP_GRID)
        value = 255 if (index >> bit) & 1 else 0
        top, left = y0 + r * STAMP_BLOCK, x0 + c * STAMP_BLOCK
        frame[top : top + STAMP_BLOCK, left : left + STAMP_BLOCK] = value


def read_stamp(square_crop: np.ndarray) -> int:
    """Read the index back from a (H, W[, C]) image that is the square centre crop of a stamped frame.

    Intensities may be uint8 (0..255) or floats in [0, 1]; each block is sampled at its centre.
    """
    img = np.asarray(square_crop, dtype=np.float32)
    if img.ndim == 3:
        img = img.mean(axis=-1)
    if img.max() > 1.5:
        img = img / 255.0
    size = img.shape[0]
    margin = (HEIGHT - STAMP_GRID * STAMP_BLOCK) / 2  # in original pixels of the 360x360 crop
    index = 0
    for bit in range(STAMP_BITS):
        r, c = divmod(bit, STAMP_GRID)
        fy = (margin + (r + 0.5) * STAMP_BLOCK) / HEIGHT
        fx = (margin + (c + 0.5) * STAMP_BLOCK) / HEIGHT
        if img[int(fy * size), int(fx * img.shape[1])] > 0.5:
            index |= 1 << bit
    return index
