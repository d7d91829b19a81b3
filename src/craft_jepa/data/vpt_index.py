"""OpenAI VPT index files and reproducible subsets of them (for `craft-jepa download`).

An index is one JSON object `{"basedir": URL, "relpaths": [...]}`. Two relpath forms exist:
extension-less `<version>/<stem>` (the VPT README; `.mp4` and `.jsonl` are appended) and
`data/<task or version>/<stem>.mp4` (the BASALT and `all_*xx_Jun_29.json` indexes; the jsonl sits
beside the mp4). Either way a segment is downloaded to `RAW_DIR/<relpath without .mp4>.{mp4,jsonl}`,
which is where `pack --index` looks for it.

A segment's `version` is the folder holding it (`6.13`, `10.0`, or a BASALT task); its `group`
is `<major>xx` for numeric versions (`6xx`), else the folder name. Subsets are drawn per version
with a seeded shuffle and interleaved round-robin, so any subset of at least as many segments as
there are versions holds every version.
"""

from __future__ import annotations

import json
import math
import posixpath
import random
import re
from dataclasses import dataclass

import requests

_MAJOR = re.compile(r"^(\d+)\.")


@dataclass(frozen=True)
class Segment:
    relpath: str  # as written in the index
    base: str  # relpath without .mp4: the path under basedir and under RAW_DIR, sans extension
    stem: str
    version: str  # the folder holding the segment ('' when there is none)

    @property
    def group(self) -> str:
        match = _MAJOR.match(self.version)
        return f"{match.group(1)}xx" if match else self.version


@dataclass(frozen=True)
class VptIndex:
    source: str  # path or URL it was read from
    basedir: str
    segments: tuple[Segment, ...]

    def url(self, segment: Segment, suffix: str) -> str:
        return self.basedir.rstrip("/") + "/" + segment.base + suffix


@dataclass(frozen=True)
class Selection:
    """Which segments of an index to take. At most one of limit / fraction / hours."""

    limit: int | None = None
    fraction: float | None = None
    hours: float | None = None
    seed: int = 0
    versions: tuple[str, ...] = ()  # groups ('6xx') or versions ('6.13'); empty: all

    def __post_init__(self) -> None:
        given = [name for name in ("limit", "fraction", "hours") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"Selection: give at most one of limit, fraction, hours (got {', '.join(given)})")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"Selection.limit must be >= 1, got {self.limit}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"Selection.fraction must be in (0, 1], got {self.fraction}")
        if self.hours is not None and not self.hours > 0:
            raise ValueError(f"Selection.hours must be > 0, got {self.hours}")


def parse_index(data: object, source: str) -> VptIndex:
    """Validate a decoded index; errors name the source and the offending key or entry."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object with 'basedir' and 'relpaths'")
    basedir, relpaths = data.get("basedir"), data.get("relpaths")
    if not isinstance(basedir, str) or not basedir.startswith(("http://", "https://")):
        raise ValueError(f"{source}: 'basedir' must be an http(s) URL, got {basedir!r}")
    if not isinstance(relpaths, list):
        raise ValueError(f"{source}: 'relpaths' must be a list")
    segments: list[Segment] = []
    seen: dict[str, str] = {}
    for number, relpath in enumerate(relpaths):
        where = f"{source}: relpaths[{number}]"
        if not isinstance(relpath, str) or not relpath.strip():
            raise ValueError(f"{where}: expected a path string, got {relpath!r}")
        base = relpath.removesuffix(".mp4")
        normal = posixpath.normpath(base)
        # The path becomes a local path under RAW_DIR: nothing may point outside it.
        if base.startswith("/") or normal.startswith("..") or normal != base or "\\" in base:
            raise ValueError(f"{where}: {relpath!r} is not a plain relative path")
        stem = posixpath.basename(base)
        if stem in seen:
            if seen[stem] == relpath:
                continue  # listed twice: one segment
            raise ValueError(f"{where}: stem {stem!r} also listed as {seen[stem]!r}")
        seen[stem] = relpath
        segments.append(Segment(relpath, base, stem, posixpath.basename(posixpath.dirname(base))))
    if not segments:
        raise ValueError(f"{source}: 'relpaths' is empty")
    return VptIndex(source, basedir, tuple(segments))


def load_index(source: str, session: requests.Session | None = None, timeout: float = 60.0) -> VptIndex:
    """Read an index from a local path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        response = (session or requests.Session()).get(source, timeout=timeout)
        if response.status_code != 200:
            raise ValueError(f"{source}: HTTP {response.status_code}")
        text = response.text
    else:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not JSON ({err})") from None
    return parse_index(data, source)


def filter_versions(index: VptIndex, versions: tuple[str, ...]) -> list[Segment]:
    if not versions:
        return list(index.segments)
    known = {s.group for s in index.segments} | {s.version for s in index.segments}
    unknown = [v for v in versions if v not in known]
    if unknown:
        raise ValueError(f"{index.source}: no segments of version(s) {', '.join(unknown)}; "
                         f"the index holds {', '.join(sorted(known))}")
    return [s for s in index.segments if s.group in versions or s.version in versions]


def _per_version(segments: list[Segment], seed: int) -> dict[str, list[Segment]]:
    """Segments by version, each list shuffled by a generator seeded by (seed, version) only, so
    adding another version to the index does not reorder this one's."""
    by_version: dict[str, list[Segment]] = {}
    for segment in sorted(segments, key=lambda s: s.stem):
        by_version.setdefault(segment.version, []).append(segment)
    for version, members in by_version.items():
        random.Random(f"{seed}/{version}").shuffle(members)
    return dict(sorted(by_version.items()))


def _interleave(lists: list[list[Segment]]) -> list[Segment]:
    out: list[Segment] = []
    for position in range(max((len(x) for x in lists), default=0)):
        out.extend(members[position] for members in lists if position < len(members))
    return out


def candidate_order(index: VptIndex, selection: Selection) -> list[Segment]:
    """The selection's segments in download order. For `hours`, all candidates (the download
    takes the shortest prefix holding that many hours); otherwise exactly the subset."""
    by_version = _per_version(filter_versions(index, selection.versions), selection.seed)
    if selection.fraction is not None:
        # Every version gives its share (at least one segment).
        return _interleave([m[: max(1, math.ceil(selection.fraction * len(m)))] for m in by_version.values()])
    ordered = _interleave(list(by_version.values()))
    return ordered[: selection.limit] if selection.limit is not None else ordered
