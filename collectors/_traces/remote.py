"""Collecting from a trace store's HTTP API (Zipkin, Jaeger, Tempo): one time slice at a time.

A trace store answers searches with whole traces (or their ids), at most `limit` a search, and has
no API that counts spans. So the collection window is cut into slices of `slice`, and for each
incident service and slice the store is asked for up to `limit` traces of that service: the
series are then computed from a sample spread evenly over the window, not from the first or last
traces only. Each trace is fed to the shared `TraceAggregator` (its spans are joined within the
trace: the calls between services come out exactly) and dropped; a trace found by two searches
counts once.

Failures: a failed search is a `Problem` naming the service and the slice (status `partial`), the
other slices are still read; when every search failed, the first failure fails the source. A
slice where the store returned `limit` traces says so in `truncated_reason` (raise `limit`).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from pydantic import Field, field_validator

from collectors._http import HttpApi, HttpSettings
from collectors._traces.aggregate import TraceAggregator, window_of
from collectors._traces.config import TraceSettings, _error
from collectors._traces.result import emit
from collectors._traces.spans import BadSpan, Span
from dossier.errors import CollectorError
from dossier.model import Problem, from_epoch, rfc3339
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult, Duration

MAX_SEARCHES = 2_000  # searches per collection, whatever slice and the services say
# A failure that every later search would meet too (the store is unreachable, the credential or the
# URL is wrong, the deadline passed) ends the collection at once; other failures (a 5xx, a timeout:
# a heavy slice) leave the next slices to be tried, unless the first searches all failed that way.
FATAL_STATUS = frozenset({401, 403, 404})
FATAL_KINDS = frozenset({"refused", "dns", "connect_timeout", "tls", "deadline"})
FIRST_FAILURES = 3  # searches that all failed, with none answered: the store is down, stop asking


def _fatal(exc: CollectorError) -> bool:
    return exc.status in FATAL_STATUS or (exc.status is None and exc.kind in FATAL_KINDS)


class RemoteTraceConfig(TraceSettings):
    url: str = Field(description="Base URL of the trace store's query API.")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description='HTTP headers sent with every request, e.g. {Authorization: "Bearer ${env:TOKEN}"}.',
    )
    slice: Duration = Field(
        default=600.0,
        description="The collection window is searched one slice of this length at a time (per incident service).",
    )
    limit: int = Field(default=100, ge=1, le=5_000, description="Traces asked for per service and slice.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="Timeouts, retries and TLS.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:9411")
        return text.rstrip("/")

    @field_validator("slice")
    @classmethod
    def _slice(cls, value: float) -> float:
        if value < 60:
            raise _error("slice must be at least 1m")
        return value


def slices(start: datetime, end: datetime, length: float) -> list[tuple[float, float]]:
    lo, hi = start.timestamp(), end.timestamp()
    n = max(1, min(MAX_SEARCHES, int(-(-(hi - lo) // length))))
    step = (hi - lo) / n
    return [(lo + i * step, lo + (i + 1) * step) for i in range(n)]


RC = TypeVar("RC", bound=RemoteTraceConfig)


class RemoteTraceCollector(Collector[RC], abc.ABC, Generic[RC]):
    """A trace store searched one service and slice at a time; subclasses speak its API."""

    kinds = frozenset({"trace"})
    product: ClassVar[str]
    seen_traces: set[str]  # ids (hex) of the traces aggregated so far in this collection

    def __init__(self, config: RC, ctx: CollectContext) -> None:
        super().__init__(config, ctx)
        self.api = HttpApi(
            config.url,
            instance=ctx.instance,
            recorder=ctx.recorder,
            settings=config.http,
            headers=config.headers,
            credential="the Authorization header in headers",
        )

    def close(self) -> None:
        self.api.close()

    @abc.abstractmethod
    def search(self, service: str, start: float, end: float, limit: int) -> Iterator[list[Span | BadSpan]]:
        """Up to `limit` traces with spans of `service` in [start, end) (epoch seconds), each as its spans."""

    def search_link(self, service: str, op: str | None) -> str | None:
        return None

    def trace_link(self, trace_id: str) -> str | None:
        return self.config.trace_link(trace_id)

    def source_names(self, request: CollectRequest, service: str) -> list[str]:
        """The names to search a service by: its name and aliases."""
        for svc in request.services:
            if svc.name == service:
                return [svc.name, *svc.aliases]
        return [service]

    def collect(self, request: CollectRequest) -> CollectResult:
        cfg = self.config
        instance = self.ctx.instance
        grid = window_of(request.start, request.incident.start, request.end, cfg.interval)
        agg = TraceAggregator(grid, name=lambda raw: request.canonical(raw) or raw, max_services=cfg.max_services)
        result = CollectResult()
        seen: set[str] = set()
        self.seen_traces = seen  # a search that gives ids first (Tempo) skips the traces already read
        failures: list[CollectorError] = []
        full = 0
        searches = 0
        bad = 0
        first_bad: str | None = None
        first_request: str | None = None
        names = [n for svc in request.services for n in self.source_names(request, svc.name)]
        planned = [(name, lo, hi) for name in names for lo, hi in slices(request.start, request.end, cfg.slice)]
        for name, lo, hi in planned:
            if failures and searches == len(failures) and (_fatal(failures[-1]) or searches >= FIRST_FAILURES):
                break  # nothing answered, and the next searches would fail the same way: the source fails
            if failures and _fatal(failures[-1]):
                left = len(planned) - searches
                reason = f"{left} of {len(planned)} searches not made, since they would fail too: {failures[-1]}"
                result.problems.append(Problem(source=instance, reason=reason))
                break
            searches += 1
            count = 0
            n_before = len(self.ctx.recorder.requests)
            try:
                for trace in self.search(name, lo, hi, cfg.limit):
                    count += 1
                    spans = [s for s in trace if isinstance(s, Span)]
                    for s in trace:
                        if isinstance(s, BadSpan):
                            bad += 1
                            first_bad = first_bad or str(s)
                    if not spans or spans[0].trace_id in seen:
                        continue
                    seen.add(spans[0].trace_id)
                    for s in sorted(spans, key=lambda s: s.start):
                        agg.add(s)
            except CollectorError as exc:
                failures.append(exc)
                result.problems.append(
                    Problem(
                        source=instance,
                        reason=(f"traces of {name} from {rfc3339(from_epoch(lo))} to {rfc3339(from_epoch(hi))}: {exc}"),
                        start=from_epoch(lo),
                        end=from_epoch(hi),
                    )
                )
            if first_request is None and len(self.ctx.recorder.requests) > n_before:
                first_request = self.ctx.recorder.requests[n_before].id
            if count >= cfg.limit:
                full += 1
        if failures and len(failures) == searches:
            raise failures[0]
        if full:
            result.truncate(
                f"{full} of {searches} searches returned limit ({cfg.limit}) traces: the series are from a sample "
                "of the traces (raise limit, or shorten slice, for a larger one)"
            )
        if bad and first_bad:
            result.problems.append(Problem(source=instance, reason=f"{bad:,} spans could not be read: {first_bad}"))
        where = f"{self.product} at {cfg.url}"

        def query(service: str, op: str | None, signal: str) -> str:
            what = "error spans / spans" if signal == "trace_errors" else "p95 duration of spans"
            of = f"{service} {op!r}" if op else service
            return (
                f"{what} of {of} (server, consumer and root spans) per {grid.step:g}s, in up to {cfg.limit} traces "
                f"per {cfg.slice:g}s of {where}"
            )

        return emit(
            agg,
            result,
            instance=instance,
            request=request,
            config=cfg,
            query=query,
            where=where,
            search_link=self.search_link,
            trace_link=self.trace_link,
            request_id=first_request,
        )
