"""The `otlp_file` collector on files written as the OpenTelemetry Collector's file exporter writes them."""

from __future__ import annotations

import gzip
import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.otlp_file import OtlpFileCollector, OtlpFileConfig
from dossier.errors import SourceQueryError
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.collectors._traces.synth import caller_callee, otlp_lines

INSTANCE = "otlp_file/traces"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def t(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def request(
    services: tuple[ServiceInfo, ...] = (ServiceInfo("checkout", aliases=("checkout-api",)),),
) -> CollectRequest:
    incident = Incident("INC-7", "t", t("10:00"), t("11:00"), tuple(s.name for s in services))
    return CollectRequest(incident=incident, start=t("09:00"), end=t("11:00"), services=services, configured=services)


def collector(path: Path | str, base: Path, **extra) -> OtlpFileCollector:
    cfg = OtlpFileConfig.model_validate({"path": str(path), **extra}, context={"base_dir": base})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return OtlpFileCollector(cfg, ctx)


def lines(**kw) -> list[str]:
    return list(
        otlp_lines(caller_callee(t("09:00"), t("11:00"), callee_fails_at=t("10:05"), caller_fails_at=t("10:06"), **kw))
    )


def test_errors_latency_calls_and_exemplars(tmp_path):
    (tmp_path / "traces.json").write_text("\n".join(lines()) + "\n")
    c = collector("traces.json", tmp_path, trace_url="https://jaeger.example.com/trace/{trace_id}")
    result = c.collect(request())

    assert result.problems == [] and not result.truncated
    by = {(s.signal, s.service, s.labels.get("operation")): s for s in result.series}
    errors = by[("trace_errors", "payments", None)]
    assert errors.unit == "ratio" and errors.step == 60.0 and errors.role == "signal"
    i_before, i_after = errors.times.index(t("10:00").timestamp()), errors.times.index(t("10:10").timestamp())
    assert errors.values[i_before] < 0.2 < 0.4 < errors.values[i_after]
    latency = by[("trace_latency", "payments", None)]
    assert 0.015 < latency.values[i_before] < 0.06  # charges take 20-40 ms before
    assert latency.values[i_after] > 0.2  # and ~0.25 s more once they fail
    assert ("trace_errors", "payments", "POST /charge") not in by  # one operation: the service series says it all
    call = next(s for s in result.series if s.role == "call")
    assert call.labels["caller"] == "checkout" and call.labels["callee"] == "payments"
    assert int(call.labels["traces"]) == 2400 and call.labels["calls"] == "2400"
    assert sum(call.values) == 2400
    notes = [e for e in result.events if e.kind == "note"]
    assert 0 < len(notes) <= 10
    failing = [e for e in notes if e.attrs["why"] == "error"]
    assert failing and all(e.link == f"https://jaeger.example.com/trace/{e.attrs['trace_id']}" for e in failing)
    assert [r.method for r in c.ctx.recorder.requests] == ["READ"]
    assert c.ctx.recorder.requests[0].params["sha256"]


def test_gzip_and_glob_give_the_same_aggregates(tmp_path):
    text = lines()
    (tmp_path / "plain.json").write_text("\n".join(text) + "\n")
    (tmp_path / "rotated").mkdir()
    half = len(text) // 2
    (tmp_path / "rotated" / "traces-1.json").write_text("\n".join(text[:half]) + "\n")
    with gzip.open(tmp_path / "rotated" / "traces-2.json.gz", "wt") as f:
        f.write("\n".join(text[half:]) + "\n")
    one = collector("plain.json", tmp_path).collect(request())
    many = collector("rotated/*.json*", tmp_path).collect(request())

    def key(r):
        return sorted((s.id, tuple(0 if math.isnan(v) else v for v in s.values)) for s in r.series)

    assert key(one) == key(many)


def test_bad_lines_are_a_problem_not_a_crash(tmp_path):
    text = lines()
    text.insert(3, "{not json")
    text.insert(
        5, '{"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": [{"traceId": "a", "spanId": "b"}]}]}]}'
    )
    (tmp_path / "traces.json").write_text("\n".join(text) + "\n")
    result = collector("traces.json", tmp_path).collect(request())
    assert len(result.problems) == 1
    reason = result.problems[0].reason
    assert "2 of" in reason and "the first at line 4: invalid JSON" in reason
    assert any(s.signal == "trace_errors" for s in result.series)


def test_a_truncated_gzip_is_read_up_to_the_damage(tmp_path):
    data = gzip.compress(("\n".join(lines()) + "\n").encode())
    (tmp_path / "traces.json.gz").write_bytes(data[: len(data) // 2])
    result = collector("traces.json.gz", tmp_path).collect(request())
    assert result.truncated and "truncated .gz" in (result.truncated_reason or "")
    assert any(s.signal == "trace_errors" for s in result.series)


@pytest.mark.parametrize(
    ("path", "needle"),
    [("missing.json", "file not found"), ("nothing/*.json", "no file matches"), (".", "is a directory")],
)
def test_a_path_without_files_fails_the_source_with_the_fix(tmp_path, path, needle):
    with pytest.raises(SourceQueryError) as err:
        collector(path, tmp_path).collect(request())
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_an_incident_service_without_spans_is_a_traces_blind_spot(tmp_path):
    (tmp_path / "traces.json").write_text("\n".join(lines()) + "\n")
    result = collector("traces.json", tmp_path).collect(request((ServiceInfo("search"),)))
    gaps = [e for e in result.events if e.kind == "telemetry_gap"]
    assert [(g.service, g.attrs["telemetry"]) for g in gaps] == [("search", "traces")]
    assert result.problems == []


def test_aliases_name_the_service_as_the_config_does(tmp_path):
    (tmp_path / "traces.json").write_text("\n".join(lines(caller="checkout-api")) + "\n")
    result = collector("traces.json", tmp_path).collect(request())
    assert {s.service for s in result.series if s.role == "signal"} == {"checkout", "payments"}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [({"trace_url": "https://x/trace"}, "{trace_id}"), ({"interval": "1.5s"}, "whole number"), ({"paht": "x"}, "paht")],
)
def test_config_errors(tmp_path, extra, needle):
    with pytest.raises(Exception) as err:
        OtlpFileConfig.model_validate({"path": "x", **extra}, context={"base_dir": tmp_path})
    assert needle in str(err.value)
