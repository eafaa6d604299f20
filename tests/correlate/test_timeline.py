"""correlate.timeline.build: bounded however many events, deterministic, nothing lost or duplicated."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from correlate import timeline
from dossier.model import Event, stable_id

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
STARTED = T0 + timedelta(minutes=10)
KINDS = ("deploy", "config_change", "alert_pending", "alert_firing", "alert_resolved", "telemetry_gap", "message")


def make(n: int, seed: int = 1) -> list[Event]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = rng.choice(KINDS)
        service = None if kind == "message" else f"svc-{rng.randrange(40)}"
        source = "chat/x" if kind == "message" else ("deploy_file/c" if kind in ("deploy", "config_change") else "p/p")
        at = T0 - timedelta(hours=1) + timedelta(seconds=rng.randrange(3 * 3600))
        out.append(Event(stable_id("e", str(i)), at, kind, source, f"{kind} {i}", service))
    return out


def build(events: list[Event], **kw: object) -> tuple[timeline.TimelineEntry, ...]:
    args: dict[str, object] = {"started": STARTED, "causes": frozenset(), "important": frozenset()}
    args.update(kw)
    return timeline.build(events, **args)  # type: ignore[arg-type]


def accounted(entries: tuple[timeline.TimelineEntry, ...], events: list[Event]) -> None:
    """Every event exactly once: shown by itself, or counted in exactly one summary."""
    summaries = [t for t in entries if t.event.kind == "note" and "count" in t.event.attrs]
    shown = [t.event.id for t in entries if t not in summaries]
    assert len(shown) == len(set(shown))
    ids = {e.id for e in events}
    assert set(shown) <= ids
    assert sum(t.event.attrs["count"] for t in summaries) == len(ids) - len(shown)
    for t in summaries:  # each summary counts exactly the omitted events of its kind, service, source and span
        a = t.event.attrs
        assert a["kind"] in KINDS and a["first"] <= a["last"]
    by_kind: dict[str, int] = {}
    for t in summaries:
        by_kind[t.event.attrs["kind"]] = by_kind.get(t.event.attrs["kind"], 0) + t.event.attrs["count"]
    omitted = [e for e in events if e.id not in set(shown)]
    for kind in KINDS:
        assert by_kind.get(kind, 0) == sum(e.kind == kind for e in omitted)


def test_few_events_are_all_shown_in_time_order() -> None:
    events = make(50)
    entries = build(events)
    assert [t.event for t in entries] == sorted(events, key=lambda e: (e.at, e.source, e.id))


@pytest.mark.parametrize("n", [201, 1000, 20_000])
def test_bounded_and_nothing_lost_or_duplicated(n: int) -> None:
    events = make(n)
    entries = build(events)
    assert len(entries) <= timeline.LIMIT + timeline.MAX_SUMMARIES
    accounted(entries, events)
    assert [t.event.at for t in entries] == sorted(t.event.at for t in entries)


def test_order_independent() -> None:
    events = make(5000, seed=3)
    important = frozenset(e.id for e in events[::500])
    context = frozenset(e.id for e in events[1::3] if e.kind.startswith("alert_"))
    first = build(events, important=important, context=context)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    assert build(shuffled, important=important, context=context) == first
    assert build(shuffled + events[:100], important=important, context=context) == first  # duplicates count once


def test_marked_events_always_kept() -> None:
    events = make(10_000, seed=5)
    important = frozenset(e.id for e in events[::97])
    causes = frozenset(e.id for e in events[5::1013])
    keep = frozenset(e.id for e in events[7::331])
    entries = build(events, important=important, causes=causes, keep=keep, limit=10, max_summaries=20)
    shown = {t.event.id: t for t in entries}
    assert important | causes | keep <= set(shown)
    assert all(shown[i].important for i in important)
    assert all(shown[i].phase == "trigger" for i in causes if shown[i].event.kind in ("deploy", "config_change"))
    assert len(entries) <= len(important | causes | keep) + 10 + 20
    accounted(entries, events)


def test_incident_services_and_phases_come_first() -> None:
    events = make(5000, seed=9)
    entries = build(events, services=frozenset({"svc-3"}), limit=30)
    single = [t for t in entries if t.event.kind != "note"]
    assert len(single) >= 30
    # the incident's own detection events of svc-3 near the onset are shown before any context of others
    assert all(t.event.service in (None, "svc-3") for t in single if t.phase != "context")


def test_summary_entry_reads_as_a_sentence() -> None:
    at = T0 + timedelta(minutes=1)
    events = [
        Event(
            stable_id("d", str(i)), at + timedelta(milliseconds=500 * i), "deploy", "deploy_file/c", f"d{i}", "payments"
        )
        for i in range(1234)
    ]
    (note,) = build(events, started=None, limit=0)
    assert note.event.kind == "note" and note.phase == "context" and not note.important
    assert note.event.title == (
        "1,234 deploy events of payments from 10:01 to 10:11 (deploy_file/c, in the evidence archive)"
    )
    a = note.event.attrs
    assert (a["count"], a["kind"], a["first"], a["last"]) == (
        1234,
        "deploy",
        "2026-11-20T10:01:00Z",
        "2026-11-20T10:11:16.500Z",
    )


def test_group_of_one_is_the_event_itself() -> None:
    events = make(400, seed=11)
    lone = Event("lone", T0 + timedelta(days=3), "rollback", "argocd/x", "rollback far away", "svc-99")
    entries = build([*events, lone], limit=0)
    assert lone in [t.event for t in entries]
    accounted(entries, [*events, lone])


def test_incident_alerts_is_the_same_as_naming_the_others_in_context() -> None:
    events = make(3000, seed=13)
    alerts = [e for e in events if e.kind.startswith("alert_")]
    ours = frozenset(e.id for e in alerts[::40])
    others = frozenset(e.id for e in alerts) - ours
    for limit in (10, 5000):
        assert build(events, incident_alerts=ours, limit=limit) == build(events, context=others, limit=limit)
