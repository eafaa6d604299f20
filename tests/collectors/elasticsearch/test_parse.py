"""Reading answers and error bodies: histogram buckets, composite pages, documents, 401/403/400 bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from collectors._logstore.parse import (
    MessageCounter,
    as_text,
    error_body,
    get_path,
    missing_privilege,
    on_grid,
    parse_counts,
    parse_time,
    shard_failure,
    shards_total,
    text_field,
)

T = 1795168800.0  # 2026-11-20T10:00:00Z


def test_get_path_nested_flat_mixed_and_arrays():
    src = {"service": {"name": "checkout"}, "log.level": "ERROR", "error": {"type": ["Timeout", "X"]}, "a.b": {"c": 1}}
    assert get_path(src, "service.name") == "checkout"
    assert get_path(src, "log.level") == "ERROR"
    assert get_path(src, "error.type") == "Timeout"
    assert get_path(src, "a.b.c") == 1
    assert get_path(src, "service.version") is None and get_path(None, "x") is None
    assert get_path({"host": [{"name": "h1"}]}, "host.name") == "h1"
    assert as_text(3) == "3" and as_text(True) == "true" and as_text({"x": 1}) is None and as_text([]) is None


def test_parse_time_formats():
    t = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_time("2026-11-20T10:00:00.123456789Z") == t
    assert parse_time("2026-11-20T11:00:00.123456+01:00") == t
    assert parse_time("2026-11-20T10:00:00.123456") == t  # no zone: UTC, as the store reads it
    assert parse_time(1795168800123) == datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_time("1795168800123") == datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=UTC)
    assert parse_time("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None and parse_time(True) is None


def test_histogram_on_grid_fills_missing_buckets_with_zero():
    grid = (T, T + 60, T + 120)
    buckets = [{"key": (T + 60) * 1000, "doc_count": 4}, {"key": (T + 600) * 1000, "doc_count": 9}]
    assert on_grid(buckets, grid) == [0.0, 4.0, 0.0]


def test_parse_counts_merges_level_case():
    grid = (T, T + 60)
    aggs = {
        "total": {"buckets": [{"key": T * 1000, "doc_count": 5}, {"key": (T + 60) * 1000, "doc_count": 2}]},
        "levels": {
            "sum_other_doc_count": 0,
            "buckets": [
                {"key": "info", "over_time": {"buckets": [{"key": T * 1000, "doc_count": 2}]}},
                {"key": "ERROR", "over_time": {"buckets": [{"key": T * 1000, "doc_count": 1}]}},
                {
                    "key": "error",
                    "over_time": {
                        "buckets": [{"key": T * 1000, "doc_count": 2}, {"key": (T + 60) * 1000, "doc_count": 2}]
                    },
                },
            ],
        },
    }
    c = parse_counts(aggs, grid)
    assert c.total == [5.0, 2.0]
    assert c.levels == {"error": [3.0, 2.0], "info": [2.0, 0.0]}
    assert list(c.levels) == ["error", "info"]


def _bucket(level, message, window, baseline, first=None, last=None, error_type=None, service=None):
    key = {"level": level, "message": message, "error_type": error_type}
    if service is not None:
        key["service"] = service
    w = {"doc_count": window, "first": {"value": first}, "last": {"value": last}}
    return {"key": key, "doc_count": window + baseline, "window": w, "baseline": {"doc_count": baseline}}


def test_counter_from_composite_buckets():
    c = MessageCounter(limit=2)
    c.add_bucket(_bucket("ERROR", "boom", 2, 1, T * 1000, (T + 30) * 1000, "Timeout"), "r1")
    c.add_bucket(_bucket("error", "boom", 1, 0, (T - 5) * 1000, T * 1000, "IOError"), "r2")
    c.add_bucket(_bucket("error", "boom", 1, 0, (T + 1) * 1000, (T + 1) * 1000, "Timeout"), "r2")
    c.add_bucket(_bucket("fatal", "gone", 0, 3), "r2")
    c.add_bucket(_bucket("error", "third", 5, 0, T * 1000, T * 1000), "r3")  # over the limit
    c.add_bucket(_bucket("error", None, 7, 0), "r3")
    assert c.full and c.dropped_documents == 5 and c.no_message == 7
    boom = c.tallies[(None, "error", "boom")]
    assert (boom.window_count, boom.baseline_count) == (4, 1)
    assert (boom.first_seen, boom.last_seen) == (T - 5, T + 30)
    assert boom.error_type == "Timeout" and boom.request == "r1"
    gone = c.tallies[(None, "fatal", "gone")]
    assert (gone.window_count, gone.baseline_count, gone.first_seen, gone.error_type) == (0, 3, None, None)


def test_counter_from_documents():
    c = MessageCounter(limit=10)
    at = datetime.fromtimestamp(T, UTC)
    before = datetime.fromtimestamp(T - 1, UTC)
    c.add_document("svc", "Error", "boom", "Timeout", before, T, "r1")
    c.add_document("svc", "ERROR", "boom", None, at, T, "r2")
    c.add_document("svc", "error", "boom", "Timeout", datetime.fromtimestamp(T + 9, UTC), T, "r2")
    c.add_document("svc", "error", None, None, at, T, "r2")
    tally = c.tallies[("svc", "error", "boom")]
    assert (tally.window_count, tally.baseline_count, tally.first_seen, tally.last_seen) == (2, 1, T, T + 9)
    assert tally.error_type == "Timeout" and tally.request == "r1" and c.no_message == 1


def test_shards():
    assert shards_total({"_shards": {"total": 0, "successful": 0, "skipped": 0, "failed": 0}}) == 0
    assert shards_total({}) is None
    assert shard_failure({"_shards": {"total": 3, "failed": 0}}) is None
    partial = {
        "_shards": {
            "total": 3,
            "failed": 1,
            "failures": [{"shard": 0, "reason": {"type": "illegal_argument_exception", "reason": "bad"}}],
        }
    }
    assert shard_failure(partial) == "1 of 3 shards failed: illegal_argument_exception: bad"


TEXT_REASON = (
    "Text fields are not optimised for operations that require per-document field data like aggregations and "
    "sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set "
    "fielddata=true on [service.name] in order to load field data by uninverting the inverted index. Note that this "
    "can use significant memory."
)


def test_error_body_prefers_the_specific_cause():
    body = {
        "error": {
            "root_cause": [{"type": "illegal_argument_exception", "reason": TEXT_REASON}],
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
            "phase": "query",
            "grouped": True,
            "failed_shards": [],
            "caused_by": {"type": "illegal_argument_exception", "reason": TEXT_REASON},
        },
        "status": 400,
    }
    err = error_body(json.dumps(body).encode())
    assert err.type == "illegal_argument_exception" and err.top_type == "search_phase_execution_exception"
    assert text_field(err.reason) == "service.name"
    assert str(err).startswith("illegal_argument_exception: Text fields are not optimised") and len(str(err)) <= 230
    nf = {"error": {"type": "index_not_found_exception", "reason": "no such index [logs-x]"}, "status": 404}
    assert str(error_body(json.dumps(nf).encode())) == "index_not_found_exception: no such index [logs-x]"
    assert str(error_body(b"<html>bad gateway</html>")) == "<html>bad gateway</html>"
    assert str(error_body(b"")) == "empty body"
    assert str(error_body(b'{"error": "plain"}')) == "plain"
    assert text_field("no such index") is None


def test_missing_privilege_from_403_reasons():
    es = (
        "action [indices:data/read/search] is unauthorized for user [dossier] with effective roles [viewer] on "
        "indices [logs-app-default], this action is granted by the index privileges [read,all]"
    )
    assert missing_privilege(es) == (
        "index privilege read (or all) on [logs-app-default] for action indices:data/read/search"
    )
    key = (
        "action [indices:data/read/open_point_in_time] is unauthorized for API key id [abc] of user [dossier] "
        "on indices [logs-a], this action is granted by the index privileges [read,all]"
    )
    assert missing_privilege(key) == (
        "index privilege read (or all) on [logs-a] for action indices:data/read/open_point_in_time"
    )
    cluster = (
        "action [cluster:monitor/main] is unauthorized for user [dossier] with roles [viewer], this action is "
        "granted by the cluster privileges [monitor,manage,all]"
    )
    assert missing_privilege(cluster) == "cluster privilege monitor (or manage, all) for action cluster:monitor/main"
    osd = (
        "no permissions for [indices:data/read/search] and User [name=dossier, backend_roles=[], requestedTenant=null]"
    )
    assert missing_privilege(osd) == "permission indices:data/read/search"
    assert missing_privilege("something else") is None and missing_privilege(None) is None


def test_shape_masks_the_words_holding_digits():
    from collectors._logstore.parse import shape

    assert shape("order 0a3f9c01b2 failed after 2345 ms") == "order # failed after # ms"
    assert shape("  cache  miss on cart:7 ") == "cache miss on #"
    assert shape("no digits here") == "no digits here"


def test_admission_keeps_one_text_per_form_before_more_of_the_same():
    at = datetime.fromtimestamp(T - 60, UTC)
    c = MessageCounter(limit=4)
    for i in range(10):  # a statement with ids fills half the room, then only new forms get in
        c.add_document("svc", "error", f"order {i} failed", None, at, T, "r1")
    assert [k[2] for k in c.tallies] == ["order 0 failed", "order 1 failed"]
    assert c.dropped_documents == 8
    c.add_document("svc", "error", "circuit breaker open for eu-west-1", None, datetime.fromtimestamp(T, UTC), T, "r2")
    c.add_document("svc", "error", "disk full", None, at, T, "r3")
    c.add_document("svc", "error", "order 0 failed", None, at, T, "r3")  # kept texts are still counted
    c.add_document("svc", "error", "out of memory", None, at, T, "r3")  # a new form, but no room left
    assert len(c.tallies) == 4 and c.full and len(c.forms) == 3
    assert c.tallies[("svc", "error", "order 0 failed")].baseline_count == 2
    assert c.tallies[("svc", "error", "circuit breaker open for eu-west-1")].window_count == 1
    assert c.dropped_documents == 9
