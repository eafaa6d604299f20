"""The search bodies the log-store collectors send: pure functions of the config and the window.

Everything is aggregation-first: counts are `date_histogram`s, distinct messages a paged
`composite`; only the fallback without a keyword message field and the exemplars read documents,
one page at a time through a point in time (PIT) and `search_after`.

Times go to the cluster as ISO-8601 UTC with an explicit `format`; every range is `[gte, lt)`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors._logstore.config import MAX_BUCKETS, Fields, LogStoreConfig
from dossier.model import utc

DATE_FORMAT = "strict_date_optional_time"
SORT_FORMAT = "strict_date_optional_time_nanos"
LEVEL_TERMS = 20  # most distinct levels per service in the counts
KEEP_ALIVE = "2m"  # of a point in time, renewed by every page

# Bucket sizes the automatic interval picks from (seconds): calendar-friendly multiples.
NICE_INTERVALS: tuple[int, ...] = (
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip


def compact(obj: Any) -> str:
    """Canonical compact JSON (sorted keys): how a query is shown and hashed."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def iso(dt: datetime) -> str:
    """`2026-11-20T10:00:00.000Z`: millisecond ISO-8601 UTC, what `strict_date_optional_time` reads."""
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(dt).microsecond // 1000:03d}Z"


def epoch_ms(dt: datetime) -> int:
    return math.floor(utc(dt).timestamp() * 1000)


def format_interval(seconds: float) -> str:
    """`fixed_interval` text: `1d`, `6h`, `5m`, `90s`."""
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def choose_interval(span: float, configured: float | None) -> float:
    """The count bucket: `configured` (or 1m) unless that gives more than MAX_BUCKETS buckets over
    `span` seconds; then the smallest nice interval that fits (or whole days beyond a week)."""
    wanted = configured or 60.0
    if span / wanted <= MAX_BUCKETS:
        return wanted
    for nice in NICE_INTERVALS:
        if nice >= wanted and span / nice <= MAX_BUCKETS:
            return float(nice)
    return float(math.ceil(span / MAX_BUCKETS / 86400) * 86400)


@dataclass(frozen=True, slots=True)
class Window:
    """The collection window: the baseline [start, window_start) then the incident [window_start, end)."""

    start: datetime
    window_start: datetime
    end: datetime
    interval: float  # seconds

    @classmethod
    def of(cls, start: datetime, incident_start: datetime, end: datetime, configured: float | None) -> Window:
        start, end = utc(start), utc(end)
        window_start = min(max(utc(incident_start), start), end)
        return cls(start, window_start, end, choose_interval((end - start).total_seconds(), configured))

    def grid(self) -> tuple[float, ...]:
        """Bucket starts (epoch seconds) of the date_histogram over [start, end): epoch-aligned."""
        step = self.interval
        first = math.floor(self.start.timestamp() / step) * step
        last = self.end.timestamp()
        n = max(0, math.ceil((last - first) / step))
        return tuple(first + i * step for i in range(n))


@dataclass(frozen=True, slots=True)
class Target:
    """One incident service as the store knows it: its config name and every name to match.

    `name is None` means no service scope: all documents, services named as the store names them.
    """

    name: str | None
    names: tuple[str, ...] = ()


def time_range(field: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {field: {"gte": iso(start), "lt": iso(end), "format": DATE_FORMAT}}}


def level_variants(levels: Iterable[str]) -> list[str]:
    """Each level as written lower-case, upper-case and capitalized (keyword terms are exact)."""
    out: set[str] = set()
    for level in levels:
        out.update({level.lower(), level.upper(), level.capitalize()})
    return sorted(out)


def source_path(field: str) -> str:
    """Where a field's value is in `_source`: a `.keyword` multi-field is read from its parent."""
    return field[: -len(".keyword")] if field.endswith(".keyword") and len(field) > len(".keyword") else field


def _filters(fields: Fields, target: Target, start: datetime, end: datetime) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [time_range(fields.timestamp, start, end)]
    if target.names:
        filters.append({"terms": {fields.service: list(target.names)}})
    return filters


def _histogram(fields: Fields, window: Window) -> dict[str, Any]:
    return {
        "date_histogram": {
            "field": fields.timestamp,
            "fixed_interval": format_interval(window.interval),
            "min_doc_count": 0,
            "extended_bounds": {"min": epoch_ms(window.start), "max": epoch_ms(window.end) - 1},
        }
    }


def count_body(fields: Fields, target: Target, window: Window) -> dict[str, Any]:
    """Documents per bucket of one service: in all (`total`) and per level (`levels`)."""
    hist = _histogram(fields, window)
    return {
        "size": 0,
        "query": {"bool": {"filter": _filters(fields, target, window.start, window.end)}},
        "aggs": {
            "total": hist,
            "levels": {"terms": {"field": fields.level, "size": LEVEL_TERMS}, "aggs": {"over_time": hist}},
        },
    }


