"""The Elasticsearch stand-in against the official Python client (whichever major is installed) and plain HTTP.

Tests that only use documented behaviour run through the `es_server` fixture, so they also pass against a real
cluster (DOSSIER_TEST_ES_URL); stand-in-only features (inject, auth, flavors, compat majors) skip there.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.standins.elasticsearch import ElasticsearchStandin, main, parse_iso

es_mod = pytest.importorskip("elasticsearch")
from elasticsearch import (  # noqa: E402
    ApiError,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    Elasticsearch,
    NotFoundError,
    UnsupportedProductError,
)

CLIENT_MAJOR = int(es_mod.__versionstr__.split(".")[0])
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
SERVICES = ("checkout", "cart", "payment")


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def incident_docs(n: int = 240) -> list[dict[str, Any]]:
    """n log lines over 30 minutes; pairs share a timestamp so paging needs the tiebreaker."""
    docs = []
    for i in range(n):
        svc = SERVICES[i % 3]
        level = "error" if i % 5 == 0 else "info"
        docs.append(
            {
                "_index": "logs-payments-prod" if i % 4 == 0 else "logs-app-default",
                "@timestamp": iso(T0 + timedelta(seconds=(i // 2) * 15)),
                "service": {"name": svc},
                "log": {"level": level},
                "message": f"{level} handling request {i} for {svc}",
                "http": {"response": {"status_code": 500 if level == "error" else 200}},
                "seq": i,
            }
        )
    return docs


def client(server: Any, **kw: Any) -> Elasticsearch:
    opts: dict[str, Any] = {"request_timeout": 10, "max_retries": 0}
    opts.update(kw)
    return Elasticsearch(**server.client_kwargs(), **opts)


def http(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode()
        hdrs = {k.lower(): v for k, v in exc.headers.items()}
        hdrs["www-authenticate-all"] = exc.headers.get_all("WWW-Authenticate") or []
        return exc.code, hdrs, parsed


@pytest.fixture
def incident(es_server: Any) -> Any:
    return es_server(incident_docs(), major=CLIENT_MAJOR)


# ----------------------------------------------------------------------------------------------
# product check, info, ping, headers
# ----------------------------------------------------------------------------------------------


def test_product_check_info_and_ping(incident: Any) -> None:
    es = client(incident)
    info = es.info()
    assert info["tagline"] == "You Know, for Search"
    assert info["version"]["build_flavor"] == "default"
    assert info["version"]["number"].startswith(f"{CLIENT_MAJOR}.")
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert es.ping() is True
    if not incident.is_real:
        assert info.meta.headers["content-type"] == f"application/vnd.elasticsearch+json;compatible-with={CLIENT_MAJOR}"
        first = incident.requests[0]
        assert (
            first.headers["accept"].replace(" ", "")
            == f"application/vnd.elasticsearch+json;compatible-with={CLIENT_MAJOR}"
        )


def test_every_2xx_carries_the_product_header_and_keep_alive() -> None:
    with ElasticsearchStandin(incident_docs(), major=CLIENT_MAJOR) as st:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=5)
        for method, path, body in [
            ("HEAD", "/", None),
            ("GET", "/", None),
            ("POST", "/logs-*/_count", b"{}"),
            ("POST", "/logs-*/_search", b'{"size":1}'),
        ]:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            assert resp.getheader("X-Elastic-Product") == "Elasticsearch"
            assert resp.getheader("Content-Length") is not None
            assert resp.getheader("Content-Type").startswith("application/json")
        conn.close()
        assert len({r.headers.get("host") for r in st.requests}) == 1


def test_opensearch_flavor_fails_the_product_check() -> None:
    with ElasticsearchStandin(incident_docs(), flavor="opensearch") as st:
        status, headers, body = http(st.url + "/")
        assert status == 200 and "x-elastic-product" not in headers
        assert body["version"]["distribution"] == "opensearch"
        assert body["version"]["number"] == "2.17.0"
        assert body["tagline"] == "The OpenSearch Project: https://opensearch.org/"
        es = Elasticsearch(st.url, request_timeout=5, max_retries=0)
        with pytest.raises(UnsupportedProductError):
            es.info()
        assert es.ping() is False


# ----------------------------------------------------------------------------------------------
# PIT + search_after
# ----------------------------------------------------------------------------------------------


def _page_all(es: Elasticsearch, pit: str, size: int, query: dict | None = None) -> tuple[list[dict], str]:
    after = None
    hits: list[dict] = []
    while True:
        kw = {"search_after": after} if after else {}
        resp = es.search(
            pit={"id": pit, "keep_alive": "1m"},
            size=size,
            track_total_hits=False,
            query=query or {"match_all": {}},
            sort=[{"@timestamp": {"order": "asc", "format": "strict_date_optional_time_nanos"}}],
            **kw,
        )
        assert "total" not in resp["hits"]
        page = resp["hits"]["hits"]
        pit = resp.get("pit_id", pit)
        if not page:
            return hits, pit
        hits += page
        after = page[-1]["sort"]


def test_pit_close_unknown_is_404_with_num_freed_zero(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    pit = es.open_point_in_time(index=target, keep_alive="1m")["id"]
    es.close_point_in_time(id=pit)
    with pytest.raises(NotFoundError) as exc:
        es.close_point_in_time(id=pit)
    assert exc.value.body == {"succeeded": True, "num_freed": 0}


def test_pit_with_an_index_in_the_path_is_rejected(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    pit = es.open_point_in_time(index=target, keep_alive="1m")["id"]
    try:
        with pytest.raises(BadRequestError) as exc:
            es.search(index=target, pit={"id": pit}, size=1)
        err = exc.value.body["error"]
        assert err["type"] == "action_request_validation_exception"
        assert "[indices] cannot be used with point in time" in err["reason"]
    finally:
        es.close_point_in_time(id=pit)


def test_pit_expires_after_keep_alive() -> None:
    with ElasticsearchStandin(incident_docs(), major=CLIENT_MAJOR) as st:
        status, _, body = http(st.url + "/logs-*/_pit?keep_alive=200ms", "POST")
        assert status == 200 and set(body) == {"id", "_shards"}
        base64.urlsafe_b64decode(body["id"])  # opaque, url-safe base64
        time.sleep(0.35)
        status, _, err = http(st.url + "/_search", "POST", {"pit": {"id": body["id"]}, "size": 1})
        assert status == 404
        assert err["error"]["type"] == "search_phase_execution_exception"
        assert err["error"]["root_cause"][0]["type"] == "search_context_missing_exception"
        assert err["error"]["root_cause"][0]["reason"].startswith("No search context found for id [")
        status, _, err = http(st.url + "/_search", "POST", {"pit": {"id": "not base64 at all!"}, "size": 1})
        assert status == 400 and err["error"]["type"] == "illegal_argument_exception"


def test_pit_ids_may_change_between_pages() -> None:
    with ElasticsearchStandin(incident_docs(), major=CLIENT_MAJOR, pit_id_changes=True) as st:
        es = Elasticsearch(st.url, request_timeout=5, max_retries=0)
        first = es.open_point_in_time(index="logs-*", keep_alive="1m")["id"]
        r1 = es.search(pit={"id": first, "keep_alive": "1m"}, size=5, sort=["seq"])
        assert r1["pit_id"] != first
        r2 = es.search(
            pit={"id": r1["pit_id"], "keep_alive": "1m"},
            size=5,
            sort=["seq"],
            search_after=r1["hits"]["hits"][-1]["sort"],
        )
        assert [h["_source"]["seq"] for h in r2["hits"]["hits"]] == [5, 6, 7, 8, 9]
        assert es.close_point_in_time(id=r2["pit_id"])["succeeded"]


def test_search_after_without_pit_and_explicit_tiebreaker(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    seen: list[int] = []
    after = None
    while True:
        kw = {"search_after": after} if after else {}
        r = es.search(index=target, size=50, sort=[{"@timestamp": "desc"}, {"seq": "asc"}], **kw)
        page = r["hits"]["hits"]
        if not page:
            break
        assert all(len(h["sort"]) == 2 and isinstance(h["sort"][0], int) for h in page)  # epoch millis, no format
        seen += [h["_source"]["seq"] for h in page]
        after = page[-1]["sort"]
    assert sorted(seen) == list(range(240)) and len(seen) == 240
    assert seen[:2] == [238, 239]


# ----------------------------------------------------------------------------------------------
# aggregations
# ----------------------------------------------------------------------------------------------


def test_calendar_interval_and_format(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    r = es.search(
        index=target,
        size=0,
        aggs={
            "h": {"date_histogram": {"field": "@timestamp", "calendar_interval": "hour", "format": "yyyy-MM-dd HH:mm"}}
        },
    )
    assert r["aggregations"]["h"]["buckets"] == [{"key_as_string": "2026-11-20 10:00", "key": T0_MS, "doc_count": 240}]
    with pytest.raises(BadRequestError) as exc:
        es.search(
            index=target, size=0, aggs={"h": {"date_histogram": {"field": "@timestamp", "calendar_interval": "5m"}}}
        )
    assert exc.value.body["error"]["type"] == "x_content_parse_exception"
    assert "could not be parsed as a calendar interval" in json.dumps(exc.value.body)


def test_composite_pages_all_buckets(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    after = None
    buckets: list[dict] = []
    pages = 0
    while True:
        comp: dict[str, Any] = {
            "size": 5,
            "sources": [
                {"svc": {"terms": {"field": "service.name"}}},
                {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "10m"}}},
            ],
        }
        if after:
            comp["after"] = after
        r = es.search(
            index=target,
            size=0,
            aggs={"c": {"composite": comp, "aggs": {"errs": {"filter": {"term": {"log.level": "error"}}}}}},
        )
        page = r["aggregations"]["c"]["buckets"]
        if not page:
            assert "after_key" not in r["aggregations"]["c"]
            break
        pages += 1
        buckets += page
        after = r["aggregations"]["c"]["after_key"]
        assert after == page[-1]["key"]
    assert pages == 2
    keys = [(b["key"]["svc"], b["key"]["t"]) for b in buckets]
    assert keys == sorted(keys) and len(keys) == 9
    assert sum(b["doc_count"] for b in buckets) == 240
    assert buckets[0] == {"key": {"svc": "cart", "t": T0_MS}, "doc_count": 27, "errs": {"doc_count": 5}}


def test_aggregating_a_text_field_is_the_real_400(es_server: Any) -> None:
    docs = [
        {
            "_index": "app-logs",
            "@timestamp": iso(T0 + timedelta(seconds=i)),
            "message": f"line {i}",
            "service": {"name": "checkout"},
        }
        for i in range(5)
    ]
    server = es_server(docs, major=CLIENT_MAJOR)
    es = client(server)
    index = server.index("app-logs")
    with pytest.raises(BadRequestError) as exc:
        es.search(index=index, size=0, aggs={"m": {"terms": {"field": "message"}}})
    err = exc.value.body["error"]
    assert exc.value.meta.status == 400
    assert err["type"] == "search_phase_execution_exception" and err["reason"] == "all shards failed"
    assert err["root_cause"][0]["type"] == "illegal_argument_exception"
    assert err["root_cause"][0]["reason"].startswith(
        "Text fields are not optimised for operations that require per-document field data like aggregations and "
        "sorting, so these operations are disabled by default. Please use a keyword field instead."
    )
    assert err["caused_by"]["type"] == "illegal_argument_exception"
    # the dynamic .keyword sub-field aggregates; so does a composite on it
    r = es.search(index=index, size=0, aggs={"m": {"terms": {"field": "service.name.keyword"}}})
    assert r["aggregations"]["m"]["buckets"] == [{"key": "checkout", "doc_count": 5}]
    with pytest.raises(BadRequestError):
        es.search(index=index, size=0, aggs={"c": {"composite": {"sources": [{"m": {"terms": {"field": "message"}}}]}}})
    with pytest.raises(BadRequestError):
        es.search(index=index, sort=[{"message": "asc"}])


def test_bad_requests_get_the_real_error_envelopes(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    with pytest.raises(BadRequestError) as exc:
        es.search(index=target, size=0, aggs={"x": {"termz": {"field": "service.name"}}})
    err = exc.value.body["error"]
    assert err["type"] == "parsing_exception"
    assert err["reason"].startswith("Unknown aggregation type [termz]") and "terms" in err["reason"]
    assert set(exc.value.body) == {"error", "status"} and exc.value.body["status"] == 400
    assert err["root_cause"][0]["type"] == "parsing_exception" and "line" in err and "col" in err
    with pytest.raises(BadRequestError) as exc:
        es.search(index=target, query={"bool": {"filtre": []}})
    assert exc.value.body["error"]["type"] == "parsing_exception"
    assert exc.value.body["error"]["reason"] == "[bool] query does not support [filtre]"
    with pytest.raises(BadRequestError) as exc:
        es.search(index=target, query={"mtch": {"message": "x"}})
    assert exc.value.body["error"]["reason"].startswith("unknown query [mtch]")
    with pytest.raises(BadRequestError) as exc:
        es.search(index=target, size=0, aggs={"h": {"date_histogram": {"field": "@timestamp", "interval": "1m"}}})
    assert exc.value.body["error"]["type"] == "x_content_parse_exception"
    with pytest.raises(BadRequestError) as exc:
        es.search(
            index=target,
            query={"range": {"@timestamp": {"gte": "yesterday-ish", "format": "strict_date_optional_time"}}},
        )
    assert exc.value.body["error"]["type"] == "search_phase_execution_exception"
    assert exc.value.body["error"]["root_cause"][0]["type"] == "parse_exception"
    with pytest.raises(BadRequestError) as exc:
        es.search(index=target, from_=9_990, size=20)
    assert "Result window is too large" in exc.value.body["error"]["root_cause"][0]["reason"]


def test_malformed_json_is_x_content_parse_exception() -> None:
    with ElasticsearchStandin(incident_docs(), major=CLIENT_MAJOR) as st:
        status, _, body = http(st.url + "/logs-*/_search", "POST", b'{"query": {"match_all": {}}')
        assert status == 400 and body["error"]["type"] == "x_content_parse_exception"
        status, _, body = http(st.url + "/logs-*/_search?sise=3", "POST", {})
        assert status == 400
        assert (
            body["error"]["reason"]
            == "request [/logs-*/_search] contains unrecognized parameter: [sise] -> did you mean [size]?"
        )


# ----------------------------------------------------------------------------------------------
# query semantics
# ----------------------------------------------------------------------------------------------


def test_date_range_round_up_rules(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    t = "2026-11-20T10:00:15"  # two docs at exactly 10:00:15.000

    def count(**bounds: Any) -> int:
        return es.count(index=target, query={"range": {"@timestamp": bounds}})["count"]

    assert count(gte=t + "Z", lte=t + "Z") == 2
    assert count(gt=t + "Z", lt="2026-11-20T10:00:31Z") == 2  # gt rounds up: 10:00:15.999 excluded... 10:00:30 kept
    assert count(gt=t + ".000Z", lt="2026-11-20T10:00:30.001Z") == 2
    assert count(gte="2026-11-20", lte="2026-11-20") == 240  # lte on a date rounds up to the end of the day
    assert count(gte="now-100y", lt="now+100y") == 240
    assert count(gte="2026-11-20T10:00:00Z||+1m", lt="2026-11-20T10:00:00Z||+2m") == 8
    assert count(gte=T0_MS, lt=T0_MS + 15_000, format="epoch_millis") == 2


def test_source_filtering_and_track_total_hits(incident: Any) -> None:
    es = client(incident)
    target = incident.pattern if incident.is_real else "logs-*"
    h = es.search(index=target, size=1, sort=["seq"], source=["service.*", "seq"])["hits"]["hits"][0]
    assert h["_source"] == {"service": {"name": "checkout"}, "seq": 0}
    h = es.search(index=target, size=1, sort=["seq"], source={"excludes": ["message", "http"]})["hits"]["hits"][0]
    assert set(h["_source"]) == {"@timestamp", "service", "log", "seq"}
    h = es.search(index=target, size=1, sort=["seq"], source=False)["hits"]["hits"][0]
    assert "_source" not in h and h["_score"] is None
    r = es.search(index=target, size=0, track_total_hits=100)
    assert r["hits"]["total"] == {"value": 100, "relation": "gte"}


def test_default_track_total_hits_caps_at_10000() -> None:
    docs = ({"@timestamp": iso(T0 + timedelta(milliseconds=i)), "n": i} for i in range(10_050))
    with ElasticsearchStandin(docs, major=CLIENT_MAJOR) as st:
        es = Elasticsearch(st.url, request_timeout=10, max_retries=0)
        assert es.search(index="logs-*", size=0)["hits"]["total"] == {"value": 10_000, "relation": "gte"}
        assert es.search(index="logs-*", size=0, track_total_hits=True)["hits"]["total"]["value"] == 10_050
        assert es.count(index="logs-*")["count"] == 10_050


def test_index_resolution(incident: Any) -> None:
    es = client(incident)
    with pytest.raises(NotFoundError) as exc:
        es.search(index="no-such-index-dossier")
    assert exc.value.body == {
        "error": {
            "root_cause": [
                {
                    "type": "index_not_found_exception",
                    "reason": "no such index [no-such-index-dossier]",
                    "resource.type": "index_or_alias",
                    "resource.id": "no-such-index-dossier",
                    "index_uuid": "_na_",
                    "index": "no-such-index-dossier",
                }
            ],
            "type": "index_not_found_exception",
            "reason": "no such index [no-such-index-dossier]",
            "resource.type": "index_or_alias",
            "resource.id": "no-such-index-dossier",
            "index_uuid": "_na_",
            "index": "no-such-index-dossier",
        },
        "status": 404,
    }
    r = es.search(index="no-such-index-dossier", ignore_unavailable=True)
    assert r["hits"]["hits"] == [] and r["_shards"]["total"] == 0
    r = es.search(index="no-such-prefix-dossier-*")
    assert r["hits"]["total"]["value"] == 0
    with pytest.raises(NotFoundError):
        es.search(index="no-such-prefix-dossier-*", allow_no_indices=False)
    both = ",".join([incident.index("logs-app-default"), incident.index("logs-payments-prod")])
    assert es.count(index=both)["count"] == 240
    assert es.count(index=incident.index("logs-payments-prod"))["count"] == 60


# ----------------------------------------------------------------------------------------------
# injected failures, compat header, auth
# ----------------------------------------------------------------------------------------------


def test_injected_429_503_parse_into_client_errors(incident: Any) -> None:
    es = client(incident)
    incident.inject(429, 1, path_regex="_search", retry_after=3)
    with pytest.raises(ApiError) as exc:
        es.search(index="logs-*")
    assert exc.value.meta.status == 429
    assert exc.value.body["error"]["type"] == "es_rejected_execution_exception"
    assert exc.value.body["status"] == 429
    assert "search, queue capacity = 1000" in exc.value.body["error"]["reason"]
    assert exc.value.meta.headers["retry-after"] == "3"
    incident.inject(503, 1)
    with pytest.raises(ApiError) as exc:
        es.count(index="logs-*")
    assert exc.value.meta.status == 503
    body = exc.value.body["error"]
    assert body["type"] == "search_phase_execution_exception" and body["reason"] == "all shards failed"
    assert body["root_cause"][0]["type"] == "no_shard_available_action_exception"
    incident.inject(503, 1, kind="cluster_block")
    with pytest.raises(ApiError) as exc:
        es.search(index="logs-*")
    assert exc.value.body["error"]["type"] == "cluster_block_exception"
    incident.inject(500, 1)
    with pytest.raises(ApiError) as exc:
        es.search(index="logs-*")
    assert exc.value.meta.status == 500
    # the transport retries 429/503 by itself (immediately): 2 failures then success with max_retries=3
    incident.inject(429, 2, path_regex="_count")
    assert client(incident, max_retries=3).count(index="logs-*")["count"] == 240
    assert es.count(index="logs-*")["count"] == 240  # injections used up
    incident.inject(404, 1)
    with pytest.raises(NotFoundError) as exc:
        es.search(index="logs-*")
    assert exc.value.body["error"]["type"] == "index_not_found_exception"


def test_compat_header_major_mismatch_is_the_real_400() -> None:
    with ElasticsearchStandin(incident_docs(), major=8) as st:
        v9 = "application/vnd.elasticsearch+json; compatible-with=9"
        status, _headers, body = http(
            st.url + "/logs-*/_search", "POST", {"size": 0}, {"Accept": v9, "Content-Type": v9}
        )
        assert status == 400
        assert body == {
            "error": {
                "root_cause": [
                    {
                        "type": "media_type_header_exception",
                        "reason": "Invalid media-type value on headers [Accept, Content-Type]",
                    }
                ],
                "type": "media_type_header_exception",
                "reason": "Invalid media-type value on headers [Accept, Content-Type]",
                "caused_by": {
                    "type": "status_exception",
                    "reason": f"Accept version must be either version 8 or 7, but found 9. Accept={v9}",
                },
            },
            "status": 400,
        }
        v8 = v9.replace("9", "8")
        v7 = v9.replace("9", "7")
        assert http(st.url + "/logs-*/_count", "POST", {}, {"Accept": v8, "Content-Type": v8})[0] == 200
        assert http(st.url + "/logs-*/_count", "POST", {}, {"Accept": v7, "Content-Type": v7})[0] == 200
        assert http(st.url + "/logs-*/_count", "POST", {}, {"Accept": v8, "Content-Type": v7})[0] == 400
        assert http(st.url + "/logs-*/_count", "POST", {}, {"Accept": v8, "Content-Type": "application/json"})[0] == 400
        assert http(st.url + "/logs-*/_count", "POST", {}, {"Content-Type": "text/csv"})[0] == 406
        es = Elasticsearch(st.url, request_timeout=5, max_retries=0)
        if CLIENT_MAJOR == 9:
            with pytest.raises(BadRequestError) as exc:
                es.search(index="logs-*")
            assert exc.value.body["error"]["type"] == "media_type_header_exception"
        else:
            assert es.count(index="logs-*")["count"] == 240
    with ElasticsearchStandin(incident_docs(), major=9) as st:
        es = Elasticsearch(st.url, request_timeout=5, max_retries=0)
        assert es.count(index="logs-*")["count"] == 240  # a 9.x server accepts compatible-with=8 and 9


def test_auth_401_and_403() -> None:
    auth = {"api_key": ("reader-key-id", "s3cret"), "basic": "collector:pw", "bearer": "tok-123"}
    with ElasticsearchStandin(
        incident_docs(), major=CLIENT_MAJOR, auth=auth, forbidden_indices=["logs-payments-*"], principal="svc-dossier"
    ) as st:
        status, headers, body = http(st.url + "/logs-*/_search?size=0", "POST", {})
        assert status == 401
        assert headers["www-authenticate-all"] == [
            'Basic realm="security", charset="UTF-8"'
            if CLIENT_MAJOR >= 9
            else 'Basic realm="security" charset="UTF-8"',
            'Bearer realm="security"',
            "ApiKey",
        ]
        assert body["error"]["type"] == "security_exception"
        assert body["error"]["reason"] == "missing authentication credentials for REST request [/logs-*/_search?size=0]"
        assert body["error"]["header"]["WWW-Authenticate"] == headers["www-authenticate-all"]
        es = Elasticsearch(st.url, api_key=("reader-key-id", "s3cret"), request_timeout=5, max_retries=0)
        assert es.count(index="logs-app-*")["count"] == 180
        assert es.count(index="logs-*")["count"] == 180  # wildcards skip what the key cannot read
        with pytest.raises(AuthorizationException) as exc:
            es.search(index="logs-payments-prod")
        assert exc.value.body["error"]["reason"] == (
            "action [indices:data/read/search] is unauthorized for API key id [reader-key-id] of user [svc-dossier] on "
            "indices [logs-payments-prod], this action is granted by the index privileges [read,all]"
        )
        bad = Elasticsearch(st.url, api_key=("reader-key-id", "wrong"), request_timeout=5, max_retries=0)
        with pytest.raises(AuthenticationException) as exc:
            bad.count(index="logs-*")
        assert exc.value.meta.status == 401
        assert exc.value.body["error"]["reason"].startswith("unable to authenticate with provided credentials")
        with pytest.raises(AuthenticationException) as exc:
            Elasticsearch(st.url, basic_auth=("collector", "nope"), max_retries=0).info()
        assert exc.value.body["error"]["reason"] == "unable to authenticate user [collector] for REST request [/]"
        assert Elasticsearch(st.url, basic_auth=("collector", "pw"), max_retries=0).ping()
        assert (
            Elasticsearch(st.url, bearer_auth="tok-123", max_retries=0).count(index="logs-app-default")["count"] == 180
        )


# ----------------------------------------------------------------------------------------------
# OpenSearch flavour endpoints (plain HTTP)
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# helpers.scan, delay, request log, loading, CLI, fixture
# ----------------------------------------------------------------------------------------------


def test_delay_and_request_log(es_server: Any) -> None:
    server = es_server(incident_docs(10), major=CLIENT_MAJOR)
    server.delay = 0.2
    es = client(server)
    t = time.monotonic()
    es.count(index="logs-*", query={"term": {"service.name": "cart"}})
    assert time.monotonic() - t >= 0.2
    req = server.requests[-1]
    assert (req.method, req.path) == ("POST", "/logs-*/_count")
    assert json.loads(req.body) == {"query": {"term": {"service.name": "cart"}}}
    assert req.headers["content-type"].startswith("application/vnd.elasticsearch+json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_runs_standalone(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text("".join(json.dumps(d) + "\n" for d in incident_docs(30)))
    port = _free_port()
    script = Path(__file__).with_name("elasticsearch.py")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--port",
            str(port),
            "--load",
            str(f),
            "--major",
            "8",
            "--api-key",
            "kid:kkey",
            "--fail",
            "503:1:_count",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"listening on http://127.0.0.1:{port}" in line and "loaded 30 docs" in line
        key = base64.b64encode(b"kid:kkey").decode()
        url = f"http://127.0.0.1:{port}"
        assert http(url + "/logs-*/_count", "POST", {})[0] == 503
        status, headers, body = http(url + "/logs-*/_count", "POST", {}, {"Authorization": f"ApiKey {key}"})
        assert status == 200 and body["count"] == 30 and headers["x-elastic-product"] == "Elasticsearch"
        assert http(url + "/", headers={})[0] == 401
        status, _, info = http(url + "/", headers={"Authorization": f"ApiKey {key}"})
        assert info["version"]["number"].startswith("8.")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_main_is_importable() -> None:
    assert callable(main)
    assert parse_iso("2026-11-20T10:00:00Z") == T0_MS


def test_fixture_exposes_url_and_realness(es_server: Any) -> None:
    server = es_server(incident_docs(20), major=CLIENT_MAJOR)
    assert server.url.startswith("http")
    assert server.is_real == bool(os.environ.get("DOSSIER_TEST_ES_URL"))
    assert client(server).count(index=server.pattern if server.is_real else "logs-*")["count"] == 20
    if not server.is_real:
        assert server.standin is not None and server.index("logs-app-default") == "logs-app-default"


@pytest.mark.slow
def test_scale_200k_docs_columnar_and_fast() -> None:
    """200k docs (1/5 of the 1M figure in the report): bounded memory, aggregations and PIT pages in seconds."""

    def rss_kb() -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))

    n = 200_000
    lines = "".join(
        json.dumps(
            {
                "@timestamp": iso(T0 + timedelta(milliseconds=i * 432)),
                "service": {"name": SERVICES[i % 3]},
                "log": {"level": "error" if i % 7 == 0 else "info"},
                "message": f"request {i} done",
            }
        )
        + "\n"
        for i in range(n)
    )
    before = rss_kb()
    t = time.monotonic()
    st = ElasticsearchStandin(lines.encode(), major=CLIENT_MAJOR, record_requests=False)
    load_s = time.monotonic() - t
    del lines
    grown_mb = (rss_kb() - before) / 1024
    assert load_s < 60 and grown_mb < 600, (load_s, grown_mb)
    with st:
        es = Elasticsearch(st.url, request_timeout=60, max_retries=0)
        t = time.monotonic()
        r = es.search(
            index="logs-*",
            size=0,
            aggs={
                "h": {
                    "date_histogram": {"field": "@timestamp", "fixed_interval": "1m"},
                    "aggs": {"l": {"terms": {"field": "log.level"}}},
                },
                "c": {"composite": {"size": 100, "sources": [{"s": {"terms": {"field": "service.name"}}}]}},
            },
        )
        assert time.monotonic() - t < 20
        assert sum(b["doc_count"] for b in r["aggregations"]["h"]["buckets"]) == n
        pit = es.open_point_in_time(index="logs-*", keep_alive="1m")["id"]
        t = time.monotonic()
        r = es.search(pit={"id": pit}, size=5_000, sort=[{"@timestamp": "asc"}], track_total_hits=False)
        r = es.search(
            pit={"id": pit},
            size=5_000,
            sort=[{"@timestamp": "asc"}],
            track_total_hits=False,
            search_after=r["hits"]["hits"][-1]["sort"],
        )
        assert r["hits"]["hits"][0]["_source"]["message"] == "request 5000 done"
        assert time.monotonic() - t < 20
