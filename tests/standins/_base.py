"""What the paging and chat stand-ins (pagerduty.py, opsgenie.py, slack.py) share: a threaded
stdlib HTTP server on a free loopback port, the requests it saw, and faults injected on demand.

A stand-in subclasses `StandIn` and implements `answer(method, path, query, headers, body)`,
returning `(status, headers, body)`; the body is JSON-encoded when it is not bytes.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class Injection:
    status: int
    count: int
    headers: Mapping[str, str]
    body: Any
    path: str | None  # only requests whose path starts with this


@dataclass
class StandIn:
    requests: list[Recorded] = field(default_factory=list)
    _injections: list[Injection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    name = "standin"

    # -- faults

    def inject(
        self,
        status: int,
        *,
        count: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        path: str | None = None,
    ) -> None:
        """The next `count` requests (to `path`..., when given) answer `status` with `body`."""
        with self._lock:
            self._injections.append(Injection(status, count, dict(headers or {}), body, path))

    def _injected(self, path: str) -> tuple[int, Mapping[str, str], Any] | None:
        with self._lock:
            for inj in self._injections:
                if inj.count > 0 and (inj.path is None or path.startswith(inj.path)):
                    inj.count -= 1
                    return inj.status, inj.headers, inj.body if inj.body is not None else {"error": "injected"}
        return None

    # -- serving

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> StandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=f"{self.name}-standin", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], Any]:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold the body back by ~40 ms on every request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = parse_qs(parts.query, keep_blank_values=True)
        if method == "POST" and "form-urlencoded" in (self.headers.get("Content-Type") or ""):
            for k, v in parse_qs(raw.decode(), keep_blank_values=True).items():
                query.setdefault(k, []).extend(v)
        headers = {k.lower(): v for k, v in self.headers.items()}
        st = self.standin
        with st._lock:
            st.requests.append(Recorded(method, parts.path, query, headers))
        fault = st._injected(parts.path)
        status, extra, body = fault if fault is not None else st.answer(method, parts.path, query, headers, raw)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", extra.get("Content-Type", "application/json; charset=utf-8"))
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra.items():
            if k != "Content-Type":
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass
