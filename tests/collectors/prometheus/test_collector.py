"""The collector against a real Prometheus loaded with an incident whose truth is known."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime

import pytest

from collectors.prometheus import PrometheusCollector, PrometheusConfig
from dossier.model import Incident, ServiceInfo, from_epoch, parse_time
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY, Synth, to_openmetrics

SIGNALS = [
    {"name": "error_rate", "query": ERROR_RATE_QUERY},
    {"name": "latency", "query": LATENCY_QUERY},
]


def new_ctx() -> CollectContext:
    return CollectContext(
        instance="prometheus/test",
        log=logging.LoggerAdapter(logging.getLogger("t"), {}),
        recorder=Recorder("prometheus/test"),
    )


def window_request(truth, services=("checkout", "payments"), aliases=None) -> CollectRequest:
    aliases = aliases or {}
    inc = Incident(
        id="INC-2041",
        title="Checkout returns 500s",
        start=parse_time(truth.incident["start"]),
        end=from_epoch(truth.data_end),
        services=tuple(services),
    )
    return CollectRequest(
        incident=inc,
        start=from_epoch(truth.data_start),
        end=from_epoch(truth.data_end),
        services=tuple(ServiceInfo(s, tuple(aliases.get(s, ()))) for s in services),
    )


def collect(url, truth, **overrides):
    data = {"url": url, "retries": 2, "retry_max_delay": "2s", "signals": SIGNALS, **overrides}
    ctx = new_ctx()
    collector = PrometheusCollector(PrometheusConfig.model_validate(data), ctx)
    try:
        return collector.collect(window_request(truth)), ctx
    finally:
        collector.close()


@pytest.fixture(scope="module")
def collected(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    result, ctx = collect(url, truth)
    return result, ctx, truth


def signal(result, name, service):
    [s] = [s for s in result.series if s.role == "signal" and s.signal == name and s.service == service]
    return s


def test_signals_are_on_the_step_grid_over_the_whole_window(collected):
    result, _, truth = collected
    s = signal(result, "error_rate", "payments")
    assert s.step == 15.0 and s.direction == "up" and s.labels == {}
    assert s.times[0] == truth.data_start and s.times[-1] == truth.data_end
    assert len(s.times) == (truth.data_end - truth.data_start) / 15 + 1
    assert s.query == 'sum(rate(http_requests_total{service="payments",code=~"5.."}[1m]))'
    assert s.link.startswith(f"{s.link.split('/graph')[0]}/graph?g0.expr=sum%28rate")
    assert {(x.signal, x.service) for x in result.series if x.role == "signal"} == {
        ("error_rate", "checkout"),
        ("error_rate", "payments"),
        ("latency", "checkout"),
        ("latency", "payments"),
    }


@pytest.mark.parametrize(
    ("name", "service"), [("error_rate", "payments"), ("latency", "payments"), ("error_rate", "checkout")]
)
def test_signals_change_at_the_right_time(collected, name, service):
    result, _, truth = collected
    s = signal(result, name, service)
    t = truth.signal(service, name)
    threshold = t.baseline + 0.2 * (t.peak - t.baseline)  # checkout rises in two stages
    before = [v for x, v in zip(s.times, s.values, strict=True) if x < t.onset_at and not math.isnan(v)]
    assert max(before) < threshold
    crossed = next(x for x, v in zip(s.times, s.values, strict=True) if v > threshold and x >= t.onset_at - 60)
    assert t.onset_at <= crossed <= t.onset_at + 120
    during = [v for x, v in zip(s.times, s.values, strict=True) if t.onset_at + 600 <= x < t.recovered_at - 120]
    assert sorted(during)[len(during) // 2] > threshold


def test_alert_episodes_equal_the_rule_engine(collected):
    result, _, truth = collected
    events = [e for e in result.events if e.kind.startswith("alert_")]
    got = {}
    for e in events:
        got.setdefault(e.attrs["alertname"], {})[e.kind] = e
    for name, alert in truth.alerts.items():
        [episode] = alert.episodes
        kinds = got[name]
        assert kinds["alert_pending"].at.timestamp() == episode.pending_at, name
        if episode.fired_at is None:
            assert "alert_firing" not in kinds
            assert kinds["alert_pending"].end.timestamp() == episode.resolved_at
        else:
            assert kinds["alert_pending"].end.timestamp() == episode.fired_at
            assert kinds["alert_firing"].at.timestamp() == episode.fired_at, name
            assert kinds["alert_firing"].end.timestamp() == episode.resolved_at, name
        assert kinds["alert_resolved"].at.timestamp() == episode.resolved_at, name
        for e in kinds.values():
            labels = {k: v for k, v in episode.labels.items() if k != "alertname"}
            assert e.attrs["labels"] == labels
            assert e.attrs["active_at"] == datetime.fromtimestamp(episode.pending_at, UTC).isoformat().replace(
                "+00:00", "Z"
            )
            assert e.attrs["interval"] == truth.eval_interval
            assert e.attrs["interval_source"] == "median sample spacing"
    firing = got["PaymentsHighErrorRate"]["alert_firing"]
    assert firing.title == "PaymentsHighErrorRate firing (severity=page)"
    assert firing.service == "payments"
    assert got["TargetDown"]["alert_pending"].service is None  # no service label
    assert got["TargetDown"]["alert_pending"].title == "TargetDown pending (severity=ticket)"
    assert "ALERTS%7Balertname%3D%22PaymentsHighErrorRate%22" in firing.link


def test_rules_are_read_with_for_labels_and_service(collected):
    result, _, _ = collected
    rules = {r.name: r for r in result.rules}
    assert set(rules) == {"PaymentsHighErrorRate", "CheckoutHighErrorRate", "TargetDown"}
    pay = rules["PaymentsHighErrorRate"]
    assert pay.for_seconds == 300.0 and pay.interval == 15.0 and pay.group == "dossier-synthetic"
    assert pay.labels == {"severity": "page", "service": "payments", "team": "payments"}
    assert pay.annotations["summary"] == "payments 5xx ratio above 5% for 5 minutes"
    assert pay.service == "payments" and pay.source == "prometheus/test"
    assert "http_requests_total" in pay.expr
    assert rules["CheckoutHighErrorRate"].for_seconds == 120.0
    assert rules["CheckoutHighErrorRate"].service == "checkout"
    assert rules["TargetDown"].service is None and rules["TargetDown"].for_seconds == 600.0


def test_replayed_conditions_first_hold_at_the_truths_condition_time(collected):
    result, _, truth = collected
    replays = {}
    for s in result.series:
        if s.role == "alert_condition":
            replays.setdefault(s.alert, []).append(s)
    assert set(replays) == {"PaymentsHighErrorRate", "CheckoutHighErrorRate", "TargetDown"}
    for name, alert in truth.alerts.items():
        first = min(s.times[0] for s in replays[name])
        assert first == alert.pending_at, name  # the rule engine saw it at this evaluation
        assert first - truth.eval_interval < alert.condition_true_at <= first, name
        assert all(s.step == 15.0 and s.signal == name for s in replays[name])
    assert [s.service for s in replays["PaymentsHighErrorRate"]] == ["payments"]
    [down] = replays["TargetDown"]
    assert down.labels == {"instance": "payments-1:8080", "job": "payments"}


def test_scrape_gap_found_with_exact_start_and_end(collected):
    result, _, truth = collected
    gaps = [e for e in result.events if e.kind == "telemetry_gap"]
    [gap] = truth.scrape_gaps
    assert [(e.at.timestamp(), e.end.timestamp()) for e in gaps] == [(gap.start, gap.end)]
    [e] = gaps
    assert e.service == "payments"
    assert e.attrs["reason"] == "scrape failed (up == 0)"
    assert (e.attrs["instance"], e.attrs["job"]) == ("payments-1:8080", "payments")


def test_every_item_names_a_recorded_successful_request(collected):
    result, ctx, _ = collected
    requests = {r.id: r for r in ctx.recorder.requests}
    assert result.problems == []
    assert all(r.status == 200 and r.sha256 for r in requests.values())
    for item in [*result.series, *result.events]:
        assert item.request in requests, item.id
    assert {r.url.rsplit("/api/v1/", 1)[1] for r in requests.values()} == {
        "status/buildinfo",
        "rules",
        "query",
        "query_range",
    }


def test_ids_are_stable_across_collections(collected, checkout_prometheus):
    result, _, truth = collected
    again, _ = collect(checkout_prometheus.url, truth)
    assert sorted(e.id for e in again.events) == sorted(e.id for e in result.events)
    assert sorted(s.id for s in again.series) == sorted(s.id for s in result.series)
    assert len({e.id for e in result.events}) == len(result.events)
    assert len({s.id for s in result.series}) == len(result.series)


def test_a_malformed_signal_is_reported_by_name_and_the_rest_collected(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    bad = {"name": "broken", "query": 'sum(rate(http_requests_total{service="$service"}[1m])'}
    result, _ = collect(url, truth, signals=[*SIGNALS, bad], alerts=False, alert_rules=False, up_query=None)
    assert sorted(p.service for p in result.problems) == ["checkout", "payments"]
    p = next(p for p in result.problems if p.service == "payments")
    assert p.signal == "broken"
    assert p.reason == (
        "signal 'broken' for service 'payments': query "
        "'sum(rate(http_requests_total{service=\"payments\"}[1m])' rejected: "
        "HTTP 400: 1:54: parse error: unclosed left parenthesis"
    )
    assert len([s for s in result.series if s.role == "signal"]) == 4


def test_chunked_long_window_equals_one_request(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    one, ctx_one = collect(url, truth, alerts=False, alert_rules=False, up_query=None)
    many, ctx_many = collect(url, truth, alerts=False, alert_rules=False, up_query=None, max_points=100)
    points = (truth.data_end - truth.data_start) / 15 + 1  # 961
    ranges = [r for r in ctx_many.recorder.requests if r.url.endswith("query_range")]
    assert len(ranges) == 4 * math.ceil(points / 100)
    assert all((int(r.params["end"]) - int(r.params["start"])) / 15 + 1 <= 100 for r in ranges)
    assert len([r for r in ctx_one.recorder.requests if r.url.endswith("query_range")]) == 4
    a = {s.id: s for s in one.series}
    b = {s.id: s for s in many.series}
    assert a.keys() == b.keys()
    for sid in a:
        assert a[sid].times == b[sid].times
        assert len(set(b[sid].times)) == len(b[sid].times)
        assert [v if not math.isnan(v) else None for v in a[sid].values] == [
            v if not math.isnan(v) else None for v in b[sid].values
        ]


def test_chunked_raw_samples_have_no_duplicates_or_holes(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    one, _ = collect(url, truth, signals=[], alert_rules=False)
    # raw chunks of 40 * 15 s = 10 minutes: boundaries fall inside episodes and the scrape gap
    many, ctx = collect(url, truth, signals=[], alert_rules=False, max_points=40)
    raw = [r for r in ctx.recorder.requests if r.url.endswith("/query")]
    assert len(raw) > 3 * 20
    key = lambda e: (e.kind, e.id, e.at, e.end)  # noqa: E731
    assert sorted(map(key, many.events)) == sorted(map(key, one.events))


def test_hostile_service_names_select_exactly_their_own_series(local_prometheus):
    names = ['a"} or vector(1) #', ".*", "back\\slash", "x'y", "plain"]
    t0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    syn = Synth(t0, t0 + 1800)
    for i, name in enumerate(names):
        tgt = syn.target(f"job{i}", f"i{i}:1")
        tgt.gauge("hostile_value", {"service": name}, lambda t, v=i + 1: v * 10.0)
    prom = local_prometheus(to_openmetrics(syn.all_series()))
    cfg = PrometheusConfig.model_validate(
        {
            "url": prom.url,
            "alerts": False,
            "alert_rules": False,
            "up_query": None,
            "signals": [
                {"name": "eq", "query": 'sum(hostile_value{service="$service"})'},
                {"name": "re", "query": 'sum(hostile_value{service=~"$service"})'},
                {"name": "single", "query": "sum(hostile_value{service='$service'})"},
            ],
        }
    )
    inc = Incident(id="I", title="t", start=from_epoch(t0 + 600), end=from_epoch(t0 + 1800), services=tuple(names))
    req = CollectRequest(
        incident=inc,
        start=from_epoch(t0 + 600),
        end=from_epoch(t0 + 1800),
        services=tuple(ServiceInfo(n) for n in names),
    )
    result = PrometheusCollector(cfg, new_ctx()).collect(req)
    assert result.problems == []
    assert len(result.series) == 3 * len(names)
    for s in result.series:
        expected = (names.index(s.service) + 1) * 10.0
        assert {v for v in s.values if not math.isnan(v)} == {expected}, (s.signal, s.service, s.query)


def test_missing_samples_are_gaps_in_up_and_in_the_signal(local_prometheus):
    t0 = datetime(2026, 2, 1, tzinfo=UTC).timestamp()
    syn = Synth(t0, t0 + 3600)
    tgt = syn.target("api", "api-0:80", offset=5.0)
    tgt.add_gap(t0 + 1200, t0 + 1800, kind="missing")  # the target is gone for 10 minutes
    tgt.gauge("queue_depth", {"service": "api"}, lambda t: 3.0)
    prom = local_prometheus(to_openmetrics(syn.all_series()))
    cfg = PrometheusConfig.model_validate(
        {
            "url": prom.url,
            "alerts": False,
            "alert_rules": False,
            "signals": [{"name": "queue", "query": 'max(queue_depth{service="$service"})'}],
        }
    )
    inc = Incident(id="I", title="t", start=from_epoch(t0), end=from_epoch(t0 + 3600), services=("api",))
    req = CollectRequest(incident=inc, start=from_epoch(t0), end=from_epoch(t0 + 3600), services=(ServiceInfo("api"),))
    result = PrometheusCollector(cfg, new_ctx()).collect(req)
    [truth] = syn.gaps()
    gaps = {e.attrs["reason"]: e for e in result.events if e.kind == "telemetry_gap"}
    up = gaps["no samples (target missing or Prometheus down)"]
    assert (up.at.timestamp(), up.end.timestamp()) == (truth.start, truth.end)
    assert (up.service, up.attrs["instance"], up.attrs["job"]) == ("api", "api-0:80", "api")
    sig = gaps["signal 'queue' has no data"]
    # query_range's 5-minute lookback hides the first 5 minutes of the hole
    assert truth.last_ok + 300 < sig.at.timestamp() <= truth.last_ok + 300 + 15
    assert truth.end <= sig.end.timestamp() < truth.end + 15
    assert sig.attrs["signal"] == "queue" and sig.service == "api"


def test_evidence_of_a_configured_service_outside_the_request_carries_its_name(checkout_prometheus):
    """Alerts of payments, when only checkout is asked about, are named payments (the config's
    name for the label value), not left without a service; the payments rule is not replayed."""
    url, truth, _ = checkout_prometheus
    base = window_request(truth, services=("checkout",))
    request = CollectRequest(
        incident=base.incident,
        start=base.start,
        end=base.end,
        services=base.services,
        configured=(ServiceInfo("checkout"), ServiceInfo("pay", ("payments",))),
    )
    config = PrometheusConfig.model_validate({"url": url, "retries": 2, "signals": SIGNALS, "up_query": None})
    collector = PrometheusCollector(config, new_ctx())
    try:
        result = collector.collect(request)
    finally:
        collector.close()
    firing = {e.attrs["alertname"]: e.service for e in result.events if e.kind == "alert_firing"}
    assert firing["PaymentsHighErrorRate"] == "pay"
    assert firing["CheckoutHighErrorRate"] == "checkout"
    rules = {r.name: r.service for r in result.rules}
    assert rules["PaymentsHighErrorRate"] == "pay" and rules["CheckoutHighErrorRate"] == "checkout"
    # only checkout was asked about: its signals, not payments'
    assert {s.service for s in result.series if s.role == "signal"} == {"checkout"}


def test_an_up_query_without_series_is_a_blind_spot_naming_the_query(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    result, _ = collect(url, truth, alerts=False, alert_rules=False, up_query='up{job="$service",env="prod"}')
    blind = [p for p in result.problems if p.kind == "blind_spot"]
    assert [p.service for p in blind] == ["checkout", "payments"]
    assert blind[0].reason.startswith('no series of checkout at all for up_query `up{job="checkout",env="prod"}`')
    assert "check the query's labels" in blind[0].reason
    assert all(p.kind == "blind_spot" for p in result.problems)
