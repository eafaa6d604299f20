"""The timeline: every event once, in time order, with its phase and an `important` flag."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dossier.model import CHANGE_KINDS, Event, Phase, TimelineEntry

_BY_KIND: dict[str, Phase] = {
    "alert_pending": "detection",
    "alert_firing": "detection",
    "incident_declared": "detection",
    "notification": "escalation",
    "page": "escalation",
    "ack": "escalation",
    "alert_resolved": "recovery",
    "anomaly_end": "recovery",
    "incident_resolved": "recovery",
    "telemetry_gap": "context",
    "message": "context",
    "note": "context",
}


def phase_of(e: Event, *, started: datetime | None, causes: frozenset[str], context: frozenset[str]) -> Phase:
    if e.id in context:
        return "context"
    if e.kind in CHANGE_KINDS:
        if e.id in causes:
            return "trigger"
        if started is not None and e.at > started:
            return "mitigation"
        return "context"
    if e.kind in _BY_KIND:
        return _BY_KIND[e.kind]
    # anomaly_start, log_spike, new_log_signature, trace_errors, latency_shift: the trouble itself
    if started is not None and e.at < started:
        return "context"
    return "trigger"


def build(
    events: Iterable[Event],
    *,
    started: datetime | None,
    causes: frozenset[str],
    important: frozenset[str],
    context: frozenset[str] = frozenset(),
) -> tuple[TimelineEntry, ...]:
    """`context`: ids of events that did not take part in the incident (alerts of other episodes)."""
    unique = {e.id: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.at, e.source, e.id))
    return tuple(
        TimelineEntry(
            event=e, phase=phase_of(e, started=started, causes=causes, context=context), important=e.id in important
        )
        for e in ordered
    )
