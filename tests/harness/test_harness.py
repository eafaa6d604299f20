"""The test harness itself: synthetic incidents with known truth, loaded into a real Prometheus.

Everything here talks to the server over plain HTTP (urllib), so a mistake in the synthesizer, in the
OpenMetrics it writes, in the backfill or in the rule-engine emulation shows up as a failing test.
"""

from __future__ import annotations

import itertools
import json
import math
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.harness.prometheus import PrometheusNotInstalled, PrometheusStartError, find_binary
from tests.harness.synth import (
    AlertRule,
    Data,
    Synth,
    build_checkout_incident,
    checkout_incident,
    evaluate_rules,
    gt,
    increase,
    instant,
    labels_key,
    rate,
    rules_yaml,
    sum_by,
    to_openmetrics,
)

START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ helpers


def api(url: str, path: str, **params: Any) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{query}" if query else url + path, timeout=30) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]


def raw_samples(url: str, selector: str, start: float, end: float) -> dict[tuple, list[tuple[float, float]]]:
    """Raw samples of `selector` with start <= t <= end (a range selector at `end`, 2.x closed range)."""
    span = math.ceil(end - start)
    data = api(url, "/api/v1/query", query=f"{selector}[{span}s]", time=end)
    assert data["resultType"] == "matrix"
    return {labels_key(s["metric"]): [(float(t), float(v)) for t, v in s["values"]] for s in data["result"]}


def query_range(url: str, query: str, start: float, end: float, step: float) -> list[dict]:
    data = api(url, "/api/v1/query_range", query=query, start=start, end=end, step=step)
    return data["result"]


def only(mapping: dict) -> Any:
    assert len(mapping) == 1, mapping
    return next(iter(mapping.values()))


# -------------------------------------------------------------------- the scenario in a real server


