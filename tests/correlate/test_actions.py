"""correlate.actions: what to replay, and the action items from reviews, gaps and replay results."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest

from correlate import actions
from dossier.model import ReplayOutcome, ReplayResult, Series
from tests.exporters.builders import T0, at, checkout_dossier

HISTORY_END = T0 + timedelta(hours=2)
LATENCY = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="payments"}[5m])))'


def _result(replay, outcomes, *, error=None, firings=None):
    """A ReplayResult for `replay`: outcomes {for: (fired minute, firings)}."""
    return ReplayResult(
        key=replay.key,
        source=replay.source,
        expr=replay.expr,
        error=error,
        interval=15.0,
        phase=0.0,
        phase_from="ALERTS",
        outcomes=tuple(
            ReplayOutcome(
                for_seconds=f,
                active_at=at(m - f / 60) if m is not None else None,
                fired_at=at(m) if m is not None else None,
                firings=n,
            )
            for f, (m, n) in outcomes.items()
        ),
        history_start=HISTORY_END - timedelta(days=30),
        history_end=HISTORY_END,
    )


def _with_latency(d):
    """The builder's payments latency series with values: ~0.2 s in the baseline, ~1.8 s from 10:02."""
    times = tuple(float((T0 - timedelta(hours=1)).timestamp() + 15 * i) for i in range(4 * 60 * 3))
    values = tuple(
        (1.8 if t >= at(2).timestamp() and t < at(44).timestamp() else 0.2) + 0.01 * (i % 3)
        for i, t in enumerate(times)
    )
    series = tuple(
        dataclasses.replace(
            s,
            times=times,
            values=values,
            query=LATENCY,
        )
        if s.signal == "latency_p99"
        else s
        for s in d.series
    )
    return dataclasses.replace(d, series=series)


def test_plan_replays_the_late_alert_with_shorter_fors_and_the_never_fired_one():
    d = checkout_dossier()
    replays = actions.plan(d)
    late = next(r for r in replays if r.alert == "HighErrorRate")
    assert late.expr == next(r.expr for r in d.alert_review if r.alert == "HighErrorRate")
    assert late.for_candidates == (300.0, 0.0, 30.0, 60.0, 120.0, 180.0)  # as it is first, then shorter
    assert late.source == "prometheus/prod" and late.history == 30 * 86400
    assert late.end == d.incident.end and late.start < d.incident.start
    slo = next(r for r in replays if r.alert == "PaymentsSLOBurn")  # pending, never fired
    assert slo.for_candidates[0] == 3600.0 and max(slo.for_candidates[1:]) == 1800.0
    assert actions.plan(d) == replays  # pure, stable


def test_late_alert_gets_its_counterfactual_in_words_and_numbers():
    d = checkout_dossier()
    late = next(r for r in actions.plan(d) if r.alert == "HighErrorRate")
    # fired at 10:08:15 as it is; the onset is 10:02:15; late_alert_after 5m: for 2m fires 10:05:15
    outcomes = {
        300.0: (8.25, 2),
        0.0: (3.25, 41),
        30.0: (3.75, 12),
        60.0: (4.25, 6),
        120.0: (5.25, 5),
        180.0: (6.25, 3),
    }
    items = actions.build(d, [_result(late, outcomes)], late_alert_after=300.0)
    item = next(i for i in items if i.alert == "HighErrorRate")
    assert (item.cause, item.kind, item.service) == ("systemic", "tune_alert", "checkout")
    # the longest `for` that fires within 5m of the onset (10:02:15 + 5m = 10:07:15): 3m fires 10:06:15
    assert item.title == "Shorten the `for` of HighErrorRate from 5m to 3m"
    assert (
        "With `for: 3m` HighErrorRate would have fired at 2026-11-20T10:06:15Z, 2m 0s earlier; over the 30 days "
        "before 2026-11-20T12:00:00Z it would have fired once more (3 instead of 2)." in item.reason
    )
    cf = item.counterfactual
    assert cf is not None and cf.for_seconds == 180.0 and cf.earlier_by == 120.0
    assert (cf.firings, cf.firings_now) == (3, 2) and cf.fired_at == at(6.25) and cf.actual_fired_at == at(8.25)
    assert "for: 3m" in item.rule and "alert: HighErrorRate" in item.rule
    assert item.evidence == next(g.evidence for g in d.detection_gaps if g.kind == "late_alert")


def test_a_replay_that_does_not_reproduce_history_says_so():
    d = checkout_dossier()
    late = next(r for r in actions.plan(d) if r.alert == "HighErrorRate")
    outcomes = {300.0: (9.0, 2), 0.0: (3.25, 9), 30.0: (3.75, 9), 60.0: (4.25, 6), 120.0: (5.25, 5), 180.0: (6.25, 3)}
    (item,) = [i for i in actions.build(d, [_result(late, outcomes)]) if i.alert == "HighErrorRate"]
    assert "fires at 2026-11-20T10:09:00Z, not at 2026-11-20T10:08:15Z as recorded" in item.reason


