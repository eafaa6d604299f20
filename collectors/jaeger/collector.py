"""The `jaeger` collector: traces from the Jaeger query service's HTTP API (the one its UI uses).

    GET /api/services                                               (check)
    GET /api/traces?service=S&start=US&end=US&limit=N               (one slice: whole traces, microseconds)

Errors come in Jaeger's envelope (`{"errors": [{"code", "msg"}]}`): the message is read from it.
Exemplars link to the Jaeger UI (`<url>/trace/<id>`) unless `trace_url` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlencode

from pydantic import Field

from collectors._traces.remote import RemoteTraceCollector, RemoteTraceConfig
from collectors._traces.spans import BadSpan, Span, jaeger_spans
from dossier.errors import SourceQueryError


class JaegerConfig(RemoteTraceConfig):
    """The Jaeger query service (jaeger-query 1.x, or Jaeger v2's query extension), HTTP API."""

    url: str = Field(
        description="Base URL of the Jaeger query service with its base path, e.g. http://jaeger-query:16686."
    )


def _errors(body: object) -> str | None:
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, Mapping):
            return f"{first.get('code')}: {first.get('msg')}"
    return None


class JaegerCollector(RemoteTraceCollector[JaegerConfig]):
    """Traces from Jaeger, searched one service and slice at a time."""

    type = "jaeger"
    Config = JaegerConfig
    product = "Jaeger"

    def check(self) -> str:
        body, _, _ = self.api.get_json("/api/services")
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), list | None):
            raise SourceQueryError(self.ctx.instance, f"GET {self.config.url}/api/services: not Jaeger's answer")
        return f"Jaeger query: {len(body.get('data') or [])} services"

    def search(self, service: str, start: float, end: float, limit: int) -> Iterator[list[Span | BadSpan]]:
        params = {"service": service, "start": int(start * 1e6), "end": int(end * 1e6), "limit": limit}
        body, _, _ = self.api.get_json("/api/traces", params)
        problem = _errors(body)
        # Jaeger's envelope always has `data` (null with errors): an answer without it is not Jaeger's
        if problem or not isinstance(body, Mapping) or "data" not in body or not isinstance(body["data"], list | None):
            raise SourceQueryError(
                self.ctx.instance, f"GET {self.config.url}/api/traces: {problem or 'not a list of traces in data'}"
            )
        for trace in body.get("data") or []:
            yield list(jaeger_spans(trace))

    def trace_link(self, trace_id: str) -> str | None:
        return self.config.trace_link(trace_id) or f"{self.config.url}/trace/{trace_id}"

    def search_link(self, service: str, op: str | None) -> str | None:
        query = {"service": service, **({"operation": op} if op else {})}
        return f"{self.config.url}/search?{urlencode(query, quote_via=quote)}"
