"""Standardize the continuous dims of action vectors; fit by streaming, save as JSON.

`ActionScaler` holds float64 mean and scale for the continuous features of one
action layout. `transform` / `inverse_transform` take numpy arrays or torch tensors
shaped (..., A) and touch only the continuous dims (binary dims pass through
unchanged). torch is never imported here: a tensor is recognized only if torch is
already loaded by the caller.

Zero-variance rule: a feature whose standard deviation is below
`MIN_STD` (1e-6, in the feature's raw units) gets scale 1.0, so it is only centered
(e.g. a wheel that never scrolled, or a tiny data sample).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from craft_jepa.vpt.layouts import ActionLayout, get_action_layout

MIN_STD = 1e-6
SCALER_FORMAT = "craft-jepa-action-scaler"
SCALER_VERSION = 1


class RunningMoments:
    """Streaming count/mean/M2 per dim in float64 (Chan et al. batch merge)."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.mean = np.zeros(dim, dtype=np.float64)
        self.m2 = np.zeros(dim, dtype=np.float64)  # sum of squared deviations from the mean

    def update(self, batch: np.ndarray) -> None:
        """Add rows of a (N, dim) array."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.mean.shape[0]:
            raise ValueError(f"expected (N, {self.mean.shape[0]}) values, got {batch.shape}")
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
        self._combine(n, batch_mean, batch_m2)

    def merge(self, other: RunningMoments) -> None:
        if other.count:
            self._combine(other.count, other.mean, other.m2)

    def _combine(self, n: int, mean: np.ndarray, m2: np.ndarray) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (ddof=0)."""
        if self.count == 0:
            return np.zeros_like(self.mean)
        return np.sqrt(self.m2 / self.count)


