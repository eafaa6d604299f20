"""Dossier observing itself with OpenTelemetry: traces and metrics of its jobs, over OTLP.

What is recorded (names are a contract: dashboards and the tests rely on them):

* a trace per job, its root span `job <incident id>` (attributes `incident.id`, `job.attempt`,
  `job.source`, `job.outcome`, `job.error`); its children: `collect <instance>` per collector
  (status ERROR when the source failed), `correlate`, `export`, `push`; under each collector's span,
  a CLIENT span per batch of its requests (`GET /api/v1/query_range`: same method, host and path,
  from the first request's start to the last one's end; `dossier.requests`,
  `dossier.requests.failed`, `dossier.response.bytes`, `server.address`);
* in `dossier serve`, a SERVER span per webhook request, `POST /webhooks/<kind>` (its own trace:
  `http.response.status_code`, `dossier.refused` with the reason, `incident.id` of the job queued);
* metrics: `dossier.job.duration` (histogram, s, by `outcome`), `dossier.collector.duration`
  (histogram, s, by `source` and `status`), `dossier.source.errors` (counter, by `source` and
  `status`: failed or partial sources, and `push/<name>` destinations that failed).

Off unless the standard variables ask for it, so a CLI run never talks to a collector nobody
configured, and never onto stdout (which may carry output):

* `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`) set, or
  `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` = `otlp`: OTLP over HTTP/protobuf (the
  `opentelemetry-exporter-otlp-proto-http` package; the usual `OTEL_EXPORTER_OTLP_*` variables
  apply: headers, timeout, certificates; `OTEL_EXPORTER_OTLP_PROTOCOL` must be `http/protobuf`);
* `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` = `none` turns one off, `console` prints it to
  stderr (as does `DOSSIER_TRACE=console` for spans);
* `OTEL_SDK_DISABLED=true` wins over all; metrics are exported every `OTEL_METRIC_EXPORT_INTERVAL`
  ms (the SDK's default 60 s) and at exit.

A value the SDK cannot honour is a configuration error (exit 3) naming the variable and the fix.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from dossier.errors import ConfigError

__all__ = ["setup", "shutdown"]

_provider: TracerProvider | None = None
_meter_provider: Any = None


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _kind(signal: str) -> str:
    """otlp | console | none: what the environment asks for one signal (traces or metrics)."""
    if _env("OTEL_SDK_DISABLED").lower() == "true":
        return "none"
    var = f"OTEL_{signal.upper()}_EXPORTER"
    chosen = _env(var).lower()
    if chosen:
        if "," in chosen:
            chosen = chosen.split(",")[0].strip()  # one exporter per signal here
        if chosen not in ("otlp", "console", "none"):
            raise ConfigError(var, [f"unknown exporter {chosen!r}: use otlp, console or none"])
        return chosen
    if _env("OTEL_EXPORTER_OTLP_ENDPOINT") or _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"):
        return "otlp"
    if signal == "traces" and _env("DOSSIER_TRACE").lower() == "console":
        return "console"
    return "none"


def _check_protocol(signal: str) -> None:
    for var in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = _env(var)
        if value:
            if value != "http/protobuf":
                raise ConfigError(var, [f"{value!r} is not supported: use http/protobuf (port 4318), or unset it"])
            return


def _missing_exporter() -> ConfigError:
    return ConfigError(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        ["the OTLP exporter is not installed: pip install 'dossier[otlp]', or unset the OTEL_* variables"],
    )


def _resource() -> Resource:
    from dossier import __version__

    return Resource.create({SERVICE_NAME: "dossier", "service.version": __version__})


def _span_exporter() -> SpanExporter | None:
    kind = _kind("traces")
    if kind == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if kind != "otlp":
        return None
    _check_protocol("traces")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise _missing_exporter() from None
    return OTLPSpanExporter()


def _setup_metrics() -> None:
    global _meter_provider
    if _meter_provider is not None:
        return
    kind = _kind("metrics")
    if kind == "none":
        return
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader

    exporter: MetricExporter
    if kind == "console":
        exporter = ConsoleMetricExporter(out=sys.stderr)
    else:
        _check_protocol("metrics")
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        except ImportError:
            raise _missing_exporter() from None
        exporter = OTLPMetricExporter()
    provider = MeterProvider(resource=_resource(), metric_readers=[PeriodicExportingMetricReader(exporter)])
    metrics.set_meter_provider(provider)
    _meter_provider = provider


def setup() -> None:
    """Install the tracer and meter providers the environment asks for; idempotent. Raises
    ConfigError for a variable it cannot honour."""
    global _provider
    _setup_metrics()
    exporter = _span_exporter()
    if exporter is None or _provider is not None:
        return
    _provider = TracerProvider(resource=_resource())
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)


def shutdown() -> None:
    """Flush what a command recorded (spans, and the metrics' last export); idempotent."""
    global _provider, _meter_provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
    if _meter_provider is not None:
        _meter_provider.shutdown()
        _meter_provider = None
