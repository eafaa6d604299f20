"""Failures: retries honouring Retry-After, exhausted retries, credentials, privileges, timeouts,
unreachable clusters, a failing part beside working ones, the wrong product. Mostly stand-in only: a
real cluster cannot be told to fail (those skip on the real targets); the wrong product is also asked
of the real node, by the other collector."""

from __future__ import annotations

import json
import socket
import time

import pytest

from collectors.elasticsearch import ElasticsearchCollector, ElasticsearchConfig
from collectors.opensearch import OpenSearchCollector, OpenSearchConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from tests.collectors.elasticsearch.conftest import needs_root_endpoint, stand_in_only
from tests.collectors.elasticsearch.logdata import TARGETS, TRUTH, collect_request

pytestmark = pytest.mark.parametrize("target", TARGETS)


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_429_then_success_is_retried_after_retry_after(setup, target, ctx):
    s = setup(target, "dynamic", max_exemplars=0)
    stand_in_only(s)
    s.es.inject(429, 1, path_regex="_search", retry_after=1)
    started = time.monotonic()
    result = s.make(retries=3).collect(collect_request())
    assert time.monotonic() - started >= 1.0
    assert result.problems == [] and len(result.series) == len(TRUTH.counts)
    first = [r for r in ctx.recorder.requests if r.url.endswith("/_search")][:2]
    assert [r.status for r in first] == [429, 200]
    assert first[0].error.startswith("HTTP 429: es_rejected_execution_exception: rejected execution of ")
    assert first[1].id == first[0].id + "-2"  # the same request again, both attempts kept
    assert (first[1].started_at - first[0].started_at).total_seconds() >= 1.0


def test_503_until_retries_are_exhausted_is_source_unavailable_quickly(setup, target, ctx):
    s = setup(target, "ecs")
    stand_in_only(s)
    s.es.inject(503, 100)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as info:
        s.make(retries=2, retry_max_delay="5s").collect(collect_request())
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"POST {s.es.url}/logs-*/_search: HTTP 503: ")
    assert message.endswith(" (after 2 attempts): the cluster is overloaded or unhealthy, retry later")
    assert info.value.instance == "elasticsearch/test" and info.value.retriable
    assert [r.status for r in ctx.recorder.requests] == [503, 503]


def test_retry_after_beyond_the_budget_gives_up_at_once(setup, target):
    s = setup(target, "ecs")
    stand_in_only(s)
    s.es.inject(429, 100, retry_after=30)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as info:
        s.make(retries=5, retry_max_delay="10s").collect(collect_request())
    assert time.monotonic() - started < 3
    assert str(info.value).endswith(
        ": the cluster is rejecting requests (queue full or rate limited): retry later or lower page_size"
    )


@pytest.mark.parametrize(
    ("credential", "server_auth", "hint"),
    [
        (
            {"api_key": "key-id:wrong"},
            {"api_key": "key-id:right"},
            "check api_key (valid, not expired or invalidated, for this cluster?)",
        ),
        (
            {"basic_auth": {"username": "dossier", "password": "wrong"}},
            {"basic": "dossier:right"},
            "check basic_auth.username 'dossier' and basic_auth.password",
        ),
        (
            {"bearer_token": "expired"},
            {"bearer": "fresh"},
            "check bearer_token (valid, not expired, for this cluster?)",
        ),
        ({}, {"basic": "dossier:right"}, "no credential configured: set api_key, basic_auth or bearer_token"),
    ],
)
def test_401_names_the_credential_to_check(setup, target, credential, server_auth, hint):
    if target[0] == "opensearch" and "api_key" in credential:
        pytest.skip("OpenSearch API keys are opaque tokens: the stand-in checks Elasticsearch id:key pairs")
    s = setup(target, "ecs", server={"auth": server_auth})
    stand_in_only(s)
    with pytest.raises(SourceAuthError) as info:
        s.make(**credential).collect(collect_request())
    message = str(info.value)
    assert message.startswith(f"POST {s.es.url}/logs-*/_search: HTTP 401: security_exception: ")
    assert message.endswith(hint)
    assert "wrong" not in message and "expired:" not in message
    assert len(s.es.requests) == 1  # 401 is not retried


def test_right_credentials_are_sent(setup, target):
    key = "key-id:right" if target[0] == "elasticsearch" else None
    cases = [
        ({"basic_auth": {"username": "u", "password": "p"}}, {"basic": "u:p"}),
        ({"bearer_token": "t"}, {"bearer": "t"}),
    ]
    if key:
        cases.append(({"api_key": key}, {"api_key": key}))
    for credential, server_auth in cases:
        s = setup(target, "ecs", server={"auth": server_auth}, max_exemplars=1)
        stand_in_only(s)
        assert len(s.make(**credential).collect(collect_request()).series) == len(TRUTH.counts)


def test_403_names_the_missing_privilege(setup, target):
    s = setup(target, "ecs", server={"forbidden_indices": ["logs-*"]})
    stand_in_only(s)
    with pytest.raises(SourceAuthError) as info:
        s.make(basic_auth={"username": "dossier", "password": "x"}).collect(collect_request())
    assert str(info.value) == (
        f"POST {s.es.url}/logs-*/_search: HTTP 403: security_exception: action [indices:data/read/search] is "
        "unauthorized for user [dossier-collector] with effective roles [dossier_reader] on indices [logs-*], this "
        "action is granted by the index privileges [read,all]: the role of basic_auth lacks the index privilege read "
        "(or all) on [logs-*] for action indices:data/read/search"
    )


