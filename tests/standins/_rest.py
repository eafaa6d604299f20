"""The shared part of the push stand-ins (stdlib only): a JSON HTTP server on a free loopback port
with routes, a request log and fault injection.

    class Thing(RestStandin):
        def routes(self):
            return [("POST", r"/things", self.create), ("PUT", r"/things/(?P<id>\\d+)", self.update)]
        def authorized(self, req): return req.headers.get("Authorization") == "Bearer t"

    with Thing() as s:
        s.url, s.requests, s.inject(503, count=2)

A handler takes a `Req` (method, path, query, headers, body bytes, `json()`, regex groups) and returns
(status, body, headers): a body that is not bytes is sent as JSON. An unknown route is 404.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    groups: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RestStandin:
    unauthorized: Answer = (401, {"message": "unauthorized"}, {})

    def __init__(self) -> None:
        self.requests: list[Req] = []
        self._faults: list[Answer] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- to override ---------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Callable[[Req], Answer]]]:
        raise NotImplementedError

    def authorized(self, req: Req) -> bool:
        return True

    # ---- serving -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(self, status: int, *, count: int = 1, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """The next `count` requests are answered `status` (default body: a short JSON message)."""
        with self.lock:
            self._faults += [
                (status, body if body is not None else {"message": f"injected {status}"}, headers or {})
            ] * count

    def handle(self, req: Req) -> Answer:
        with self.lock:
            self.requests.append(req)
            if self._faults:
                return self._faults.pop(0)
            if not self.authorized(req):
                return self.unauthorized
            for method, pattern, fn in self.routes():
                m = re.fullmatch(pattern, req.path)
                if m and method == req.method:
                    req.groups = m.groupdict()
                    return fn(req)
            return 404, {"message": "Not Found"}, {}

    def start(self) -> RestStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one write (no 40 ms delayed-ACK stall per request)

            def _any(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Req(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                status, body, headers = standin.handle(req)
                data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
                self.send_response(status)
                if body is not None and not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
