"""Retries, provenance and error mapping, against a scripted loopback stand-in."""

from __future__ import annotations

import email.utils
import socket
import time
from datetime import UTC, datetime

import pytest

from collectors.prometheus import PrometheusCollector, PrometheusConfig
from collectors.prometheus._api import PromAPI, RequestFailure, parse_retry_after, redact_url
from collectors.prometheus._samples import Grid
from dossier.errors import SourceAuthError, SourceUnavailable
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectRequest

from .conftest import error, ok

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
Q = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m]))'


def request(*services: str) -> CollectRequest:
    inc = Incident(id="INC-1", title="t", start=START, end=END, services=services)
    return CollectRequest(incident=inc, start=START, end=END, services=tuple(ServiceInfo(s) for s in services))


def config(url: str, **kw) -> PrometheusConfig:
    base = {
        "url": url,
        "retries": 3,
        "retry_max_delay": "10s",
        "alerts": False,
        "alert_rules": False,
        "up_query": None,
        "signals": [{"name": "error_rate", "query": Q}],
    }
    return PrometheusConfig.model_validate({**base, **kw})


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


GRID = Grid(START.timestamp(), START.timestamp() + 600, 15.0)


# ---- the session ---------------------------------------------------------------------------


def test_session_has_one_pool_no_urllib3_retries_and_the_tls_options(ctx, tmp_path):
    ca = tmp_path / "ca.pem"
    cfg = PrometheusConfig.model_validate(
        {
            "url": "https://prom.example.com:9443/prefix",
            "concurrency": 7,
            "tls": {"ca_file": str(ca), "cert_file": str(tmp_path / "c.pem"), "key_file": str(tmp_path / "k.pem")},
            "headers": {"X-Scope-OrgID": "tenant-1"},
            "basic_auth": {"username": "u", "password": "p"},
        }
    )
    api = PromAPI(cfg, "prometheus/test", ctx.recorder)
    adapter = api.session.get_adapter("https://prom.example.com:9443/prefix/api/v1/query")
    assert adapter._pool_maxsize == 7
    assert adapter.max_retries.total == 0
    assert api.session.verify == str(ca)
    assert api.session.cert == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert api.session.headers["X-Scope-OrgID"] == "tenant-1"
    assert api.session.auth == ("u", "p")
    assert api.client.url == "https://prom.example.com:9443/prefix"
    insecure = PromAPI(PrometheusConfig(url="https://x", tls={"insecure_skip_verify": True}), "p/t", ctx.recorder)
    assert insecure.session.verify is False


def test_headers_and_basic_auth_are_sent(stub, ctx):
    cfg = config(stub.url, headers={"X-Scope-OrgID": "t1"}, basic_auth={"username": "u", "password": "pw"})
    PrometheusCollector(cfg, ctx).collect(request("checkout"))
    for _, _, _, _, headers in stub.calls:
        assert headers["X-Scope-OrgID"] == "t1"
        assert headers["Authorization"].startswith("Basic ")


# ---- retries -------------------------------------------------------------------------------


def test_503_with_retry_after_is_retried_after_the_given_delay(stub, ctx):
    stub.script("/api/v1/query_range", (503, {"Retry-After": "1"}, {"status": "error", "error": "busy"}))
    api = PromAPI(config(stub.url), "prometheus/test", ctx.recorder)
    result, rid = api.query_range("up", GRID)
    assert len(result) == 1 and len(result[0]["values"]) == 41
    times = [c[0] for c in stub.calls if c[2] == "/api/v1/query_range"]
    assert len(times) == 2
    assert times[1] - times[0] >= 1.0
    recorded = [r for r in ctx.recorder.requests if r.url.endswith("/query_range")]
    assert [r.status for r in recorded] == [503, 200]
    assert recorded[0].error == "HTTP 503: busy" and recorded[1].id == rid == recorded[0].id + "-2"
    assert recorded[1].items == 1 and recorded[1].sha256
    assert recorded[0].params == {
        "query": "up",
        "start": str(round(GRID.start)),
        "end": str(round(GRID.end)),
        "step": "15s",
    }


def test_429_with_an_http_date_is_honoured(stub, ctx):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    stub.script("/api/v1/query", (429, {"Retry-After": when}, "slow down"))
    api = PromAPI(config(stub.url), "prometheus/test", ctx.recorder)
    api.query("up[1m]", START.timestamp())
    times = [c[0] for c in stub.calls]
    assert len(times) == 2 and times[1] - times[0] >= 0.9


