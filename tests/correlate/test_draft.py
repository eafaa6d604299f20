"""correlate.draft on hand-built evidence: pure, order-independent, and right about the story."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from correlate import draft
from correlate.causes import rank
from correlate.gaps import metric_names
from dossier.codec import dossier_to_dict
from dossier.model import (
    AlertRule,
    CorrelateSettings,
    Event,
    Evidence,
    Incident,
    Series,
    ServiceInfo,
    SourceReport,
    stable_id,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FAULT = T0 + timedelta(minutes=5)
SETTINGS = CorrelateSettings(
    baseline=3600,
    late_alert_after=300,
    cause_lookback=7200,
    services=(ServiceInfo("checkout", depends_on=("payments",)), ServiceInfo("payments")),
)
INCIDENT = Incident(id="INC-1", title="t", start=T0, end=T0 + timedelta(hours=1), services=("checkout", "payments"))


def step_series(service: str, signal: str, rise_at: datetime, seed: int, *, fall_at: datetime | None = None) -> Series:
    rng = random.Random(seed)
    times, values = [], []
    t = T0 - timedelta(hours=1)
    while t <= INCIDENT.end:
        bad = rise_at <= t and (fall_at is None or t < fall_at)
        times.append(t.timestamp())
        values.append((5.0 if bad else 1.0) + rng.gauss(0, 0.1))
        t += timedelta(seconds=15)
    return Series(
        id=stable_id("prom", service, signal),
        source="prometheus/p",
        signal=signal,
        service=service,
        labels={},
        query=f'sum(rate(http_requests_total{{service="{service}"}}[1m]))',
        times=tuple(times),
        values=tuple(values),
        step=15.0,
        request="r1",
    )


def change(service: str | None, at: datetime, kind: str = "deploy", source: str = "deploy_file/c") -> Event:
    return Event(
        id=stable_id(source, str(service), at.isoformat()),
        at=at,
        kind=kind,
        source=source,
        service=service,
        title=f"{kind} {service}",
        request="r2",
    )


def alert_events(name: str, service: str, pending: datetime, fired: datetime, resolved: datetime) -> list[Event]:
    attrs = {"alertname": name, "labels": {"service": service}, "active_at": pending.isoformat()}
    return [
        Event(stable_id(name, k), at, k, "prometheus/p", f"{name} {k}", service=service, attrs=attrs, request="r3")
        for k, at in (("alert_pending", pending), ("alert_firing", fired), ("alert_resolved", resolved))
    ]


SOURCES = (
    SourceReport("prometheus/p", "prometheus", "ok", None, 3, 0.1, kinds=("alert", "metric")),
    SourceReport("deploy_file/c", "deploy_file", "ok", None, 3, 0.0, kinds=("change",)),
)


def evidence(*, changes: list[Event] | None = None) -> Evidence:
    events = [
        *alert_events(
            "PaymentsErrors",
            "payments",
            FAULT + timedelta(minutes=1),
            FAULT + timedelta(minutes=6),
            FAULT + timedelta(minutes=30),
        ),
        *(
            changes
            if changes is not None
            else [
                change("payments", FAULT - timedelta(minutes=10)),
                change("checkout", FAULT - timedelta(minutes=1)),
                change("inventory", FAULT - timedelta(minutes=2)),
            ]
        ),
    ]
    return Evidence(
        events=tuple(events),
        series=(
            step_series("payments", "error_rate", FAULT, 1, fall_at=FAULT + timedelta(minutes=25)),
            step_series(
                "checkout", "error_rate", FAULT + timedelta(minutes=2), 2, fall_at=FAULT + timedelta(minutes=26)
            ),
        ),
        sources=SOURCES,
    )


def test_story():
    d = draft(INCIDENT, evidence(), SETTINGS, generated_at=T0)
    assert abs((d.milestones.started - FAULT).total_seconds()) <= 30
    assert d.milestones.detected == FAULT + timedelta(minutes=6)
    assert abs((d.milestones.recovered - (FAULT + timedelta(minutes=26))).total_seconds()) <= 60
    by_id = {t.event.id: t.event for t in d.timeline}
    top = by_id[d.candidate_causes[0].evidence]
    assert top.service == "payments"  # earlier, but where the anomaly started first
    assert [by_id[c.evidence].service for c in d.candidate_causes] == ["payments", "checkout"]
    assert "inventory" not in {by_id[c.evidence].service for c in d.candidate_causes}
    assert [g.kind for g in d.detection_gaps] == ["late_alert", "unalerted_signal"]
    unalerted = d.detection_gaps[1]
    assert unalerted.service == "checkout"
    phases = {t.event.kind: t.phase for t in d.timeline}
    assert phases["alert_firing"] == "detection" and phases["anomaly_end"] == "recovery"


def test_dependency_outranks_a_closer_change_downstream():
    ranked = rank(
        [change("checkout", FAULT - timedelta(seconds=20)), change("payments", FAULT - timedelta(minutes=50))],
        onset=FAULT,
        origin="checkout",
        first_anomaly={"checkout": FAULT},
        scope={"checkout"},
        settings=SETTINGS,
    )
    # checkout is where it started: its own deploy wins; payments is its dependency: second
    assert [e.service for _, e in ranked] == ["checkout", "payments"]
    assert any("depends on payments" in r for r in ranked[1][0].reasons)


def test_changes_after_the_onset_or_before_the_lookback_do_not_qualify():
    ranked = rank(
        [change("payments", FAULT + timedelta(minutes=3)), change("payments", FAULT - timedelta(hours=3))],
        onset=FAULT,
        origin="payments",
        first_anomaly={"payments": FAULT},
        scope={"payments"},
        settings=SETTINGS,
    )
    assert ranked == []


def test_no_change_no_cause_and_negative_evidence():
    d = draft(
        INCIDENT, evidence(changes=[change("inventory", FAULT - timedelta(minutes=2))]), SETTINGS, generated_at=T0
    )
    assert d.candidate_causes == ()
    assert d.negative_evidence == (
        "deploy_file/c: no deploy, config change, feature flag or rollback of checkout, payments "
        "or their dependencies in the 2h 0m before the onset (2026-11-20T10:05:00Z)",
        # every change in the look-back that is not a candidate says why
        "deploy inventory (deploy of inventory 2m 0s before the onset): inventory is not in the blast radius "
        "(the incident's services, those that went wrong, and their dependencies: checkout, payments)",
    )


def test_without_change_source_says_so():
    ev = evidence(changes=[])
    ev = Evidence(events=ev.events, series=ev.series, sources=SOURCES[:1])
    d = draft(INCIDENT, ev, SETTINGS, generated_at=T0)
    assert d.negative_evidence == ("no change source is configured: deploys and config changes were not checked",)


def test_declared_before_any_alert_is_human_detected():
    inc = Incident(
        **{**{f: getattr(INCIDENT, f) for f in INCIDENT.__slots__}, "declared_at": FAULT + timedelta(minutes=2)}
    )
    d = draft(inc, evidence(), SETTINGS, generated_at=T0)
    assert d.milestones.detected == FAULT + timedelta(minutes=2)
    kinds = [g.kind for g in d.detection_gaps]
    assert "human_detected" in kinds
    # people were first, and payments' own alert was still late for payments' onset: both are true
    late = [g for g in d.detection_gaps if g.kind == "late_alert"]
    assert [(g.service, g.signal) for g in late] == [("payments", "error_rate")]


def test_failed_source_is_a_gap():
    ev = evidence()
    failed = SourceReport("deploy_file/c", "deploy_file", "failed", "file missing", 0, 0.0, kinds=("change",))
    d = draft(
        INCIDENT, Evidence(events=ev.events, series=ev.series, sources=(SOURCES[0], failed)), SETTINGS, generated_at=T0
    )
    gap = next(g for g in d.detection_gaps if g.kind == "source_unavailable")
    assert "deploy_file/c: file missing" in gap.explanation
    assert any("could not be read" in n for n in d.negative_evidence)


def test_metric_names():
    assert metric_names('sum(rate(http_requests_total{service="a",code=~"5.."}[5m])) by (code) > 1e3') == {
        "http_requests_total"
    }
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(lat_bucket[5m]))) / on(x) group_left up") == {
        "lat_bucket",
        "up",
    }


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_same_evidence_in_any_order_gives_the_same_draft(rnd):
    ev = evidence()
    events, series = list(ev.events), list(ev.series)
    rnd.shuffle(events)
    rnd.shuffle(series)
    shuffled = Evidence(events=tuple(events), series=tuple(series), sources=tuple(reversed(ev.sources)))
    a = dossier_to_dict(draft(INCIDENT, ev, SETTINGS, generated_at=T0))
    b = dossier_to_dict(draft(INCIDENT, shuffled, SETTINGS, generated_at=T0))
    assert a == b
    assert not any(isinstance(v, float) and math.isnan(v) for v in a["durations"].values() if v is not None)


def test_a_change_undone_just_before_recovery_outranks_a_closer_one():
    old = change("payments", FAULT - timedelta(minutes=50))
    old = Event(**{**{f: getattr(old, f) for f in Event.__slots__}, "attrs": {"id": "d-41", "version": "v2"}})
    close = change("payments", FAULT - timedelta(minutes=5), kind="config_change")
    rollback = Event(
        id="rb",
        at=FAULT + timedelta(minutes=20),
        kind="rollback",
        source="deploy_file/c",
        service="payments",
        title="roll back payments",
        attrs={"reverts": "d-41"},
    )
    ranked = rank(
        [old, close, rollback],
        onset=FAULT,
        origin="payments",
        first_anomaly={"payments": FAULT},
        scope={"payments"},
        settings=SETTINGS,
        recovered=FAULT + timedelta(minutes=22),
    )
    assert [e.id for _, e in ranked] == [old.id, close.id]
    assert any("rolled back at" in r and "recovered 2m 0s later" in r for r in ranked[0][0].reasons)
    # without the recovery, time decides
    plain = rank(
        [old, close, rollback],
        onset=FAULT,
        origin="payments",
        first_anomaly={"payments": FAULT},
        scope={"payments"},
        settings=SETTINGS,
    )
    assert [e.id for _, e in plain] == [close.id, old.id]


def test_size_is_a_reason():
    big = change("payments", FAULT - timedelta(minutes=5))
    big = Event(
        **{
            **{f: getattr(big, f) for f in Event.__slots__},
            "attrs": {"additions": 900, "deletions": 300, "changed_files": 41},
        }
    )
    ranked = rank(
        [big], onset=FAULT, origin="payments", first_anomaly={"payments": FAULT}, scope={"payments"}, settings=SETTINGS
    )
    assert "a large change: 1200 lines in 41 files" in ranked[0][0].reasons


def test_cause_scores_are_on_a_zero_to_one_scale_and_are_the_product_of_their_factors():
    d = draft(INCIDENT, evidence(), SETTINGS, generated_at=T0)
    assert d.candidate_causes
    for c in d.candidate_causes:
        assert 0.0 <= c.score <= 1.0
        assert set(c.factors) >= {"where", "when", "what"}
        assert all(0.0 <= f <= 1.0 for f in c.factors.values())
        assert c.score == pytest.approx(math.prod(c.factors.values()), abs=0.001)


def test_each_service_s_first_alert_is_judged_against_its_own_onset_and_the_delays_add_up():
    ev = evidence()
    late_checkout = alert_events(
        "CheckoutErrors",
        "checkout",
        FAULT + timedelta(minutes=9),
        FAULT + timedelta(minutes=10),
        FAULT + timedelta(minutes=30),
    )
    d = draft(
        INCIDENT,
        Evidence(events=(*ev.events, *late_checkout), series=ev.series, sources=SOURCES),
        SETTINGS,
        generated_at=T0,
    )
    late = {g.service: g for g in d.detection_gaps if g.kind == "late_alert"}
    assert set(late) == {"payments", "checkout"}
    checkout_onset = FAULT + timedelta(minutes=2)  # checkout went wrong 2 minutes after payments
    assert abs((late["checkout"].start - checkout_onset).total_seconds()) <= 30
    assert late["checkout"].end == FAULT + timedelta(minutes=10)
    assert "CheckoutErrors" in late["checkout"].explanation
    for row in d.alert_review:
        parts = sum(v or 0.0 for k, v in row.delays.items() if k != "notify")
        assert parts == pytest.approx((row.fired_at - row.onset).total_seconds())


def test_an_alert_that_only_went_pending_is_a_finding_not_a_resolved_alert():
    ev = evidence()
    attrs = {"alertname": "TargetDown", "labels": {"job": "payments", "instance": "p-1:80"}, "active_at": "x"}
    pend, stop = FAULT + timedelta(minutes=8), FAULT + timedelta(minutes=13)
    target_down = [
        Event("td-p", pend, "alert_pending", "prometheus/p", "TargetDown pending", attrs=attrs, end=stop),
        Event("td-r", stop, "alert_resolved", "prometheus/p", "TargetDown resolved", attrs=attrs),
    ]
    gap = Event(
        "gap-1",
        pend - timedelta(seconds=5),
        "telemetry_gap",
        "prometheus/p",
        "scrape failed for payments (p-1:80)",
        service="payments",
        end=stop - timedelta(seconds=5),
        attrs={"reason": "scrape failed (up == 0)", "instance": "p-1:80", "job": "payments"},
    )
    rule = AlertRule("TargetDown", "up == 0", 600.0, "prometheus/p")
    d = draft(
        INCIDENT,
        Evidence(events=(*ev.events, *target_down, gap), series=ev.series, rules=(rule,), sources=SOURCES),
        SETTINGS,
        generated_at=T0,
    )
    row = next(r for r in d.alert_review if r.alert == "TargetDown")
    assert row.service == "payments" and row.fired_at is None
    assert "without firing" in row.finding and "for: 10m 0s" in row.finding and "5m 0s" in row.finding
    titles = {t.event.id: t.event.title for t in d.timeline}
    assert titles["td-r"] == "TargetDown stopped pending after 5m 0s without firing"
    blind = next(g for g in d.detection_gaps if g.kind == "blind_spot")
    assert (blind.target, blind.telemetry) == ("p-1:80", "metrics")
    assert blind.explanation.startswith("no metrics from p-1:80 (a scrape target of payments)")
    assert "TargetDown went pending" in blind.explanation


def test_an_unknown_incident_service_is_a_note_and_the_draft_does_not_contradict_itself():
    inc = Incident(id="INC-1", title="t", start=T0, end=T0 + timedelta(hours=1), services=("chekout",))
    d = draft(inc, evidence(), SETTINGS, generated_at=T0)
    assert any("'chekout'" in n and "checkout" in n.split("evidence:")[1] for n in d.notes), d.notes
    # the draft covers the services that have evidence: the firing alert is the detection, not "no alert fired"
    assert d.milestones.detected == FAULT + timedelta(minutes=6)
    assert not any(g.kind == "human_detected" for g in d.detection_gaps)


def test_a_relapse_is_the_same_episode_and_recovery_waits_for_it():
    rise2, fall2 = FAULT + timedelta(minutes=30), FAULT + timedelta(minutes=40)
    first = step_series("payments", "error_rate", FAULT, 1, fall_at=FAULT + timedelta(minutes=20))
    again = step_series("payments", "error_rate", rise2, 1, fall_at=fall2)
    values = tuple(max(a, b) for a, b in zip(first.values, again.values, strict=True))
    s = Series(**{**{f: getattr(first, f) for f in Series.__slots__}, "values": values})
    d = draft(INCIDENT, Evidence(series=(s,), sources=SOURCES), SETTINGS, generated_at=T0)
    assert d.milestones.recovered is not None
    assert abs((d.milestones.recovered - fall2).total_seconds()) <= 60


def test_a_long_window_keeps_the_baseline_next_to_the_onset():
    """Three days of a daily cycle, a fault near the end: the onset is the fault, not the first
    afternoon the cycle rose above the hour before the window."""
    start = T0
    end = start + timedelta(days=3)
    fault = end - timedelta(hours=5)
    rng = random.Random(7)
    times, values = [], []
    t = start - timedelta(hours=1)
    while t <= end:
        hour = (t.timestamp() % 86400) / 3600
        level = 10 + 3 * math.sin(2 * math.pi * hour / 24) + (20 if fault <= t < fault + timedelta(minutes=30) else 0)
        times.append(t.timestamp())
        values.append(level + rng.gauss(0, 0.5))
        t += timedelta(minutes=1)
    s = Series(
        id="s-long",
        source="prometheus/p",
        signal="rps",
        service="payments",
        labels={},
        query="sum(rate(x_total[1m]))",
        times=tuple(times),
        values=tuple(values),
        step=60.0,
    )
    inc = Incident(
        id="INC-L", title="t", start=start, end=end, services=("payments",), declared_at=fault + timedelta(minutes=10)
    )
    d = draft(inc, Evidence(series=(s,), sources=SOURCES), SETTINGS, generated_at=T0)
    assert d.milestones.started is not None
    assert abs((d.milestones.started - fault).total_seconds()) <= 300, d.milestones.started
    unalerted = [g for g in d.detection_gaps if g.kind == "unalerted_signal"]
    assert len(unalerted) == 1
