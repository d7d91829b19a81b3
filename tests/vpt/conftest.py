"""Builders of VPT jsonl lines and tick sequences for the vpt/ tests."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest


def full_vpt_line(tick: int = 0, **overrides: Any) -> dict[str, Any]:
    """A line shaped like a 6.13+ contractor recording (all keys, recorder order)."""
    line: dict[str, Any] = {
        "mouse": {"x": 640.0, "y": 360.0, "dx": 0.0, "dy": 0.0, "scaledX": 0.0, "scaledY": 0.0,
                  "dwheel": 0.0, "buttons": [], "newButtons": []},
        "keyboard": {"keys": [], "newKeys": [], "chars": ""},
        "isGuiOpen": False, "isGuiInventory": False, "hotbar": 0,
        "yaw": 0.0, "pitch": 0.0, "xpos": 10.5, "ypos": 64.0, "zpos": -3.25,
        "tick": tick, "milli": 1624000000000 + 50 * tick,
        "inventory": [{"type": "oak_log", "quantity": 3}],
        "serverTick": 1000 + tick, "serverTickDurationMs": 2.5,
        "stats": {"minecraft.custom:minecraft.jump": 4},
    }
    for key, value in overrides.items():
        if key in ("dx", "dy", "dwheel", "buttons", "newButtons"):
            line["mouse"][key] = value
        elif key in ("keys", "newKeys"):
            line["keyboard"][key] = value
        else:
            line[key] = value
    return line


def to_jsonl(lines: list[Any]) -> bytes:
    """Dicts are dumped compactly; bytes/str are written verbatim (for broken lines)."""
    out = []
    for line in lines:
        if isinstance(line, bytes):
            out.append(line)
        elif isinstance(line, str):
            out.append(line.encode())
        else:
            out.append(json.dumps(line, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"


def convention_lines(dxs: list[float], dys: list[float], yaw0: float = 0.0, pitch0: float = 0.0,
                     wrap_yaw: bool = True) -> list[dict[str, Any]]:
    """Lines following the camera convention: line i shows (yaw_i, pitch_i) and its dx/dy
    move the camera to line i+1: yaw_{i+1} = yaw_i + 0.15 dx_i, pitch likewise (+dy down),
    pitch clamped to [-90, 90]. With wrap_yaw the recorded yaw is folded to [-180, 180)."""
    yaw, pitch = yaw0, pitch0
    lines = []
    for i, (dx, dy) in enumerate(zip(dxs, dys)):
        shown = ((yaw + 180.0) % 360.0 - 180.0) if wrap_yaw else yaw
        lines.append(full_vpt_line(i, dx=dx, dy=dy, yaw=shown, pitch=pitch))
        yaw += 0.15 * dx
        pitch = min(90.0, max(-90.0, pitch + 0.15 * dy))
    return lines


def random_play_lines(n: int, seed: int) -> list[dict[str, Any]]:
    """Plausible random play: camera convention, some keys, buttons and hotbar changes."""
    rng = random.Random(seed)
    dxs = [rng.choice([0.0, rng.uniform(-40, 40)]) for _ in range(n)]
    dys = [rng.choice([0.0, rng.uniform(-8, 8)]) for _ in range(n)]
    lines = convention_lines(dxs, dys, yaw0=rng.uniform(-180, 180))
    hotbar = 0
    for line in lines:
        if rng.random() < 0.05:
            hotbar = rng.randrange(9)
        line["hotbar"] = hotbar
        line["keyboard"]["keys"] = rng.sample(["key.keyboard.w", "key.keyboard.space",
                                               "key.keyboard.left.shift", "key.keyboard.tab"],
                                              rng.randrange(3))
        line["mouse"]["buttons"] = [0] if rng.random() < 0.3 else []
    return lines


@pytest.fixture(scope="session")
def vpt_line() -> Callable[..., dict[str, Any]]:
    return full_vpt_line


@pytest.fixture(scope="session")
def jsonl() -> Callable[[list[Any]], bytes]:
    return to_jsonl


@pytest.fixture(scope="session")
def camera_lines() -> Callable[..., list[dict[str, Any]]]:
    return convention_lines


@pytest.fixture(scope="session")
def play_lines() -> Callable[[int, int], list[dict[str, Any]]]:
    return random_play_lines
