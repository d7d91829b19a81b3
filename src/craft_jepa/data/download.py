"""Download the segments of an OpenAI VPT index into RAW_DIR (`craft-jepa download`).

Each segment goes in two stages: HEAD its mp4 (a 404 marks it missing before anything is
fetched) and its jsonl, GET the jsonl, then GET the mp4; files are fetched by
`http_fetch.fetch_file` (`.part` files, Range resume, atomic rename, retries). A segment is done
only when both files arrived (and, with `verify`, passed `pack.validate_pair`; a pair failing it
is removed). Its hours are its jsonl lines at 20 Hz, as in pack-report.json.

With `Selection.hours`, jsonl files are fetched in candidate order until the prefix holds the
hours still wanted, then that prefix's mp4s; missing or failed segments leave a deficit that the
next candidates fill. The result depends on the index, seed and server only, not on `workers`
(jsonl files fetched past the prefix are removed at the end).

RAW_DIR/download-report.json records the outcome; RAW_DIR/download-index.json is a VPT index of
the done segments (`pack RAW_DIR --index RAW_DIR/download-index.json`, or `--pack`, packs exactly
them). Both are rewritten atomically, also after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import requests
from tqdm import tqdm

from craft_jepa.data.http_fetch import (
    HttpConfig, HttpStatusError, Interrupted, fetch_file, make_session, remote_size)
from craft_jepa.data.pack import TICKS_PER_SECOND, RawPair, validate_pair
from craft_jepa.data.vpt_index import Segment, Selection, VptIndex, candidate_order, load_index

REPORT_NAME = "download-report.json"
DONE_INDEX_NAME = "download-index.json"
MAX_WORKERS = 64


@dataclass(frozen=True)
class DownloadConfig:
    out_dir: str
    selection: Selection = field(default_factory=Selection)
    workers: int = 4  # parallel segments (each holds one HTTP connection at a time)
    http: HttpConfig = field(default_factory=HttpConfig)
    verify: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"DownloadConfig.workers must be in [1, {MAX_WORKERS}], got {self.workers}")


@dataclass
class DownloadReport:
    index: str
    selected: int = 0  # segments chosen (for hours: the candidates tried)
    done: list[str] = field(default_factory=list)  # stems, in download order
    missing: dict[str, str] = field(default_factory=dict)  # stem -> the file the server lacks
    failed: dict[str, str] = field(default_factory=dict)  # stem -> reason
    bytes: int = 0  # on disk, of the done pairs
    fetched_bytes: int = 0  # received by this run
    hours: float = 0.0  # of the done pairs (jsonl lines at 20 Hz)
    interrupted: bool = False

    def summary(self) -> str:
        state = "interrupted: " if self.interrupted else ""
        size, fetched = tqdm.format_sizeof(self.bytes, "B"), tqdm.format_sizeof(self.fetched_bytes, "B")
        lines = [f"{state}{len(self.done)} of {self.selected} segment(s) done ({self.hours:.4g} h, {size}; "
                 f"{fetched} fetched by this run), {len(self.missing)} missing on the server, "
                 f"{len(self.failed)} failed"]
        for stem, reason in list(self.failed.items())[:5]:
            lines.append(f"  failed {stem}: {reason}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Outcome:
    status: str  # "ok" (jsonl stage passed) | "done" | "missing" | "failed"
    detail: str = ""  # the missing file's extension or the failure reason


def jsonl_seconds(path: str) -> float:
    """Seconds of recording of a jsonl file (non-empty lines at 20 Hz, as pack counts them)."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip()) / TICKS_PER_SECOND


def _write_json(path: str, obj: object) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


