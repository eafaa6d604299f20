"""Self-observability of jobs, over OTLP: a trace per job, a span per collector and per batch of
its requests, job and collector durations and failed sources as metrics.

Two receivers, the same checks:

* `otelcol`: a real OpenTelemetry Collector (`tests/otelcol/`: the Collector's OTLP receiver and
  file exporter, built from its Go modules by tests/otelcol/build.sh, which .ci/run runs), read
  back from the OTLP/JSON its file exporter writes;
* `standin`: an OTLP/HTTP endpoint decoding the protobuf requests as sent (opentelemetry-proto).

The backfill has three incidents and three sources: a change log, a real Prometheus
(tests/conftest.py `checkout_prometheus`; its query_range requests make the request-batch spans)
and a change log that is not there, which fails in every job (a failed source, counted).
"""

from __future__ import annotations

import base64
import http.server
import os
import shutil
import subprocess
import threading
import time
from typing import Any

import pytest
import yaml

from tests.harness.synth import ERROR_RATE_QUERY
from tests.jobs.conftest import ROOT, dossier_cmd, require
from tests.otelcol.collector import CollectorNotBuilt, LocalCollector, Span, parse_metric_points, parse_spans

pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _hex_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """protobuf's JSON mapping writes bytes as base64; OTLP/JSON writes trace and span ids as hex."""
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if s.get(key):
                        s[key] = base64.b64decode(s[key]).hex()
    return doc


class OtlpStandin:
    """POST /v1/traces and /v1/metrics, protobuf bodies as the OTLP/HTTP spec defines them."""

    def __init__(self) -> None:
        self.traces: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                if self.path == "/v1/traces":
                    receiver.traces.append(_hex_ids(MessageToDict(ExportTraceServiceRequest.FromString(body))))
                elif self.path == "/v1/metrics":
                    receiver.metrics.append(MessageToDict(ExportMetricsServiceRequest.FromString(body)))
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[Span]:
        return parse_spans(self.traces)

    def metric_points(self) -> dict[str, list[dict[str, Any]]]:
        return parse_metric_points(self.metrics)


@pytest.fixture(params=["otelcol", "standin"])
def receiver(request):
    if request.param == "standin":
        standin = OtlpStandin()
        yield standin
        standin.server.shutdown()
        return
    try:
        collector = LocalCollector().start()
    except CollectorNotBuilt as exc:
        require(exc)
    try:
        yield collector
    finally:
        collector.stop()


