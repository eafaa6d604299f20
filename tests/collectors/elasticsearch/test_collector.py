"""The collectors against a server holding documents with a known truth (see conftest.py).

Each case runs for Elasticsearch 8 and 9 and OpenSearch 2 and 3, and for both layouts where the
distinct messages differ (keyword aggregation, point-in-time fallback).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from collectors._logstore.query import compact
from dossier.model import stable_id
from dossier.plugin import CollectResult
from tests.collectors.elasticsearch.conftest import needs_root_endpoint
from tests.collectors.elasticsearch.logdata import (
    DOCS,
    INC,
    LAYOUTS,
    T0,
    T1,
    TARGETS,
    TRUTH,
    collect_request,
    iso_z,
    make_docs,
    truth,
)

pytestmark = pytest.mark.parametrize("target", TARGETS)


def _series(result: CollectResult) -> dict[tuple[str | None, str], object]:
    return {(s.service, s.signal): s for s in result.series}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_counts_per_service_and_level_match_the_documents(setup, target, layout):
    s = setup(target, layout)
    result = s.make().collect(collect_request())
    series = _series(result)
    expected = {(svc, "logs:*" if lvl == "*" else f"logs:{lvl}"): v for (svc, lvl), v in TRUTH.counts.items()}
    assert set(series) == set(expected)
    for key, values in expected.items():
        got = series[key]
        assert list(got.values) == values, key
        assert list(got.times) == TRUTH.grid
        assert got.step == 60.0 and got.role == "log_count" and got.direction == "up"
        assert got.source == "elasticsearch/test" and got.request is not None
        assert got.labels == ({} if key[1] == "logs:*" else {"level": key[1][5:]})
        assert got.id == stable_id("elasticsearch/test", "log_count", key[0], key[1])
        assert json.loads(got.query)["aggs"]["total"]["date_histogram"]["fixed_interval"] == "1m"
        assert got.query == compact(json.loads(got.query))
        assert got.link is None
    assert not [p for p in result.problems if "log counts" in p.reason]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_distinct_error_messages_with_window_and_baseline_counts(setup, target, layout):
    s = setup(target, layout)
    result = s.make().collect(collect_request())
    got = {(m.service, m.level, m.message): m for m in result.log_messages}
    assert set(got) == set(TRUTH.messages)
    for key, want in TRUTH.messages.items():
        m = got[key]
        assert (m.window_count, m.baseline_count) == (want["window"], want["baseline"]), key
        assert m.first_seen == want["first"] and m.last_seen == want["last"], key
        assert m.error_type == want["error_type"], key
        assert m.id == stable_id("elasticsearch/test", *key)
        assert m.request is not None and m.source == "elasticsearch/test"
    new = [m for m in result.log_messages if m.message.startswith("payment provider returned")]
    assert new and all(m.baseline_count == 0 and m.window_count > 0 for m in new)
    edge = got[("checkout", "error", "edge at incident start")]
    assert (edge.window_count, edge.baseline_count, edge.first_seen) == (1, 0, INC)
    assert ("payments", "fatal", "edge at collection start") in got
    assert not any(m.message == "edge at collection end" for m in result.log_messages)
    assert not result.truncated and result.problems == []


def test_exemplars_are_capped_in_time_order_and_every_pit_is_closed(setup, target):
    s = setup(target, "ecs", page_size=3, max_exemplars=7, kibana_url="https://kibana.example.com")
    if s.flavor == "opensearch":
        s = setup(target, "ecs", page_size=3, max_exemplars=7, dashboards_url="https://osd.example.com")
    result = s.make().collect(collect_request())
    records = result.log_records
    assert len(records) == 7 and result.truncated
    assert result.truncated_reason == "more than max_exemplars (7) error documents in the window: the first 7 are kept"
    want = TRUTH.error_docs[:7]
    assert [r.message for r in records] == [d["message"] for d in want]
    assert [r.at for r in records] == sorted(r.at for r in records)
    assert records[0].at >= INC
    for r, d in zip(records, want, strict=True):
        assert r.service == {"checkout-api": "checkout"}.get(d["service"]["name"], d["service"]["name"])
        assert r.level == d["log"]["level"].lower()
        assert r.attrs["_id"] and r.attrs["index"]
        assert r.id == stable_id("elasticsearch/test", r.attrs["index"], r.attrs["_id"])
        assert r.attrs.get("trace.id") == d.get("trace", {}).get("id")
        assert r.attrs.get("error.type") == d.get("error", {}).get("type")
        assert r.attrs.get("host.name") == d.get("host", {}).get("name")
        assert r.link and "_id" in r.link and r.attrs["_id"] in r.link
    if not s.real:
        es = s.es
        if s.flavor == "elasticsearch":
            opened, closed = s.requests_to(r"/_pit\?"), [q for q in es.requests if q.method == "DELETE"]
        else:
            opened = [q for q in es.requests if q.method == "POST" and "point_in_time" in q.path]
            closed = [q for q in es.requests if q.method == "DELETE"]
        assert len(opened) == len(closed) == 3  # two services' message scans and the exemplars
        for q in s.requests_to(r"^/_search$"):
            assert json.loads(q.body)["size"] <= 3
    everything = setup(target, "ecs", max_exemplars=10_000).make().collect(collect_request())
    assert len(everything.log_records) == len(TRUTH.error_docs) and not everything.truncated


def test_the_latest_pit_id_is_used_and_closed(setup, target):
    s = setup(target, "ecs", server={"pit_id_changes": True}, page_size=5, max_exemplars=12)
    if s.real:
        pytest.skip("pit_id_changes is a stand-in option")
    s.make().collect(collect_request())
    close_field = "id" if s.flavor == "elasticsearch" else "pit_id"
    pages = [json.loads(q.body) for q in s.requests_to(r"^/_search$")]
    closes = [json.loads(q.body)[close_field] for q in s.es.requests if q.method == "DELETE"]
    assert len(closes) == 3
    ids = [p["pit"]["id"] for p in pages]
    assert len(set(ids)) == len(ids)  # each page sent the id the previous one returned
    for closed in closes:
        closed = closed[0] if isinstance(closed, list) else closed
        assert closed not in ids  # the id of the last answer, which no page has sent yet


def test_aliases_are_mapped_and_other_services_left_out(setup, target):
    docs = make_docs(seed=3, n=200)
    s = setup(target, "ecs", docs=docs)
    result = s.make().collect(collect_request())
    assert {ser.service for ser in result.series} == {"checkout", "payments"}
    assert {m.service for m in result.log_messages} <= {"checkout", "payments"}
    assert {r.service for r in result.log_records} <= {"checkout", "payments"}
    t = truth(docs)
    total = sum(_series(result)[("checkout", "logs:*")].values)
    in_range = [d for d in docs if T0.isoformat()[:19] <= d["@timestamp"][:19] < T1.isoformat()[:19]]
    assert total == sum(t.counts[("checkout", "*")])
    assert total == sum(1 for d in in_range if d["service"]["name"] in ("checkout", "checkout-api"))
    body = json.loads(_series(result)[("checkout", "logs:*")].query)
    assert body["query"]["bool"]["filter"][1] == {"terms": {"service.name": ["checkout", "checkout-api"]}}


def test_kibana_or_dashboards_links(setup, target):
    key = "kibana_url" if target[0] == "elasticsearch" else "dashboards_url"
    s = setup(target, "dynamic", max_exemplars=2, **{key: "https://ui.example.com/s/ops"})
    result = s.make().collect(collect_request())
    link = _series(result)[("checkout", "logs:*")].link
    assert link is not None and link.startswith("https://ui.example.com/s/ops/app/")
    assert "service.name.keyword" in link and "checkout-api" in link and "2026-11-20T09:00:00.000Z" in link
    assert all(m.link and "message.keyword" in m.link for m in result.log_messages)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_max_messages_truncates_with_a_problem(setup, target, layout):
    s = setup(target, layout, max_messages=2, page_size=2, max_exemplars=0)
    result = s.make().collect(collect_request())
    assert result.truncated
    per_service = {svc: [m for m in result.log_messages if m.service == svc] for svc in ("checkout", "payments")}
    assert all(len(v) == 2 for v in per_service.values())
    reasons = [p.reason for p in result.problems]
    assert any(r.startswith("distinct error messages of 'checkout': more than max_messages (2) distinct messages")
               for r in reasons)  # fmt: skip


def test_scan_limit_truncates_the_fallback_with_a_problem(setup, target):
    s = setup(target, "ecs", scan_limit=10, page_size=4, max_exemplars=0)
    result = s.make().collect(collect_request())
    assert result.truncated
    assert sum(m.window_count + m.baseline_count for m in result.log_messages if m.service == "checkout") == 10
    assert (
        "distinct error messages of 'checkout': only the first 10 error documents were read (scan_limit): later "
        "messages are not counted; set message_keyword to a keyword field of the message so that the cluster "
        "counts them all"
    ) in [p.reason for p in result.problems]


def test_an_index_pattern_that_matches_nothing_is_a_problem(setup, target):
    s = setup(target, "ecs")
    result = s.make(index="nothing-here-*").collect(collect_request())
    assert result.series == [] and result.log_messages == [] and result.log_records == []
    assert [p.reason for p in result.problems] == [
        "index pattern 'nothing-here-*' matched nothing: no index, alias or data stream of that name: check index"
    ]
    concrete = s.make(index="nothing-here").collect(collect_request())
    assert len(concrete.problems) == 1
    assert concrete.problems[0].reason == (
        "index pattern 'nothing-here' matched nothing: HTTP 404: index_not_found_exception: "
        "no such index [nothing-here]: check index"
    )


def test_a_text_field_in_an_aggregation_is_a_problem_with_the_fix(setup, target):
    s = setup(target, "dynamic")
    result = s.make(fields={"service": "service.name.keyword", "level": "log.level"}).collect(collect_request())
    reasons = [p.reason for p in result.problems]
    assert reasons and all("set fields.level to a keyword field (e.g. 'log.level.keyword')" in r for r in reasons)
    assert reasons[0].startswith("log counts of 'checkout': POST ")
    # Elasticsearch 8.17 (the real node) starts with "Fielddata is disabled on [log.level] in [<index>]. "
    assert "rejected: HTTP 400: illegal_argument_exception: " in reasons[0]
    assert "Text fields are not optimised" in reasons[0]
    assert result.log_records  # the exemplars need no aggregation: partial result


def test_a_service_without_logs_is_a_blind_spot(setup, target):
    s = setup(target, "ecs", max_exemplars=0)
    req = collect_request()
    from dossier.model import ServiceInfo

    req = type(req)(incident=req.incident, start=req.start, end=req.end, services=(ServiceInfo("ledger"),))
    result = s.make().collect(req)
    assert [p.kind for p in result.problems] == ["blind_spot"]
    assert result.problems[0].reason.startswith(
        f"no log documents of 'ledger' (service.name in ['ledger']) in {s.index!r}"
    )
    assert sum(_series(result)[("ledger", "logs:*")].values) == 0


def test_check(setup, target):
    needs_root_endpoint(target)
    s = setup(target, "ecs")
    line = s.make().check()
    if s.real:
        cluster = s.es.cluster
        product = {"elasticsearch": "Elasticsearch", "opensearch": "OpenSearch"}[cluster.flavor]
        assert line.startswith(f"{product} {cluster.version} (cluster ")
        assert line.endswith(f"; {len(DOCS):,} documents in {s.index!r}")
        if target[3] == "node":
            assert line == f"{product} {cluster.version} (cluster dossier-test); {len(DOCS):,} documents in {s.index!r}"
        return
    product = {"elasticsearch": {8: "Elasticsearch 8.15.0", 9: "Elasticsearch 9.1.0"}}.get(target[0])
    head = product[target[1]] if product else f"OpenSearch {target[2]}"
    assert line == f"{head} (cluster dossier-standin); {len(DOCS):,} documents in 'logs-*'"


def test_every_request_is_recorded(setup, target, ctx):
    s = setup(target, "dynamic", max_exemplars=3)
    s.make().collect(collect_request())
    recorded = ctx.recorder.requests
    if not s.real:
        assert len(recorded) == len(s.es.requests)
        for rec, sent in zip(recorded, s.es.requests, strict=True):
            assert (rec.method, rec.url) == (sent.method, s.es.url + sent.path.split("?")[0])
            if sent.body and rec.method == "POST":
                assert rec.params == json.loads(sent.body)
    for rec in recorded:
        assert rec.status == 200 and rec.sha256 and len(rec.sha256) == 64 and rec.bytes > 0 and rec.error is None
    assert any(r.url.endswith(f"/{s.index}/_search") and r.items == 120 for r in recorded)


def test_the_window_and_baseline_follow_the_request(setup, target):
    s = setup(target, "dynamic", max_exemplars=0)
    req = collect_request()
    shifted = type(req)(incident=req.incident, start=INC - timedelta(minutes=30), end=T1, services=req.services)
    result = s.make().collect(shifted)
    ser = _series(result)[("checkout", "logs:*")]
    assert len(ser.times) == 90 and ser.times[0] == (INC - timedelta(minutes=30)).timestamp()
    assert list(ser.values) == TRUTH.counts[("checkout", "*")][30:]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_new_error_is_kept_when_every_message_carries_an_id(setup, target, layout):
    base = {"service": {"name": "checkout"}, "log": {"level": "error"}}
    docs = [
        {**base, "@timestamp": iso_z(T0 + timedelta(seconds=7 * i)), "message": f"order {i:05d} failed"}
        for i in range(400)
    ]
    docs += [
        {**base, "@timestamp": iso_z(INC + timedelta(minutes=5, seconds=i)), "message": f"circuit open ({i})"}
        for i in range(3)
    ]
    s = setup(target, layout, docs=docs, max_messages=6, page_size=50, max_exemplars=0)
    result = s.make().collect(collect_request())
    kept = [m for m in result.log_messages if m.service == "checkout"]
    new = [m for m in kept if m.message.startswith("circuit open")]
    assert new and all(m.baseline_count == 0 and m.window_count == 1 and m.first_seen for m in new)
    orders = [m for m in kept if m.message.startswith("order")]
    assert orders and all(m.baseline_count == 1 and m.window_count == 0 for m in orders)
    # time order (scan): 3 orders fill half the room, then one text of the new form;
    # message order (keyword): the 3 circuit texts come first, then one text of the order form
    assert len(kept) == 4 and result.truncated
    (problem,) = [p for p in result.problems if p.service == "checkout"]
    assert problem.reason == (
        "distinct error messages of 'checkout': more than max_messages (6) distinct messages: 4 are kept, of 2 "
        "forms (texts alike but for their words holding digits; half of max_messages is kept for new forms), 399 "
        "error documents of other messages are not among them (they are in the logs:<level> counts)"
    )