class _Downloader:
    def __init__(self, index: VptIndex, config: DownloadConfig, stop: threading.Event) -> None:
        self.index, self.config, self.stop = index, config, stop
        self.session = make_session(config.http, config.workers)
        self.lock = threading.Lock()
        self.mp4_size: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.outcomes: dict[str, _Outcome] = {}
        self.rank: dict[str, int] = {}  # stem -> position among the candidates
        self.planned = ""  # " of N" for the progress bar, when the count is known up front
        self.fetched = 0
        self.done_count = 0
        self.bar = tqdm(total=0, unit="B", unit_scale=True, desc="download",
                        disable=not config.progress, dynamic_ncols=True)

    def local(self, segment: Segment, suffix: str) -> str:
        return os.path.join(self.config.out_dir, *segment.base.split("/")) + suffix

    def _fetch(self, segment: Segment, suffix: str, size: int) -> str:
        result = fetch_file(self.session, self.index.url(segment, suffix), self.local(segment, suffix),
                            self.config.http, size=size, on_bytes=self._progress, stop=self.stop)
        with self.lock:
            self.fetched += result.fetched
            self.bar.update(max(0, result.size - result.fetched))  # bytes that were already here
        return result.status

    def _progress(self, received: int) -> None:
        with self.lock:
            self.bar.update(received)

    def _missing(self, segment: Segment, suffix: str) -> _Outcome:
        # Partial files and a jsonl without its mp4 would only be skipped by pack; a complete
        # local mp4 (the server may have lost it since) is left alone.
        for leftover in (".mp4.part", ".jsonl.part") + ((".jsonl",) if not os.path.isfile(
                self.local(segment, ".mp4")) else ()):
            if os.path.isfile(self.local(segment, leftover)):
                os.remove(self.local(segment, leftover))
        return _Outcome("missing", suffix.lstrip("."))

    def jsonl_stage(self, segment: Segment) -> _Outcome:
        try:
            mp4_size = remote_size(self.session, self.index.url(segment, ".mp4"), self.config.http)
            if mp4_size is None:
                return self._missing(segment, ".mp4")
            jsonl_size = remote_size(self.session, self.index.url(segment, ".jsonl"), self.config.http)
            if jsonl_size is None:
                return self._missing(segment, ".jsonl")
            with self.lock:
                self.bar.total += mp4_size + jsonl_size
                self.bar.refresh()
            if self._fetch(segment, ".jsonl", jsonl_size) == "missing":
                return self._missing(segment, ".jsonl")
        except (requests.RequestException, HttpStatusError) as err:
            return _Outcome("failed", f"{type(err).__name__}: {err}")
        seconds = jsonl_seconds(self.local(segment, ".jsonl"))
        with self.lock:
            self.mp4_size[segment.stem] = mp4_size
            self.seconds[segment.stem] = seconds
        return _Outcome("ok")

    def mp4_stage(self, segment: Segment) -> _Outcome:
        try:
            if self._fetch(segment, ".mp4", self.mp4_size[segment.stem]) == "missing":
                return self._missing(segment, ".mp4")
        except (requests.RequestException, HttpStatusError) as err:
            return _Outcome("failed", f"{type(err).__name__}: {err}")
        mp4, jsonl = self.local(segment, ".mp4"), self.local(segment, ".jsonl")
        if self.config.verify:
            reason = validate_pair(RawPair(segment.stem, mp4, jsonl))
            if reason is not None:
                os.remove(mp4)
                os.remove(jsonl)
                return _Outcome("failed", f"verify: {reason}")
        return _Outcome("done")

    def segment(self, segment: Segment) -> None:
        outcome = self.jsonl_stage(segment)
        self.record(segment, self.mp4_stage(segment) if outcome.status == "ok" else outcome)

    def record(self, segment: Segment, outcome: _Outcome) -> None:
        # Recorded as each segment ends (in the worker), so Ctrl-C loses no finished segment.
        with self.lock:
            self.outcomes[segment.stem] = outcome
            self.done_count += outcome.status == "done"
            self.bar.set_postfix_str(f"{self.done_count} done, {len(self.outcomes)}{self.planned} segments",
                                     refresh=False)

    def done_seconds(self) -> float:
        with self.lock:
            return sum(self.seconds[s] for s, o in self.outcomes.items() if o.status == "done")

    def run_all(self, pool: ThreadPoolExecutor, segments: list[Segment]) -> None:
        for future in [pool.submit(self.segment, segment) for segment in segments]:
            future.result()

    def run_hours(self, pool: ThreadPoolExecutor, candidates: list[Segment], hours: float) -> None:
        position = 0
        fetched_ahead: list[Segment] = []  # jsonl fetched past the prefix: removed unless taken later
        while position < len(candidates) and self.done_seconds() < hours * 3600:
            deficit = hours * 3600 - self.done_seconds()
            chosen: list[Segment] = []
            while position < len(candidates) and deficit > 0:
                window = candidates[position: position + self.config.workers]
                for segment, outcome in zip(window, pool.map(self.jsonl_stage, window)):
                    if deficit <= 0:
                        fetched_ahead.append(segment)
                        continue
                    position += 1
                    if outcome.status == "ok":
                        chosen.append(segment)
                        deficit -= self.seconds[segment.stem]
                    else:
                        self.record(segment, outcome)
            for segment, outcome in zip(chosen, pool.map(self.mp4_stage, chosen)):
                self.record(segment, outcome)
        for segment in fetched_ahead:
            if segment.stem not in self.outcomes and os.path.isfile(self.local(segment, ".jsonl")):
                os.remove(self.local(segment, ".jsonl"))

    def segments_with_outcome(self) -> list[Segment]:
        return [s for s in self.index.segments if s.stem in self.outcomes]

    def report(self, selected: int, interrupted: bool) -> DownloadReport:
        report = DownloadReport(self.index.source, selected=selected, fetched_bytes=self.fetched,
                                interrupted=interrupted)
        for segment in sorted(self.segments_with_outcome(), key=lambda s: self.rank[s.stem]):
            outcome = self.outcomes[segment.stem]
            if outcome.status == "done":
                report.done.append(segment.stem)
                report.bytes += sum(os.path.getsize(self.local(segment, s)) for s in (".mp4", ".jsonl"))
            elif outcome.status == "missing":
                report.missing[segment.stem] = outcome.detail
            else:
                report.failed[segment.stem] = outcome.detail
        report.hours = self.done_seconds() / 3600
        return report


