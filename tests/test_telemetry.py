"""Dossier traces itself with OpenTelemetry only when asked, and never onto stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(tmp_path, env_extra):
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T09:58:00Z", "service": "checkout", "kind": "deploy", "id": "d1"}) + "\n"
    )
    (tmp_path / "c.yaml").write_text("collectors:\n  deploy_file/changes: {path: changes.jsonl}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DOSSIER_TRACE"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dossier.cli",
            "collect",
            "--config",
            str(tmp_path / "c.yaml"),
            "--id",
            "X",
            "--start",
            "2026-11-20T10:00:00Z",
            "--end",
            "2026-11-20T11:00:00Z",
            "--out",
            str(tmp_path / "o"),
        ],
        env={**env, **env_extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_spans_go_to_stderr(tmp_path):
    proc = run(tmp_path, {"DOSSIER_TRACE": "console"})
    assert proc.returncode == 0, proc.stderr
    names = {line.split('"')[3] for line in proc.stderr.splitlines() if line.strip().startswith('"name"')}
    assert {"collect deploy_file/changes", "correlate", "export"} <= names, proc.stderr
    assert '"name"' not in proc.stdout


def test_off_by_default(tmp_path):
    proc = run(tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert '"name"' not in proc.stderr


class _Sink:
    """Counts what an OTLP/HTTP sender posts (the protocol's paths), answering 200."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.posts: list[str] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.posts.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_standard_variables_choose_what_is_exported(tmp_path):
    sink = _Sink()
    try:
        both = run(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url})
        assert both.returncode == 0, both.stderr
        assert {"/v1/traces", "/v1/metrics"} <= set(sink.posts), sink.posts
        assert '"name"' not in both.stdout + both.stderr
        sink.posts.clear()
        no_traces = run(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_TRACES_EXPORTER": "none"})
        assert no_traces.returncode == 0, no_traces.stderr
        assert "/v1/traces" not in sink.posts and "/v1/metrics" in sink.posts, sink.posts
        sink.posts.clear()
        off = run(tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_SDK_DISABLED": "true"})
        assert off.returncode == 0 and sink.posts == [], sink.posts
    finally:
        sink.server.shutdown()


def test_console_metrics_go_to_stderr(tmp_path):
    proc = run(tmp_path, {"OTEL_METRICS_EXPORTER": "console"})
    assert proc.returncode == 0, proc.stderr
    assert "dossier.collector.duration" in proc.stderr and "dossier.collector.duration" not in proc.stdout


def test_a_variable_it_cannot_honour_is_one_line_and_exit_3(tmp_path):
    grpc = run(
        tmp_path, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert grpc.returncode == 3, grpc.stderr
    assert grpc.stderr.strip().splitlines() == [
        "error: OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported: use http/protobuf (port 4318), or unset it"
    ]
    bad = run(tmp_path, {"OTEL_TRACES_EXPORTER": "zipkin"})
    assert bad.returncode == 3
    assert bad.stderr.strip() == "error: OTEL_TRACES_EXPORTER: unknown exporter 'zipkin': use otlp, console or none"
