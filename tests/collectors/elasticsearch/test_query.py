"""The search bodies, intervals, grids and links: pure functions, checked exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from collectors._logstore.links import discover, kql_field, kql_value, rison_string
from collectors._logstore.parse import parse_time
from collectors._logstore.query import (
    SORT_FORMAT,
    Target,
    Window,
    choose_interval,
    compact,
    composite_body,
    count_body,
    exemplar_body,
    format_interval,
    iso,
    level_variants,
    scan_body,
    source_fields,
    source_path,
    with_page,
)
from collectors.elasticsearch import ElasticsearchCollector, ElasticsearchConfig
from collectors.opensearch import OpenSearchCollector

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INC = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
CFG = ElasticsearchConfig(hosts=["http://127.0.0.1:9200"], index="logs-*")
CHECKOUT = Target("checkout", ("checkout", "checkout-api"))


def test_iso_and_intervals():
    assert iso(datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-11-20T10:00:00.123Z"
    assert [format_interval(s) for s in (60, 90, 3600, 86400, 172800, 5400)] == ["1m", "90s", "1h", "1d", "2d", "90m"]
    day = 86400.0
    assert choose_interval(2 * 3600, None) == 60
    assert choose_interval(day, None) == 60  # 1,440 buckets
    assert choose_interval(2 * day, None) == 120  # 1m would be 2,880
    assert choose_interval(7 * day, None) == 600
    assert choose_interval(400 * day, None) == 21600
    assert choose_interval(3 * 3600, 15) == 15
    assert choose_interval(2 * day, 30) == 120  # a configured interval is raised to stay under 2,000
    assert choose_interval(20_000 * day, None) == 10 * day


def test_window_clamps_and_grid_is_epoch_aligned():
    w = Window.of(T0, INC, T1, None)
    assert (w.start, w.window_start, w.end, w.interval) == (T0, INC, T1, 60.0)
    grid = w.grid()
    assert len(grid) == 120 and grid[0] == T0.timestamp() and grid[-1] == T1.timestamp() - 60
    odd = Window.of(T0 + timedelta(seconds=30), INC, T1 + timedelta(seconds=10), None)
    g = odd.grid()
    assert g[0] == T0.timestamp() and g[-1] == T1.timestamp()  # buckets holding the first and last instant
    assert Window.of(T0, T0 - timedelta(hours=1), T1, None).window_start == T0
    assert Window.of(T0, T1 + timedelta(hours=1), T1, None).window_start == T1


def test_count_body():
    body = count_body(CFG.fields, CHECKOUT, Window.of(T0, INC, T1, None))
    hist = {
        "date_histogram": {
            "field": "@timestamp",
            "fixed_interval": "1m",
            "min_doc_count": 0,
            "extended_bounds": {"min": 1795165200000, "max": 1795172399999},
        }
    }
    assert body == {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {
                        "range": {
                            "@timestamp": {
                                "gte": "2026-11-20T09:00:00.000Z",
                                "lt": "2026-11-20T11:00:00.000Z",
                                "format": "strict_date_optional_time",
                            }
                        }
                    },
                    {"terms": {"service.name": ["checkout", "checkout-api"]}},
                ]
            }
        },
        "aggs": {
            "total": hist,
            "levels": {"terms": {"field": "log.level", "size": 20}, "aggs": {"over_time": hist}},
        },
    }
    unscoped = count_body(CFG.fields, Target(None), Window.of(T0, INC, T1, None))
    assert len(unscoped["query"]["bool"]["filter"]) == 1


def test_level_variants():
    assert level_variants(["error", "fatal"]) == ["ERROR", "Error", "FATAL", "Fatal", "error", "fatal"]


def test_composite_body_pages_and_sources():
    cfg = CFG.model_copy(update={"message_keyword": "message.keyword", "page_size": 100})
    w = Window.of(T0, INC, T1, None)
    body = composite_body(cfg, CHECKOUT, w, after={"level": "error", "message": "x", "error_type": None})
    comp = body["aggs"]["messages"]["composite"]
    assert comp["size"] == 100
    assert comp["after"] == {"level": "error", "message": "x", "error_type": None}
    assert comp["sources"] == [
        {"level": {"terms": {"field": "log.level"}}},
        {"message": {"terms": {"field": "message.keyword", "missing_bucket": True}}},
        {"error_type": {"terms": {"field": "error.type", "missing_bucket": True}}},
    ]
    sub = body["aggs"]["messages"]["aggs"]
    assert sub["window"]["filter"]["range"]["@timestamp"]["gte"] == "2026-11-20T10:00:00.000Z"
    assert sub["window"]["aggs"] == {
        "first": {"min": {"field": "@timestamp"}},
        "last": {"max": {"field": "@timestamp"}},
    }
    assert sub["baseline"]["filter"]["range"]["@timestamp"]["lt"] == "2026-11-20T10:00:00.000Z"
    filters = body["query"]["bool"]["filter"]
    assert filters[1] == {"terms": {"service.name": ["checkout", "checkout-api"]}}
    assert filters[2]["terms"]["log.level"][:3] == ["ALERT", "Alert", "CRIT"]
    assert "after" not in composite_body(cfg, CHECKOUT, w)["aggs"]["messages"]["composite"]
    no_et = cfg.model_copy(update={"fields": cfg.fields.model_copy(update={"error_type": None})})
    unscoped = composite_body(no_et, Target(None), w)["aggs"]["messages"]["composite"]["sources"]
    assert [next(iter(s)) for s in unscoped] == ["service", "level", "message"]


def test_scan_and_exemplar_bodies():
    w = Window.of(T0, INC, T1, None)
    scan = scan_body(CFG, CHECKOUT, w)
    assert scan["sort"] == [{"@timestamp": {"order": "asc", "format": "strict_date_optional_time_nanos"}}]
    assert scan["_source"] == ["@timestamp", "service.name", "log.level", "message", "error.type"]
    assert scan["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"] == "2026-11-20T09:00:00.000Z"
    ex = exemplar_body(CFG, [CHECKOUT, Target("payments", ("payments",))], w)
    assert ex["query"]["bool"]["filter"][0]["range"]["@timestamp"]["gte"] == "2026-11-20T10:00:00.000Z"
    assert ex["query"]["bool"]["filter"][1] == {"terms": {"service.name": ["checkout", "checkout-api", "payments"]}}
    assert ex["_source"] == [
        "@timestamp",
        "service.name",
        "log.level",
        "message",
        "error.type",
        "trace.id",
        "host.name",
    ]
    page = with_page(ex, "pit-1", [1, 2], 50)
    assert page["pit"] == {"id": "pit-1", "keep_alive": "2m"} and page["search_after"] == [1, 2] and page["size"] == 50
    assert "search_after" not in with_page(ex, "pit-1", None, 50) and "pit" not in ex


def test_opensearch_sorts_without_a_format():
    # OpenSearch 2.19 answers a field sort with `format` with HTTP 400 "[field_sort] unknown field [format]" (found by
    # the real node of tests/searchnodes/): its collector asks for epoch milliseconds instead, which parse_time reads.
    assert OpenSearchCollector.sort_format is None and ElasticsearchCollector.sort_format == SORT_FORMAT
    w = Window.of(T0, INC, T1, None)
    assert scan_body(CFG, CHECKOUT, w, None)["sort"] == [{"@timestamp": {"order": "asc"}}]
    assert exemplar_body(CFG, [CHECKOUT], w, None)["sort"] == [{"@timestamp": {"order": "asc"}}]
    assert parse_time(1795165200123) == datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)


def test_keyword_fields_are_read_from_their_parent_in_source():
    assert source_path("service.name.keyword") == "service.name"
    assert source_path(".keyword") == ".keyword"
    kw = CFG.model_copy(update={"fields": CFG.fields.model_copy(update={"service": "service.name.keyword"})})
    assert source_fields(kw)[1] == "service.name"


def test_compact_is_canonical():
    assert compact({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'


def test_links():
    assert rison_string("it's a!") == "'it!'s a!!'"
    assert kql_value('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert kql_field("service.name", ["a"]) == 'service.name:"a"'
    assert kql_field("service.name", ["a", "b"]) == 'service.name:("a" or "b")'
    assert discover(None, "kibana", "x", T0, T1) is None
    link = discover("https://kibana.example.com/s/ops", "kibana", 'service.name:"checkout"', T0, T1)
    assert link is not None and link.startswith("https://kibana.example.com/s/ops/app/discover#/?_g=")
    assert unquote(link).endswith(
        "_g=(time:(from:'2026-11-20T09:00:00.000Z',to:'2026-11-20T11:00:00.000Z'))"
        "&_a=(query:(language:kuery,query:'service.name:\"checkout\"'))"
    )
    assert " " not in link and '"' not in link
    osd = discover("https://osd.example.com", "dashboards", '_id:"a b"', T0, T1)
    assert osd is not None and osd.startswith("https://osd.example.com/app/data-explorer/discover#?_g=")
    assert unquote(osd).endswith("&_q=(query:(language:kuery,query:'_id:\"a b\"'))")


@pytest.mark.parametrize("levels", [["error"], ["ERROR", "Error"]])
def test_variants_cover_case(levels):
    assert set(level_variants(levels)) == {"error", "ERROR", "Error"}


def test_opensearch_pages_with_an_id_tiebreaker():
    # OpenSearch 2.x adds no tiebreaker to a point-in-time search (its `_shard_doc` came in 3.3), so its collector
    # sorts on `_id` after the timestamp; Elasticsearch adds `_shard_doc` itself (test_paging.py checks both).
    assert OpenSearchCollector.tiebreaker == "_id" and ElasticsearchCollector.tiebreaker is None
    w = Window.of(T0, INC, T1, None)
    want = [{"@timestamp": {"order": "asc"}}, {"_id": {"order": "asc"}}]
    assert scan_body(CFG, CHECKOUT, w, None, "_id")["sort"] == want
    assert exemplar_body(CFG, [CHECKOUT], w, None, "_id")["sort"] == want
