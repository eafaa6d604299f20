"""Configuration of the `log_file` collector: which files hold the logs, and how to read a line."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, tzinfo
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dossier.plugin import Duration, PluginConfig, RelPath

DEFAULT_ERROR_LEVELS: tuple[str, ...] = ("error", "fatal", "critical", "crit", "alert", "emerg", "panic", "severe")

PATTERN_GROUPS: tuple[str, ...] = ("timestamp", "message")
"""The named groups `pattern` must have; `level`, `service`, `error_type` and `trace_id` are read when present."""

GLOB_CHARS = re.compile(r"[*?\[]")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", "{message}", {"message": message})


def is_glob(path: str) -> bool:
    return GLOB_CHARS.search(path) is not None


def _zone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return UTC
    return zoneinfo.ZoneInfo(name)


class LogFields(PluginConfig):
    """Where each field of a log record is found in a JSON line (Elastic Common Schema by default).

    A dotted name is looked up both as a flat key (`{"service.name": "checkout"}`) and as nested
    objects (`{"service": {"name": "checkout"}}`).
    """

    timestamp: str = Field(default="@timestamp", min_length=1, description="The time of the record.")
    service: str = Field(default="service.name", min_length=1, description="The service that wrote it.")
    level: str = Field(default="log.level", min_length=1, description="Its level (info, warn, error, ...).")
    message: str = Field(default="message", min_length=1, description="The message text.")
    error_type: str = Field(default="error.type", min_length=1, description="The error's type, when it has one.")
    trace_id: str = Field(default="trace.id", min_length=1, description="The trace it belongs to, when known.")


class LogFileConfig(PluginConfig):
    """Logs exported to files: JSON lines or text lines, plain or gzip-compressed."""

    path: RelPath = Field(
        description=(
            "The log file, or a glob pattern such as `logs/*.jsonl` (`**` matches folders too); a relative "
            "path is relative to the config file that names it. Gzip-compressed files are read as they are."
        ),
    )
    format: Literal["auto", "jsonl", "text"] = Field(
        default="auto",
        description=(
            "How each line is written: jsonl (one JSON object a line) or text (read with `pattern`); "
            "auto means text when `pattern` is given, jsonl otherwise."
        ),
    )
    pattern: str | None = Field(
        default=None,
        validate_default=True,
        description=(
            "For text lines: a Python regular expression, matched from the start of each line, with the "
            "named groups timestamp and message, and optionally level, service, error_type and trace_id."
        ),
    )
    timestamp_format: str | None = Field(
        default=None,
        description=(
            "How timestamps are written, as a strptime format (e.g. `%d/%b/%Y:%H:%M:%S %z`); "
            "default RFC 3339 / ISO 8601 (2026-11-20T10:00:00.123Z)."
        ),
    )
    timezone: str | None = Field(
        default=None,
        description=(
            "The time zone of timestamps written without an offset, as an IANA name (UTC, Europe/Berlin); "
            "without it such lines are refused."
        ),
    )
    fields: LogFields = Field(
        default_factory=LogFields,
        description=(
            "For JSON lines: where each field is found, as {field: key}; defaults are the Elastic Common "
            "Schema names timestamp: '@timestamp', service: service.name, level: log.level, message: message, "
            "error_type: error.type, trace_id: trace.id."
        ),
    )
    service: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The service of lines that name none (for files that hold one service's logs); "
            "without it such lines are left out."
        ),
    )
    error_levels: tuple[str, ...] = Field(
        default=DEFAULT_ERROR_LEVELS,
        min_length=1,
        description="The levels whose messages are counted and kept as exemplars (case does not matter).",
    )
    interval: Duration = Field(
        default=60.0,
        description=(
            "The bucket of the log counts, whole seconds; coarsened to a round interval (2m, 5m, ... 1d) "
            "when the window would have more than 2,000 buckets."
        ),
    )
    max_messages: int = Field(
        default=2000, ge=1, description="Distinct error messages kept per service; past it new ones are left out."
    )
    max_exemplars: int = Field(
        default=200, ge=0, description="Error lines of the incident window kept as exemplars (the earliest ones)."
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None, info: ValidationInfo) -> str | None:
        fmt = info.data.get("format")
        if value is None:
            if fmt == "text":
                raise _error(
                    "required when format is text: a regular expression with the named groups "
                    "(?P<timestamp>...) and (?P<message>...)"
                )
            return value
        if fmt == "jsonl":
            raise _error("only read when format is text: remove it, or set format: text")
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise _error(f"not a valid regular expression: {exc}") from None
        missing = [name for name in PATTERN_GROUPS if name not in compiled.groupindex]
        if missing:
            groups = " and ".join(f"(?P<{name}>...)" for name in missing)
            raise _error(f"needs the named group{'s' if len(missing) > 1 else ''} {groups}")
        return value

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, value: str | None) -> str | None:
        if value is None:
            return value
        sample = datetime(2026, 11, 20, 13, 47, 0, tzinfo=UTC)
        try:
            parsed = datetime.strptime(sample.strftime(value), value)
        except ValueError as exc:
            raise _error(f"not a strptime format: {exc}") from None
        if parsed.replace(tzinfo=None) != sample.replace(tzinfo=None):
            raise _error("does not give a full date and time: use %Y, %m (or %b), %d, %H and %M at least")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            _zone(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _error(f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Berlin") from None
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: LogFields, info: ValidationInfo) -> LogFields:
        if info.data.get("format") == "text" or info.data.get("pattern") is not None:
            raise _error("only read from JSON lines: for text lines, name the groups of `pattern`")
        return value

    @field_validator("error_levels")
    @classmethod
    def _levels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        levels = tuple(dict.fromkeys(level.strip().lower() for level in value))
        if "" in levels:
            raise _error("a level cannot be empty")
        return levels

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < 1 or value != int(value):
            raise _error("interval must be a whole number of seconds, at least 1s")
        return value

    @property
    def line_format(self) -> Literal["jsonl", "text"]:
        """How lines are read: `format`, or the one `auto` stands for."""
        if self.format != "auto":
            return self.format
        return "text" if self.pattern is not None else "jsonl"

    @property
    def zone(self) -> tzinfo | None:
        """The time zone of naive timestamps, when one is configured."""
        return _zone(self.timezone) if self.timezone is not None else None
