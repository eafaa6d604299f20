"""One span, as every trace source gives it, and the readers of each wire format (pure).

* OTLP/JSON (`ExportTraceServiceRequest`, as the OpenTelemetry Collector's file exporter and
  Tempo write it): `otlp_spans`;
* Zipkin API v2 (`/api/v2/traces`, a list of traces, each a list of spans): `zipkin_span`;
* Jaeger query service (`/api/traces`, `{"data": [{"traceID", "spans", "processes"}]}`): `jaeger_spans`;
* Elastic APM documents (`transaction` and `span` events in Elasticsearch): `apm_span`.

A reader raises `BadSpan` for a span it cannot use; the collectors count those, never stop on one.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# OTLP's SpanKind, as numbers (OTLP/JSON writes enums as integers) and as names
_OTLP_KINDS = {
    0: "",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
    "SPAN_KIND_UNSPECIFIED": "",
    "SPAN_KIND_INTERNAL": "internal",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}
ENTRY_KINDS = frozenset({"server", "consumer"})


class BadSpan(Exception):
    """A span that cannot be used; the message says why."""


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str  # the operation
    kind: str  # server | client | producer | consumer | internal | "" (unknown)
    start: float  # epoch seconds
    duration: float  # seconds
    error: bool
    message: str | None = None  # why it failed, when the source says

    @property
    def entry(self) -> bool:
        """A span where the service handles work (a server or consumer span, or a trace's root)."""
        return self.kind in ENTRY_KINDS or not self.parent_id


# ---- OTLP/JSON -------------------------------------------------------------------------------


def _any_value(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return None
    for key in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if key in value:
            return value[key]
    return None


def _attrs(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                out[item["key"]] = _any_value(item.get("value"))
    return out


def _nanos(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadSpan(f"{what}: {value!r} is not a time in nanoseconds") from None


_HEX = frozenset("0123456789abcdefABCDEF")


def hex_id(value: Any) -> str:
    """A trace or span id as lower-case hex: OTLP/JSON writes hex, Tempo's protojson base64."""
    text = str(value or "")
    if text and len(text) in (16, 32) and _HEX.issuperset(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.lower()
    return raw.hex() if len(raw) in (8, 16) else text.lower()


def _status_error(attrs: Mapping[str, Any], status: Any) -> tuple[bool, str | None]:
    code = status.get("code") if isinstance(status, Mapping) else None
    message = status.get("message") if isinstance(status, Mapping) else None
    error = code in (2, "2", "STATUS_CODE_ERROR")
    if not error and code in (None, 0, "0", "STATUS_CODE_UNSET"):
        http = attrs.get("http.response.status_code", attrs.get("http.status_code"))
        try:
            error = http is not None and int(http) >= 500
        except (TypeError, ValueError):
            pass
    if error and not message:
        message = attrs.get("exception.type") or attrs.get("error.type")
    return error, str(message) if message else None


def otlp_spans(request: Any) -> Iterator[Span | BadSpan]:
    """The spans of one `ExportTraceServiceRequest` (or Tempo's `{"batches": ...}`/`{"trace": ...}`)."""
    if not isinstance(request, Mapping):
        yield BadSpan("expected a JSON object with resourceSpans")
        return
    if isinstance(request.get("trace"), Mapping):  # Tempo's v2 trace by id
        request = request["trace"]
    resources = request.get("resourceSpans", request.get("batches"))
    if not isinstance(resources, list):
        yield BadSpan("no resourceSpans list")
        return
    for resource in resources:
        if not isinstance(resource, Mapping):
            yield BadSpan("a resourceSpans entry is not an object")
            continue
        rattrs = _attrs((resource.get("resource") or {}).get("attributes"))
        service = rattrs.get("service.name")
        scopes = resource.get("scopeSpans", resource.get("instrumentationLibrarySpans")) or []
        for scope in scopes if isinstance(scopes, list) else []:
            for raw in (scope.get("spans") or []) if isinstance(scope, Mapping) else []:
                try:
                    yield _otlp_span(raw, service)
                except BadSpan as exc:
                    yield exc


def _otlp_span(raw: Any, service: Any) -> Span:
    if not isinstance(raw, Mapping):
        raise BadSpan("a span is not an object")
    if not service:
        raise BadSpan("the resource has no service.name attribute")
    trace_id, span_id = raw.get("traceId"), raw.get("spanId")
    if not trace_id or not span_id:
        raise BadSpan("a span without traceId or spanId")
    start = _nanos(raw.get("startTimeUnixNano"), "startTimeUnixNano")
    end = _nanos(raw.get("endTimeUnixNano", start), "endTimeUnixNano")
    attrs = _attrs(raw.get("attributes"))
    error, message = _status_error(attrs, raw.get("status"))
    return Span(
        trace_id=hex_id(trace_id),
        span_id=hex_id(span_id),
        parent_id=hex_id(raw.get("parentSpanId")) or None,
        service=str(service),
        name=str(raw.get("name") or "(unnamed)"),
        kind=_OTLP_KINDS.get(raw.get("kind", 0), ""),
        start=start / 1e9,
        duration=max(0, end - start) / 1e9,
        error=error,
        message=message,
    )


# ---- Zipkin v2 -------------------------------------------------------------------------------


def zipkin_span(raw: Any) -> Span:
    """A Zipkin v2 span: timestamp and duration in microseconds; `error` tag marks a failure."""
    if not isinstance(raw, Mapping):
        raise BadSpan("a span is not an object")
    endpoint = raw.get("localEndpoint") or {}
    service = endpoint.get("serviceName") if isinstance(endpoint, Mapping) else None
    if not service:
        raise BadSpan("a span without localEndpoint.serviceName")
    if not raw.get("traceId") or not raw.get("id"):
        raise BadSpan("a span without traceId or id")
    raw_tags = raw.get("tags")
    tags: Mapping[str, Any] = raw_tags if isinstance(raw_tags, Mapping) else {}
    error = "error" in tags
    status = tags.get("http.status_code")
    if not error and status is not None and str(status).isdigit():
        error = int(status) >= 500
    try:
        start = float(raw.get("timestamp") or 0) / 1e6
        duration = float(raw.get("duration") or 0) / 1e6
    except (TypeError, ValueError):
        raise BadSpan("timestamp or duration is not a number of microseconds") from None
    if start <= 0:
        raise BadSpan("a span without timestamp")
    return Span(
        trace_id=str(raw["traceId"]).lower(),
        span_id=str(raw["id"]).lower(),
        parent_id=str(raw.get("parentId") or "").lower() or None,
        service=str(service),
        name=str(raw.get("name") or "(unnamed)"),
        kind=str(raw.get("kind") or "").lower(),
        start=start,
        duration=duration,
        error=error,
        message=(str(tags["error"]) or None) if error and tags.get("error") else None,
    )


# ---- Jaeger query service ----------------------------------------------------------------------


def _jaeger_tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and isinstance(tag.get("key"), str):
            out[tag["key"]] = tag.get("value")
    return out


def jaeger_spans(trace: Any) -> Iterator[Span | BadSpan]:
    """The spans of one trace of `/api/traces` (microseconds; `processes` names the services)."""
    if not isinstance(trace, Mapping):
        yield BadSpan("a trace is not an object")
        return
    raw_processes = trace.get("processes")
    processes: Mapping[str, Any] = raw_processes if isinstance(raw_processes, Mapping) else {}
    for raw in trace.get("spans") or []:
        try:
            yield _jaeger_span(raw, processes)
        except BadSpan as exc:
            yield exc


def _jaeger_span(raw: Any, processes: Mapping[str, Any]) -> Span:
    if not isinstance(raw, Mapping):
        raise BadSpan("a span is not an object")
    process = processes.get(str(raw.get("processID"))) or raw.get("process") or {}
    service = process.get("serviceName") if isinstance(process, Mapping) else None
    if not service:
        raise BadSpan("a span whose process has no serviceName")
    if not raw.get("traceID") or not raw.get("spanID"):
        raise BadSpan("a span without traceID or spanID")
    tags = _jaeger_tags(raw.get("tags"))
    parent = None
    for ref in raw.get("references") or []:
        if isinstance(ref, Mapping) and ref.get("refType") == "CHILD_OF" and ref.get("spanID"):
            parent = str(ref["spanID"])
            break
    error = tags.get("error") in (True, "true")
    status = tags.get("http.status_code")
    if not error and isinstance(status, int | float) and not math.isnan(status):
        error = status >= 500
    try:
        start = float(raw.get("startTime") or 0) / 1e6
        duration = float(raw.get("duration") or 0) / 1e6
    except (TypeError, ValueError):
        raise BadSpan("startTime or duration is not a number of microseconds") from None
    message = tags.get("otel.status_description") or tags.get("error.type")
    return Span(
        trace_id=str(raw["traceID"]).lower(),
        span_id=str(raw["spanID"]).lower(),
        parent_id=parent.lower() if parent else None,
        service=str(service),
        name=str(raw.get("operationName") or "(unnamed)"),
        kind=str(tags.get("span.kind") or "").lower(),
        start=start,
        duration=duration,
        error=error,
        message=str(message) if error and message else None,
    )


# ---- Elastic APM -------------------------------------------------------------------------------


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        if dotted in value and value is doc:
            return value[dotted]
        value = value.get(part)
    return value


def apm_span(doc: Any) -> Span:
    """An Elastic APM `transaction` (a service's entry span) or `span` document."""
    if not isinstance(doc, Mapping):
        raise BadSpan("a document is not an object")
    event = _get(doc, "processor.event")
    is_tx = event == "transaction"
    part = "transaction" if is_tx else "span"
    service = _get(doc, "service.name")
    trace_id, span_id = _get(doc, "trace.id"), _get(doc, f"{part}.id")
    if not service or not trace_id or not span_id:
        raise BadSpan("a document without service.name, trace.id or transaction.id / span.id")
    micros = _get(doc, "timestamp.us")
    try:
        start = float(micros) / 1e6 if micros is not None else None
        duration = float(_get(doc, f"{part}.duration.us") or 0) / 1e6
    except (TypeError, ValueError):
        raise BadSpan("timestamp.us or the duration is not a number") from None
    if start is None:
        raise BadSpan("a document without timestamp.us")
    outcome = _get(doc, "event.outcome")
    result = str(_get(doc, "transaction.result") or "")
    error = outcome == "failure" or (is_tx and result.startswith("HTTP 5"))
    kind = "server" if is_tx else ("client" if _get(doc, "span.type") == "external" else "internal")
    return Span(
        trace_id=str(trace_id).lower(),
        span_id=str(span_id).lower(),
        parent_id=str(_get(doc, "parent.id") or "").lower() or None,
        service=str(service),
        name=str(_get(doc, f"{part}.name") or "(unnamed)"),
        kind=kind,
        start=start,
        duration=duration,
        error=error,
        message=(result or None) if error else None,
    )