@dataclass
class ActionScaler:
    """mean/scale (float64) of the continuous features of one action layout."""

    layout_name: str
    feature_names: tuple[str, ...]
    continuous_features: tuple[str, ...]
    mean: np.ndarray  # (C,) float64, one per continuous feature
    scale: np.ndarray  # (C,) float64, > 0
    count: int  # steps the statistics came from

    def __post_init__(self) -> None:
        self.feature_names = tuple(self.feature_names)
        self.continuous_features = tuple(self.continuous_features)
        self.mean = np.asarray(self.mean, dtype=np.float64).reshape(-1)
        self.scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        c = len(self.continuous_features)
        if self.mean.shape != (c,) or self.scale.shape != (c,):
            raise ValueError(
                f"ActionScaler: mean and scale need {c} values (one per continuous feature), "
                f"got {self.mean.shape[0]} and {self.scale.shape[0]}"
            )
        missing = [n for n in self.continuous_features if n not in self.feature_names]
        if missing:
            raise ValueError(f"ActionScaler: continuous_features {missing} are not in feature_names")
        if not np.all(np.isfinite(self.mean)):
            raise ValueError("ActionScaler: mean has non-finite values")
        if not np.all(np.isfinite(self.scale) & (self.scale > 0)):
            raise ValueError("ActionScaler: scale must be finite and > 0")
        if self.count < 0:
            raise ValueError(f"ActionScaler: count must be >= 0, got {self.count}")
        # Full-length (A,) vectors: mean 0 / scale 1 on binary dims, so they pass through.
        index = {name: i for i, name in enumerate(self.feature_names)}
        self._full_mean = np.zeros(len(self.feature_names), dtype=np.float64)
        self._full_scale = np.ones(len(self.feature_names), dtype=np.float64)
        for j, name in enumerate(self.continuous_features):
            self._full_mean[index[name]] = self.mean[j]
            self._full_scale[index[name]] = self.scale[j]
        # (dtype, device) -> (mean, scale) tensors: built once, not per call (a host-to-GPU copy
        # each training step otherwise). The vectors never change after construction.
        self._tensor_cache: dict[tuple[Any, Any], tuple[Any, Any]] = {}

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    # ------------------------------------------------------------ fitting

    @classmethod
    def from_moments(cls, layout: ActionLayout, moments: RunningMoments) -> ActionScaler:
        """Build from moments of the layout's continuous dims (in layout order)."""
        if moments.count == 0:
            raise ValueError("cannot fit an ActionScaler on zero steps")
        std = moments.std
        scale = np.where(std < MIN_STD, 1.0, std)  # zero-variance guard (module docstring)
        names = [layout.feature_names[i] for i in layout.continuous_indices]
        return cls(layout.name, layout.feature_names, tuple(names), moments.mean.copy(), scale, moments.count)

    @classmethod
    def fit(cls, layout: ActionLayout, actions: np.ndarray) -> ActionScaler:
        """Fit on raw layout vectors (N, A) held in memory."""
        actions = np.asarray(actions, dtype=np.float64).reshape(-1, layout.dim)
        moments = RunningMoments(len(layout.continuous_indices))
        moments.update(actions[:, layout.continuous_indices])
        return cls.from_moments(layout, moments)

    @classmethod
    def identity(cls, layout: ActionLayout) -> ActionScaler:
        """mean 0, scale 1 (for tests and untrained demos)."""
        c = len(layout.continuous_indices)
        names = tuple(layout.feature_names[i] for i in layout.continuous_indices)
        return cls(layout.name, layout.feature_names, names, np.zeros(c), np.ones(c), 0)

    def check_layout(self, layout: ActionLayout) -> None:
        """Raise if this scaler was fitted for a different feature list."""
        if tuple(layout.feature_names) != self.feature_names:
            raise ValueError(
                f"scaler was fitted for layout {self.layout_name!r} {list(self.feature_names)}, "
                f"but the run uses {layout.name!r} {list(layout.feature_names)}"
            )

    # ------------------------------------------------------------ applying

    def transform(self, actions: Any) -> Any:
        """Raw (..., A) -> standardized, same type/dtype/device as the input."""
        mean, scale = self._vectors_like(actions)
        return (actions - mean) / scale

    def inverse_transform(self, actions: Any) -> Any:
        """Standardized (..., A) -> raw layout values."""
        mean, scale = self._vectors_like(actions)
        return actions * scale + mean

    def _vectors_like(self, actions: Any) -> tuple[Any, Any]:
        if actions.shape[-1] != self.dim:
            raise ValueError(f"scaler expects (..., {self.dim}) actions, got shape {tuple(actions.shape)}")
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(actions, torch.Tensor):
            key = (actions.dtype, actions.device)
            if key not in self._tensor_cache:
                as_tensor = lambda v: torch.as_tensor(v, dtype=actions.dtype, device=actions.device)  # noqa: E731
                self._tensor_cache[key] = (as_tensor(self._full_mean), as_tensor(self._full_scale))
            return self._tensor_cache[key]
        dtype = actions.dtype if np.issubdtype(actions.dtype, np.floating) else np.float64
        return self._full_mean.astype(dtype), self._full_scale.astype(dtype)

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SCALER_FORMAT,
            "version": SCALER_VERSION,
            "layout": self.layout_name,
            "feature_names": list(self.feature_names),
            "continuous_features": list(self.continuous_features),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "count": int(self.count),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "scaler") -> ActionScaler:
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != SCALER_FORMAT:
            raise ValueError(f"{source}: key 'format' must be {SCALER_FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != SCALER_VERSION:
            raise ValueError(f"{source}: key 'version' must be {SCALER_VERSION}, got {data.get('version')!r}")
        expected = {"layout": str, "feature_names": list, "continuous_features": list,
                    "mean": list, "scale": list, "count": int}
        for key, kind in expected.items():
            if key not in data:
                raise ValueError(f"{source}: missing key {key!r}")
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise ValueError(f"{source}: key {key!r} should be a {kind.__name__}")
        for key in ("feature_names", "continuous_features"):
            if not all(isinstance(v, str) for v in data[key]):
                raise ValueError(f"{source}: key {key!r} should be a list of strings")
        for key in ("mean", "scale"):
            values = data[key]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       for v in values):
                raise ValueError(f"{source}: key {key!r} should be a list of finite numbers")
        unknown = sorted(set(data) - set(expected) - {"format", "version"})
        if unknown:
            raise ValueError(f"{source}: unexpected keys {unknown}")
        try:
            return cls(data["layout"], data["feature_names"], data["continuous_features"],
                       np.array(data["mean"]), np.array(data["scale"]), data["count"])
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ActionScaler:
        raw = Path(path).read_bytes()
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None
        return cls.from_dict(data, source=str(path))

    def layout(self) -> ActionLayout:
        """The ActionLayout these statistics belong to."""
        if self.layout_name in ("vpt13", "vpt38"):
            layout = get_action_layout(self.layout_name)
            self.check_layout(layout)
            return layout
        return ActionLayout(self.layout_name, self.feature_names)