def test_a_failed_replay_is_stated_not_hidden():
    d = checkout_dossier()
    late = next(r for r in actions.plan(d) if r.alert == "HighErrorRate")
    err = "GET /api/v1/query_range: HTTP 503: unavailable"
    (item,) = [i for i in actions.build(d, [_result(late, {}, error=err)]) if i.alert == "HighErrorRate"]
    assert item.counterfactual is None and item.checked == f"prometheus/prod: {err}"
    assert item.reason.endswith(f"Replaying its rule on prometheus/prod failed: {err}.")


def test_never_fired_alert_gets_the_longest_for_that_would_have_fired():
    d = checkout_dossier()
    slo = next(r for r in actions.plan(d) if r.alert == "PaymentsSLOBurn")
    outcomes = {f: ((15.5 + f / 60, 1) if f <= 180 else (None, 0)) for f in slo.for_candidates}
    (item,) = [i for i in actions.build(d, [_result(slo, outcomes)]) if i.alert == "PaymentsSLOBurn"]
    assert item.title == "Shorten the `for` of PaymentsSLOBurn from 1h to 3m"
    assert "went pending at 2026-11-20T10:15:30Z and stopped" in item.reason
    assert "once more (1 instead of 0)" in item.reason


def test_unalerted_signal_gets_a_rule_from_its_baseline_checked_by_the_server():
    d = _with_latency(checkout_dossier())
    new = next(r for r in actions.plan(d) if r.key == actions._key("new", "prometheus/prod", "payments", "latency_p99"))
    # halfway between the baseline's highest (0.22) and the anomaly's median (1.81), two digits
    assert new.expr.endswith(" > 1") and new.expr.startswith("histogram_quantile(0.99, ")
    assert new.alert == "PaymentsLatencyP99High" and new.for_candidates == actions.NEW_RULE_FORS
    outcomes = {0.0: (2.25, 9), 60.0: (3.25, 2), 120.0: (4.25, 1), 300.0: (9.25, 1)}  # 5m: too late
    item = next(i for i in actions.build(d, [_result(new, outcomes)]) if i.kind == "new_alert")
    assert item.title == "Alert on latency_p99 of payments: PaymentsLatencyP99High"
    assert "with `for: 2m` it would have fired at 2026-11-20T10:04:15Z" in item.reason
    assert "it would have fired once" in item.reason
    assert item.checked == "parsed and evaluated by prometheus/prod (15s evaluations)"
    assert item.rule.splitlines()[:3] == [
        "- alert: PaymentsLatencyP99High",
        f'  expr: "{new.expr.replace(chr(34), chr(92) + chr(34))}"',
        "  for: 2m",
    ]
    refused = _result(new, {}, error="GET /api/v1/query_range: HTTP 400: bad_data: parse error")
    item = next(i for i in actions.build(d, [refused]) if i.kind == "new_alert")
    assert item.rule is None and "was refused by prometheus/prod" in item.reason


@pytest.mark.parametrize(
    ("expr", "lowered"),
    [
        ("sum(rate(x[5m])) > 5", ("sum(rate(x[5m])) > 2.5", 5.0, 2.5)),
        ("a / b >= 0.05", ("a / b >= 0.025", 0.05, 0.025)),
        ("up == 0", None),
        ("x < 3", None),
        ("x > 5 unless y", None),
        ("x > -1", None),
    ],
)
def test_lowered_threshold(expr, lowered):
    assert actions._lowered(expr) == lowered


def test_proposed_threshold_for_a_signal_that_goes_down():
    s = Series(
        id="s",
        source="p",
        signal="throughput",
        service="x",
        labels={},
        query="q",
        times=tuple(float(i) for i in range(20)),
        values=tuple([10.0] * 10 + [2.0] * 10),
        direction="down",
    )
    from dossier.model import from_epoch

    assert actions.proposed_threshold(s, from_epoch(10), from_epoch(10), from_epoch(19)) == 6.0
    flat = dataclasses.replace(s, values=tuple([10.0] * 20))
    assert actions.proposed_threshold(flat, from_epoch(10), from_epoch(10), from_epoch(19)) is None
    nan = dataclasses.replace(s, values=tuple([math.nan] * 20))
    assert actions.proposed_threshold(nan, from_epoch(10), from_epoch(10), None) is None


def test_proximate_cause_and_systemic_weaknesses_apart():
    d = checkout_dossier()
    items = actions.build(d)
    assert items[0].cause == "proximate" and items[0].kind == "fix_change"
    assert items[0].evidence == (d.candidate_causes[0].evidence,)
    assert "Ranked first of 2 candidate causes (score 0.76)" in items[0].reason
    assert all(i.cause == "systemic" for i in items[1:])
    blind = next(i for i in items if i.kind == "fix_blind_spot")
    assert blind.target == "payments-1:9100" and blind.title == "Fix payments-1:9100: metrics went dark"
    assert next(i for i in items if i.kind == "restore_source").title == "Restore the source elasticsearch/logs"
    none = actions.build(dataclasses.replace(d, candidate_causes=()))
    assert none[0].title == "Find the proximate cause: no change qualified as a candidate"
    assert len({i.id for i in items}) == len(items)


def test_build_is_pure_whatever_the_order_of_results():
    d = _with_latency(checkout_dossier())
    replays = actions.plan(d)
    results = [_result(r, {f: (10.0, 1) for f in r.for_candidates}) for r in replays]
    assert actions.build(d, results) == actions.build(d, list(reversed(results)))