def test_retry_after_beyond_the_budget_gives_up_at_once(stub, ctx):
    stub.script("/api/v1/query", (503, {"Retry-After": "3600"}, "maintenance"))
    api = PromAPI(config(stub.url, retry_max_delay="5s"), "prometheus/test", ctx.recorder)
    t0 = time.monotonic()
    with pytest.raises(RequestFailure) as info:
        api.query("up", START.timestamp())
    assert time.monotonic() - t0 < 1
    assert info.value.reason == "HTTP 503: maintenance" and info.value.attempts == 1


def test_5xx_without_retry_after_backs_off_and_stops_after_the_attempts(stub, ctx):
    stub.script("/api/v1/query", *[error(502, "unavailable", "bad gateway")] * 5)
    api = PromAPI(config(stub.url, retries=2), "prometheus/test", ctx.recorder)
    with pytest.raises(RequestFailure) as info:
        api.query("up", START.timestamp())
    assert info.value.attempts == 2 and info.value.status == 502
    assert info.value.detail() == "HTTP 502: bad gateway (after 2 attempts)"
    assert len(stub.calls) == 2
    assert 1.0 <= stub.calls[1][0] - stub.calls[0][0] <= 2.5  # 1 s + jitter up to 1 s


def test_400_is_not_retried_and_names_the_query_and_the_error(stub, ctx):
    stub.script("/api/v1/query_range", error(400, "bad_data", "1:5: parse error: unexpected end of input"))
    result = PrometheusCollector(config(stub.url), ctx).collect(request("checkout"))
    assert [c[2] for c in stub.calls].count("/api/v1/query_range") == 1
    [problem] = result.problems
    query = 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m]))'
    assert problem.reason == (
        f"signal 'error_rate' for service 'checkout': query {query!r} rejected: "
        "HTTP 400: 1:5: parse error: unexpected end of input"
    )
    assert (problem.signal, problem.service) == ("error_rate", "checkout")
    assert problem.request in {r.id for r in ctx.recorder.requests}


def test_422_is_not_retried(stub, ctx):
    stub.script("/api/v1/query_range", error(422, "execution", "query processing would load too many samples"))
    api = PromAPI(config(stub.url), "prometheus/test", ctx.recorder)
    with pytest.raises(RequestFailure) as info:
        api.query_range("up", GRID)
    assert info.value.reason == "HTTP 422: query processing would load too many samples"
    assert len(stub.calls) == 1


def test_a_proxy_error_page_is_truncated_to_one_line(stub, ctx):
    stub.script("/api/v1/query", (400, {}, "<html>\n<body>" + "x" * 500 + "</body></html>"))
    api = PromAPI(config(stub.url), "prometheus/test", ctx.recorder)
    with pytest.raises(RequestFailure) as info:
        api.query("up", START.timestamp())
    assert "\n" not in info.value.reason
    assert len(info.value.reason) <= len("HTTP 400: ") + 200


def test_a_200_that_is_not_json_is_a_protocol_failure(stub, ctx):
    stub.script("/api/v1/query", (200, {}, "<html>login page</html>"))
    api = PromAPI(config(stub.url), "prometheus/test", ctx.recorder)
    with pytest.raises(RequestFailure) as info:
        api.query("up", START.timestamp())
    assert info.value.reason == "answer is not JSON: not a Prometheus API?"
    assert len(stub.calls) == 1


# ---- whole-source failures -----------------------------------------------------------------


def test_dead_port_fails_quickly_with_source_unavailable(ctx):
    url = dead_url()
    cfg = config(url, retries=2, retry_max_delay="1s")
    t0 = time.monotonic()
    with pytest.raises(SourceUnavailable) as info:
        PrometheusCollector(cfg, ctx).collect(request("checkout", "payments"))
    assert time.monotonic() - t0 < 3
    assert str(info.value) == (
        f"GET {url}/api/v1/status/buildinfo: connection refused (after 2 attempts): is Prometheus running at {url}?"
    )
    assert info.value.instance == "prometheus/test" and info.value.retriable
    assert (info.value.status, info.value.kind) == (None, "refused")
    for rec in ctx.recorder.requests:  # both attempts
        assert (rec.status, rec.error, rec.sha256) == (None, "connection refused", None)
    assert len(ctx.recorder.requests) == 2