def error_filters(config: LogStoreConfig, target: Target, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [
        *_filters(config.fields, target, start, end),
        {"terms": {config.fields.level: level_variants(config.error_levels)}},
    ]


def composite_body(
    config: LogStoreConfig,
    target: Target,
    window: Window,
    after: dict[str, Any] | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    """Distinct error messages of one service with their window and baseline counts (one page)."""
    assert config.message_keyword is not None
    fields = config.fields
    sources: list[dict[str, Any]] = []
    if target.name is None:
        sources.append({"service": {"terms": {"field": fields.service, "missing_bucket": True}}})
    sources.append({"level": {"terms": {"field": fields.level}}})
    sources.append({"message": {"terms": {"field": config.message_keyword, "missing_bucket": True}}})
    if fields.error_type:
        sources.append({"error_type": {"terms": {"field": fields.error_type, "missing_bucket": True}}})
    composite: dict[str, Any] = {"size": size or config.page_size, "sources": sources}
    if after:
        composite["after"] = after
    ts = fields.timestamp
    return {
        "size": 0,
        "query": {"bool": {"filter": error_filters(config, target, window.start, window.end)}},
        "aggs": {
            "messages": {
                "composite": composite,
                "aggs": {
                    "window": {
                        "filter": time_range(ts, window.window_start, window.end),
                        "aggs": {"first": {"min": {"field": ts}}, "last": {"max": {"field": ts}}},
                    },
                    "baseline": {"filter": time_range(ts, window.start, window.window_start)},
                },
            }
        },
    }


def _sort(fields: Fields, sort_format: str | None, tiebreaker: str | None = None) -> list[dict[str, Any]]:
    """Oldest first; with `sort_format` (Elasticsearch 7.13+) the sort values come back as that date format,
    without it (OpenSearch, which refuses the key) as epoch milliseconds.

    `tiebreaker`: a field unique per document, sorted on after the timestamp, so that `search_after`
    neither skips nor repeats the documents of one instant that a page boundary falls among.
    Elasticsearch adds one itself to every search with a point in time (`_shard_doc`, 7.12+);
    OpenSearch 2.x does not (its `_shard_doc` came in 3.3), and is given `_id`."""
    spec: dict[str, Any] = {"order": "asc"}
    if sort_format:
        spec["format"] = sort_format
    sort: list[dict[str, Any]] = [{fields.timestamp: spec}]
    if tiebreaker:
        sort.append({tiebreaker: {"order": "asc"}})
    return sort


def source_fields(config: LogStoreConfig, *extra: str | None) -> list[str]:
    fields = config.fields
    wanted = [fields.timestamp, fields.service, fields.level, fields.message, fields.error_type, *extra]
    out: list[str] = []
    for f in wanted:
        if f and source_path(f) not in out:
            out.append(source_path(f))
    return out


def scan_body(
    config: LogStoreConfig,
    target: Target,
    window: Window,
    sort_format: str | None = SORT_FORMAT,
    tiebreaker: str | None = None,
) -> dict[str, Any]:
    """Error documents of one service over the whole collection window, oldest first (PIT pages)."""
    return {
        "size": config.page_size,
        "query": {"bool": {"filter": error_filters(config, target, window.start, window.end)}},
        "sort": _sort(config.fields, sort_format, tiebreaker),
        "_source": source_fields(config),
        "track_total_hits": False,
    }


def exemplar_body(
    config: LogStoreConfig,
    targets: Sequence[Target],
    window: Window,
    sort_format: str | None = SORT_FORMAT,
    tiebreaker: str | None = None,
) -> dict[str, Any]:
    """Error documents of the incident services in the incident window, oldest first (PIT pages)."""
    names = sorted({n for t in targets for n in t.names})
    scope = Target(None, tuple(names)) if all(t.name is not None for t in targets) else Target(None)
    return {
        "size": config.page_size,
        "query": {"bool": {"filter": error_filters(config, scope, window.window_start, window.end)}},
        "sort": _sort(config.fields, sort_format, tiebreaker),
        "_source": source_fields(config, config.fields.trace_id, "host.name"),
        "track_total_hits": False,
    }


def with_page(body: dict[str, Any], pit_id: str, after: list[Any] | None, size: int) -> dict[str, Any]:
    """`body` as one PIT page: the point in time, the page size and where the last page ended."""
    page = {**body, "size": size, "pit": {"id": pit_id, "keep_alive": KEEP_ALIVE}}
    if after is not None:
        page["search_after"] = after
    return page