def download(index_source: str, config: DownloadConfig) -> DownloadReport:
    """Fetch the selected segments of an index (a path or URL) into config.out_dir.

    Ctrl-C (KeyboardInterrupt) stops the workers at their next chunk, keeps the `.part` files
    for the rerun, writes the report (interrupted: true) and re-raises."""
    os.makedirs(config.out_dir, exist_ok=True)
    stop = threading.Event()
    runner = _Downloader(load_index(index_source, make_session(config.http, 1)), config, stop)
    candidates = candidate_order(runner.index, config.selection)
    runner.rank = {segment.stem: i for i, segment in enumerate(candidates)}
    runner.planned = f" of {len(candidates)}" if config.selection.hours is None else ""
    interrupted = True
    pool = ThreadPoolExecutor(config.workers, thread_name_prefix="download")
    try:
        if config.selection.hours is None:
            runner.run_all(pool, candidates)
        else:
            runner.run_hours(pool, candidates, config.selection.hours)
        interrupted = False
    except (KeyboardInterrupt, Interrupted):
        pass
    finally:
        stop.set()  # also on an error: running workers leave at their next chunk
        pool.shutdown(wait=True, cancel_futures=True)
        runner.bar.close()
        selected = len(candidates) if config.selection.hours is None else len(runner.outcomes)
        report = runner.report(selected, interrupted)
        _write_json(os.path.join(config.out_dir, REPORT_NAME), asdict(report))
        relpath = {s.stem: s.relpath for s in candidates}
        _write_json(os.path.join(config.out_dir, DONE_INDEX_NAME), {
            "basedir": runner.index.basedir, "relpaths": [relpath[stem] for stem in report.done]})
    if interrupted:
        raise KeyboardInterrupt(report.summary())
    return report
