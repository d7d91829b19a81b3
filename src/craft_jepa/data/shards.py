"""Shard sources: turn a user's shard spec into a concrete URL list, and split train/val.

A spec may be
- a local glob (`/data/vpt/shard-*.tar`),
- a brace pattern (`/data/vpt/shard-{000000..001648}.tar`, WebDataset/braceexpand syntax),
- a directory (all `*.tar` inside it, sorted),
- a remote URL WebDataset understands (`pipe:aws s3 cp s3://b/shard-{0..9}.tar -`,
  `http(s)://...`, `s3://...`): braces are expanded, nothing is checked locally,
- a list of any of these, or a string of several joined with `::` (WebDataset's separator).

Local paths are checked here so that a typo is a clear error at start-up rather than an
empty or failing stream hours later.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Sequence

import braceexpand

_GLOB_CHARS = set("*?[")


def _is_remote(url: str) -> bool:
    """True for anything WebDataset opens itself (a pipe or a URL scheme other than file)."""
    if url.startswith("pipe:"):
        return True
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme != "file" and scheme.isalnum()


def _expand_one(pattern: str) -> list[str]:
    pattern = pattern.strip()
    if not pattern:
        return []
    if _is_remote(pattern):
        return list(braceexpand.braceexpand(pattern))
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    urls: list[str] = []
    missing: list[str] = []
    for path in braceexpand.braceexpand(os.path.expanduser(pattern)):
        if os.path.isdir(path):
            urls.extend(sorted(glob.glob(os.path.join(path, "*.tar"))))
        elif _GLOB_CHARS & set(path):
            urls.extend(sorted(glob.glob(path)))
        elif os.path.isfile(path):
            urls.append(path)
        else:
            missing.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ValueError(f"shard pattern {pattern!r}: {len(missing)} file(s) not found: {shown}")
    return urls


def expand_urls(spec: str | Sequence[str]) -> list[str]:
    """Expand a shard spec (see module docstring) into an ordered list of shard URLs.

    Order is deterministic: list order, then brace order, then sorted glob matches.
    Raises `ValueError` naming the pattern when it matches nothing or names missing files.
    """
    patterns: list[str]
    if isinstance(spec, str):
        patterns = spec.split("::")
    else:
        patterns = [p for item in spec for p in str(item).split("::")]
    urls: list[str] = []
    for pattern in patterns:
        expanded = _expand_one(pattern)
        if not expanded:
            raise ValueError(f"shard pattern {pattern!r} matches no shards")
        urls.extend(expanded)
    if not urls:
        raise ValueError(f"shard spec {spec!r} is empty")
    return urls


def split_train_val(urls: Sequence[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic split by shard: the last `val_fraction` of `urls` (at least one) is val.

    Done on the full URL list, before any splitting by rank or worker, so every rank agrees.
    `val_fraction == 0` gives no validation shards. Raises `ValueError` if the split would
    leave no training shard.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    urls = list(urls)
    if not urls:
        raise ValueError("split_train_val: empty shard list")
    if val_fraction == 0.0:
        return urls, []
    n_val = max(1, math.floor(len(urls) * val_fraction + 0.5))
    if n_val >= len(urls):
        raise ValueError(
            f"split_train_val: {len(urls)} shard(s) cannot give {n_val} validation shard(s) "
            f"(val_fraction={val_fraction}) and still leave one for training"
        )
    return urls[:-n_val], urls[-n_val:]
