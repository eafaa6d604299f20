"""A real OpenTelemetry Collector for the tests: `otelcol-dossier` (built by tests/otelcol/build.sh),
its OTLP/HTTP receiver on a free loopback port, traces and metrics written by its file exporter
as OTLP/JSON lines, which the tests read back.

    with LocalCollector() as otel:            # raises CollectorNotBuilt when the binary is missing
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otel.url}
        ...
        spans = otel.spans()                  # [Span(name, trace_id, span_id, parent_id, kind, attributes)]
        points = otel.metric_points()         # {metric name: [data point dicts]}
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

BINARY = Path(os.environ.get("DOSSIER_OTELCOL_DIR", Path.home() / ".cache" / "dossier" / "otelcol")) / "otelcol-dossier"


class CollectorNotBuilt(RuntimeError):
    pass


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]
    status: int


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def _attrs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items or []}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCollector:
    def __init__(self) -> None:
        self.workdir: Path | None = None
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalCollector:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self) -> LocalCollector:
        if not os.access(BINARY, os.X_OK):
            raise CollectorNotBuilt(f"{BINARY} is missing: run bash tests/otelcol/build.sh (needs Go)")
        self.workdir = Path(tempfile.mkdtemp(prefix="dossier-otelcol-"))
        self.port = _free_port()
        config = {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{self.port}"}}}},
            "exporters": {
                "file/traces": {"path": str(self.workdir / "traces.jsonl"), "flush_interval": "100ms"},
                "file/metrics": {"path": str(self.workdir / "metrics.jsonl"), "flush_interval": "100ms"},
            },
            "service": {
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
                "pipelines": {
                    "traces": {"receivers": ["otlp"], "exporters": ["file/traces"]},
                    "metrics": {"receivers": ["otlp"], "exporters": ["file/metrics"]},
                },
            },
        }
        (self.workdir / "config.yaml").write_text(yaml.safe_dump(config))
        log = open(self.workdir / "otelcol.log", "wb")
        self.process = subprocess.Popen(
            [str(BINARY), "--config", f"file:{self.workdir / 'config.yaml'}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"otelcol-dossier exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"otelcol-dossier did not listen within 30s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM: the Collector flushes its exporters and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        path = self.workdir / "otelcol.log" if self.workdir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def _lines(self, name: str) -> list[dict[str, Any]]:
        path = self.workdir / name if self.workdir else None
        if path is None or not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def spans(self) -> list[Span]:
        return parse_spans(self._lines("traces.jsonl"))

    def resources(self) -> list[dict[str, Any]]:
        return [
            _attrs(r.get("resource", {}).get("attributes"))
            for data in self._lines("traces.jsonl") + self._lines("metrics.jsonl")
            for r in data.get("resourceSpans", data.get("resourceMetrics", []))
        ]

    def metric_points(self) -> dict[str, list[dict[str, Any]]]:
        return parse_metric_points(self._lines("metrics.jsonl"))


def parse_spans(lines: list[dict[str, Any]]) -> list[Span]:
    """The spans of OTLP/JSON `TracesData` documents (ids as hex, as OTLP/JSON writes them)."""
    out = []
    for data in lines:
        for rs in data.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    out.append(
                        Span(
                            name=s["name"],
                            trace_id=s["traceId"],
                            span_id=s["spanId"],
                            parent_id=s.get("parentSpanId", ""),
                            kind=_kind(s.get("kind", 0)),
                            attributes=_attrs(s.get("attributes")),
                            status=_status(s.get("status", {}).get("code", 0)),
                        )
                    )
    return out


def parse_metric_points(lines: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """{metric name: its data points, attributes as a dict} of OTLP/JSON `MetricsData` documents."""
    out: dict[str, list[dict[str, Any]]] = {}
    for data in lines:
        for rm in data.get("resourceMetrics", []):
            for sm in rm.get("scopeMetrics", []):
                for m in sm.get("metrics", []):
                    body = m.get("histogram") or m.get("sum") or m.get("gauge") or {}
                    for point in body.get("dataPoints", []):
                        out.setdefault(m["name"], []).append({**point, "attributes": _attrs(point.get("attributes"))})
    return out


_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}
_STATUSES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}


def _kind(v: int | str) -> int:
    return _KINDS.get(v, 0) if isinstance(v, str) else int(v)


def _status(v: int | str) -> int:
    return _STATUSES.get(v, 0) if isinstance(v, str) else int(v)
