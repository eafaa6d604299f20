"""The `zipkin` collector: traces from Zipkin's API v2, aggregated as `collectors._traces` does.

    GET /api/v2/services                                                   (check)
    GET /api/v2/traces?serviceName=S&endTs=MS&lookback=MS&limit=N          (one slice: traces, each a list of spans)

Zipkin stores service names in lower case, so a service is searched by its name and aliases in
lower case. Exemplars link to the Zipkin UI (`/zipkin/traces/<id>`) unless `trace_url` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from pydantic import Field

from collectors._traces.remote import RemoteTraceCollector, RemoteTraceConfig
from collectors._traces.spans import BadSpan, Span, zipkin_span
from dossier.errors import SourceQueryError
from dossier.plugin import CollectRequest


class ZipkinConfig(RemoteTraceConfig):
    """Zipkin's API v2 (Zipkin server 2.x and 3.x, or anything that serves it)."""

    url: str = Field(description="Base URL of the Zipkin server, e.g. http://zipkin:9411.")
    ui_url: str | None = Field(
        default=None,
        description="Base URL of the Zipkin UI for links (default: url); trace_url overrides it for exemplars.",
    )


class ZipkinCollector(RemoteTraceCollector[ZipkinConfig]):
    """Traces from Zipkin, searched one service and slice at a time."""

    type = "zipkin"
    Config = ZipkinConfig
    product = "Zipkin"

    def check(self) -> str:
        body, _, _ = self.api.get_json("/api/v2/services")
        if not isinstance(body, list):
            raise SourceQueryError(self.ctx.instance, f"GET {self.config.url}/api/v2/services: not a list: not Zipkin?")
        return f"Zipkin API v2: {len(body)} services"

    def source_names(self, request: CollectRequest, service: str) -> list[str]:
        return list(dict.fromkeys(n.lower() for n in super().source_names(request, service)))

    def search(self, service: str, start: float, end: float, limit: int) -> Iterator[list[Span | BadSpan]]:
        end_ms = int(end * 1000)
        params = {"serviceName": service, "endTs": end_ms, "lookback": end_ms - int(start * 1000), "limit": limit}
        body, _, _ = self.api.get_json("/api/v2/traces", params)
        if not isinstance(body, list):
            raise SourceQueryError(self.ctx.instance, f"GET {self.config.url}/api/v2/traces: not a list of traces")
        for trace in body:
            out: list[Span | BadSpan] = []
            for raw in trace if isinstance(trace, list) else []:
                try:
                    out.append(zipkin_span(raw))
                except BadSpan as exc:
                    out.append(exc)
            yield out

    def _ui(self) -> str:
        return (self.config.ui_url or self.config.url).rstrip("/")

    def trace_link(self, trace_id: str) -> str | None:
        return self.config.trace_link(trace_id) or f"{self._ui()}/zipkin/traces/{trace_id}"

    def search_link(self, service: str, op: str | None) -> str | None:
        link = f"{self._ui()}/zipkin/?serviceName={quote(service.lower())}"
        return link + (f"&spanName={quote(op.lower())}" if op else "")
