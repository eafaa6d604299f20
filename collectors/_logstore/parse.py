"""Reading what a log store answered: histogram buckets, composite pages, documents, error bodies.

Pure functions over decoded JSON (and raw error bodies); nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collectors._http import one_line
from dossier.model import from_epoch

# ---- values in documents ---------------------------------------------------------------------


def get_path(source: Mapping[str, Any] | None, dotted: str) -> Any:
    """A field of `_source` by its dotted name, nested (`{"service": {"name": x}}`) or flat
    (`{"service.name": x}`) or mixed; the first element of an array; None when absent."""
    if not isinstance(source, Mapping):
        return None
    if dotted in source:
        value = source[dotted]
        return value[0] if isinstance(value, list) and value else value
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        inner = source.get(head)
        if isinstance(inner, list) and inner:
            inner = inner[0]
        if isinstance(inner, Mapping):
            found = get_path(inner, ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def as_text(value: Any) -> str | None:
    """A scalar field value as text (lists: first element); None for missing or structured values."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, Mapping):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?(Z|z|[+-]\d{2}:?\d{2})?$")


def parse_time(value: Any) -> datetime | None:
    """A timestamp as the store returns it: ISO-8601 (nanoseconds are cut to microseconds; no
    zone means UTC, as the store reads it) or epoch milliseconds (number or digits)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return from_epoch(float(value) / 1000.0) if math.isfinite(value) else None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return from_epoch(float(text) / 1000.0)
    m = _ISO.match(text)
    if not m:
        return None
    date, hh, mm, ss, frac, zone = m.groups()
    micro = (frac or "0")[:6].ljust(6, "0")
    stamp = f"{date}T{hh or '00'}:{mm or '00'}:{ss or '00'}.{micro}"
    if zone in (None, "Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        return datetime.fromisoformat(stamp + zone).astimezone(UTC)
    except ValueError:
        return None


# ---- counts ---------------------------------------------------------------------------------


def on_grid(buckets: Iterable[Mapping[str, Any]], grid: Sequence[float]) -> list[float]:
    """`doc_count` of date_histogram buckets at each grid time (epoch s); 0 where none came back."""
    index = {round(t * 1000): i for i, t in enumerate(grid)}
    values = [0.0] * len(grid)
    for b in buckets:
        i = index.get(round(float(b.get("key", -1))))
        if i is not None:
            values[i] += float(b.get("doc_count") or 0)
    return values


@dataclass(slots=True)
class Counts:
    """One service's counts: all documents, and per level (lower-cased, merged)."""

    total: list[float]
    levels: dict[str, list[float]]
    other_levels: int = 0  # documents of levels beyond the terms size


def parse_counts(aggs: Mapping[str, Any], grid: Sequence[float]) -> Counts:
    total = on_grid((aggs.get("total") or {}).get("buckets") or [], grid)
    levels: dict[str, list[float]] = {}
    lv = aggs.get("levels") or {}
    for bucket in lv.get("buckets") or []:
        name = (as_text(bucket.get("key")) or "").lower()
        values = on_grid((bucket.get("over_time") or {}).get("buckets") or [], grid)
        if name in levels:
            levels[name] = [a + b for a, b in zip(levels[name], values, strict=True)]
        else:
            levels[name] = values
    return Counts(total, dict(sorted(levels.items())), int(lv.get("sum_other_doc_count") or 0))


# ---- distinct messages ----------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    window_count: int = 0
    baseline_count: int = 0
    first_seen: float | None = None  # epoch seconds, in the window
    last_seen: float | None = None
    error_types: dict[str, int] = field(default_factory=dict)
    request: str | None = None

    def seen(self, at: float | None) -> None:
        if at is None:
            return
        if self.first_seen is None or at < self.first_seen:
            self.first_seen = at
        if self.last_seen is None or at > self.last_seen:
            self.last_seen = at

    @property
    def error_type(self) -> str | None:
        if not self.error_types:
            return None
        return min(self.error_types.items(), key=lambda kv: (-kv[1], kv[0]))[0]


