"""The `elastic_apm` collector against the Elasticsearch stand-in (tests/standins/elasticsearch.py,
through the `es_server` fixture of tests/conftest.py), on Elastic APM documents of known truth."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import pytest

from collectors.elastic_apm import ElasticApmCollector, ElasticApmConfig
from dossier.errors import SourceQueryError, SourceUnavailable
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.collectors._traces.synth import APM_MAPPINGS, apm_docs, caller_callee
from tests.collectors.zipkin.conftest import free_port

INSTANCE = "elastic_apm/prod"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def t(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def request(services: tuple[ServiceInfo, ...] = (ServiceInfo("checkout"),)) -> CollectRequest:
    incident = Incident("INC-7", "t", t("10:00"), t("11:00"), tuple(s.name for s in services))
    return CollectRequest(incident=incident, start=t("09:00"), end=t("11:00"), services=services, configured=services)


def docs() -> list[dict]:
    traces = caller_callee(t("09:00"), t("11:00"), per_minute=4, callee_fails_at=t("10:05"), caller_fails_at=t("10:06"))
    return [d for trace in traces for d in apm_docs(trace)]


@pytest.fixture
def es(es_server):
    return es_server(docs(), mappings={"apm-traces": APM_MAPPINGS})


def collector(hosts: str, **extra) -> ElasticApmCollector:
    cfg = ElasticApmConfig.model_validate(
        {"hosts": hosts, "index": "apm-traces", "retries": 1, "timeout": "5s", **extra}
    )
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return ElasticApmCollector(cfg, ctx)


def test_series_from_aggregations_calls_and_exemplars_from_a_sample(es):
    c = collector(es.url, kibana_url="https://kibana.example.com/s/ops", sample_traces=40)
    assert c.check().endswith("960 APM transactions in apm-traces")
    result = c.collect(request())
    assert result.problems == [] and not result.truncated, result.problems
    by = {(s.signal, s.service): s for s in result.series if s.role == "signal" and not s.labels}
    errors = by[("trace_errors", "payments")]
    times = list(errors.times)
    onset = times.index(t("10:05").timestamp())

    def mean(values, lo, hi):
        return sum(values[lo:hi]) / (hi - lo)

    assert mean(errors.values, 0, onset) < 0.05 and mean(errors.values, onset, len(times)) > 0.4
    latency = by[("trace_latency", "payments")]
    assert 0.015 < sorted(latency.values[:onset])[onset // 2] < 0.06  # the median minute before: 20-40 ms
    assert sorted(latency.values[onset:])[len(times[onset:]) // 2] > 0.2
    assert not any(math.isnan(v) for v in errors.values)  # 4 transactions a minute: every bucket has some
    # the aggregation is exact: 4 transactions a minute per service, none read one by one
    call = next(s for s in result.series if s.role == "call")
    assert (call.labels["caller"], call.labels["callee"]) == ("checkout", "payments")
    assert 20 <= int(call.labels["traces"]) <= 40  # the sample
    notes = [e for e in result.events if e.kind == "note"]
    assert notes and all(
        e.link == f"https://kibana.example.com/s/ops/app/apm/link-to/trace/{e.attrs['trace_id']}" for e in notes
    )
    assert any(e.attrs["why"] == "error" and e.service == "payments" for e in notes)
    c.close()


def test_the_aggregation_failing_fails_the_source(es):
    es.inject(503, 10, path_regex="_search")
    c = collector(es.url, retries=1)
    with pytest.raises(SourceUnavailable):
        c.collect(request())


def test_a_failed_sample_is_a_problem_not_a_crash(es):
    c = collector(es.url, retries=1)
    calls = {"n": 0}
    search = c.api.search

    def flaky(body, items):
        calls["n"] += 1
        if calls["n"] > 1:  # the aggregation answers, the sample does not
            es.inject(503, 1, path_regex="_search")
        return search(body, items)

    c.api.search = flaky  # type: ignore[method-assign]
    result = c.collect(request())
    assert len(result.problems) == 1 and "call graph" in result.problems[0].reason
    assert any(s.signal == "trace_errors" for s in result.series)
    assert not any(s.role == "call" for s in result.series)


def test_a_missing_index_fails_with_the_hint(es_server):
    server = es_server([])
    with pytest.raises(SourceQueryError) as err:
        collector(server.url, index="nothing-here").collect(request())
    assert "nothing-here" in str(err.value) or "index" in str(err.value)


def test_nothing_listening_fails_the_source():
    with pytest.raises(SourceUnavailable):
        collector(f"http://127.0.0.1:{free_port()}").collect(request())
