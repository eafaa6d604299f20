"""A stand-in Grafana Tempo query frontend (stdlib only) for the `tempo` collector's tests.

It holds traces given as OTLP/JSON (`ExportTraceServiceRequest` dicts, hex ids, as an
OpenTelemetry SDK pushes them) and answers Tempo's HTTP API as Tempo 2.x does for the requests
the collector makes:

    GET /api/echo                      "echo" (text/plain)
    GET /api/status/buildinfo          {"version": "2.6.1", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    GET /api/search?q=TRACEQL&start=S&end=S&limit=N[&spss=N]
                                       {"traces": [{"traceID", "rootServiceName", "rootTraceName",
                                       "startTimeUnixNano", "durationMs", "spanSets"}], "metrics": {...}};
                                       traces with a matching span starting in [start, end] (epoch seconds),
                                       newest first, at most `limit` (default 20)
    GET /api/traces/<traceID>          {"batches": [ResourceSpans]} as Tempo marshals the trace with jsonpb:
                                       ids base64, span kind and status code as enum names; 404 "trace not found"

TraceQL: only the span set `{ resource.service.name = "S" }` (also `.service.name`, and `&& status = error`)
is understood; anything else is answered 400 `invalid TraceQL query: ...` as Tempo's parser
would refuse what it cannot read (the stand-in says so rather than answer wrongly). With
`org_id` set, a request without `X-Scope-OrgID: <org_id>` is 401 "no org id" (multi-tenant Tempo).

    with Tempo(otlp_requests, org_id="acme") as tempo:
        tempo.url, tempo.requests, tempo.inject(500, count=1)

Run it alone with `python tests/standins/tempo.py --port 3200` to serve a small demo.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = "2.6.1"
DEFAULT_LIMIT = 20
_KINDS = {0: "SPAN_KIND_UNSPECIFIED", 1: "SPAN_KIND_INTERNAL", 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT"}
_KINDS |= {4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER"}
_STATUS = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}
_QUERY = re.compile(r'^\{\s*(?:resource)?\.service\.name\s*=\s*"((?:[^"\\]|\\.)*)"\s*(&&\s*status\s*=\s*error\s*)?\}$')


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode() if hex_id else ""


def _service(resource: dict[str, Any]) -> str | None:
    for attr in resource.get("resource", {}).get("attributes", []):
        if attr.get("key") == "service.name":
            return attr.get("value", {}).get("stringValue")
    return None


class Tempo:
    def __init__(self, requests: Iterable[dict[str, Any]] = (), *, org_id: str | None = None) -> None:
        # trace id -> list of (resource dict without spans, scope, span)
        self.traces: dict[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]] = {}
        self.org_id = org_id
        self.requests: list[tuple[str, str]] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.push(requests)

    def push(self, requests: Iterable[dict[str, Any]]) -> None:
        for req in requests:
            for rs in req.get("resourceSpans", []):
                resource = {"resource": rs.get("resource", {})}
                for ss in rs.get("scopeSpans", []):
                    scope = ss.get("scope", {})
                    for span in ss.get("spans", []):
                        self.traces.setdefault(span["traceId"].lower(), []).append((resource, scope, span))

    def inject(self, status: int, count: int = 1) -> None:
        with self._lock:
            self._faults += [status] * count

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Tempo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, port: int = 0) -> Tempo:
        handler = type("Handler", (_Handler,), {"tempo": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---- the API ----------------------------------------------------------------------------

    def search(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        q = (query.get("q") or [""])[0].strip()
        match = _QUERY.match(q)
        if not match:
            return (
                400,
                "invalid TraceQL query: parse error: the stand-in reads only "
                f'{{ resource.service.name = "..." }}: {q!r}',
            )
        service = re.sub(r"\\(.)", r"\1", match.group(1))
        errors_only = match.group(2) is not None
        try:
            start = int(query["start"][0]) * 10**9 if "start" in query else None
            end = int(query["end"][0]) * 10**9 if "end" in query else None
            limit = int(query["limit"][0]) if "limit" in query else DEFAULT_LIMIT
        except ValueError as exc:
            return 400, f"invalid start, end or limit: {exc}"
        found = []
        for trace_id, spans in self.traces.items():
            hits = [
                s
                for r, _, s in spans
                if _service(r) == service
                and (not errors_only or s.get("status", {}).get("code") == 2)
                and (start is None or int(s["startTimeUnixNano"]) >= start)
                and (end is None or int(s["startTimeUnixNano"]) <= end)
            ]
            if hits:
                root = next((x for x in spans if not x[2].get("parentSpanId")), spans[0])
                t0 = min(int(s["startTimeUnixNano"]) for _, _, s in spans)
                t1 = max(int(s["endTimeUnixNano"]) for _, _, s in spans)
                found.append(
                    {
                        "traceID": trace_id,
                        "rootServiceName": _service(root[0]) or "<root span not yet received>",
                        "rootTraceName": root[2].get("name", ""),
                        "startTimeUnixNano": str(t0),
                        "durationMs": (t1 - t0) // 10**6,
                        "spanSets": [
                            {
                                "spans": [
                                    {
                                        "spanID": s["spanId"],
                                        "startTimeUnixNano": s["startTimeUnixNano"],
                                        "durationNanos": str(int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])),
                                    }
                                    for s in hits[:3]
                                ],
                                "matched": len(hits),
                            }
                        ],
                    }
                )
        found.sort(key=lambda t: -int(t["startTimeUnixNano"]))
        inspected = len(self.traces)
        return 200, {
            "traces": found[:limit] if limit > 0 else found,
            "metrics": {
                "inspectedTraces": inspected,
                "inspectedBytes": str(inspected * 1000),
                "completedJobs": 1,
                "totalJobs": 1,
            },
        }

    def trace(self, trace_id: str) -> tuple[int, Any]:
        spans = self.traces.get(trace_id.lower())
        if not spans:
            return 404, "trace not found"
        batches: list[dict[str, Any]] = []
        by_resource: dict[str, dict[str, Any]] = {}
        for resource, scope, span in spans:
            key = json.dumps(resource, sort_keys=True) + json.dumps(scope, sort_keys=True)
            batch = by_resource.get(key)
            if batch is None:
                batch = by_resource[key] = {**resource, "scopeSpans": [{"scope": scope, "spans": []}]}
                batches.append(batch)
            out = {
                **span,
                "traceId": _b64(span["traceId"]),
                "spanId": _b64(span["spanId"]),
                "kind": _KINDS.get(span.get("kind", 0), "SPAN_KIND_UNSPECIFIED"),
            }
            if span.get("parentSpanId"):
                out["parentSpanId"] = _b64(span["parentSpanId"])
            else:
                out.pop("parentSpanId", None)
            status = dict(span.get("status") or {})
            if "code" in status:
                status["code"] = _STATUS.get(status["code"], status["code"])
            out["status"] = status
            batch["scopeSpans"][0]["spans"].append(out)
        return 200, {"batches": batches}


class _Handler(BaseHTTPRequestHandler):
    tempo: Tempo
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        data = (text + ("\n" if isinstance(body, str) else "")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        tempo = self.tempo
        parts = urlsplit(self.path)
        with tempo._lock:
            tempo.requests.append(("GET", self.path))
            fault = tempo._faults.pop(0) if tempo._faults else None
        if fault is not None:
            self._send(fault, "injected failure")
            return
        if tempo.org_id is not None and self.headers.get("X-Scope-OrgID") != tempo.org_id:
            self._send(401, "no org id")
            return
        path = parts.path
        query = parse_qs(parts.query)
        with tempo._lock:
            if path == "/api/echo":
                self._send(200, "echo")
            elif path == "/api/status/buildinfo":
                self._send(
                    200,
                    {
                        "version": VERSION,
                        "revision": "standin",
                        "branch": "HEAD",
                        "buildUser": "",
                        "buildDate": "",
                        "goVersion": "go1.23",
                    },
                )
            elif path == "/api/search":
                self._send(*tempo.search(query))
            elif path.startswith("/api/traces/"):
                self._send(*tempo.trace(unquote(path[len("/api/traces/") :])))
            else:
                self._send(404, "404 page not found")


def main() -> None:
    from datetime import UTC, datetime

    from tests.collectors._traces.synth import caller_callee, otlp_request

    parser = argparse.ArgumentParser(description="stand-in Grafana Tempo")
    parser.add_argument("--port", type=int, default=3200)
    args = parser.parse_args()
    start = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    end = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    requests = [
        otlp_request(svc, [s for s in trace if s.service == svc])
        for trace in caller_callee(start, end, per_minute=5)
        for svc in ("checkout", "payments")
    ]
    tempo = Tempo(requests).start(args.port)
    print(f"serving {len(tempo.traces)} traces at {tempo.url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
