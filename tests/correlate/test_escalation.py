"""Pages, acknowledgements and the incident channel in the draft: the `acknowledged` and
`mitigated` milestones, the notify delay of the alert review, and each event in its phase."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

from correlate import draft
from dossier.model import Event, stable_id
from tests.correlate.test_draft import FAULT, INCIDENT, SETTINGS, SOURCES, change, evidence

FIRED = FAULT + timedelta(minutes=6)  # PaymentsErrors fires here (test_draft.evidence)


def ev(kind: str, at, title: str, service: str | None = "payments", source: str = "pagerduty/p", **attrs) -> Event:
    return Event(stable_id(source, kind, title), at, kind, source, title, service=service, attrs=attrs, request="r9")


def message(at, text: str, intent: str | None, **attrs) -> Event:
    return ev("message", at, text, service=None, source="slack/inc", intent=intent, **attrs)


def people() -> list[Event]:
    return [
        ev("page", FIRED + timedelta(seconds=40), "PagerDuty #7 triggered", alertname="PaymentsErrors"),
        ev("notification", FIRED + timedelta(seconds=45), "responder 1 notified by sms"),
        ev("ack", FIRED + timedelta(minutes=3), "responder 1 acknowledged"),
        message(FIRED + timedelta(minutes=4), "declaring SEV2 for checkout errors", "declare"),
        message(FIRED + timedelta(minutes=9), "rolling back payments to v2.13", "rollback"),
        message(FIRED + timedelta(minutes=25), "all clear, resolving", "resolve"),
        message(FIRED + timedelta(minutes=2), "dashboard: https://grafana/d/payments", "pinned", pinned=True),
        ev("incident_resolved", FIRED + timedelta(minutes=30), "PagerDuty #7 resolved"),
    ]


def drafted(extra: list[Event], *, changes: list[Event] | None = None, incident=INCIDENT):
    base = evidence(changes=changes)
    shuffled = [*base.events, *extra]
    random.Random(3).shuffle(shuffled)
    return draft(
        incident, dataclasses.replace(base, events=tuple(shuffled), sources=SOURCES), SETTINGS, generated_at=FAULT
    )


def test_acknowledged_and_mitigated_from_the_page_and_the_rollback():
    rollback = change("payments", FIRED + timedelta(minutes=11), kind="rollback")
    d = drafted(people(), changes=[change("payments", FAULT - timedelta(minutes=10)), rollback])
    assert d.milestones.acknowledged == FIRED + timedelta(minutes=3)
    assert d.milestone_evidence["acknowledged"] == people()[2].id
    # the rollback itself, not the message that announced it
    assert d.milestones.mitigated == rollback.at
    assert d.milestone_evidence["mitigated"] == rollback.id
    durations = d.durations
    assert durations["time_to_acknowledge"] == (d.milestones.acknowledged - d.milestones.started).total_seconds()
    assert durations["time_to_mitigate"] == (rollback.at - d.milestones.started).total_seconds()


def test_a_message_mitigates_when_no_change_source_saw_a_rollback():
    d = drafted(people(), changes=[change("payments", FAULT - timedelta(minutes=10))])
    assert d.milestones.mitigated == FIRED + timedelta(minutes=9)
    said = message(FIRED + timedelta(minutes=7), "mitigated: traffic failed over to eu-west", "mitigate")
    d = drafted([*people(), said], changes=[change("payments", FAULT - timedelta(minutes=10))])
    assert d.milestones.mitigated == said.at


def test_no_people_no_milestones():
    d = drafted([])
    assert d.milestones.acknowledged is None and d.milestones.mitigated is None
    assert d.durations["time_to_acknowledge"] is None


def test_ack_of_a_service_outside_the_incident_does_not_count():
    other = [ev("ack", FIRED + timedelta(minutes=1), "inventory acked", service="inventory")]
    d = drafted(other)
    assert d.milestones.acknowledged is None


def test_resolved_from_the_paging_source_when_the_incident_file_has_none():
    assert INCIDENT.resolved_at is None
    d = drafted(people())
    assert d.milestones.resolved == FIRED + timedelta(minutes=30)
    assert d.milestone_evidence["resolved"] == people()[-1].id
    with_file = dataclasses.replace(INCIDENT, resolved_at=FIRED + timedelta(minutes=40))
    assert drafted(people(), incident=with_file).milestones.resolved == FIRED + timedelta(minutes=40)


def test_notify_delay_from_the_first_page_and_the_delays_add_up():
    d = drafted(people())
    row = next(r for r in d.alert_review if r.alert == "PaymentsErrors")
    assert row.notified_at == FIRED + timedelta(seconds=40)
    assert row.delays["notify"] == 40.0
    parts = [row.delays[k] or 0.0 for k in ("threshold", "evaluation", "for", "notify")]
    assert abs(sum(parts) - (row.notified_at - row.onset).total_seconds()) < 1e-6


def test_a_page_naming_only_the_service_is_the_notification_of_its_alert():
    page = ev("page", FIRED + timedelta(seconds=70), "PagerDuty #8 triggered: payments errors")
    early = ev("page", FIRED - timedelta(minutes=3), "an older page, before the alert fired")
    other = ev("notification", FIRED + timedelta(seconds=10), "inventory on-call paged", service="inventory")
    d = drafted([page, early, other])
    row = next(r for r in d.alert_review if r.alert == "PaymentsErrors")
    assert row.notified_at == page.at and row.delays["notify"] == 70.0


def test_each_event_in_its_phase():
    rollback = change("payments", FIRED + timedelta(minutes=11), kind="rollback")
    d = drafted(people(), changes=[change("payments", FAULT - timedelta(minutes=10)), rollback])
    phase = {t.event.title: t.phase for t in d.timeline}
    assert phase["PagerDuty #7 triggered"] == "escalation"
    assert phase["responder 1 notified by sms"] == "escalation"
    assert phase["responder 1 acknowledged"] == "escalation"
    assert phase["declaring SEV2 for checkout errors"] == "detection"
    assert phase["rolling back payments to v2.13"] == "mitigation"
    assert phase["all clear, resolving"] == "recovery"
    assert phase["dashboard: https://grafana/d/payments"] == "context"
    assert phase["PagerDuty #7 resolved"] == "recovery"
    assert phase["rollback payments"] == "mitigation"
    assert phase["deploy payments"] == "trigger"


def test_same_draft_in_any_order():
    a = drafted(people())
    base = evidence()
    b = draft(
        INCIDENT,
        dataclasses.replace(base, events=tuple(reversed([*base.events, *people()])), sources=SOURCES),
        SETTINGS,
        generated_at=FAULT,
    )
    assert a == b
