"""What a collector or exporter plugin implements, and what it is given.

A collector is a class with a strict, typed `Config`, registered under the entry-point
group ``dossier.collectors``; an exporter likewise under ``dossier.exporters``:

    class PrometheusCollector(Collector[PrometheusConfig]):
        type = "prometheus"
        Config = PrometheusConfig
        kinds = frozenset({"metric", "alert"})

        def check(self) -> str: ...                           # `dossier sources check`
        def collect(self, request: CollectRequest) -> CollectResult: ...

A partial failure is data (a `Problem` in the result), never a log line; a total failure
raises `CollectorError`. Every request a collector makes is recorded with `ctx.recorder`,
so the draft can point each claim at the query that proves it.

Problems come in two kinds. `source_unavailable`: part of what was asked could not be read
(a rejected query, a page that failed): the source is `partial`. `blind_spot`: the source
answered and the data is absent (a selector or index pattern that matches nothing): that is
evidence about the monitoring, the source stays `ok`, and the reason names what to check.
A result cut short by a limit says why with `result.truncate(reason)` (`truncated` and
`truncated_reason`; a plugin that only sets `truncated = True` gets a generic reason).

Names: `request.service_for(name)` maps a source's name (a service's name or alias) onto an
incident service the request is about, else None; `request.canonical(name)` onto any
configured service. Evidence carries `request.canonical(name) or name`.
"""

from __future__ import annotations

import abc
import builtins
import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from dossier.model import (
    AlertRule,
    Dossier,
    Event,
    Incident,
    LogMessage,
    LogRecord,
    Problem,
    Request,
    Series,
    ServiceInfo,
    stable_id,
)

# ---- config types shared by every plugin ----------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(value: Any) -> float:
    """`90`, `30s`, `5m`, `1h30m`, `1d` (Prometheus' duration syntax) -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        import re

        text = value.strip()
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"{value!r} is not a duration: use e.g. 30s, 5m, 1h30m")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in config as `30s`, `5m`, `1h`."""


def _resolve_path(value: Any, info: ValidationInfo) -> Path:
    path = Path(str(value)).expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path


RelPath = Annotated[Path, BeforeValidator(_resolve_path)]
"""A path; relative ones are relative to the config file that holds them."""


class PluginConfig(BaseModel):
    """Base of every plugin's config: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ConfigT = TypeVar("ConfigT", bound=PluginConfig)


# ---- provenance ---------------------------------------------------------------------------


class Recorder:
    """Records every request a collector makes (thread-safe); ids are stable across runs."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._requests: dict[str, Request] = {}

    def record(
        self,
        *,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        status: int | None,
        body: bytes | None,
        items: int | None = None,
        started: float,
        duration: float,
        error: str | None = None,
    ) -> str:
        params = dict(params or {})
        canonical = json.dumps(params, sort_keys=True, default=str)
        base = stable_id(self.source, method.upper(), url, canonical)
        with self._lock:
            rid, n = base, 1
            while rid in self._requests:  # the same request again (a retry): keep every attempt
                n += 1
                rid = f"{base}-{n}"
            self._requests[rid] = Request(
                id=rid,
                source=self.source,
                method=method.upper(),
                url=url,
                params=params,
                status=status,
                sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
                bytes=len(body or b""),
                items=items,
                duration=round(duration, 6),
                started_at=datetime.fromtimestamp(started, UTC),
                error=error,
            )
        return rid

    def set_items(self, request_id: str, items: int) -> None:
        with self._lock:
            old = self._requests[request_id]
            self._requests[request_id] = Request(**{**_asdict(old), "items": items})

    @property
    def requests(self) -> tuple[Request, ...]:
        with self._lock:
            return tuple(self._requests.values())


def _asdict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


# ---- collectors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectContext:
    instance: str  # "type/name", as in the config
    log: logging.LoggerAdapter[logging.Logger]
    recorder: Recorder


@dataclass(frozen=True, slots=True)
class CollectRequest:
    """What to collect: the incident window, preceded by the correlation baseline."""

    incident: Incident  # its services by their configured names (an alias in the incident is mapped)
    start: datetime  # incident.start - baseline (and the cause look-back, for change sources)
    end: datetime
    # the incident's services with their aliases; for change sources also (transitively) what
    # they depend on, since a change to a dependency can cause the incident
    services: tuple[ServiceInfo, ...]
    # every configured service with its aliases, to name evidence of services outside `services`
    configured: tuple[ServiceInfo, ...] = ()

    def service_for(self, name: str | None) -> str | None:
        """Map a source's name for a service (the name or an alias) onto the config's name, when
        it is one of the request's `services`; None otherwise (the source is not asked about it)."""
        if not name:
            return None
        for svc in self.services:
            if name == svc.name or name in svc.aliases:
                return svc.name
        return None

    def canonical(self, name: str | None) -> str | None:
        """The config's name for a source's name of any configured service (its name or an
        alias), among the request's `services` first; None when no configured service has it.

        Evidence carries this name, whatever name the source gave it (`canonical(x) or x` keeps
        an unknown name as the source gave it).
        """
        if not name:
            return None
        found = self.service_for(name)
        if found is not None:
            return found
        for svc in self.configured:
            if name == svc.name or name in svc.aliases:
                return svc.name
        return None


_TRUNCATE_LOCK = threading.Lock()


@dataclass(slots=True)
class CollectResult:
    events: list[Event] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    rules: list[AlertRule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    log_messages: list[LogMessage] = field(default_factory=list)
    log_records: list[LogRecord] = field(default_factory=list)
    truncated: bool = False
    # why the result is incomplete (a limit reached, pages left unread), when `truncated`
    truncated_reason: str | None = None

    def truncate(self, reason: str) -> None:
        """Mark the result incomplete and say why; several reasons are joined with "; ".

        Thread-safe: collectors that read several targets at once call it from their workers."""
        with _TRUNCATE_LOCK:
            self.truncated = True
            if not self.truncated_reason:
                self.truncated_reason = reason
            elif reason not in self.truncated_reason.split("; "):
                self.truncated_reason = f"{self.truncated_reason}; {reason}"

    @property
    def items(self) -> int:
        return len(self.events) + len(self.series) + len(self.rules) + len(self.log_messages) + len(self.log_records)


class Collector(abc.ABC, Generic[ConfigT]):
    type: ClassVar[str]
    Config: ClassVar[builtins.type[PluginConfig]]
    kinds: ClassVar[frozenset[str]]  # metric | alert | log | trace | change | page | chat

    def __init__(self, config: ConfigT, ctx: CollectContext) -> None:
        self.config = config
        self.ctx = ctx

    def check(self) -> str:
        """Reach the source; return what was found ("Prometheus 2.42.0") or raise CollectorError."""
        return "no check for this source"

    @abc.abstractmethod
    def collect(self, request: CollectRequest) -> CollectResult:
        """Evidence for the request's window. Partial failure -> result.problems; total -> raise."""

    def close(self) -> None:
        """Release connections; called once after collect."""


# ---- exporters ----------------------------------------------------------------------------


class Exporter(abc.ABC):
    format: ClassVar[str]  # == entry-point name
    filename: ClassVar[str]

    @abc.abstractmethod
    def render(self, dossier: Dossier) -> str:
        """The draft as text: pure, golden-tested."""

    def write(self, dossier: Dossier, folder: Path) -> Path:
        path = folder / self.filename
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.render(dossier), encoding="utf-8")
        tmp.replace(path)
        return path