def test_unknown_host_is_unavailable_with_a_hint(ctx):
    cfg = config("http://no-such-host.invalid:9090", retries=1)
    with pytest.raises(SourceUnavailable) as info:
        PrometheusCollector(cfg, ctx).check()
    assert str(info.value).startswith("GET http://no-such-host.invalid:9090/api/v1/status/buildinfo: ")
    assert "check the host name in url" in str(info.value) or "connection failed" in str(info.value)


def test_every_request_failing_with_503_is_source_unavailable(stub, ctx):
    stub.script("/api/v1/query_range", *[error(503, "unavailable", "overloaded")] * 10)
    cfg = config(stub.url, retries=2, retry_max_delay="5s")
    with pytest.raises(SourceUnavailable) as info:
        PrometheusCollector(cfg, ctx).collect(request("checkout"))
    assert str(info.value) == (
        f"GET {stub.url}/api/v1/query_range: HTTP 503: overloaded (after 2 attempts): "
        "server overloaded or down, retry later"
    )


@pytest.mark.parametrize(
    ("extra", "hint", "secret"),
    [
        (
            {"basic_auth": {"username": "reader", "password": "hunter2"}},
            "check basic_auth (username 'reader' and its password)",
            "hunter2",
        ),
        (
            {"headers": {"Authorization": "Bearer tok-123"}},
            "check the credential in headers (Authorization)",
            "tok-123",
        ),
        ({}, "no credential configured: set headers (e.g. Authorization) or basic_auth", None),
    ],
)
def test_401_is_an_auth_error_naming_the_credential(stub, ctx, extra, hint, secret):
    stub.script("/api/v1/status/buildinfo", (401, {}, "unauthorized"))
    with pytest.raises(SourceAuthError) as info:
        PrometheusCollector(config(stub.url, **extra), ctx).collect(request("checkout"))
    assert str(info.value) == f"GET {stub.url}/api/v1/status/buildinfo: HTTP 401: unauthorized: {hint}"
    assert not info.value.retriable
    if secret:
        assert secret not in str(info.value)
    assert len(stub.calls) == 1  # not retried


def test_403_on_a_query_stops_the_collection(stub, ctx):
    stub.script("/api/v1/query_range", (403, {}, "forbidden"))
    with pytest.raises(SourceAuthError) as info:
        PrometheusCollector(config(stub.url), ctx).collect(request("checkout"))
    assert "HTTP 403: forbidden" in str(info.value)


def test_no_buildinfo_and_no_rules_api_is_not_a_failure(stub, ctx):
    stub.script("/api/v1/status/buildinfo", (404, {}, "404 page not found"))
    stub.script("/api/v1/rules", (404, {}, "404 page not found"))
    result = PrometheusCollector(config(stub.url, alert_rules=True), ctx).collect(request("checkout"))
    assert len(result.series) == 1
    [problem] = result.problems
    assert problem.reason == (
        f"rules API not available: GET {stub.url}/api/v1/rules: HTTP 404: 404 page not found "
        "(alert review from ALERTS history only)"
    )


def test_rules_error_json_is_a_problem_too(stub, ctx):
    stub.script("/api/v1/rules", error(400, "bad_data", "unsupported"))
    result = PrometheusCollector(config(stub.url, alert_rules=True), ctx).collect(request("checkout"))
    assert [p.reason for p in result.problems] == [
        f"rules API not available: GET {stub.url}/api/v1/rules: HTTP 400: unsupported "
        "(alert review from ALERTS history only)"
    ]


# ---- check ---------------------------------------------------------------------------------


def test_check_reports_the_build(stub, ctx):
    assert PrometheusCollector(config(stub.url), ctx).check() == "Prometheus 2.42.0 (revision abc123)"


def test_check_falls_back_to_a_query(stub, ctx):
    stub.script("/api/v1/status/buildinfo", (404, {}, "404 page not found"))
    text = PrometheusCollector(config(stub.url), ctx).check()
    assert text == f"Prometheus HTTP API at {stub.url} (no build information: HTTP 404: 404 page not found)"
    assert stub.paths() == ["/api/v1/status/buildinfo", "/api/v1/query"]


def test_check_raises_on_auth(stub, ctx):
    stub.script("/api/v1/status/buildinfo", (403, {}, "denied"))
    with pytest.raises(SourceAuthError):
        PrometheusCollector(config(stub.url), ctx).check()


# ---- helpers -------------------------------------------------------------------------------


def test_parse_retry_after():
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("-3", now) == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_redact_url_drops_credentials_and_query():
    assert redact_url("https://u:p@prom:9090/api/v1/query?query=up") == "https://prom:9090/api/v1/query"


