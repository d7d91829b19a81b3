"""Named action and state layouts: StepActions / ticks -> float32 vectors.

An action layout is an ordered list of named features from `FEATURES`. Three are
built in (REFERENCE.md section 2): `vpt13` (the original README's 13-D) and
`vpt38` (the original code's 38-D); a config may also give its own list of feature
names. Continuous features (mouse deltas, camera differences, wheel) are the only
ones the ActionScaler standardizes; all others are 0/1.

`droid7` is the robot arm's 7-D end-effector action of DROID (data/droid.py computes it from
the trajectory, not from VPT steps: encoding VPT steps with it is an error), with the state
layout `droid7` (pose + gripper).

States are separate from actions and have their own size S (0 for `none`): they are
never padded to the action size.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from craft_jepa.vpt.actions import BUTTON_TO_VPT_ACTION, KEY_TO_VPT_ACTION, StepAction
from craft_jepa.vpt.jsonl import TickRecord


@dataclass(frozen=True)
class Feature:
    name: str
    continuous: bool
    vpt_name: str  # the VPT term shown by `describe_action`
    value: Callable[[StepAction], float]


def _key_feature(raw_key: str) -> Feature:
    suffix = raw_key.removeprefix("key.keyboard.")
    return Feature(
        name="key_" + suffix.replace(".", "_"),
        continuous=False,
        vpt_name=KEY_TO_VPT_ACTION.get(raw_key, raw_key),  # unmapped keys keep their raw name
        value=lambda step: float(raw_key in step.keys),
    )


def _button_feature(button: int) -> Feature:
    return Feature(
        name=f"button_{button}",
        continuous=False,
        vpt_name=BUTTON_TO_VPT_ACTION[button],
        value=lambda step: float(button in step.buttons),
    )


def _hotbar_feature(slot: int) -> Feature:
    return Feature(
        name=f"hotbar_{slot}",
        continuous=False,
        vpt_name=f"hotbar_slot_{slot}",
        value=lambda step: float(step.hotbar == slot),  # unknown slot (None): all zeros
    )


# DROID's 7-D action (data/droid.py's poses_to_actions): metres, radians, gripper in [0, 1] units.
DROID_ACTION_FEATURES = ("ee_dx", "ee_dy", "ee_dz", "ee_droll", "ee_dpitch", "ee_dyaw", "gripper_delta")
DROID_STATE_FEATURES = ("ee_x", "ee_y", "ee_z", "ee_roll", "ee_pitch", "ee_yaw", "gripper")


def _not_from_vpt(name: str) -> Callable[..., float]:
    def value(_: object) -> float:
        raise ValueError(f"{name!r} is a DROID robot feature: it comes from trajectory.h5 (data.source droid), "
                         "not from VPT actions")
    return value


def _robot_feature(name: str) -> Feature:
    return Feature(name=name, continuous=True, vpt_name=name, value=_not_from_vpt(name))


def _build_registry() -> dict[str, Feature]:
    features = [
        Feature("mouse_dx", True, "camera_dx", lambda s: s.dx),
        Feature("mouse_dy", True, "camera_dy", lambda s: s.dy),
        Feature("yaw_diff", True, "yaw_diff_degrees", lambda s: s.yaw_diff),
        Feature("pitch_diff", True, "pitch_diff_degrees", lambda s: s.pitch_diff),
        Feature("mouse_dwheel", True, "scroll", lambda s: s.dwheel),
        *(_key_feature(f"key.keyboard.{n}") for n in range(1, 10)),
        *(_key_feature(f"key.keyboard.{k}") for k in ("w", "a", "s", "d", "space", "q", "f", "e")),
        *(_key_feature(f"key.keyboard.{k}") for k in ("escape", "left.shift", "right.shift")),
        *(_key_feature(f"key.keyboard.{k}") for k in ("left.control", "right.control", "tab")),
        *(_button_feature(b) for b in (0, 1, 2)),
        *(_hotbar_feature(slot) for slot in range(9)),
        Feature("gui_open", False, "isGuiOpen", lambda s: float(s.gui_open)),
    ]
    return {f.name: f for f in features}


FEATURES: dict[str, Feature] = _build_registry()  # VPT features: computed from StepActions
ROBOT_FEATURES: dict[str, Feature] = {name: _robot_feature(name) for name in DROID_ACTION_FEATURES}
_ALL_FEATURES: dict[str, Feature] = {**FEATURES, **ROBOT_FEATURES}

_CAMERA = ["mouse_dx", "mouse_dy", "yaw_diff", "pitch_diff"]
_HOTBAR_KEYS = [f"key_{n}" for n in range(1, 10)]
BUILTIN_ACTION_LAYOUTS: dict[str, list[str]] = {
    "vpt13": _CAMERA + _HOTBAR_KEYS,
    "vpt38": _CAMERA
    + _HOTBAR_KEYS
    + ["key_w", "key_a", "key_s", "key_d", "key_space", "key_q", "key_f", "key_e", "key_escape"]
    + ["key_left_shift", "key_right_shift", "key_left_control"]
    + ["button_0", "button_1", "button_2"]
    + [f"hotbar_{slot}" for slot in range(9)]
    + ["gui_open"],
    "droid7": list(DROID_ACTION_FEATURES),
}


class ActionLayout:
    """An ordered list of features; `encode` turns T-1 StepActions into (T-1, A)."""

    def __init__(self, name: str, feature_names: Sequence[str]) -> None:
        names = list(feature_names)
        if not names:
            raise ValueError(f"action layout {name!r} has no features")
        for feature_name in names:
            if feature_name not in _ALL_FEATURES:
                raise ValueError(_unknown_feature_message(feature_name))
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"action layout {name!r} repeats features {duplicates}")
        self.name = name
        self.feature_names: tuple[str, ...] = tuple(names)
        self._features = [_ALL_FEATURES[n] for n in names]
        self.continuous_mask = np.array([f.continuous for f in self._features], dtype=bool)

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    @property
    def continuous_indices(self) -> np.ndarray:
        return np.flatnonzero(self.continuous_mask)

    def encode(self, steps: Sequence[StepAction]) -> np.ndarray:
        """StepActions -> float32 (len(steps), A), raw (unscaled) values."""
        out = np.zeros((len(steps), self.dim), dtype=np.float32)
        for t, step in enumerate(steps):
            out[t] = [feature.value(step) for feature in self._features]
        return out

    def describe(self, vector: Sequence[float], threshold: float = 0.5) -> dict[str, object]:
        """One layout vector (A,) -> readable dict of VPT terms.

        Continuous features keep their value, binary ones become True/False
        (value >= threshold), and the hotbar one-hot becomes `hotbar_slot`
        (the arg-max slot, or None if no slot is on).
        """
        values = np.asarray(vector, dtype=np.float64).reshape(-1)
        if values.shape[0] != self.dim:
            raise ValueError(f"layout {self.name!r} expects {self.dim} values, got {values.shape[0]}")
        readable: dict[str, object] = {}
        hotbar_scores: dict[int, float] = {}
        for feature, value in zip(self._features, values):
            if feature.continuous:
                readable[feature.vpt_name] = float(value)
            elif feature.name.startswith("hotbar_"):
                hotbar_scores[int(feature.name.removeprefix("hotbar_"))] = float(value)
            else:
                readable[feature.vpt_name] = bool(value >= threshold)
        if hotbar_scores:
            slot, score = max(hotbar_scores.items(), key=lambda kv: kv[1])
            readable["hotbar_slot"] = slot if score >= threshold else None
        return readable

    def __repr__(self) -> str:
        return f"ActionLayout({self.name!r}, dim={self.dim})"


def _unknown_feature_message(name: str) -> str:
    close = difflib.get_close_matches(name, list(_ALL_FEATURES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown action feature {name!r}{hint}; valid features: {', '.join(_ALL_FEATURES)}"


def get_action_layout(spec: str | Sequence[str]) -> ActionLayout:
    """'vpt13' | 'vpt38' | 'droid7' | a list of feature names (its name is 'custom')."""
    if isinstance(spec, str):
        if spec not in BUILTIN_ACTION_LAYOUTS:
            close = difflib.get_close_matches(spec, list(BUILTIN_ACTION_LAYOUTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown action layout {spec!r}{hint}; use one of "
                f"{sorted(BUILTIN_ACTION_LAYOUTS)} or a list of feature names"
            )
        return ActionLayout(spec, BUILTIN_ACTION_LAYOUTS[spec])
    return ActionLayout("custom", list(spec))


# ---------------------------------------------------------------- states


def _pitch_state(tick: TickRecord) -> list[float]:
    return [tick.pitch / 90.0]


def _yaw_pitch_state(tick: TickRecord) -> list[float]:
    yaw = math.radians(tick.yaw)  # sin/cos: continuous across the +-180 seam
    return [math.sin(yaw), math.cos(yaw), tick.pitch / 90.0]


_STATE_LAYOUTS: dict[str, tuple[tuple[str, ...], Callable[[TickRecord], list[float]] | None]] = {
    "none": ((), None),
    "pitch": (("pitch_over_90",), _pitch_state),
    "yaw_pitch": (("sin_yaw", "cos_yaw", "pitch_over_90"), _yaw_pitch_state),
    "droid7": (DROID_STATE_FEATURES, _not_from_vpt("droid7 state")),
}


class StateLayout:
    """Per-frame proprioceptive state: ticks at the clip's frames -> float32 (T, S)."""

    def __init__(self, name: str) -> None:
        if name not in _STATE_LAYOUTS:
            close = difflib.get_close_matches(name, list(_STATE_LAYOUTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown state layout {name!r}{hint}; use one of {list(_STATE_LAYOUTS)}")
        self.name = name
        self.feature_names, self._fn = _STATE_LAYOUTS[name]

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def encode(self, frame_ticks: Sequence[TickRecord]) -> np.ndarray:
        out = np.zeros((len(frame_ticks), self.dim), dtype=np.float32)  # (T, S), S may be 0
        if self._fn is not None:
            for t, tick in enumerate(frame_ticks):
                out[t] = self._fn(tick)
        return out

    def __repr__(self) -> str:
        return f"StateLayout({self.name!r}, dim={self.dim})"


def get_state_layout(name: str) -> StateLayout:
    return StateLayout(name)


def describe_action(layout: ActionLayout, vector: Sequence[float]) -> dict[str, object]:
    """A layout vector (A,) -> readable dict of VPT terms (see `ActionLayout.describe`)."""
    return layout.describe(vector)