def test_a_backfill_sends_a_trace_per_job_with_collector_and_request_spans_and_metrics(
    receiver, checkout_prometheus, tmp_path
):
    shutil.copy(ROOT / "config" / "demo" / "changes.jsonl", tmp_path / "changes.jsonl")
    config = {
        "collectors": {
            "deploy_file/changes": {"path": "changes.jsonl"},
            "deploy_file/gone": {"path": "no-such-file.jsonl"},  # fails in every job: counted as an error
            "prometheus/test": {
                "url": checkout_prometheus.url,
                "signals": [{"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"}],
            },
        },
        "services": {"payments": {}},
        "correlate": {"baseline": "30m", "replay_history": "0s"},
        "output": {"dir": "out"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "list.csv").write_text(
        "id,start,end,services\n"
        + "".join(f"T-{i},2026-11-20T10:0{i}:00Z,2026-11-20T10:40:00Z,payments\n" for i in range(3))
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DOSSIER_TRACE"))},
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    cmd = dossier_cmd("backfill", "--config", str(tmp_path / "c.yaml"), "--incidents", str(tmp_path / "list.csv"))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # drafted, with a failed source each
    assert proc.stdout.startswith("backfill: 3 incidents: 3 drafted (3 with gaps)"), proc.stdout
    assert "trace_id" not in proc.stdout + proc.stderr and "span_id" not in proc.stdout  # nothing printed

    deadline = time.monotonic() + 20  # the Collector's file exporter flushes every 100 ms
    while time.monotonic() < deadline and len([s for s in receiver.spans() if s.name.startswith("job ")]) < 3:
        time.sleep(0.1)
    if isinstance(receiver, LocalCollector):
        receiver.stop()  # flushes what it holds
    spans = receiver.spans()
    jobs = {s.name: s for s in spans if s.name.startswith("job ")}
    assert sorted(jobs) == ["job T-0", "job T-1", "job T-2"], sorted({s.name for s in spans})
    assert len({s.trace_id for s in jobs.values()}) == 3  # a trace per job
    for name, root in jobs.items():
        assert root.parent_id == "", name
        assert root.attributes["incident.id"] == name.removeprefix("job ")
        assert root.attributes["job.outcome"] == "done"
        inside = [s for s in spans if s.trace_id == root.trace_id]
        by_name = {s.name: s for s in inside}
        # a span per collector, children of the job's span, across the collectors' thread pool
        for instance in ("deploy_file/changes", "deploy_file/gone", "prometheus/test"):
            span = by_name[f"collect {instance}"]
            assert span.parent_id == root.span_id, (name, instance)
        assert by_name["collect deploy_file/gone"].status == 2  # ERROR: the source failed
        assert by_name["collect deploy_file/changes"].status != 2
        assert by_name["correlate"].parent_id == root.span_id
        assert by_name["export"].parent_id == root.span_id
        # a span per batch of a collector's requests, under that collector's span
        batch = by_name["GET /api/v1/query_range"]
        assert batch.parent_id == by_name["collect prometheus/test"].span_id
        assert batch.kind == 3 and batch.attributes["dossier.requests"] >= 1  # CLIENT
        assert batch.attributes["dossier.requests.failed"] == 0
        assert batch.attributes["server.address"] == checkout_prometheus.url.removeprefix("http://")
        assert not [s for s in inside if s.parent_id and s.parent_id not in {x.span_id for x in inside}]

    points = receiver.metric_points()
    jobs_done = [p for p in points["dossier.job.duration"] if p["attributes"] == {"outcome": "done"}]
    assert jobs_done and max(int(p["count"]) for p in jobs_done) == 3, points["dossier.job.duration"]
    gone = [p for p in points["dossier.source.errors"] if p["attributes"]["source"] == "deploy_file/gone"]
    assert gone and max(int(p["asInt"]) for p in gone) == 3 and gone[0]["attributes"]["status"] == "failed"
    by_source = {p["attributes"]["source"]: p for p in points["dossier.collector.duration"]}
    assert set(by_source) == {"deploy_file/changes", "deploy_file/gone", "prometheus/test"}
    assert max(int(p["count"]) for p in points["dossier.collector.duration"]) == 3


def test_serve_traces_each_webhook_request_and_the_job_it_queued(receiver, serve, tmp_path):
    import httpx

    shutil.copy(ROOT / "config" / "demo" / "changes.jsonl", tmp_path / "changes.jsonl")
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "output": {"dir": "out"},
        "serve": {"token": "tel-token"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    served = serve(tmp_path / "c.yaml", "--workers", "1", env=env)
    incident = {"id": "INC-S", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:40:00Z"}
    accepted = httpx.post(
        served.url + "/webhooks/incident", json=incident, headers={"Authorization": "Bearer tel-token"}
    )
    refused = httpx.post(served.url + "/webhooks/incident", json=incident)
    assert (accepted.status_code, refused.status_code) == (202, 401)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / "out" / "INC-S" / "dossier.json").is_file():
        time.sleep(0.1)
    time.sleep(0.5)  # the job's end is recorded just after its folder is published
    served.process.terminate()  # SIGTERM: uvicorn stops, the command flushes its spans and metrics
    assert served.process.wait(timeout=30) == 0  # a graceful stop is a normal exit
    if isinstance(receiver, LocalCollector):
        receiver.stop()
    spans = receiver.spans()
    requests = [s for s in spans if s.name == "POST /webhooks/incident"]
    assert sorted(s.attributes["http.response.status_code"] for s in requests) == [202, 401]
    assert all(s.kind == 2 and s.parent_id == "" for s in requests)  # SERVER, each its own trace
    (queued,) = [s for s in requests if s.attributes["http.response.status_code"] == 202]
    assert queued.attributes["incident.id"] == "INC-S"
    (job,) = [s for s in spans if s.name == "job INC-S"]
    assert job.attributes["job.source"] == "incident" and job.attributes["job.outcome"] == "done"
    (collect,) = [s for s in spans if s.name == "collect deploy_file/changes"]
    assert collect.parent_id == job.span_id and collect.trace_id == job.trace_id
    done = [p for p in receiver.metric_points()["dossier.job.duration"] if p["attributes"] == {"outcome": "done"}]
    assert done and max(int(p["count"]) for p in done) == 1