def test_injected_error_rise_shows_at_the_fault_time(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    fault = truth.fault_at
    pay = truth.signal("payments", "error_rate")
    series = query_range(url, pay.query, fault - 1800, fault + 1200, 15)
    points = [(float(t), float(v)) for t, v in only({0: series[0]})["values"]] if len(series) == 1 else None
    assert points is not None, series
    before = [v for t, v in points if t < fault]
    assert len(before) >= 100 and max(before) < 0.5, max(before)  # baseline ~0.07/s
    rise = next(t for t, v in points if t >= fault - 1800 and v > 1.0)
    assert fault < rise <= fault + 60, rise - fault  # within the 1m rate window
    after = [v for t, v in points if fault + 90 <= t <= fault + 12 * 60]
    assert min(after) > 3.0, min(after)  # ~4.8/s of 5xx

    chk = truth.signal("checkout", "error_rate")
    assert chk.onset_at == fault + 60
    series = query_range(url, chk.query, fault - 600, fault + 600, 15)
    points = [(float(t), float(v)) for t, v in series[0]["values"]]
    rise = next(t for t, v in points if v > 0.8)
    assert chk.onset_at < rise <= chk.onset_at + 60, rise - chk.onset_at  # downstream, a minute later

    lat = truth.signal("payments", "latency")
    series = query_range(url, lat.query, fault - 600, fault + 600, 15)
    points = [(float(t), float(v)) for t, v in series[0]["values"]]
    assert max(v for t, v in points if t < fault) < 0.35
    rise = next(t for t, v in points if v > 0.6)
    assert fault < rise <= fault + 60, rise - fault
    # checkout latency never moves: the unalerted latency signal is payments' alone
    series = query_range(
        url, truth.signal("payments", "latency").query.replace("payments", "checkout"), fault - 600, fault + 3600, 60
    )
    assert max(float(v) for _, v in series[0]["values"]) < 0.5


def test_signals_return_to_baseline_after_the_rollback(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    pay = truth.signal("payments", "error_rate")
    series = query_range(url, pay.query, truth.mitigated_at, truth.recovered_at + 900, 15)
    points = [(float(t), float(v)) for t, v in series[0]["values"]]
    assert points[0][1] > 3.0  # still broken at the rollback
    settled = [v for t, v in points if t >= truth.recovered_at + 60]
    assert settled and max(settled) < 0.5, max(settled)


def test_firing_alert_series_start_at_truth_fired_at(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    firing = raw_samples(url, 'ALERTS{alertstate="firing"}', truth.data_start, truth.data_end)
    by_name = {dict(k)["alertname"]: v for k, v in firing.items()}
    fired = {name for name, a in truth.alerts.items() if a.fired}
    assert set(by_name) == fired == {"PaymentsHighErrorRate", "CheckoutHighErrorRate"}
    step = truth.eval_interval
    for name, samples in by_name.items():
        alert = truth.alerts[name]
        assert len(alert.episodes) == 1, alert.episodes
        times = [t for t, _ in samples]
        assert times[0] == alert.fired_at, (name, times[0], alert.fired_at)
        assert times[-1] == alert.resolved_at - step, name
        assert all(v == 1.0 for _, v in samples)
        assert len(times) == round((alert.resolved_at - alert.fired_at) / step)  # no holes

    pending = raw_samples(url, 'ALERTS{alertstate="pending"}', truth.data_start, truth.data_end)
    by_name = {dict(k)["alertname"]: v for k, v in pending.items()}
    assert set(by_name) == set(truth.alerts)
    for name, samples in by_name.items():
        alert = truth.alerts[name]
        assert samples[0][0] == alert.pending_at, name
        last_pending = (alert.fired_at if alert.fired_at is not None else alert.resolved_at) - step
        assert samples[-1][0] == last_pending, name

    # the payments rule is the late one: threshold delay then the whole `for`
    pay = truth.alerts["PaymentsHighErrorRate"]
    assert pay.fired_at - pay.pending_at == 300
    assert truth.fault_at < pay.condition_true_at <= pay.pending_at < pay.condition_true_at + step
    assert pay.fired_at - truth.fault_at > 300  # later than late_alert_after=5m
    assert truth.detected_at == pay.fired_at
    chk = truth.alerts["CheckoutHighErrorRate"]
    assert chk.fired_at > pay.fired_at  # the slow rule fires later
    assert not truth.alerts["TargetDown"].fired


def test_alerts_for_state_holds_active_at(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    got = raw_samples(url, "ALERTS_FOR_STATE", truth.data_start, truth.data_end)
    by_name = {dict(k)["alertname"]: (dict(k), v) for k, v in got.items()}
    assert set(by_name) == set(truth.alerts)
    for name, (labels, samples) in by_name.items():
        alert = truth.alerts[name]
        assert "alertstate" not in labels
        assert labels == {"__name__": "ALERTS_FOR_STATE", **alert.primary.labels}
        assert {v for _, v in samples} == {alert.pending_at}, name
        assert samples[0][0] == alert.pending_at
        assert samples[-1][0] == alert.resolved_at - truth.eval_interval


def test_rules_api_serves_the_rules(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    groups = api(url, "/api/v1/rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == set(truth.alerts)
    assert all(g["interval"] == truth.eval_interval for g in groups)
    for name, alert in truth.alerts.items():
        rule = rules[name]
        assert rule["type"] == "alerting"
        assert rule["duration"] == alert.for_, name
        assert rule["labels"] == dict(alert.labels)
        assert rule["annotations"] == dict(alert.annotations)
        # the served query (Prometheus re-prints it) means the same thing as the truth's
        if alert.fired:
            at_fire = api(url, "/api/v1/query", query=rule["query"], time=alert.fired_at)["result"]
            assert at_fire, name
        before = api(url, "/api/v1/query", query=rule["query"], time=truth.fault_at - 600)["result"]
        assert before == [], name


def test_up_shows_the_scrape_gap(checkout_prometheus):
    url, truth, _ = checkout_prometheus
    (gap,) = truth.scrape_gaps
    assert (gap.job, gap.instance, gap.kind) == ("payments", "payments-1:8080", "failed")
    assert 240 <= gap.duration <= 360
    assert truth.fault_at < gap.start < truth.mitigated_at
    ups = raw_samples(url, f'up{{instance="{gap.instance}"}}', gap.start - 300, gap.end + 300)
    samples = only(ups)
    zeros = [t for t, v in samples if v == 0]
    assert zeros[0] == gap.start and len(zeros) == gap.scrapes
    assert zeros[-1] == gap.end - truth.scrape_interval
    assert all(v == 1 for t, v in samples if t < gap.start or t >= gap.end)
    # a failed scrape stores nothing else for the target
    reqs = raw_samples(
        url, f'http_requests_total{{instance="{gap.instance}",code="200"}}', gap.start - 300, gap.end + 300
    )
    times = [t for t, _ in only(reqs)]
    assert not [t for t in times if gap.start <= t < gap.end]
    holes = [(a, b) for a, b in itertools.pairwise(times) if b - a > 1.5 * truth.scrape_interval]
    assert holes == [(gap.last_ok, gap.end)]
    # the other instance of the job kept being scraped
    other = raw_samples(url, 'up{instance="payments-0:8080"}', gap.start, gap.end)
    assert all(v == 1 for _, v in only(other))


def test_rule_emulation_matches_prometheus_own_evaluation(checkout_prometheus):
    """Re-evaluate each served rule with the server's engine at every evaluation time; derive the
    alert states the way rules/alerting.go does and compare with the truth, exactly."""
    url, truth, _ = checkout_prometheus
    served = {r["name"]: r for g in api(url, "/api/v1/rules")["groups"] for r in g["rules"]}
    step = truth.eval_interval
    first = math.ceil((truth.data_start - truth.eval_offset) / step) * step + truth.eval_offset
    for name, alert in truth.alerts.items():
        rule = served[name]
        present: dict[float, set] = {}
        for s in query_range(url, rule["query"], first, truth.data_end, step):
            labels = {k: v for k, v in s["metric"].items() if k != "__name__"}
            labels.update(rule["labels"])
            labels["alertname"] = name
            for t, _ in s["values"]:
                present.setdefault(float(t), set()).add(labels_key(labels))
        active: dict[tuple, dict] = {}
        episodes = []
        t = first
        while t <= truth.data_end:
            now = present.get(t, set())
            for key in [k for k in active if k not in now]:
                a = active.pop(key)
                episodes.append((a["pending"], a["fired"], t))
            for key in now:
                a = active.setdefault(key, {"pending": t, "fired": None})
                if a["fired"] is None and t - a["pending"] >= rule["duration"]:
                    a["fired"] = t
            t += step
        episodes += [(a["pending"], a["fired"], None) for a in active.values()]
        expected = [(e.pending_at, e.fired_at, e.resolved_at) for e in alert.episodes]
        assert sorted(episodes, key=lambda e: e[0]) == expected, name


def test_rate_port_matches_prometheus_values(checkout_prometheus):
    """The Python rate() the rule conditions use gives Prometheus' own numbers, at every evaluation,
    across counter resets (deploy, rollback) and the scrape gap."""
    url, truth, _ = checkout_prometheus
    parts = build_checkout_incident(START)
    data = Data(parts.series)
    step = truth.eval_interval
    cases = [
        (
            'sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m]))',
            lambda t: sum_by(rate(data.select('http_requests_total{service="checkout",code=~"5.."}'), t, 60)),
        ),
        (
            'rate(http_requests_total{instance="payments-1:8080",code="200"}[5m])',
            lambda t: rate(data.select('http_requests_total{instance="payments-1:8080",code="200"}'), t, 300),
        ),
        (
            'increase(http_requests_total{instance="payments-0:8080",code="500"}[1m])',
            lambda t: increase(data.select('http_requests_total{instance="payments-0:8080",code="500"}'), t, 60),
        ),
    ]
    for query, ours in cases:
        theirs: dict[float, float] = {}
        for s in query_range(url, query, truth.data_start, truth.data_end, step):
            for t, v in s["values"]:
                theirs[float(t)] = float(v)
        t, compared = truth.data_start, 0
        while t <= truth.data_end:
            mine = list(ours(t).values())
            if t in theirs:
                assert len(mine) == 1 and mine[0] == pytest.approx(theirs[t], rel=1e-9, abs=1e-12), (query, t)
                compared += 1
            else:
                assert mine == [], (query, t)
            t += step
        assert compared > 900, query


def test_checkout_deploy_is_the_closer_decoy(checkout_prometheus):
    _, truth, changes = checkout_prometheus
    at = {c["id"]: datetime.fromisoformat(c["at"].replace("Z", "+00:00")).timestamp() for c in changes}
    by_id = {c["id"]: c for c in changes}
    culprit = by_id[truth.culprit_change_id]
    assert (culprit["service"], culprit["kind"]) == ("payments", "deploy")
    decoy = next(c for c in changes if c["service"] == "checkout")
    assert at[culprit["id"]] < at[decoy["id"]] < truth.fault_at
    assert {c["kind"] for c in changes} == {"deploy", "config_change", "rollback"}
    rollback = next(c for c in changes if c["kind"] == "rollback")
    assert at[rollback["id"]] == truth.mitigated_at
    for c in changes:
        assert set(c) == {"at", "service", "kind", "version", "id", "title", "author", "url"}
        assert c["at"].endswith("Z")


# ------------------------------------------------------------------------ the synthesizer alone


def test_scenario_is_deterministic_and_seeded():
    a = checkout_incident(START, seed=0)
    b = checkout_incident(START, seed=0)
    c = checkout_incident(START, seed=1)
    assert a.openmetrics == b.openmetrics and a.rules_yaml == b.rules_yaml
    assert a.truth.to_dict() == b.truth.to_dict()
    assert a.openmetrics != c.openmetrics
    assert a.openmetrics.endswith("\n# EOF\n")
    # the truth is robust to the noise: same story for another seed
    assert c.truth.alerts["PaymentsHighErrorRate"].fired
    assert (
        abs(c.truth.alerts["PaymentsHighErrorRate"].pending_at - a.truth.alerts["PaymentsHighErrorRate"].pending_at)
        <= 60
    )


def test_openmetrics_families_are_contiguous_and_sorted():
    parts = build_checkout_incident(START)
    text = parts.openmetrics()
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert families == sorted(families) and len(families) == len(set(families))
    assert "# TYPE http_requests counter" in text
    seen, current = set(), None
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            current = line.split()[2]
            seen.add(current)
        elif not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name.startswith(current), line
            ts = float(line.rsplit(" ", 1)[1])
            assert parts.truth.data_start <= ts <= parts.truth.data_end  # seconds, not ms
    counters = [s for s in parts.series if s.kind == "counter"]
    assert 10 <= len(parts.series) <= 24
    for s in counters:
        drops = [i for i in range(1, len(s.values)) if s.values[i] < s.values[i - 1]]
        assert len(drops) <= 2, s.labels  # only the deploy/rollback restarts


def test_to_openmetrics_refuses_what_promtool_would_drop():
    syn = Synth(1_795_000_000, 1_795_000_060, seed=3)
    tgt = syn.target("api", "a:1")
    s = tgt.gauge("temperature_celsius", {}, lambda t: 20.0)
    s.t_ms.append(s.t_ms[0])  # out of order
    s.values.append(1.0)
    with pytest.raises(ValueError, match="out of order"):
        to_openmetrics([s])
    with pytest.raises(ValueError, match="_total"):
        tgt.counter("requests", {}, lambda t: 1.0)


def test_rate_helper_is_prometheus_extrapolated_rate():
    syn = Synth(1_795_000_000, 1_795_000_600, seed=0)
    tgt = syn.target("api", "a:1", offset=5.0)
    s = tgt.counter("requests_total", {}, lambda t: 2.0, noise=None)
    data = Data(syn.all_series())
    # samples every 15 s growing by exactly 30: a 1m window holds 4 or 5 samples and the
    # extrapolation brings the estimate back to exactly 2/s either way
    for t in (1_795_000_120, 1_795_000_125, 1_795_000_131.5):
        (v,) = rate(data.select("requests_total"), t, 60).values()
        assert v == pytest.approx(2.0)
    assert rate([s], 1_795_000_010, 60) == {}  # one sample: no rate


def test_scrape_gap_kinds():
    syn = Synth(1_795_000_000, 1_795_003_600, seed=0)
    failed = syn.target("a", "a:1").add_gap(1_795_001_000, 1_795_001_300, kind="failed")
    missing = syn.target("b", "b:1").add_gap(1_795_001_000, 1_795_001_300, kind="missing")
    for tgt in (failed, missing):
        tgt.counter("x_total", {}, lambda t: 1.0)
    series = {(s.name, s.labels["job"]): s for s in syn.all_series()}
    in_gap = lambda s: [t for t in s.times if 1_795_001_000 <= t < 1_795_001_300]  # noqa: E731
    assert len(in_gap(series["up", "a"])) == 20
    assert {series["up", "a"].value_at(t) for t in in_gap(series["up", "a"])} == {0.0}
    assert in_gap(series["up", "b"]) == []
    assert in_gap(series["x_total", "a"]) == in_gap(series["x_total", "b"]) == []
    gaps = {g.job: g for g in syn.gaps()}
    assert (gaps["a"].kind, gaps["a"].start, gaps["a"].end, gaps["a"].scrapes) == (
        "failed",
        1_795_001_010,
        1_795_001_310,
        20,
    )
    assert gaps["b"].kind == "missing"
    # staleness as a live server would have written it: the counter vanishes at the first failed scrape
    x = series["x_total", "a"]
    assert x.value_at(1_795_001_009) is not None and x.value_at(1_795_001_011) is None
    # the process kept counting through the gap
    before, after = x.value_at(1_795_001_000), x.value_at(1_795_001_320)
    assert after - before > 200


def test_for_zero_fires_at_first_true_evaluation_in_a_real_server(local_prometheus):
    """A tiny incident of its own: a target disappears from discovery (no `up` at all) and a
    `for: 0` rule on a gauge; checks the emulation against a fresh server."""
    t0 = 1_795_000_005  # a multiple of 15 s
    t1 = t0 + 3600
    syn = Synth(t0, t1, seed=7)
    tgt = syn.target("queue", "q:9100", offset=1.0).add_gap(t0 + 1800, t0 + 2400, kind="missing")
    tgt.gauge("queue_depth", {"queue": "orders"}, lambda t: 500.0 if t0 + 900 <= t < t0 + 1500 else 10.0, noise=0.01)
    jobs = tgt.counter("jobs_processed_total", {"queue": "orders"}, lambda t: 3.0)
    series = syn.all_series()
    rule = AlertRule(
        "QueueBacklog",
        'queue_depth{queue="orders"} > 100',
        lambda d, t: gt(instant(d.select('queue_depth{queue="orders"}'), t), 100),
        for_=0,
        labels={"severity": "page"},
    )
    ev = evaluate_rules([rule], series, start=t0, end=t1)
    backlog = ev.alerts["QueueBacklog"]
    # scrapes at t0+1+15k see 500 from t0+901; evaluations at t0+15k
    assert backlog.pending_at == backlog.fired_at == t0 + 915
    assert backlog.resolved_at == t0 + 1515
    assert backlog.condition_true_at == t0 + 901
    prom = local_prometheus(to_openmetrics([*series, *ev.series]), rules_yaml([rule]))
    got = raw_samples(prom.url, 'ALERTS{alertname="QueueBacklog"}', t0, t1)
    assert {dict(k)["alertstate"] for k in got} == {"firing"}
    times = [t for t, _ in only(got)]
    assert (times[0], times[-1]) == (t0 + 915, t0 + 1500)
    # range windows are closed on both ends in 2.x: at a scrape time the window [t-1m, t] holds 5
    # samples; the Python rate() agrees with the server exactly there too
    got = query_range(prom.url, "rate(jobs_processed_total[1m])", t0 + 301, t0 + 1201, 15)
    values = {float(t): float(v) for t, v in only({0: got[0]})["values"]}
    assert len(values) == 61
    for t, v in values.items():
        assert list(rate([jobs], t, 60).values()) == [pytest.approx(v, rel=1e-12)], t
    count = api(prom.url, "/api/v1/query", query="count_over_time(jobs_processed_total[1m])", time=t0 + 301)
    assert count["result"][0]["value"][1] == "5"
    ups = [t for t, _ in only(raw_samples(prom.url, 'up{job="queue"}', t0, t1))]
    assert not [t for t in ups if t0 + 1800 <= t < t0 + 2400]
    # the target-missing kind leaves no up=0 either: only absence tells it
    zero = api(prom.url, "/api/v1/query", query='up{job="queue"} == 0', time=t0 + 2000)["result"]
    assert zero == []
    absent = api(prom.url, "/api/v1/query", query='absent_over_time(up{job="queue"}[1m])', time=t0 + 2000)
    assert absent["result"] and absent["result"][0]["value"][1] == "1"


def test_backfilled_series_linger_for_the_lookback(checkout_prometheus):
    """Documented pitfall, pinned: no staleness markers in backfilled data, so an instant query keeps
    returning a series' last value for 5 minutes after it stopped (the live server would not)."""
    url, truth, _ = checkout_prometheus
    gap = truth.scrape_gaps[0]
    sel = f'http_requests_total{{instance="{gap.instance}",code="200"}}'
    mid = api(url, "/api/v1/query", query=sel, time=gap.last_ok + 240)["result"]
    assert mid and float(mid[0]["value"][0]) == gap.last_ok + 240
    gone = api(url, "/api/v1/query", query=sel, time=gap.last_ok + 301)["result"]
    assert gone == []


def test_missing_binary_error_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("DOSSIER_PROMETHEUS_BIN", str(tmp_path / "nope"))
    with pytest.raises(PrometheusNotInstalled, match="DOSSIER_PROMETHEUS_BIN"):
        find_binary("prometheus", "DOSSIER_PROMETHEUS_BIN")
    monkeypatch.delenv("DOSSIER_PROMETHEUS_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrometheusNotInstalled, match="apt-get install prometheus"):
        find_binary("prometheus", "DOSSIER_PROMETHEUS_BIN")


def test_promtool_errors_carry_its_stderr(local_prometheus):
    bad = "# TYPE x gauge\nx 1 1795000000\n"  # no "# EOF"
    with pytest.raises(Exception, match="EOF") as info:
        local_prometheus(bad)
    assert "promtool failed" in str(info.value)


def test_server_that_dies_at_startup_reports_its_log(local_prometheus):
    with pytest.raises(PrometheusStartError, match=r"rules\.yml") as info:
        local_prometheus(None, "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'sum(('\n")
    assert "exited during startup" in str(info.value)


def test_openmetrics_from_a_file(local_prometheus, tmp_path):
    path = tmp_path / "x.om"
    path.write_text("# TYPE x gauge\nx 7 1795000000\n# EOF\n")
    for given in (path, str(path)):
        prom = local_prometheus(given)
        (hit,) = api(prom.url, "/api/v1/query", query="x", time=1795000000)["result"]
        assert hit["value"][1] == "7"
        prom.stop()


def test_local_prometheus_stops_and_cleans_up(local_prometheus, tmp_path):
    prom = local_prometheus("# TYPE x gauge\nx 1 1795000000\n# EOF\n")
    workdir, proc = prom.workdir, prom.process
    assert api(prom.url, "/api/v1/query", query="x", time=1795000000)["result"]
    prom.stop()
    assert proc.poll() is not None
    assert not workdir.exists()
    kept = tmp_path / "kept"
    prom = local_prometheus("# TYPE x gauge\nx 1 1795000000\n# EOF\n", workdir=kept)
    proc = prom.process
    prom.stop()
    assert proc.poll() is not None
    assert (kept / "prometheus.yml").exists() and (kept / "data").is_dir()
