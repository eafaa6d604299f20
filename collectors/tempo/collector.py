"""The `tempo` collector: traces from Grafana Tempo's HTTP API, by TraceQL search and trace by id.

    GET /api/status/buildinfo                                               (check: the version)
    GET /api/search?q={ resource.service.name = "S" }&start=S&end=S&limit=N  (one slice: trace ids)
    GET /api/traces/<id>                                                    (each trace, OTLP/JSON)

A search gives trace ids only, so each trace is then read by id (`concurrency` at a time); Tempo
writes ids in base64 there, which the OTLP reader turns into hex. The trace links default to
Grafana's Explore when `grafana_url` and `datasource_uid` are set; `trace_url` overrides them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from pydantic import Field

from collectors._traces.remote import RemoteTraceCollector, RemoteTraceConfig
from collectors._traces.spans import BadSpan, Span, otlp_spans
from dossier.errors import SourceQueryError
from dossier.plugin import CollectContext


class TempoConfig(RemoteTraceConfig):
    """Grafana Tempo 2.x (its query frontend's HTTP API)."""

    url: str = Field(description="Base URL of Tempo's HTTP API (the query frontend), e.g. http://tempo:3200.")
    limit: int = Field(
        default=20, ge=1, le=1_000, description="Traces asked for per service and slice (each is then read by id)."
    )
    org_id: str | None = Field(
        default=None, description="Tenant of a multi-tenant Tempo, sent as the X-Scope-OrgID header."
    )
    concurrency: int = Field(default=4, ge=1, le=32, description="Traces read by id at the same time.")
    grafana_url: str | None = Field(
        default=None, description="Base URL of Grafana, for links to Explore (with datasource_uid)."
    )
    datasource_uid: str | None = Field(default=None, description="UID of the Tempo data source in Grafana, for links.")


def traceql_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class TempoCollector(RemoteTraceCollector[TempoConfig]):
    """Traces from Tempo, searched with TraceQL one service and slice at a time."""

    type = "tempo"
    Config = TempoConfig
    product = "Tempo"

    def __init__(self, config: TempoConfig, ctx: CollectContext) -> None:
        if config.org_id:
            config = config.model_copy(update={"headers": {**config.headers, "X-Scope-OrgID": config.org_id}})
        super().__init__(config, ctx)

    def check(self) -> str:
        body, _, _ = self.api.get_json("/api/status/buildinfo")
        if not isinstance(body, Mapping) or "version" not in body:
            raise SourceQueryError(self.ctx.instance, f"GET {self.config.url}/api/status/buildinfo: not Tempo's answer")
        return f"Tempo {body['version']}"

    def search(self, service: str, start: float, end: float, limit: int) -> Iterator[list[Span | BadSpan]]:
        params = {
            "q": "{ resource.service.name = " + traceql_string(service) + " }",
            "start": int(start),
            "end": int(end),
            "limit": limit,
        }
        body, _, _ = self.api.get_json("/api/search", params)
        # Tempo's SearchResponse has `traces` and `metrics` (an empty `traces` may be left out, never both)
        known = isinstance(body, Mapping) and ("traces" in body or "metrics" in body)
        if not known or not isinstance(body.get("traces"), list | None):
            raise SourceQueryError(
                self.ctx.instance,
                f"GET {self.config.url}/api/search: unexpected answer, no `traces` list: is url Tempo's?",
            )
        ids = [str(t["traceID"]) for t in body.get("traces") or [] if isinstance(t, Mapping) and t.get("traceID")]
        ids = [i for i in ids if i.lower().rjust(32, "0") not in self.seen_traces]  # found by the slice before

        def read(trace_id: str) -> list[Span | BadSpan]:
            answer, _, _ = self.api.get_json(f"/api/traces/{quote(trace_id)}")
            return list(otlp_spans(answer))

        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            yield from pool.map(read, ids)

    def trace_link(self, trace_id: str) -> str | None:
        explicit = self.config.trace_link(trace_id)
        if explicit or not (self.config.grafana_url and self.config.datasource_uid):
            return explicit
        left = json.dumps(
            {"datasource": self.config.datasource_uid, "queries": [{"queryType": "traceql", "query": trace_id}]},
            separators=(",", ":"),
        )
        return f"{self.config.grafana_url.rstrip('/')}/explore?left={quote(left)}"
