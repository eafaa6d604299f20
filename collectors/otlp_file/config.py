"""Configuration of the `otlp_file` collector: which files hold the traces."""

from __future__ import annotations

from pydantic import Field

from collectors._traces.config import TraceSettings
from dossier.plugin import RelPath


class OtlpFileConfig(TraceSettings):
    """Traces in OTLP/JSON files: one ExportTraceServiceRequest a line, plain or gzip-compressed."""

    path: RelPath = Field(
        description=(
            "The trace file, or a glob pattern such as `traces/*.json*` (`**` matches folders too), as the "
            "OpenTelemetry Collector's file exporter writes them (rotated and .gz files too); a relative path "
            "is relative to the config file that names it."
        ),
    )
    join_window: int = Field(
        default=200_000,
        ge=1_000,
        le=10_000_000,
        description=(
            "Spans remembered to join a child span with its parent of another service (the call graph); "
            "a parent written further apart than this from its child is not joined."
        ),
    )
