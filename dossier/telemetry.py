"""Tracing Dossier itself with OpenTelemetry: one span per job, collector, correlation and export.

Off unless asked for, so a CLI run never talks to a collector nobody configured:

* `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set: spans go there over OTLP/HTTP
  (needs `pip install 'dossier[otlp]'`); the usual `OTEL_*` variables apply.
* `DOSSIER_TRACE=console`: spans are printed to stderr (never stdout, which may carry output).
* `OTEL_SDK_DISABLED=true` wins over both.

Metrics (job durations, failed sources: `dossier.worker.JobMetrics`) go over OTLP/HTTP too when
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._METRICS_ENDPOINT`) is set, every
`OTEL_METRIC_EXPORT_INTERVAL` ms (the SDK's default 60 s); nothing is printed for them.
"""

from __future__ import annotations

import os
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from dossier.errors import ConfigError

_provider: TracerProvider | None = None
_meter_provider: object | None = None


def _exporter() -> SpanExporter | None:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                ["the OTLP exporter is not installed: pip install 'dossier[otlp]', or unset the variable"],
            ) from None
        return OTLPSpanExporter()
    if os.environ.get("DOSSIER_TRACE", "").lower() == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    return None


def _setup_metrics() -> None:
    global _meter_provider
    if _meter_provider is not None or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")):
        return
    from opentelemetry import metrics

    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError:
        return  # the trace exporter's check above says how to install it
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    from dossier import __version__

    resource = Resource.create({SERVICE_NAME: "dossier", "service.version": __version__})
    provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    metrics.set_meter_provider(provider)
    _meter_provider = provider


def setup() -> None:
    """Install a tracer provider when the environment asks for one; idempotent."""
    global _provider
    _setup_metrics()
    exporter = _exporter()
    if exporter is None or _provider is not None:
        return
    from dossier import __version__

    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "dossier", "service.version": __version__}))
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(_provider)


def shutdown() -> None:
    """Flush the spans of a short-lived command."""
    if _provider is not None:
        _provider.shutdown()
    if _meter_provider is not None:
        _meter_provider.shutdown()  # type: ignore[attr-defined]
