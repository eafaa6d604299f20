"""A stand-in Jaeger query service (stdlib only) for the `jaeger` collector's tests.

It answers the query service's HTTP JSON API (the one the Jaeger UI uses, `/api/...`) as
jaeger-query 1.x does for the requests the collector makes:

    GET /api/services                        {"data": [names], "total": N, "limit": 0, "offset": 0, "errors": null}
    GET /api/traces?service=S&start=US&end=US&limit=N[&operation=O][&lookback=..]
                                             traces with a span of S that starts in [start, end] (microseconds),
                                             newest first, at most `limit` (default 20 without one), each with
                                             every span of the trace and its `processes`
    GET /api/traces/<id>                     one trace, or 404 {"errors": [{"code": 404, "msg": "trace not found"}]}

Errors come in Jaeger's envelope, `{"data": null, "total": 0, "limit": 0, "offset": 0,
"errors": [{"code": 400, "msg": "..."}]}`: a missing `service` is 400 "parameter 'service' is
required", a malformed number 400 `strconv.ParseInt: parsing "x": invalid syntax`. With `token` set,
a request without `Authorization: Bearer <token>` is 401 (as behind an auth proxy). `base_path`
serves the API under a prefix (jaeger-query's `--query.base-path`).

    with Jaeger(traces) as j:              # traces as `/api/traces` items (tests/collectors/_traces/synth.py)
        j.url, j.requests, j.inject(503, count=2)

Run it alone with `python tests/standins/jaeger.py --port 16686` to serve a small demo.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_LIMIT = 20  # jaeger-query's default search depth when the UI sends none


def envelope(data: Any = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    total = len(data) if isinstance(data, list) else 0
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


class Jaeger:
    def __init__(self, traces: Iterable[dict[str, Any]] = (), *, token: str | None = None, base_path: str = "") -> None:
        self.traces: list[dict[str, Any]] = list(traces)
        self.token = token
        self.base_path = base_path.rstrip("/")
        self.requests: list[tuple[str, str]] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---- control ----------------------------------------------------------------------------

    def inject(self, status: int, count: int = 1) -> None:
        """The next `count` requests answer `status` (Jaeger's error envelope)."""
        with self._lock:
            self._faults += [status] * count

    def add(self, traces: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            self.traces += list(traces)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.base_path}"

    def __enter__(self) -> Jaeger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> Jaeger:
        handler = type("Handler", (_Handler,), {"jaeger": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---- the API ----------------------------------------------------------------------------

    def services(self) -> list[str]:
        names = {p["serviceName"] for t in self.traces for p in t.get("processes", {}).values()}
        return sorted(names)

    def search(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        service = (query.get("service") or [""])[0]
        if not service:
            return 400, envelope(errors=[{"code": 400, "msg": "parameter 'service' is required"}])
        try:
            start = int(query["start"][0]) if "start" in query else None
            end = int(query["end"][0]) if "end" in query else None
            limit = int(query["limit"][0]) if "limit" in query else DEFAULT_LIMIT
        except ValueError as exc:
            bad = str(exc).split("'")[-2] if "'" in str(exc) else "?"
            return 400, envelope(errors=[{"code": 400, "msg": f'strconv.ParseInt: parsing "{bad}": invalid syntax'}])
        operation = (query.get("operation") or [None])[0]
        found = []
        for trace in self.traces:
            procs = trace.get("processes", {})
            times = [
                s["startTime"]
                for s in trace["spans"]
                if procs.get(s["processID"], {}).get("serviceName") == service
                and (operation is None or s["operationName"] == operation)
            ]
            if any((start is None or t >= start) and (end is None or t <= end) for t in times):
                found.append((max(times), trace))
        found.sort(key=lambda x: -x[0])  # newest first
        return 200, envelope([t for _, t in found[: limit if limit > 0 else None]])

    def trace(self, trace_id: str) -> tuple[int, dict[str, Any]]:
        for trace in self.traces:
            if trace["traceID"] == trace_id.lower():
                return 200, envelope([trace])
        return 404, envelope(errors=[{"code": 404, "msg": "trace not found"}])


class _Handler(BaseHTTPRequestHandler):
    jaeger: Jaeger
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        j = self.jaeger
        parts = urlsplit(self.path)
        with j._lock:
            j.requests.append(("GET", self.path))
            fault = j._faults.pop(0) if j._faults else None
        if fault is not None:
            self._send(fault, envelope(errors=[{"code": fault, "msg": "injected failure"}]))
            return
        if j.token is not None and self.headers.get("Authorization") != f"Bearer {j.token}":
            self._send(401, "Unauthorized\n", "text/plain")
            return
        path = parts.path
        if j.base_path:
            if not path.startswith(j.base_path + "/"):
                self._send(404, "404 page not found\n", "text/plain")
                return
            path = path[len(j.base_path) :]
        query = parse_qs(parts.query)
        with j._lock:
            if path == "/api/services":
                self._send(200, envelope(j.services()))
            elif path == "/api/traces":
                self._send(*j.search(query))
            elif path.startswith("/api/traces/"):
                self._send(*j.trace(unquote(path[len("/api/traces/") :])))
            else:
                self._send(404, "404 page not found\n", "text/plain")


def main() -> None:
    from datetime import UTC, datetime

    from tests.collectors._traces.synth import caller_callee, jaeger_trace

    parser = argparse.ArgumentParser(description="stand-in Jaeger query service")
    parser.add_argument("--port", type=int, default=16686)
    args = parser.parse_args()
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    end = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    j = Jaeger(jaeger_trace(t) for t in caller_callee(start, end, per_minute=5)).start(args.port)
    print(f"serving {len(j.traces)} traces at {j.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
