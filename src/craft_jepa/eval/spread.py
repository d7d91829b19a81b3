"""Spreads for reported numbers: seeded bootstrap intervals over evaluation items.

Every comparison in a report is a ratio of two means over the SAME items (clips, pairs),
so it is bootstrapped paired: one resample of item indices serves both sides. Intervals
are percentile intervals (2.5 %, 97.5 %) of `resamples` draws from a seeded generator, so
a report is the same on every machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RESAMPLES = 1000


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) bootstrap index draws."""
    return np.random.default_rng([seed, n]).integers(0, n, size=(resamples, n))


def bootstrap(values: np.ndarray, statistic: Callable[[np.ndarray], float], seed: int = 0,
              resamples: int = RESAMPLES) -> dict[str, float]:
    """{"value", "lo", "hi"} of `statistic` over items (rows of `values`), 95 % interval."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    point = float(statistic(values))
    if n < 2:
        return {"value": point, "lo": float("nan"), "hi": float("nan")}
    draws = np.array([statistic(values[idx]) for idx in _indices(n, resamples, seed)])
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return {"value": point, "lo": float("nan"), "hi": float("nan")}
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"value": point, "lo": float(lo), "hi": float(hi)}


def mean_interval(values: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Mean of per-item values (n,) with its 95 % bootstrap interval."""
    return bootstrap(np.asarray(values, dtype=np.float64), lambda v: float(v.mean()), seed)


def ratio_interval(numerator: np.ndarray, denominator: np.ndarray, seed: int = 0) -> dict[str, float]:
    """mean(numerator) / mean(denominator) over paired items (n,), with a paired interval."""
    pairs = np.stack([np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)], 1)

    def ratio(v: np.ndarray) -> float:
        den = v[:, 1].mean()
        return float(v[:, 0].mean() / den) if den != 0 else float("nan")

    return bootstrap(pairs, ratio, seed)


def correlation_interval(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Pearson correlation of paired items with a bootstrap interval (NaN if undefined)."""
    pairs = np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], 1)

    def corr(v: np.ndarray) -> float:
        if len(v) < 2 or v[:, 0].std() == 0 or v[:, 1].std() == 0:
            return float("nan")
        return float(np.corrcoef(v[:, 0], v[:, 1])[0, 1])

    return bootstrap(pairs, corr, seed)


def margin_check(interval: dict[str, float], margin: float) -> dict[str, float | bool | str]:
    """A ratio beside the margin it must clear: cleared only when the whole interval is past it."""
    lo = interval["lo"]
    return {**interval, "margin": margin,
            "clears_margin": bool(np.isfinite(lo) and lo >= margin)}
