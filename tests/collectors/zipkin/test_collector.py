"""The `zipkin` collector against a real Zipkin server (conftest.py starts it from the Maven Central jar)."""

from __future__ import annotations

import logging
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from collectors.zipkin import ZipkinCollector, ZipkinConfig
from correlate.draft import draft
from dossier.errors import SourceQueryError, SourceUnavailable
from dossier.model import CorrelateSettings, Evidence, Incident, ServiceInfo, SourceReport
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.collectors._traces.synth import caller_callee, zipkin_span
from tests.collectors.zipkin.conftest import free_port, post_spans

pytestmark = pytest.mark.slow  # starts a JVM (~10 s, once per session)

INSTANCE = "zipkin/prod"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SERVICES = (ServiceInfo("checkout", aliases=("checkout-api",)),)


def t(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def request(services: tuple[ServiceInfo, ...] = SERVICES) -> CollectRequest:
    incident = Incident("INC-7", "t", t("10:00"), t("11:00"), tuple(s.name for s in services))
    return CollectRequest(incident=incident, start=t("09:00"), end=t("11:00"), services=services, configured=services)


def collector(url: str, **extra) -> ZipkinCollector:
    cfg = ZipkinConfig.model_validate({"url": url, "http": {"retries": 1, "timeout": "10s"}, **extra})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return ZipkinCollector(cfg, ctx)


@pytest.fixture(scope="module")
def loaded(zipkin: str) -> str:
    traces = caller_callee(t("09:00"), t("11:00"), per_minute=5, callee_fails_at=t("10:05"), caller_fails_at=t("10:06"))
    post_spans(zipkin, [zipkin_span(s) for trace in traces for s in trace])
    deadline = time.monotonic() + 30
    while b"payments" not in urllib.request.urlopen(f"{zipkin}/api/v2/services").read():
        assert time.monotonic() < deadline, "zipkin did not take the spans"
        time.sleep(0.2)
    return zipkin


def test_aggregates_calls_and_exemplars_from_a_real_zipkin(loaded):
    c = collector(loaded)
    assert c.check().startswith("Zipkin API v2: ")
    result = c.collect(request())

    assert result.problems == [] and not result.truncated, (result.problems, result.truncated_reason)
    by = {(s.signal, s.service): s for s in result.series if s.role == "signal" and not s.labels}
    errors = by[("trace_errors", "payments")]
    times = list(errors.times)
    assert errors.values[times.index(t("10:00").timestamp())] < 0.3
    assert errors.values[times.index(t("10:20").timestamp())] > 0.3
    call = next(s for s in result.series if s.role == "call")
    assert (call.labels["caller"], call.labels["callee"], call.labels["traces"]) == ("checkout", "payments", "600")
    notes = [e for e in result.events if e.kind == "note"]
    assert notes and all(e.link == f"{loaded}/zipkin/traces/{e.attrs['trace_id']}" for e in notes)
    # every search went to the server and is in the provenance: 12 slices of 10 minutes, by name and alias
    searches = [r for r in c.ctx.recorder.requests if r.url.endswith("/api/v2/traces")]
    assert len(searches) == 24 and {r.params["serviceName"] for r in searches} == {"checkout", "checkout-api"}
    c.close()


def test_the_draft_finds_the_callee_first(loaded):
    c = collector(loaded)
    result = c.collect(request())
    c.close()
    incident = request().incident
    evidence = Evidence(
        events=tuple(result.events),
        series=tuple(result.series),
        sources=(SourceReport(INSTANCE, "zipkin", "ok", None, result.items, 0.1, kinds=("trace",)),),
    )
    d = draft(incident, evidence, CorrelateSettings(services=(ServiceInfo("checkout"),)), generated_at=t("12:00"))
    first = {e.event.service: e.event for e in d.timeline if e.event.kind == "trace_errors"}
    assert set(first) == {"checkout", "payments"}
    assert first["payments"].at < first["checkout"].at


def test_a_small_limit_is_a_stated_sample(loaded):
    result = collector(loaded, limit=10).collect(request())
    assert result.truncated and "returned limit (10) traces" in (result.truncated_reason or "")


def test_nothing_listening_fails_the_source():
    with pytest.raises(SourceUnavailable) as err:
        collector(f"http://127.0.0.1:{free_port()}").collect(request())
    assert "/api/v2/traces" in str(err.value)


def test_a_wrong_base_path_fails_with_the_status(loaded):
    with pytest.raises(SourceQueryError) as err:
        collector(f"{loaded}/nothing-here").collect(request())
    assert "HTTP 404" in str(err.value)


def test_an_unknown_service_is_a_traces_blind_spot(loaded):
    result = collector(loaded).collect(request((ServiceInfo("search"),)))
    gaps = [e for e in result.events if e.kind == "telemetry_gap"]
    assert [(g.service, g.attrs["telemetry"]) for g in gaps] == [("search", "traces")]
