"""What a set of video shards holds, before any work is spent on them.

A shard is read header by header: a jsonl member's lines are counted, an mp4 body is skipped by
seeking. `check_recipe_data` refuses, naming the shard, training data that a recipe cannot learn
from (no usable segment, too little of it, segments also in the held-out data) and held-out data
with nothing to score. A usable segment has an mp4 and a jsonl of at least one clip span of lines.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass

from craft_jepa.data.clips import ClipConfig
from craft_jepa.data.shards import expand_urls


class DataRefused(ValueError):
    """Data a recipe cannot use; the message names the shard."""


@dataclass(frozen=True)
class SegmentSurvey:
    shard: str
    key: str  # the recording stem (a WebDataset sample key)
    lines: int  # jsonl lines = 20 Hz ticks; 0 without a jsonl member
    has_mp4: bool

    def usable(self, clip: ClipConfig) -> bool:
        return self.has_mp4 and self.lines >= clip.span_ticks

    def windows(self, clip: ClipConfig) -> int:
        """Distinct clip start ticks in the segment (0 when it is shorter than one clip)."""
        return max(0, self.lines - clip.span_ticks + 1) if self.has_mp4 else 0


def survey_shard(url: str) -> list[SegmentSurvey]:
    """The segments of one local tar shard, in member order."""
    path = url.removeprefix("file:")
    if "://" in path or path.startswith("pipe:") or not os.path.isfile(path):
        raise DataRefused(f"{url}: not a shard file on this machine (the recipe checks its data before any work)")
    lines: dict[str, int] = {}
    mp4s: set[str] = set()
    try:
        with tarfile.open(path, mode="r:") as archive:
            for member in archive:
                key, _, suffix = os.path.basename(member.name).partition(".")
                if suffix == "jsonl":
                    body = archive.extractfile(member)
                    lines[key] = 0 if body is None else sum(1 for line in body if line.strip())
                elif suffix == "mp4":
                    mp4s.add(key)
    except (tarfile.TarError, OSError) as err:
        raise DataRefused(f"{url}: not a readable tar shard ({err})") from None
    keys = list(dict.fromkeys([*lines, *sorted(mp4s)]))
    return [SegmentSurvey(url, key, lines.get(key, 0), key in mp4s) for key in keys]


@dataclass(frozen=True)
class RecipeData:
    """The checked data of a recipe run: shard URLs and their usable segments."""

    train_shards: list[str]
    heldout_shards: list[str]
    train_segments: list[SegmentSurvey]
    heldout_segments: list[SegmentSurvey]

    def train_seconds(self) -> float:
        return sum(s.lines for s in self.train_segments) / 20.0


def check_recipe_data(train: str | Sequence[str], heldout: str | Sequence[str], clip: ClipConfig,
                      min_train_windows: int) -> RecipeData:
    """Survey both sets; raise DataRefused naming the shard when the training data holds no usable
    segment (per shard), fewer than `min_train_windows` clip windows in all, or a segment that is
    also in the held-out data, or when the held-out data has no usable segment."""
    train_urls, heldout_urls = expand_urls(list(train) if not isinstance(train, str) else train), \
        expand_urls(list(heldout) if not isinstance(heldout, str) else heldout)
    if not train_urls or not heldout_urls:
        raise DataRefused(f"no shards in the {'training' if not train_urls else 'held-out'} data spec")
    heldout_segments = [s for url in heldout_urls for s in survey_shard(url)]
    heldout_keys = {s.key: s.shard for s in heldout_segments}
    train_segments: list[SegmentSurvey] = []
    for url in train_urls:
        segments = survey_shard(url)
        shared = [s.key for s in segments if s.key in heldout_keys]
        if shared:
            raise DataRefused(f"{url}: segment {shared[0]} is also in the held-out data ({heldout_keys[shared[0]]}); "
                              f"{len(shared)} shared segment(s) in this shard: held-out data must be held out")
        usable = [s for s in segments if s.usable(clip)]
        if not usable:
            reasons = "no segments" if not segments else ", ".join(
                f"{s.key}: {'no mp4' if not s.has_mp4 else f'{s.lines} lines'}" for s in segments[:3])
            raise DataRefused(f"{url}: no usable segment (an mp4 with a jsonl of >= {clip.span_ticks} lines, one "
                              f"clip of {clip.frames} frames at {clip.fps:g} fps): {reasons}")
        train_segments += usable
    windows = sum(s.windows(clip) for s in train_segments)
    if windows < min_train_windows:
        raise DataRefused(f"{train_urls[0]}{' ...' if len(train_urls) > 1 else ''}: the training data is too short: "
                          f"{windows} clip windows in {len(train_segments)} segment(s), the recipe needs at least "
                          f"{min_train_windows}")
    usable_heldout = [s for s in heldout_segments if s.usable(clip)]
    if not usable_heldout:
        raise DataRefused(f"{heldout_urls[0]}: the held-out data has no usable segment (>= {clip.span_ticks} lines "
                          "with an mp4)")
    return RecipeData(train_urls, heldout_urls, train_segments, usable_heldout)