Key = tuple[str | None, str, str]  # (store's service name or None, level lower-cased, message)


def shape(text: str) -> str:
    """The form of a message: its words that hold a digit (ids, numbers, durations) masked as `#`.

    Texts of one form are almost always printed by one log statement (`correlate.signatures` puts
    messages that differ only in their numbers under one signature)."""
    return " ".join("#" if any(ch.isdigit() for ch in word) else word for word in text.split())


class MessageCounter:
    """Exact counts of at most `limit` distinct messages; what does not fit is only counted as dropped.

    Admission keeps the evidence useful when messages carry ids (every text distinct): a text of a
    form (`shape`) not seen yet is kept while there is room; another text of a form already kept
    only while less than half the room is used. So at least one text of each of up to `limit`
    forms is kept (baseline examples of the recurring statements, and new errors of the window),
    and the counts of every kept text stay exact. Memory is bounded by `limit` whatever the number
    of documents or buckets fed in.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tallies: dict[Key, Tally] = {}
        self.forms: dict[Key, int] = {}  # (service, level, shape) -> texts kept of that form
        self.dropped_documents = 0  # documents of messages that were not kept
        self.no_message = 0  # documents without a message value

    @property
    def full(self) -> bool:
        return len(self.tallies) >= self.limit

    def _tally(self, key: Key, request: str | None) -> Tally | None:
        tally = self.tallies.get(key)
        if tally is not None:
            return tally
        service, level, message = key
        form = (service, level, shape(message))
        room = self.limit if form not in self.forms else self.limit // 2
        if len(self.tallies) >= room:
            return None
        self.forms[form] = self.forms.get(form, 0) + 1
        tally = self.tallies[key] = Tally(request=request)
        return tally

    def add_document(
        self,
        service: str | None,
        level: str,
        message: str | None,
        error_type: str | None,
        at: datetime | None,
        window_start: float,
        request: str | None,
    ) -> None:
        if message is None:
            self.no_message += 1
            return
        tally = self._tally((service, level.lower(), message), request)
        if tally is None:
            self.dropped_documents += 1
            return
        t = at.timestamp() if at is not None else None
        if t is not None and t >= window_start:
            tally.window_count += 1
            tally.seen(t)
        else:
            tally.baseline_count += 1
        if error_type:
            tally.error_types[error_type] = tally.error_types.get(error_type, 0) + 1

    def add_bucket(self, bucket: Mapping[str, Any], request: str | None) -> None:
        """One composite bucket: key {service?, level, message, error_type?} and window/baseline sub-aggs."""
        key = bucket.get("key") or {}
        window = bucket.get("window") or {}
        baseline = bucket.get("baseline") or {}
        n = int(bucket.get("doc_count") or 0)
        message = as_text(key.get("message"))
        if message is None:
            self.no_message += n
            return
        level = (as_text(key.get("level")) or "").lower()
        tally = self._tally((as_text(key.get("service")), level, message), request)
        if tally is None:
            self.dropped_documents += n
            return
        tally.window_count += int(window.get("doc_count") or 0)
        tally.baseline_count += int(baseline.get("doc_count") or 0)
        for agg in ("first", "last"):
            value = (window.get(agg) or {}).get("value")
            if isinstance(value, int | float) and math.isfinite(value):
                tally.seen(float(value) / 1000.0)
        error_type = as_text(key.get("error_type"))
        if error_type:
            tally.error_types[error_type] = tally.error_types.get(error_type, 0) + n


# ---- shards ---------------------------------------------------------------------------------


def shards_total(body: Mapping[str, Any]) -> int | None:
    shards = body.get("_shards")
    if isinstance(shards, Mapping) and isinstance(shards.get("total"), int):
        return int(shards["total"])
    return None


def shard_failure(body: Mapping[str, Any]) -> str | None:
    """`2 of 5 shards failed: <reason>` when a search answered only in part, else None."""
    shards = body.get("_shards")
    if not isinstance(shards, Mapping) or not shards.get("failed"):
        return None
    reason = ""
    failures = shards.get("failures") or []
    if failures and isinstance(failures[0], Mapping):
        r = failures[0].get("reason") or {}
        reason = f": {r.get('type')}: {one_line(str(r.get('reason')))}" if isinstance(r, Mapping) else ""
    return f"{shards.get('failed')} of {shards.get('total')} shards failed{reason}"


# ---- errors ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The store's own error: `error.type` / `error.reason`, the most specific cause first."""

    type: str | None
    reason: str | None
    top_type: str | None = None

    def __str__(self) -> str:
        if self.type and self.reason:
            return f"{self.type}: {one_line(self.reason)}"
        return one_line(self.reason or self.type or "")


