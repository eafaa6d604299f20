"""The `tempo` collector against the stand-in Tempo (tests/standins/tempo.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.tempo import TempoCollector, TempoConfig
from collectors.tempo.collector import traceql_string
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.collectors._traces.synth import caller_callee, otlp_request
from tests.standins.tempo import Tempo

INSTANCE = "tempo/prod"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def t(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def request(services: tuple[ServiceInfo, ...] = (ServiceInfo("checkout"),)) -> CollectRequest:
    incident = Incident("INC-7", "t", t("10:00"), t("11:00"), tuple(s.name for s in services))
    return CollectRequest(incident=incident, start=t("09:00"), end=t("11:00"), services=services, configured=services)


def pushes() -> list[dict]:
    out = []
    for trace in caller_callee(
        t("09:00"), t("11:00"), per_minute=2, callee_fails_at=t("10:05"), caller_fails_at=t("10:06")
    ):
        for svc in ("payments", "checkout"):
            out.append(otlp_request(svc, [s for s in trace if s.service == svc]))
    return out


@pytest.fixture(scope="module")
def data() -> list[dict]:
    return pushes()


@pytest.fixture
def tempo(data) -> Iterator[Tempo]:
    with Tempo(data, org_id="acme") as server:
        yield server


def collector(url: str, **extra) -> TempoCollector:
    cfg = TempoConfig.model_validate({"url": url, "org_id": "acme", "http": {"retries": 1, "timeout": "5s"}, **extra})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return TempoCollector(cfg, ctx)


def test_search_then_trace_by_id(tempo):
    c = collector(tempo.url, limit=30, grafana_url="https://grafana.example.com", datasource_uid="tempo-prod")
    assert c.check() == "Tempo 2.6.1"
    result = c.collect(request())
    assert result.problems == [] and not result.truncated, (result.problems, result.truncated_reason)
    by = {(s.signal, s.service): s for s in result.series if s.role == "signal" and not s.labels}
    errors = by[("trace_errors", "payments")]
    times = list(errors.times)
    assert errors.values[times.index(t("10:00").timestamp())] < 0.3 < errors.values[times.index(t("10:30").timestamp())]
    call = next(s for s in result.series if s.role == "call")
    assert (call.labels["caller"], call.labels["callee"], call.labels["traces"]) == ("checkout", "payments", "240")
    # ids come back in base64 from /api/traces and are read as the hex the search gave
    notes = [e for e in result.events if e.kind == "note"]
    assert notes and all(len(e.attrs["trace_id"]) == 32 and e.attrs["trace_id"] in tempo.traces for e in notes)
    assert all(e.link.startswith("https://grafana.example.com/explore?left=") for e in notes)
    searches = [p for _, p in tempo.requests if p.startswith("/api/search")]
    assert len(searches) == 12
    assert sum(1 for _, p in tempo.requests if p.startswith("/api/traces/")) == 240
    c.close()


def test_a_failed_slice_is_a_problem(tempo):
    tempo.inject(500, count=1)
    result = collector(tempo.url).collect(request())
    assert len(result.problems) == 1 and "HTTP 500" in result.problems[0].reason
    assert result.problems[0].start == t("09:00")


def test_every_search_failing_fails_the_source(tempo):
    tempo.inject(503, count=1000)
    with pytest.raises(SourceUnavailable):
        collector(tempo.url).collect(request())


def test_without_the_tenant_tempo_refuses(tempo):
    with pytest.raises(SourceAuthError) as err:
        collector(tempo.url, org_id=None).collect(request())
    assert "HTTP 401" in str(err.value)


def test_a_refused_query_is_a_query_error_not_retried(tempo):
    tempo.inject(400, count=1000)
    with pytest.raises(SourceQueryError) as err:
        collector(tempo.url, http={"retries": 3, "timeout": "5s"}).collect(request())
    assert "HTTP 400" in str(err.value)
    # one attempt per slice (a 400 is not retried), and after three searches that all failed the
    # other nine slices are not asked: the store is not going to answer them either
    assert len(tempo.requests) == 3
    assert len({path for _, path in tempo.requests}) == 3


def test_traceql_strings_are_escaped():
    assert traceql_string('pay"ments\\x') == '"pay\\"ments\\\\x"'


def test_a_small_limit_is_a_stated_sample(tempo):
    result = collector(tempo.url, limit=3).collect(request())
    assert result.truncated and "returned limit (3) traces" in (result.truncated_reason or "")


def test_a_store_that_stops_answering_midway_leaves_a_partial_source(tempo):
    """The first slices are read, then every search is refused with a 403: the source is partial,
    the slices read stand, and the slices after the 403 are not asked (named in one problem)."""
    c = collector(tempo.url, http={"retries": 1, "timeout": "5s"})
    real = c.search
    calls = []

    def search(service, start, end, limit):
        calls.append(start)
        if len(calls) > 4:
            tempo.inject(403, count=1000)
        return real(service, start, end, limit)

    c.search = search
    result = c.collect(request())
    reasons = [p.reason for p in result.problems]
    assert len(calls) == 5, calls  # four slices answered, the fifth refused, the other seven not asked
    assert any("HTTP 403" in r for r in reasons), reasons
    assert any(r.startswith("7 of 12 searches not made") for r in reasons), reasons
