"""A local HTTP file server for the download tests, with faults injected per path.

Serves in-memory files on 127.0.0.1 (HEAD, GET, Range) from a daemon thread and stops by
itself after `max_seconds`. `faults[path]` is a queue consumed by successive GETs of that path:
  "500"        answer 500 with no body
  "drop"       announce the whole body, send half of it, close the connection
  "short"      announce the whole body, send all but its last 100 bytes, close
  "slow"       send nothing for `slow_seconds`, then close (the client's read times out first)
  "interrupt"  send half, deliver SIGINT to the main thread (Ctrl-C), hold the connection
               until the client closes it (at most `slow_seconds`), then close
`served[path]` counts the body bytes sent for that path, so a test can tell a resumed download
(the missing bytes only) from one fetched again.
"""

from __future__ import annotations

import collections
import re
import select
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"bytes=(\d+)-$")


class FaultServer:
    def __init__(self, files: dict[str, bytes], *, range_support: bool = True, slow_seconds: float = 2.0,
                 max_seconds: float = 60.0) -> None:
        self.files = files
        self.range_support = range_support
        self.slow_seconds = slow_seconds
        self.faults: dict[str, list[str]] = collections.defaultdict(list)
        self.served: collections.Counter[str] = collections.Counter()
        self.gets: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.main_thread = threading.main_thread().ident
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.timer = threading.Timer(max_seconds, self.httpd.shutdown)  # bounded: never outlives a test
        self.timer.daemon = True

    def __enter__(self) -> FaultServer:
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def reset_counts(self) -> None:
        with self.lock:
            self.served.clear()
            self.gets.clear()


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers: a drop must close it

        def log_message(self, *args: object) -> None:
            pass

        def _start(self, status: int, length: int, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(length))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()

        def do_HEAD(self) -> None:
            body = server.files.get(self.path)
            if body is None:
                self._start(404, 0)
                return
            self._start(200, len(body), {"Accept-Ranges": "bytes"} if server.range_support else None)

        def _send(self, data: bytes) -> None:
            self.wfile.write(data)
            self.wfile.flush()
            with server.lock:
                server.served[self.path] += len(data)

        def _close(self) -> None:
            self.close_connection = True

        def do_GET(self) -> None:
            body = server.files.get(self.path)
            with server.lock:
                server.gets[self.path] += 1
                fault = server.faults[self.path].pop(0) if server.faults[self.path] else None
            if body is None:
                self._start(404, 0)
                return
            if fault == "500":
                self._start(500, 0)
                return
            if fault == "slow":
                select.select([self.connection], [], [], server.slow_seconds)
                self._close()
                return
            start = 0
            match = _RANGE.match(self.headers.get("Range", ""))
            if match and server.range_support:
                start = int(match.group(1))
                if start >= len(body):
                    self._start(416, 0, {"Content-Range": f"bytes */{len(body)}"})
                    return
                self._start(206, len(body) - start,
                            {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"})
            else:
                self._start(200, len(body))
            rest = body[start:]
            if fault in ("drop", "interrupt"):
                self._send(rest[: len(rest) // 2])
                if fault == "interrupt":
                    signal.pthread_kill(server.main_thread, signal.SIGINT)
                    # Hold the connection until the client gives up on it (or slow_seconds).
                    select.select([self.connection], [], [], server.slow_seconds)
                self._close()
            elif fault == "short":
                self._send(rest[:-100])
                self._close()
            else:
                self._send(rest)

    return Handler
