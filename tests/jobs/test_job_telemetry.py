"""Self-observability of jobs: a trace per job with a span per collector, and job metrics, over OTLP.

The receiver is a stand-in for an OpenTelemetry Collector's OTLP/HTTP receiver: it takes
`POST /v1/traces` and `POST /v1/metrics` bodies as the protocol defines them (protobuf
`ExportTraceServiceRequest` / `ExportMetricsServiceRequest`) and decodes them with the
opentelemetry-proto messages.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading

import pytest
import yaml

from tests.jobs.conftest import ROOT, dossier_cmd

pytest.importorskip("opentelemetry.exporter.otlp.proto.http.trace_exporter")
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list = []
        self.metrics: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces":
                    req = ExportTraceServiceRequest.FromString(body)
                    for rs in req.resource_spans:
                        for ss in rs.scope_spans:
                            receiver.spans.extend(ss.spans)
                elif self.path == "/v1/metrics":
                    req = ExportMetricsServiceRequest.FromString(body)
                    for rm in req.resource_metrics:
                        for sm in rm.scope_metrics:
                            receiver.metrics.extend(m.name for m in sm.metrics)
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


def test_a_backfill_sends_one_trace_per_job_and_job_metrics_over_otlp(tmp_path):
    receiver = OtlpReceiver()
    shutil.copy(ROOT / "config" / "demo" / "changes.jsonl", tmp_path / "changes.jsonl")
    (tmp_path / "c.yaml").write_text(
        yaml.safe_dump({"collectors": {"deploy_file/changes": {"path": "changes.jsonl"}}, "output": {"dir": "out"}})
    )
    (tmp_path / "list.csv").write_text(
        "id,start,end\n" + "".join(f"T-{i},2026-11-20T10:0{i}:00Z,2026-11-20T11:00:00Z\n" for i in range(3))
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        dossier_cmd("backfill", "--config", str(tmp_path / "c.yaml"), "--incidents", str(tmp_path / "list.csv")),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    receiver.server.shutdown()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("backfill: 3 incidents: 3 drafted")  # nothing of telemetry on stdout
    assert "trace_id" not in proc.stdout + proc.stderr
    jobs = {s.name: s for s in receiver.spans if s.name.startswith("job ")}
    assert sorted(jobs) == ["job T-0", "job T-1", "job T-2"]
    assert len({s.trace_id for s in jobs.values()}) == 3  # a trace per job
    for root in jobs.values():
        assert root.parent_span_id == b""
        inside = {s.name: s for s in receiver.spans if s.trace_id == root.trace_id}
        assert {"collect deploy_file/changes", "correlate", "export"} <= set(inside), sorted(inside)
        assert inside["collect deploy_file/changes"].parent_span_id == root.span_id
    assert "dossier.job.duration" in receiver.metrics
