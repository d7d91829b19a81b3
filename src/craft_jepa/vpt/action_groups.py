"""Action feature groups (camera, movement keys, hotbar, mouse buttons, GUI) and camera units.

Groups are read from feature names (`vpt.layouts` names such as `mouse_dx`, `key_w`,
`button_0`, `hotbar_3`, `gui_open`; raw VPT names like `key.keyboard.w` work too).
Used by action sensitivity here and by the planner's action space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

DEGREES_PER_MOUSE_UNIT = 0.15  # VPT: 2,400 mouse units per full turn

# Feature groups used by planning (camera / categorical hotbar) and by eval (sensitivity).
GROUPS = ("camera", "movement", "hotbar", "buttons", "gui", "other")

_MOVEMENT = {"w", "a", "s", "d", "space", "left.shift", "right.shift", "left.control",
             "right.control", "forward", "back", "left", "right", "jump", "sneak", "sprint"}
_GUI = {"e", "escape", "inventory", "esc", "isguiopen", "guiopen", "gui", "isguiinventory"}


def _short_name(name: str) -> str:
    """`key.keyboard.left.shift` -> `left.shift`; lower-cased, common prefixes dropped."""
    low = name.lower()
    for prefix in ("key.keyboard.", "keyboard.", "key.", "keys.", "key_"):
        if low.startswith(prefix):
            return low[len(prefix):]
    return low


def feature_group(name: str, continuous: bool) -> str:
    """Which of GROUPS a layout feature belongs to, from its name."""
    low = name.lower()
    if continuous:
        if any(w in low for w in ("dx", "dy", "yaw", "pitch", "camera")):
            return "camera"
        if "wheel" in low or "scroll" in low:  # the scroll wheel changes the hotbar slot
            return "hotbar"
        return "other"
    if "hotbar" in low:
        return "hotbar"
    short = _short_name(name)
    if re.fullmatch(r"[1-9]", short) or re.fullmatch(r"hotbar[._]?[1-9]", short):
        return "hotbar"
    if "mouse" in low or "button" in low or short in {"attack", "use", "pickitem"}:
        return "buttons"
    if short.replace("_", ".") in _MOVEMENT or short in _MOVEMENT:
        return "movement"
    if short.replace("_", "").replace(".", "") in _GUI or "gui" in low:
        return "gui"
    return "other"


def is_state_like(name: str, continuous: bool) -> bool:
    """Features that describe what frame t already shows rather than what the player does:
    the selected hotbar slot (one-hot `hotbar_N`) and the GUI-open flag. A probe reads them
    from z_t alone, so they are kept out of action scores."""
    if continuous:
        return False
    low = name.lower()
    return bool(re.fullmatch(r"hotbar_?\d", low)) or (
        "gui" in low and not low.startswith(("key", "keyboard")))


def camera_axis(name: str) -> tuple[int, float] | None:
    """(axis, raw units per degree) of a camera feature: axis 0 = yaw, 1 = pitch."""
    low = name.lower()
    if "dx" in low:
        return 0, 1.0 / DEGREES_PER_MOUSE_UNIT
    if "dy" in low:
        return 1, 1.0 / DEGREES_PER_MOUSE_UNIT
    if "yaw" in low:
        return 0, 1.0
    if "pitch" in low:
        return 1, 1.0
    return None


def camera_columns(feature_names: Sequence[str], continuous_mask: Sequence[bool]
                   ) -> dict[int, tuple[int, float]]:
    """{axis: (feature index, raw units per degree)} for yaw (0) and pitch (1).

    Degree features (yaw_diff, pitch_diff) are preferred over mouse units when both exist."""
    best: dict[int, tuple[int, float]] = {}
    for i, (name, cont) in enumerate(zip(feature_names, continuous_mask)):
        found = camera_axis(name) if cont else None
        if found is None:
            continue
        axis, units_per_deg = found
        if axis not in best or units_per_deg < best[axis][1]:
            best[axis] = (i, units_per_deg)
    return best


def camera_degrees(raw: Tensor | np.ndarray, feature_names: Sequence[str],
                   continuous_mask: Sequence[bool]) -> Tensor:
    """Raw layout vectors (..., A) -> camera (yaw, pitch) in degrees (..., 2)."""
    cols = camera_columns(feature_names, continuous_mask)
    if set(cols) != {0, 1}:
        raise ValueError(f"layout {list(feature_names)} lacks a yaw and a pitch camera feature")
    raw = torch.as_tensor(raw, dtype=torch.float32)
    return torch.stack([raw[..., cols[a][0]] / cols[a][1] for a in (0, 1)], dim=-1)
