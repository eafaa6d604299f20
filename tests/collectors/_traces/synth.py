"""Synthetic traces whose truth is known, in every wire format the trace collectors read.

The scenario (`caller_callee`): `checkout` (POST /checkout, a server span) calls `payments`
(a client span of checkout, then POST /charge, a server span of payments, then a database span
of payments). From `callee_fails_at` payments' charges fail (and checkout's client span with
them); from `caller_fails_at` checkout's own requests fail too (its retries gave out). Before that,
about 1% of each service's spans fail at random (seeded).

    traces = list(caller_callee(start, end, per_minute=20, callee_fails_at=..., caller_fails_at=...))
    lines = otlp_lines(traces)            # one ExportTraceServiceRequest a line, per service and minute
    zipkin_spans(traces), jaeger_trace(trace), tempo_trace(trace)
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class SynthSpan:
    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_id: str | None
    service: str
    name: str
    kind: str  # server | client | internal
    start_ns: int
    end_ns: int
    error: bool
    message: str | None = None


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def caller_callee(
    start: datetime,
    end: datetime,
    *,
    per_minute: int = 20,
    callee_fails_at: datetime | None = None,
    caller_fails_at: datetime | None = None,
    caller: str = "checkout",
    callee: str = "payments",
    seed: int = 7,
    fail_ratio: float = 0.6,
) -> Iterator[list[SynthSpan]]:
    """One trace at a time, `per_minute` of them a minute, evenly spread, from `start` to `end`."""
    rng = random.Random(seed)
    t = int(start.timestamp() * 1e9)
    stop = int(end.timestamp() * 1e9)
    gap = int(60e9 / per_minute)
    callee_at = int(callee_fails_at.timestamp() * 1e9) if callee_fails_at else None
    caller_at = int(caller_fails_at.timestamp() * 1e9) if caller_fails_at else None
    while t < stop:
        trace = _hex(rng, 32)
        root, client, server, db = (_hex(rng, 16) for _ in range(4))
        callee_bad = (callee_at is not None and t >= callee_at and rng.random() < fail_ratio) or rng.random() < 0.01
        caller_bad = (caller_at is not None and t >= caller_at and callee_bad) or rng.random() < 0.01
        slow = 0.25e9 if callee_bad else 0.0
        charge_ms = rng.uniform(20, 40) * 1e6 + slow
        db_ms = rng.uniform(2, 8) * 1e6
        yield [
            SynthSpan(
                trace, db, server, callee, "SELECT accounts", "client", t + int(6e6), t + int(6e6 + db_ms), False
            ),
            SynthSpan(
                trace,
                server,
                client,
                callee,
                "POST /charge",
                "server",
                t + int(5e6),
                t + int(5e6 + charge_ms),
                callee_bad,
                "card gateway timeout" if callee_bad else None,
            ),
            SynthSpan(
                trace,
                client,
                root,
                caller,
                "POST payments",
                "client",
                t + int(4e6),
                t + int(6e6 + charge_ms),
                callee_bad,
                "HTTP 502" if callee_bad else None,
            ),
            SynthSpan(
                trace,
                root,
                None,
                caller,
                "POST /checkout",
                "server",
                t,
                t + int(10e6 + charge_ms),
                caller_bad,
                "payment failed" if caller_bad else None,
            ),
        ]
        t += gap


# ---- OTLP/JSON ---------------------------------------------------------------------------------

_OTLP_KIND = {"server": 2, "client": 3, "internal": 1}


def otlp_span(s: SynthSpan) -> dict:
    out: dict = {
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "parentSpanId": s.parent_id or "",
        "name": s.name,
        "kind": _OTLP_KIND[s.kind],
        "startTimeUnixNano": str(s.start_ns),
        "endTimeUnixNano": str(s.end_ns),
        "attributes": [{"key": "http.method", "value": {"stringValue": "POST"}}],
        "status": {"code": 2, "message": s.message or ""} if s.error else {},
    }
    return out


def otlp_request(service: str, spans: Iterable[SynthSpan]) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        {"key": "host.name", "value": {"stringValue": f"{service}-1"}},
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "io.opentelemetry.http", "version": "1.0"},
                        "spans": [otlp_span(s) for s in spans],
                    }
                ],
            }
        ]
    }


def otlp_lines(
    traces: Iterable[list[SynthSpan]], *, batch_ns: int = 60_000_000_000, max_batch: int = 512
) -> Iterator[str]:
    """One ExportTraceServiceRequest a line per service and batch (a minute, or `max_batch` spans,
    as an SDK's BatchSpanProcessor sends them), the callee's batch first, as the services'
    exporters would deliver them to the collector."""
    pending: dict[str, list[SynthSpan]] = {}
    batch_start: int | None = None
    for trace in traces:
        first = min(s.start_ns for s in trace)
        if batch_start is None:
            batch_start = first
        if first - batch_start >= batch_ns or any(len(v) >= max_batch for v in pending.values()):
            for service, spans in pending.items():
                yield json.dumps(otlp_request(service, spans), separators=(",", ":"))
            pending, batch_start = {}, first
        for s in trace:
            pending.setdefault(s.service, []).append(s)
    for service, spans in pending.items():
        yield json.dumps(otlp_request(service, spans), separators=(",", ":"))


# ---- Zipkin v2 ---------------------------------------------------------------------------------


def zipkin_span(s: SynthSpan) -> dict:
    out: dict = {
        "traceId": s.trace_id,
        "id": s.span_id,
        "name": s.name.lower(),
        "timestamp": s.start_ns // 1000,
        "duration": max(1, (s.end_ns - s.start_ns) // 1000),
        "localEndpoint": {"serviceName": s.service},
        "tags": {"http.method": "POST"},
    }
    if s.parent_id:
        out["parentId"] = s.parent_id
    if s.kind in ("server", "client"):
        out["kind"] = s.kind.upper()
    if s.error:
        out["tags"]["error"] = s.message or "true"
    return out


# ---- Jaeger query service ----------------------------------------------------------------------


def jaeger_trace(trace: list[SynthSpan]) -> dict:
    """A trace as `/api/traces` answers it (`data[]` items)."""
    processes: dict[str, dict] = {}
    pid: dict[str, str] = {}
    spans = []
    for s in trace:
        if s.service not in pid:
            pid[s.service] = f"p{len(pid) + 1}"
            processes[pid[s.service]] = {
                "serviceName": s.service,
                "tags": [{"key": "hostname", "type": "string", "value": f"{s.service}-1"}],
            }
        tags = [{"key": "span.kind", "type": "string", "value": s.kind}]
        if s.error:
            tags.append({"key": "error", "type": "bool", "value": True})
            tags.append({"key": "otel.status_description", "type": "string", "value": s.message or ""})
        spans.append(
            {
                "traceID": s.trace_id,
                "spanID": s.span_id,
                "operationName": s.name,
                "references": (
                    [{"refType": "CHILD_OF", "traceID": s.trace_id, "spanID": s.parent_id}] if s.parent_id else []
                ),
                "startTime": s.start_ns // 1000,
                "duration": max(1, (s.end_ns - s.start_ns) // 1000),
                "tags": tags,
                "logs": [],
                "processID": pid[s.service],
                "warnings": None,
                "flags": 1,
            }
        )
    return {"traceID": trace[0].trace_id, "spans": spans, "processes": processes, "warnings": None}


# ---- Elastic APM -------------------------------------------------------------------------------


def apm_docs(trace: list[SynthSpan], index: str = "apm-traces") -> Iterator[dict]:
    """Elastic APM documents: a transaction per server span, a span document per other span."""
    for s in trace:
        is_tx = s.kind == "server"
        part = "transaction" if is_tx else "span"
        doc: dict = {
            "@timestamp": _iso(s.start_ns),
            "timestamp": {"us": s.start_ns // 1000},
            "processor": {"event": part},
            "service": {"name": s.service},
            "trace": {"id": s.trace_id},
            "event": {"outcome": "failure" if s.error else "success"},
            part: {
                "id": s.span_id,
                "name": s.name,
                "duration": {"us": max(1, (s.end_ns - s.start_ns) // 1000)},
            },
        }
        if is_tx:
            doc["transaction"]["type"] = "request"
            doc["transaction"]["result"] = "HTTP 5xx" if s.error else "HTTP 2xx"
        else:
            doc["span"]["type"] = "external" if s.kind == "client" else "app"
        if s.parent_id:
            doc["parent"] = {"id": s.parent_id}
        doc["_index"] = index
        doc["_id"] = f"{s.trace_id[:8]}{s.span_id}"
        yield doc


APM_MAPPINGS = {
    "properties": {
        "@timestamp": {"type": "date"},
        "timestamp": {"properties": {"us": {"type": "long"}}},
        "processor": {"properties": {"event": {"type": "keyword"}}},
        "service": {"properties": {"name": {"type": "keyword"}}},
        "trace": {"properties": {"id": {"type": "keyword"}}},
        "parent": {"properties": {"id": {"type": "keyword"}}},
        "event": {"properties": {"outcome": {"type": "keyword"}}},
        **{
            part: {
                "properties": {
                    "id": {"type": "keyword"},
                    "name": {"type": "keyword"},
                    "type": {"type": "keyword"},
                    "result": {"type": "keyword"},
                    "duration": {"properties": {"us": {"type": "long"}}},
                }
            }
            for part in ("transaction", "span")
        },
    }
}
"""The fields of `apm_docs` as Elastic APM's index templates map them (keywords, longs, a date)."""


def _iso(ns: int) -> str:
    from datetime import UTC
    from datetime import datetime as dt

    return dt.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
