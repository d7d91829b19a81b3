"""`craft-jepa download --dry-run`: size a selection by HEAD requests, writing nothing.

Bytes are the servers' Content-Length of each mp4 and jsonl. Hours are an ESTIMATE: the jsonl
bytes of the present segments times lines per byte, measured on the first `sample_jsonls` present
jsonl files of the selection (fetched into memory, not written), at 20 lines per second. A real
download counts the lines of every jsonl instead, so `--hours` may pick a few segments more or
fewer than the dry run showed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from tqdm import tqdm

from craft_jepa.data.download import DownloadConfig
from craft_jepa.data.http_fetch import HttpStatusError, make_session, remote_size
from craft_jepa.data.pack import TICKS_PER_SECOND
from craft_jepa.data.vpt_index import Segment, VptIndex, candidate_order, load_index

HEADS_PER_WORKER = 8  # segments sized per worker between checks of the --hours target


@dataclass
class DryRunReport:
    index: str
    selected: int = 0  # segments sized (for hours: the prefix reaching the estimate)
    present: int = 0
    missing: dict[str, str] = field(default_factory=dict)  # stem -> the file the server lacks
    failed: dict[str, str] = field(default_factory=dict)  # stem -> reason
    mp4_bytes: int = 0
    jsonl_bytes: int = 0
    sampled_jsonls: int = 0
    lines_per_jsonl_byte: float | None = None
    hours_estimate: float | None = None

    def summary(self) -> str:
        hours = ("hours unknown (no jsonl could be sampled)" if self.hours_estimate is None else
                 f"about {self.hours_estimate:.4g} h (jsonl bytes x lines per byte of {self.sampled_jsonls} "
                 f"sampled jsonl file(s), 20 lines/s)")
        def size(n: int) -> str:
            return tqdm.format_sizeof(n, "B")

        return (f"dry run: {self.selected} segment(s) selected, {self.present} present, {len(self.missing)} "
                f"missing, {len(self.failed)} failed to size; {size(self.mp4_bytes + self.jsonl_bytes)} "
                f"({self.mp4_bytes + self.jsonl_bytes} bytes: mp4 {size(self.mp4_bytes)}, jsonl "
                f"{size(self.jsonl_bytes)}); {hours}")


def _sizes(session: requests.Session, index: VptIndex, config: DownloadConfig,
           segment: Segment) -> tuple[str, str | tuple[int, int]]:
    """('ok', (mp4 bytes, jsonl bytes)) | ('missing', 'mp4' or 'jsonl') | ('failed', reason)."""
    try:
        mp4 = remote_size(session, index.url(segment, ".mp4"), config.http)
        if mp4 is None:
            return "missing", "mp4"
        jsonl = remote_size(session, index.url(segment, ".jsonl"), config.http)
        return ("missing", "jsonl") if jsonl is None else ("ok", (mp4, jsonl))
    except (requests.RequestException, HttpStatusError) as err:
        return "failed", f"{type(err).__name__}: {err}"


def _count_lines(session: requests.Session, url: str, config: DownloadConfig) -> tuple[int, int] | None:
    """(non-empty lines, bytes) of a jsonl fetched into memory; None if it could not be fetched."""
    try:
        response = session.get(url, timeout=config.http.timeout)
        if response.status_code != 200:
            return None
        body = response.content
    except requests.RequestException:
        return None
    return sum(1 for line in body.splitlines() if line.strip()), len(body)


def _reached(report: DryRunReport, target_seconds: float | None) -> bool:
    return (target_seconds is not None and report.hours_estimate is not None
            and report.hours_estimate * 3600 >= target_seconds)


def dry_run(index_source: str, config: DownloadConfig, sample_jsonls: int = 3) -> DryRunReport:
    session = make_session(config.http, config.workers)
    index = load_index(index_source, session)
    candidates = candidate_order(index, config.selection)
    report = DryRunReport(index.source)
    target = None if config.selection.hours is None else config.selection.hours * 3600
    step = len(candidates) if target is None else config.workers * HEADS_PER_WORKER
    sampled_lines = sampled_bytes = 0
    position = 0
    with ThreadPoolExecutor(config.workers, thread_name_prefix="dry-run") as pool:
        while position < len(candidates) and not _reached(report, target):
            window = candidates[position: position + step]
            results = list(pool.map(lambda s: _sizes(session, index, config, s), window))
            for segment, (status, value) in zip(window, results):
                if _reached(report, target):
                    break
                position += 1
                report.selected += 1
                if status == "missing":
                    report.missing[segment.stem] = value
                    continue
                if status == "failed":
                    report.failed[segment.stem] = value
                    continue
                report.present += 1
                report.mp4_bytes += value[0]
                report.jsonl_bytes += value[1]
                if report.sampled_jsonls < sample_jsonls:
                    counted = _count_lines(session, index.url(segment, ".jsonl"), config)
                    if counted is not None:
                        sampled_lines, sampled_bytes = sampled_lines + counted[0], sampled_bytes + counted[1]
                        report.sampled_jsonls += 1
                if sampled_bytes:
                    report.lines_per_jsonl_byte = sampled_lines / sampled_bytes
                    lines = report.jsonl_bytes * report.lines_per_jsonl_byte
                    report.hours_estimate = lines / TICKS_PER_SECOND / 3600
    return report
