"""The incident file (ARCHITECTURE.md, "Incident file"): its model, reading and checking it.

    incident = load_incident("incident.yaml")       # -> dossier.model.Incident, or raises ConfigError

Times are RFC 3339 with an offset (`Z` or `+02:00`), kept in UTC; the id is a safe folder name.
The file is read as the configuration file is (`dossier.config.read_file`: YAML loaded safely, or
JSON for *.json), and every problem is reported at once, as `key: message`, in one ConfigError.
The same checks apply to an incident given on the command line (`incident_from_options`) or by
a webhook (`parse_incident`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from dossier.config import as_mapping, raise_issues, read_file, type_name, validation_issues
from dossier.errors import Issue
from dossier.model import Incident, rfc3339

__all__ = ["IncidentFile", "incident_from_options", "load_incident", "parse_incident"]

_ID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?\Z"
)


def _check_id(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if len(value) > 128:
        raise ValueError(f"is {len(value)} characters long: at most 128, as it is used as a folder name")
    if not _ID.match(value) or value in (".", ".."):
        raise ValueError(f"\"{value}\" is not a safe folder name: use letters, digits, '.', '_' and '-'")
    return value


def _to_time(value: Any) -> datetime:
    """An RFC 3339 time with an offset (string, or a datetime PyYAML made), in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive time {value.isoformat()!r}: add Z or an offset")
        return value.astimezone(UTC)
    if isinstance(value, date):
        raise ValueError(f"{value.isoformat()!r} is a date: give a time, e.g. {value.isoformat()}T00:00:00Z")
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 time such as 2026-11-20T10:00:00Z, got {type_name(value)}")
    text = value.strip()
    m = _RFC3339.match(text)
    if m is None:
        raise ValueError(f"{value!r} is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)")
    if m.group("offset") is None:
        raise ValueError(f"naive time {text!r}: add Z or an offset")
    frac = f".{m.group('frac')[:6]:0<6}" if m.group("frac") else ""
    offset = "+00:00" if m.group("offset") in ("Z", "z") else m.group("offset")
    try:
        return datetime.fromisoformat(f"{m.group('date')}T{m.group('time')}{frac}{offset}").astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid time: {exc}") from None


_Time = Annotated[datetime, BeforeValidator(_to_time)]


class IncidentFile(BaseModel):
    """The incident file (ARCHITECTURE.md, "Incident file"): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    id: Annotated[str, AfterValidator(_check_id)]
    title: str | None = None
    start: _Time
    end: _Time
    services: list[str] = Field(default_factory=list)
    declared_at: _Time | None = None
    resolved_at: _Time | None = None
    severity: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


def _time_or_none(value: Any) -> datetime | None:
    try:
        return _to_time(value) if value is not None else None
    except ValueError:
        return None


def _order(data: Mapping[str, Any], first: str, then: str) -> Issue | None:
    a, b = _time_or_none(data.get(first)), _time_or_none(data.get(then))
    if a is None or b is None:
        return None
    if b < a:
        return Issue((then,), f"is before {first} {rfc3339(a)}")
    if b == a and (first, then) == ("start", "end"):
        return Issue((then,), f"equals {first} {rfc3339(a)}: the window is empty")
    return None


def _incident(data: dict[Any, Any], file: str | None, rename: Mapping[str, str] | None = None) -> Incident:
    issues: list[Issue] = []
    model: IncidentFile | None = None
    try:
        model = IncidentFile.model_validate(data)
    except ValidationError as exc:
        issues.extend(validation_issues(exc, IncidentFile))
    for first, then in (("start", "end"), ("declared_at", "resolved_at")):
        issue = _order(data, first, then)
        if issue is not None:
            issues.append(issue)
    if rename is not None:  # command-line options: `--start: ...`, no list indexes
        issues = [Issue((rename.get(str(i.path[0]), str(i.path[0])),) if i.path else (), i.message) for i in issues]
    raise_issues(file, issues)
    assert model is not None
    return Incident(
        id=model.id,
        title=model.title or model.id,
        start=model.start,
        end=model.end,
        services=tuple(dict.fromkeys(model.services)),
        declared_at=model.declared_at,
        resolved_at=model.resolved_at,
        severity=model.severity,
        labels=dict(model.labels),
    )


def parse_incident(data: Any, *, file: str | None = None) -> Incident:
    """Check parsed incident data (the content of an incident file)."""
    return _incident(as_mapping(data, file), file)


def load_incident(path: str | os.PathLike[str]) -> Incident:
    """Read and check an incident file (YAML, or JSON when it ends in .json)."""
    file = str(path)
    return _incident(as_mapping(read_file(Path(path), file), file), file)


_OPTIONS = {"id": "--id", "title": "--title", "start": "--start", "end": "--end", "services": "--service"}


def incident_from_options(
    id: str | None,
    start: str | None,
    end: str | None,
    services: Iterable[str] = (),
    title: str | None = None,
) -> Incident:
    """The incident given on the command line (`--id --start --end [--service ...]`).

    Checked as an incident file is; issues are named by option: `--start: naive time ...`.
    """
    data: dict[str, Any] = {"id": id, "start": start, "end": end, "title": title, "services": list(services)}
    return _incident({k: v for k, v in data.items() if v is not None}, None, _OPTIONS)
