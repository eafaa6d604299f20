"""The search bodies of the `elastic_apm` collector (pure).

Elastic APM writes one `transaction` document per service entry (a server or consumer span) and
one `span` document per other span, with ECS-style fields: `processor.event`, `service.name`,
`trace.id`, `transaction.id` / `span.id`, `parent.id`, `event.outcome`, `transaction.name`,
`transaction.duration.us`, `timestamp.us`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collectors._logstore.query import iso
from collectors._traces.aggregate import LOW

# latency histogram: filters over transaction.duration.us, two aggregator bins wide (a factor sqrt 2)
FIRST, LAST = 12, 82  # aggregator bin edges LOW * 2^(j/4): 0.8 ms to 1.5 min


def edge_us(j: int) -> int:
    return round(LOW * 2 ** (j / 4) * 1e6)


def latency_bins() -> dict[str, dict[str, Any]]:
    """Named filters, each named by the aggregator bin its count goes to."""
    field = "transaction.duration.us"
    bins: dict[str, dict[str, Any]] = {str(FIRST): {"range": {field: {"lt": edge_us(FIRST)}}}}
    for j in range(FIRST, LAST, 2):
        bins[str(j + 1)] = {"range": {field: {"gte": edge_us(j), "lt": edge_us(j + 2)}}}
    bins[str(LAST)] = {"range": {field: {"gte": edge_us(LAST)}}}
    return bins


def _range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": iso(start), "lt": iso(end), "format": "strict_date_optional_time"}}}


def _over_time(step: float) -> dict[str, Any]:
    return {
        "date_histogram": {"field": "@timestamp", "fixed_interval": f"{int(step)}s"},
        "aggs": {
            "failed": {"filter": {"term": {"event.outcome": "failure"}}},
            "latency": {"filters": {"filters": latency_bins()}},
        },
    }


def aggregate_body(start: datetime, end: datetime, step: float, max_services: int, max_operations: int) -> dict:
    """Per service (the busiest `max_services`) and per its busiest operations: transactions, failed
    ones and a duration histogram per bucket of `step` seconds."""
    services: dict[str, Any] = {
        "terms": {"field": "service.name", "size": max_services},
        "aggs": {"time": _over_time(step)},
    }
    if max_operations:
        services["aggs"]["ops"] = {
            "terms": {"field": "transaction.name", "size": max_operations},
            "aggs": {"time": _over_time(step)},
        }
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_range(start, end), {"term": {"processor.event": "transaction"}}]}},
        "aggs": {"services": services},
    }


def sample_body(start: datetime, end: datetime, size: int, *, failed: bool) -> dict:
    """Transactions whose traces are read whole: the first failing ones, or the latest ones."""
    filters: list[dict[str, Any]] = [_range(start, end), {"term": {"processor.event": "transaction"}}]
    if failed:
        filters.append({"term": {"event.outcome": "failure"}})
    return {
        "size": size,
        "_source": ["trace.id"],
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": {"order": "asc" if failed else "desc"}}],
    }


def traces_body(trace_ids: list[str], start: datetime, end: datetime, size: int) -> dict:
    """Every transaction and span document of these traces."""
    return {
        "size": size,
        "query": {
            "bool": {
                "filter": [
                    _range(start, end),
                    {"terms": {"trace.id": trace_ids}},
                    {"terms": {"processor.event": ["transaction", "span"]}},
                ]
            }
        },
        "sort": [{"@timestamp": {"order": "asc"}}],
    }