_GENERIC = {"search_phase_execution_exception", "status_exception"}


def _cause(err: Mapping[str, Any]) -> Mapping[str, Any]:
    """The most specific cause of a wrapped error (search phase failures wrap the real one)."""
    for key in ("caused_by",):
        inner = err.get(key)
        if isinstance(inner, Mapping) and inner.get("reason"):
            return _cause(inner)
    roots = err.get("root_cause")
    if isinstance(roots, list) and roots and isinstance(roots[0], Mapping) and roots[0].get("reason"):
        return roots[0]
    failed = err.get("failed_shards")
    if isinstance(failed, list) and failed and isinstance(failed[0], Mapping):
        r = failed[0].get("reason")
        if isinstance(r, Mapping) and r.get("reason"):
            return _cause(r)
    return err


def error_body(raw: bytes | None) -> ErrorBody:
    """Read an error body: `{"error": {...}, "status": N}`, `{"error": "text"}`, or plain text."""
    if not raw:
        return ErrorBody(None, "empty body")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return ErrorBody(None, one_line(raw.decode("utf-8", "replace")))
    err = doc.get("error") if isinstance(doc, Mapping) else None
    if isinstance(err, str):
        return ErrorBody(None, err)
    if isinstance(err, Mapping):
        top = str(err.get("type")) if err.get("type") else None
        specific = _cause(err) if top in _GENERIC or not err.get("reason") else err
        return ErrorBody(
            str(specific.get("type")) if specific.get("type") else top,
            str(specific.get("reason") or err.get("reason") or ""),
            top,
        )
    if isinstance(doc, Mapping) and doc.get("message"):
        return ErrorBody(None, str(doc["message"]))
    return ErrorBody(None, one_line(raw.decode("utf-8", "replace")))


_ES_ACTION = re.compile(r"action \[(?P<action>[^\]]+)\] is unauthorized")
_ES_INDICES = re.compile(r" on (?:restricted )?indices \[(?P<indices>[^\]]*)\]")
_ES_GRANTED = re.compile(r"granted by the (?P<scope>index|cluster) privileges \[(?P<privs>[^\]]+)\]")
_OS_DENIED = re.compile(r"no permissions for \[(?P<action>[^\]]+)\]")


def missing_privilege(reason: str | None) -> str | None:
    """What a 403's reason says is missing: `index privilege read (or all) on [logs-a] for action ...`."""
    if not reason:
        return None
    m = _ES_ACTION.search(reason)
    if m:
        action = m.group("action")
        granted = _ES_GRANTED.search(reason)
        if granted:
            names = [p.strip() for p in granted.group("privs").split(",") if p.strip()]
            what = names[0] + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
            indices = _ES_INDICES.search(reason)
            where = f" on [{indices.group('indices')}]" if indices else ""
            return f"{granted.group('scope')} privilege {what}{where} for action {action}"
        return f"the privilege for action {action}"
    m = _OS_DENIED.search(reason)
    if m:
        return f"permission {m.group('action')}"
    return None


_TEXT_FIELD = re.compile(r"(?:fielddata=true on|Fielddata is disabled on|on field) \[([^\]]+)\]")


def text_field(reason: str | None) -> str | None:
    """The field named by "Text fields are not optimised for ... aggregations" errors."""
    if not reason or ("Text fields" not in reason and "Fielddata is disabled" not in reason):
        return None
    m = _TEXT_FIELD.search(reason)
    return m.group(1) if m else None
