"""A tiny scripted HTTP stand-in (a proxy in front of Prometheus, as far as the collector can tell).

`stub.script(path, (status, headers, body), ...)` queues answers for a path; when a path's queue is
empty the stub answers like a healthy, empty Prometheus (a flat series of 1s for query_range).
`stub.calls` lists every request: (monotonic time, method, path, params, headers).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from dossier.plugin import CollectContext, Recorder

Answer = tuple[int, dict[str, str], bytes | str | dict]


def ok(data: Any) -> dict:
    return {"status": "success", "data": data}


def error(status: int, error_type: str, message: str) -> Answer:
    return status, {}, {"status": "error", "errorType": error_type, "error": message}


class Stub:
    def __init__(self) -> None:
        self._answers: dict[str, deque[Answer]] = {}
        self.calls: list[tuple[float, str, str, dict[str, str], dict[str, str]]] = []
        self._lock = threading.Lock()
        self.url = ""
        self.delay = 0.0  # seconds each query_range answer takes
        self.in_flight = 0
        self.max_in_flight = 0

    def script(self, path: str, *answers: Answer) -> Stub:
        with self._lock:
            self._answers.setdefault(path, deque()).extend(answers)
        return self

    def paths(self) -> list[str]:
        return [c[2] for c in self.calls]

    def answer(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.calls.append((time.monotonic(), method, path, params, headers))
            queue = self._answers.get(path)
            if queue:
                return queue.popleft()
        if path == "/api/v1/status/buildinfo":
            return 200, {}, ok({"version": "2.42.0", "revision": "abc123", "branch": "HEAD"})
        if path == "/api/v1/rules":
            return 200, {}, ok({"groups": []})
        if path == "/api/v1/query_range":
            start, end, step = float(params["start"]), float(params["end"]), float(params["step"].rstrip("s"))
            n = round((end - start) / step) + 1
            values = [[start + i * step, "1"] for i in range(n)]
            series = {"metric": {"q": params["query"]}, "values": values}
            return 200, {}, ok({"resultType": "matrix", "result": [series]})
        if path == "/api/v1/query":
            return 200, {}, ok({"resultType": "matrix", "result": []})
        return 404, {"Content-Type": "text/plain"}, "404 page not found\n"


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                params.update(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            with state._lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            if state.delay and parts.path == "/api/v1/query_range":
                time.sleep(state.delay)
            status, headers, body = state.answer(self.command, parts.path, params, dict(self.headers.items()))
            with state._lock:
                state.in_flight -= 1
            if isinstance(body, dict):
                body = json.dumps(body)
                headers = {"Content-Type": "application/json", **headers}
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def ctx() -> CollectContext:
    return CollectContext(
        instance="prometheus/test",
        log=logging.LoggerAdapter(logging.getLogger("t"), {}),
        recorder=Recorder("prometheus/test"),
    )
