"""Resumable HTTP downloads of single files (requests + urllib3's Retry).

A file is written to `DEST.part` and renamed to DEST only once it holds every byte the server
announced, so an interrupted download never leaves a file that looks complete. A rerun resumes
the `.part` file with an HTTP Range request (a server that ignores Range answers 200 and the
file restarts from byte 0). Request-level failures (5xx, 429, connection errors, timeouts before
the headers) are retried by urllib3's Retry with exponential backoff; a body cut short (a reset,
a read timeout, fewer bytes than Content-Length) is resumed from the bytes already written;
attempts that brought no byte count against a Retry object of the same settings, which also
sizes the backoff between them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MISSING_STATUSES = frozenset({404, 410})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class HttpConfig:
    retries: int = 8  # per request, and per file for bodies cut short without progress
    # urllib3's backoff_factor: the first retry is immediate, the n-th waits backoff * 2**(n-1) s
    # (2, 4, 8, ... with 1.0), at most 120 s; a Retry-After header is honoured.
    backoff: float = 1.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0  # longest wait for the next byte
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.chunk_bytes < 1:
            raise ValueError(f"HttpConfig: retries, backoff must be >= 0 and chunk_bytes >= 1, got {self}")
        if not (self.connect_timeout > 0 and self.read_timeout > 0):
            raise ValueError(f"HttpConfig: timeouts must be > 0, got {self}")

    def retry(self) -> Retry:
        return Retry(total=self.retries, backoff_factor=self.backoff, status_forcelist=RETRY_STATUSES,
                     allowed_methods=frozenset({"GET", "HEAD"}), raise_on_status=False,
                     respect_retry_after_header=True)

    @property
    def timeout(self) -> tuple[float, float]:
        return self.connect_timeout, self.read_timeout


class HttpStatusError(Exception):
    """A response that is neither success nor 'missing' after the retries."""


class Interrupted(Exception):
    """The stop event was set; the `.part` file keeps what arrived."""


@dataclass(frozen=True)
class FetchResult:
    status: str  # "done" | "missing"
    size: int  # bytes of the complete file (0 when missing)
    fetched: int  # bytes received by this call


def make_session(config: HttpConfig, connections: int) -> requests.Session:
    session = requests.Session()
    # The bytes as stored: sizes and Range offsets then count the same bytes that are written.
    session.headers["Accept-Encoding"] = "identity"
    adapter = HTTPAdapter(max_retries=config.retry(), pool_connections=connections, pool_maxsize=connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def remote_size(session: requests.Session, url: str, config: HttpConfig) -> int | None:
    """The file's size from a HEAD request; None when the server says it does not exist."""
    response = session.head(url, timeout=config.timeout, allow_redirects=True)
    if response.status_code in MISSING_STATUSES:
        return None
    length = response.headers.get("Content-Length")
    if response.status_code != 200 or length is None or not length.isdigit():
        raise HttpStatusError(f"HEAD {url}: HTTP {response.status_code}, Content-Length {length!r}")
    return int(length)


def _expected_total(response: requests.Response, offset: int, url: str) -> int | None:
    """Total file size announced by a 200 or 206 response (None: not announced)."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != offset:
            raise HttpStatusError(f"GET {url}: Content-Range {response.headers.get('Content-Range')!r} "
                                  f"does not start at byte {offset}")
        return int(match.group(3)) if match.group(3) != "*" else None
    length = response.headers.get("Content-Length")
    return int(length) if length is not None and length.isdigit() else None


def fetch_file(session: requests.Session, url: str, dest: str, config: HttpConfig, *, size: int | None,
               on_bytes: Callable[[int], None] = lambda n: None,
               stop: threading.Event | None = None) -> FetchResult:
    """Download url to dest unless dest already holds `size` bytes (the server's size)."""
    if size is not None and os.path.isfile(dest) and os.path.getsize(dest) == size:
        return FetchResult("done", size, 0)
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    part = dest + ".part"
    retry = config.retry()
    fetched = 0  # bytes received by this call, over all attempts
    high_water = os.path.getsize(part) if os.path.isfile(part) else 0  # longest .part so far

    def count(n: int) -> None:
        nonlocal fetched
        fetched += n
        on_bytes(n)

    while True:
        if stop is not None and stop.is_set():
            raise Interrupted(url)
        offset = os.path.getsize(part) if os.path.isfile(part) else 0
        if size is not None and offset > size:  # not a prefix of this file: start again
            os.remove(part)
            offset = 0
        if size is not None and offset == size:  # complete, but not renamed before a stop
            os.replace(part, dest)
            return FetchResult("done", size, fetched)
        outcome: int | None | Exception
        try:
            outcome = _fetch_once(session, url, part, offset, config, count, stop)
        except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as err:
            outcome = err  # a body cut short (reset, read timeout, IncompleteRead): resumed below
        if outcome is None:
            return FetchResult("missing", 0, fetched)
        if isinstance(outcome, int) and os.path.getsize(part) == outcome:
            os.replace(part, dest)  # atomic: dest appears only complete
            return FetchResult("done", outcome, fetched)
        if isinstance(outcome, int) and os.path.getsize(part) > outcome:
            os.remove(part)  # longer than the file: not a prefix of it
        # A body cut short: resume. Attempts that did not lengthen the .part file count against
        # the retries (a server ignoring Range that always drops at the same byte gives up).
        grown = os.path.getsize(part) if os.path.isfile(part) else 0
        if grown <= high_water:
            error = outcome if isinstance(outcome, Exception) else requests.ConnectionError("short body")
            try:
                retry = retry.increment(method="GET", url=url, error=error)
            except MaxRetryError:
                raise HttpStatusError(f"GET {url}: gave up after {config.retries} retries "
                                      f"({type(error).__name__}: {error})") from None
            retry.sleep()
        high_water = max(high_water, grown)


def _fetch_once(session: requests.Session, url: str, part: str, offset: int, config: HttpConfig,
                on_bytes: Callable[[int], None], stop: threading.Event | None) -> int | None:
    """One GET into `part` from `offset`: the announced total size, or None for 'missing'."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, headers=headers, stream=True, timeout=config.timeout) as response:
        if response.status_code in MISSING_STATUSES:
            return None
        if response.status_code == 416:  # the .part file is not a prefix of the file any more
            os.remove(part)
            raise requests.ConnectionError(f"GET {url}: range {offset}- not satisfiable, restarting")
        if response.status_code not in (200, 206):
            raise HttpStatusError(f"GET {url}: HTTP {response.status_code}")
        if response.status_code == 200:
            offset = 0  # the server ignored Range (or there was none): the body is the whole file
        total = _expected_total(response, offset, url)
        with open(part, "ab" if offset else "wb") as f:
            # read1 hands over whatever arrived: a connection cut mid-chunk loses no received
            # byte (iter_content's fixed-size reads drop the partial chunk with the error).
            while chunk := response.raw.read1(config.chunk_bytes, decode_content=False):
                f.write(chunk)  # kept even when stopping: the rerun resumes after it
                on_bytes(len(chunk))
                if stop is not None and stop.is_set():
                    raise Interrupted(url)
            f.flush()
            os.fsync(f.fileno())  # the rename must not publish bytes still in the page cache
        return total if total is not None else os.path.getsize(part)
