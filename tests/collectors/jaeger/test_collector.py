"""The `jaeger` collector against the stand-in Jaeger query service (tests/standins/jaeger.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from collectors.jaeger import JaegerCollector, JaegerConfig
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.collectors._traces.synth import caller_callee, jaeger_trace
from tests.standins.jaeger import Jaeger

INSTANCE = "jaeger/prod"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def t(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def request(services: tuple[ServiceInfo, ...] = (ServiceInfo("checkout"),)) -> CollectRequest:
    incident = Incident("INC-7", "t", t("10:00"), t("11:00"), tuple(s.name for s in services))
    return CollectRequest(incident=incident, start=t("09:00"), end=t("11:00"), services=services, configured=services)


def traces() -> list[dict]:
    return [
        jaeger_trace(tr)
        for tr in caller_callee(
            t("09:00"), t("11:00"), per_minute=5, callee_fails_at=t("10:05"), caller_fails_at=t("10:06")
        )
    ]


@pytest.fixture
def jaeger() -> Iterator[Jaeger]:
    with Jaeger(traces(), token="s3cret", base_path="/jaeger") as j:
        yield j


def collector(url: str, token: str = "s3cret", **extra) -> JaegerCollector:
    cfg = JaegerConfig.model_validate(
        {
            "url": url,
            "headers": {"Authorization": f"Bearer {token}"},
            "http": {"retries": 1, "timeout": "5s"},
            **extra,
        }
    )
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return JaegerCollector(cfg, ctx)


def test_aggregates_calls_and_exemplars(jaeger):
    c = collector(jaeger.url)
    assert c.check() == "Jaeger query: 2 services"
    result = c.collect(request())
    assert result.problems == [] and not result.truncated
    by = {(s.signal, s.service): s for s in result.series if s.role == "signal" and not s.labels}
    errors = by[("trace_errors", "payments")]
    times = list(errors.times)
    assert errors.values[times.index(t("10:00").timestamp())] < 0.3 < errors.values[times.index(t("10:30").timestamp())]
    assert by[("trace_latency", "checkout")].unit == "s"
    call = next(s for s in result.series if s.role == "call")
    assert (call.labels["caller"], call.labels["callee"], call.labels["traces"]) == ("checkout", "payments", "600")
    notes = [e for e in result.events if e.kind == "note"]
    assert notes and all(e.link == f"{jaeger.url}/trace/{e.attrs['trace_id']}" for e in notes)
    searches = [p for m, p in jaeger.requests if p.startswith("/jaeger/api/traces?")]
    assert len(searches) == 12 and all("service=checkout" in p and "limit=100" in p for p in searches)
    c.close()


def test_a_failed_slice_is_a_problem_the_others_are_read(jaeger):
    jaeger.inject(503, count=1)
    c = collector(jaeger.url)
    result = c.collect(request())
    assert len(result.problems) == 1
    p = result.problems[0]
    assert p.start == t("09:00") and "traces of checkout from 2026-11-20T09:00:00Z" in p.reason and "503" in p.reason
    assert any(s.signal == "trace_errors" for s in result.series)


def test_every_slice_failing_fails_the_source(jaeger):
    jaeger.inject(503, count=100)
    with pytest.raises(SourceUnavailable) as err:
        collector(jaeger.url).collect(request())
    assert "HTTP 503" in str(err.value)


def test_a_wrong_token_is_an_auth_error(jaeger):
    with pytest.raises(SourceAuthError) as err:
        collector(jaeger.url, token="wrong").collect(request())
    assert "HTTP 401" in str(err.value) and "Authorization header" in str(err.value)


def test_a_missing_base_path_is_a_query_error(jaeger):
    with pytest.raises(SourceQueryError) as err:
        collector(jaeger.url.removesuffix("/jaeger")).collect(request())
    assert "HTTP 404" in str(err.value)


def test_nothing_listening_fails_the_source(jaeger):
    url = jaeger.url
    jaeger.stop()
    with pytest.raises(SourceUnavailable):
        collector(url).collect(request())


def test_a_small_limit_is_a_stated_sample(jaeger):
    result = collector(jaeger.url, limit=5).collect(request())
    assert result.truncated and "12 of 12 searches returned limit (5) traces" in (result.truncated_reason or "")