def test_a_slow_cluster_times_out(setup, target, ctx):
    s = setup(target, "ecs", server={"delay": 1.5})
    stand_in_only(s)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as info:
        s.make(timeout="0.3s", retries=1).collect(collect_request())
    assert time.monotonic() - started < 1.5
    assert str(info.value) == (
        f"POST {s.es.url}/logs-*/_search: no answer within 0.3s (timeout): is the cluster overloaded or the network "
        "filtered? raise timeout if it is just slow"
    )
    (rec,) = ctx.recorder.requests
    assert rec.status is None and rec.sha256 is None and rec.error.startswith("no answer within 0.3s")


def test_an_unreachable_cluster(target, ctx):
    url = _dead_url()
    cls, model = (
        (ElasticsearchCollector, ElasticsearchConfig)
        if target[0] == "elasticsearch"
        else (OpenSearchCollector, OpenSearchConfig)
    )
    collector = cls(model(hosts=[url], index="logs-*", retries=2, retry_max_delay="5s"), ctx)
    with pytest.raises(SourceUnavailable) as info:
        collector.collect(collect_request())
    product = "Elasticsearch" if target[0] == "elasticsearch" else "OpenSearch"
    assert str(info.value) == (
        f"POST {url}/logs-*/_search: connection refused (after 2 attempts): is {product} running at {url}?"
    )
    with pytest.raises(SourceUnavailable):
        collector.check()


def test_a_failing_part_is_a_problem_beside_the_parts_that_worked(setup, target):
    s = setup(target, "dynamic", max_exemplars=5)
    stand_in_only(s)
    s.es.inject(503, 100, path_regex=r"_pit|point_in_time")
    result = s.make(retries=2, retry_max_delay="5s").collect(collect_request())
    assert len(result.series) == len(TRUTH.counts) and result.log_messages and result.log_records == []
    (problem,) = result.problems
    assert problem.reason.startswith("exemplar error documents failed: POST ")
    assert " (after 2 attempts)" in problem.reason and problem.request is not None


def test_an_unavailable_cluster_midway_stops_with_a_problem(setup, target):
    s = setup(target, "ecs", max_exemplars=5)
    stand_in_only(s)
    s.es.inject(503, 100, path_regex=r"_pit|point_in_time")
    result = s.make(retries=1).collect(collect_request())
    assert len(result.series) == len(TRUTH.counts)
    (problem,) = result.problems
    assert problem.reason.startswith("distinct error messages of 'checkout' failed: POST ")
    assert problem.reason.endswith(
        "not collected after it: distinct error messages of 'payments', exemplar error documents"
    )


def test_a_pit_is_closed_when_a_page_fails(setup, target):
    s = setup(target, "ecs", max_exemplars=5)
    stand_in_only(s)
    s.es.inject(400, 1, path_regex=r"^/_search$")
    result = s.make().collect(collect_request())
    assert result.problems and "rejected: HTTP 400" in result.problems[0].reason
    opened = [q for q in s.es.requests if q.method == "POST" and ("_pit" in q.path or "point_in_time" in q.path)]
    closed = [q for q in s.es.requests if q.method == "DELETE"]
    assert len(opened) == len(closed) == 3


def test_the_wrong_product(setup, target, ctx):
    needs_root_endpoint(target)
    flavor, _, _, backend = target
    other = "opensearch" if flavor == "elasticsearch" else "elasticsearch"
    if backend == "standin":  # this collector against the stand-in playing the other product
        s = setup((other, 9, "2.17.0" if other == "opensearch" else None, "standin"), "ecs")
        speaker, server_version = flavor, "9.1.0"
    else:  # the real server, asked by the other collector
        s = setup(target, "ecs")
        speaker, server_version = other, s.es.cluster.version
    cls, model = (ElasticsearchCollector, ElasticsearchConfig)
    if speaker == "opensearch":
        cls, model = (OpenSearchCollector, OpenSearchConfig)
    index = s.index if s.real else "logs-*"
    collector = cls(model(hosts=[s.es.url], index=index, **(s.es.cluster.credentials() if s.real else {})), ctx)
    if speaker == "elasticsearch":
        with pytest.raises(SourceQueryError) as info:
            collector.collect(collect_request())
        assert str(info.value) == (
            f"POST {s.es.url}/{index}/_search: HTTP 406: Content-Type header [application/vnd.elasticsearch+json; "
            "compatible-with=8] is not supported: the server does not accept Elasticsearch's media type: for "
            "OpenSearch use the opensearch collector"
        )
    else:
        with pytest.raises(CollectorError) as info:
            collector.check()
        assert str(info.value) == (
            f"GET {s.es.url}/: the cluster is Elasticsearch {server_version}, not OpenSearch: use the elasticsearch "
            "collector"
        )


def test_the_client_speaks_compatible_with_8(setup, target):
    s = setup(target, "ecs", max_exemplars=1)
    stand_in_only(s)
    s.make().collect(collect_request())
    for q in s.es.requests:
        if target[0] == "elasticsearch":
            assert q.headers["accept"] == "application/vnd.elasticsearch+json; compatible-with=8"
            if q.body:
                assert q.headers["content-type"] == "application/vnd.elasticsearch+json; compatible-with=8"
        else:
            assert "vnd.elasticsearch" not in q.headers.get("accept", "")
    assert all(json.loads(q.body) for q in s.es.requests if q.body)
