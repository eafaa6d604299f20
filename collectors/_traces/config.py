"""Config keys every trace collector has: buckets, limits, links to the trace UI."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from dossier.plugin import Duration, PluginConfig


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", "{message}", {"message": message})


class TraceSettings(PluginConfig):
    """Keys shared by the trace collectors (each collector's config subclasses it)."""

    interval: Duration = Field(
        default=60.0,
        description=(
            "The bucket of the error ratio and latency series, whole seconds; coarsened to a round interval "
            "when the window would have more than 2,000 buckets."
        ),
    )
    max_operations: int = Field(
        default=5, ge=0, le=100, description="Operations per service with their own series (the busiest ones)."
    )
    max_services: int = Field(
        default=200, ge=1, le=10_000, description="Services told apart; spans of further services are left out."
    )
    max_exemplars: int = Field(
        default=10,
        ge=0,
        le=200,
        description="Exemplar traces kept: the first failing ones of each service, then the slowest.",
    )
    trace_url: str | None = Field(
        default=None,
        description=(
            "Link to one trace in your trace UI, with {trace_id} in it, e.g. "
            "https://jaeger.example.com/trace/{trace_id}; exemplars link there."
        ),
    )

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 1 or value != int(value):
            raise _error("interval must be a whole number of seconds, at least 1s")
        return value

    @field_validator("trace_url")
    @classmethod
    def _trace_url(cls, value: str | None) -> str | None:
        if value is not None and "{trace_id}" not in value:
            raise _error("needs {trace_id} where the trace's id goes, e.g. https://jaeger.example.com/trace/{trace_id}")
        return value

    def trace_link(self, trace_id: str) -> str | None:
        return self.trace_url.replace("{trace_id}", trace_id) if self.trace_url else None