def test_post_method_is_used_for_queries(stub, ctx):
    PrometheusCollector(config(stub.url, method="POST"), ctx).collect(request("checkout"))
    methods = {c[2]: c[1] for c in stub.calls}
    assert methods["/api/v1/query_range"] == "POST"
    assert methods["/api/v1/status/buildinfo"] == "GET"


def test_ok_helper():
    assert ok(1) == {"status": "success", "data": 1}


# ---- concurrency and alert history, on canned answers ----------------------------------------


def test_requests_run_concurrently_but_never_beyond_the_bound(stub, ctx):
    stub.delay = 0.2
    signals = [{"name": f"s{i}", "query": Q} for i in range(4)]
    cfg = config(stub.url, concurrency=3, signals=signals)
    t0 = time.monotonic()
    result = PrometheusCollector(cfg, ctx).collect(request("a", "b", "c"))
    elapsed = time.monotonic() - t0
    assert len(result.series) == 12
    assert stub.max_in_flight == 3
    assert elapsed < 12 * 0.2 / 2  # 12 requests of 0.2 s, 3 at a time: about 0.8 s


def matrix(*series: tuple[dict, list[tuple[float, str]]]) -> dict:
    return ok(
        {"resultType": "matrix", "result": [{"metric": m, "values": [[t, v] for t, v in vals]} for m, vals in series]}
    )


def test_alert_history_maps_aliases_and_builds_events(stub, ctx):
    t0 = START.timestamp()
    labels = {"alertname": "PaymentsHighErrorRate", "service": "payments-api", "severity": "page"}
    pending = [(t0 + 60 + 15 * i, "1") for i in range(4)]  # 10:01:00 .. 10:01:45
    firing = [(t0 + 120 + 15 * i, "1") for i in range(8)]  # 10:02:00 .. 10:03:45
    active = [(t, str(t0 + 60)) for t, _ in pending + firing]
    stub.script(
        "/api/v1/query",
        (
            200,
            {},
            matrix(
                ({"__name__": "ALERTS", **labels, "alertstate": "pending"}, pending),
                ({"__name__": "ALERTS", **labels, "alertstate": "firing"}, firing),
            ),
        ),
        (200, {}, matrix(({"__name__": "ALERTS_FOR_STATE", **labels}, active))),
    )
    cfg = config(stub.url, alerts=True, signals=[], concurrency=1)
    inc = Incident(id="INC-1", title="t", start=START, end=END, services=("payments",))
    req = CollectRequest(incident=inc, start=START, end=END, services=(ServiceInfo("payments", ("payments-api",)),))
    result = PrometheusCollector(cfg, ctx).collect(req)
    queries = [c[3]["query"] for c in stub.calls if c[2] == "/api/v1/query"]
    assert queries == ["ALERTS[3600001ms]", "ALERTS_FOR_STATE[3600001ms]"]
    assert [c[3]["time"] for c in stub.calls if c[2] == "/api/v1/query"] == [f"{END.timestamp():.3f}"] * 2
    events = {e.kind: e for e in result.events}
    assert [(k, e.at.strftime("%H:%M:%S"), e.end and e.end.strftime("%H:%M:%S")) for k, e in events.items()] == [
        ("alert_pending", "10:01:00", "10:02:00"),
        ("alert_firing", "10:02:00", "10:04:00"),
        ("alert_resolved", "10:04:00", None),
    ]
    e = events["alert_firing"]
    assert e.service == "payments"
    assert e.title == "PaymentsHighErrorRate firing (severity=page)"
    assert e.attrs == {
        "alertname": "PaymentsHighErrorRate",
        "labels": {"service": "payments-api", "severity": "page"},
        "active_at": "2026-11-20T10:01:00Z",
        "interval": 15.0,
        "interval_source": "median sample spacing",
    }
    assert e.request == next(r.id for r in ctx.recorder.requests if r.params.get("query") == "ALERTS[3600001ms]")
    assert len({x.id for x in result.events}) == 3


def test_a_collector_recovers_after_an_auth_failure(stub, ctx):
    stub.script("/api/v1/query_range", (403, {}, "forbidden"))
    collector = PrometheusCollector(config(stub.url), ctx)
    with pytest.raises(SourceAuthError):
        collector.collect(request("checkout"))
    assert len(collector.collect(request("checkout")).series) == 1
    collector.close()
