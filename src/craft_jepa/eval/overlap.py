"""Held-out means held out: refuse evaluation data that the run trained on.

The run's training shards come from `runs.loading.run_training_shards`. Two overlaps are refused:
- a shard that is also a training shard (same file after resolving links);
- a segment key (the recording stem) that also sits in a training shard, e.g. the same
  recordings packed twice into different shard sets.
The training keys are read from the tar headers only (member bodies are skipped by seeking),
so the check costs a pass over the training shards' headers. A DROID run's training data are
trajectory directories: `check_trajectories` refuses any of them among the evaluated ones. When the run's training data
cannot be found on this machine, the check says so and evaluation goes on.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterable, Sequence


class TrainingDataOverlap(ValueError):
    """Evaluation data overlaps the run's training data."""


_RUN_SUFFIX = re.compile(r"_\d+$")  # feature shards name a sample KEY_<start tick>


def segment_keys(shard: str) -> set[str]:
    """Segment keys of a local tar shard: each member name before its first dot, less the
    `_<start tick>` a feature shard appends (VPT stems end in -HHMMSS, never in _digits)."""
    keys = set()
    with tarfile.open(shard, mode="r:") as archive:
        for member in archive:
            name = os.path.basename(member.name)
            keys.add(_RUN_SUFFIX.sub("", name.split(".", 1)[0]))
    return keys


def _local(urls: Iterable[str]) -> dict[str, str]:
    """{resolved path: url} of the URLs that are files on this machine."""
    out = {}
    for url in urls:
        path = url.removeprefix("file:")
        if "://" not in path and os.path.isfile(path):
            out[os.path.realpath(path)] = url
    return out


def check_shards(run_or_export_dir: str | os.PathLike[str], train: Sequence[str],
                 eval_urls: Sequence[str]) -> None:
    """Raise TrainingDataOverlap when an evaluation shard is one of the training shards."""
    train_files, eval_files = _local(train), _local(eval_urls)
    shared = sorted(eval_files[p] for p in set(train_files) & set(eval_files))
    if shared:
        raise TrainingDataOverlap(
            f"{len(shared)} evaluation shard(s) are training shards of {run_or_export_dir}: "
            f"{', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''} (pass --allow-train-data to "
            "evaluate on training data anyway)")


def check_keys(train: Sequence[str], eval_keys: Iterable[str]) -> None:
    """Raise TrainingDataOverlap when an evaluated segment also sits in a training shard."""
    keys = set(eval_keys)
    for path, url in _local(train).items():
        common = keys & segment_keys(path)
        if common:
            listed = ", ".join(sorted(common)[:5])
            raise TrainingDataOverlap(
                f"{len(common)} evaluated segment(s) also sit in training shard {url}: {listed}"
                f"{' ...' if len(common) > 5 else ''} (pass --allow-train-data to evaluate on "
                "training data anyway)")


def check_trajectories(run_or_export_dir: str | os.PathLike[str], train: Sequence[str],
                       eval_dirs: Sequence[str]) -> None:
    """Raise TrainingDataOverlap when an evaluated DROID trajectory directory is a training one."""
    train_dirs = {os.path.realpath(d) for d in train}
    shared = [d for d in eval_dirs if os.path.realpath(d) in train_dirs]
    if shared:
        raise TrainingDataOverlap(
            f"{len(shared)} evaluation trajectories are training trajectories of {run_or_export_dir}: "
            f"{', '.join(shared[:5])}{' ...' if len(shared) > 5 else ''} (pass --allow-train-data to "
            "evaluate on training data anyway)")
