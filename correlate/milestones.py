"""The incident's episode of trouble and its milestones: started, detected, acknowledged,
mitigated, recovered, resolved (ARCHITECTURE.md, `dossier.json` milestones).

The anomalies of a window are grouped into episodes: anomalies that overlap, or follow one
another within `RELAPSE` (a relapse is the same trouble, not a new one). The incident's episode
is the one that people or alerts reacted to: the episode under way (or last begun) at the first
firing alert or the declaration, whichever came first; without either, the first episode.
`recovered` is the end of that episode, when every signal in it was back in its baseline band
and stayed there; `None` while any of them had not come back.

`acknowledged` is the first `ack` (a PagerDuty or Opsgenie acknowledgement) of the incident's
services at or after the onset. `mitigated` is the first mitigation at or after the onset: a
rollback of one of the incident's services (a change source saw it), or a channel message that
says the trouble was mitigated (`attrs.intent == "mitigate"`), whichever came first; a message
that only says "rolling back" (`intent == "rollback"`) counts when no change source saw a
rollback. `resolved` is the incident file's `resolved_at`, else the first resolution a paging
source recorded (`incident_resolved` from PagerDuty or Opsgenie) after the onset.

Channel messages (`message` events, `attrs.intent`) take the phase of what they say: declaring
the incident is detection, mitigating or rolling back is mitigation, resolving is recovery; a
pinned message that says none of these is context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from correlate.alerts import Episode
from correlate.anomalies import Anomaly
from dossier.model import Event, Incident, Milestones, Phase, TimelineEntry, from_epoch

RELAPSE = 900.0  # seconds: trouble that comes back within this long is the same episode

MESSAGE_PHASES: dict[str, Phase] = {
    "declare": "detection",
    "mitigate": "mitigation",
    "rollback": "mitigation",
    "resolve": "recovery",
}
"""The phase of a channel message by what it says (`attrs.intent`); any other is context."""


@dataclass(frozen=True, slots=True)
class Trouble:
    """One episode of trouble: its anomalies, from the first start to the last end (None: open)."""

    anomalies: tuple[Anomaly, ...]
    start: float
    end: float | None

    @property
    def recovered_by(self) -> Anomaly | None:
        """The anomaly whose end closed the episode, when every anomaly in it ended."""
        if self.end is None or any(a.end is None for a in self.anomalies):
            return None
        return max(self.anomalies, key=lambda a: (a.end or 0.0, a.series.id))


def _end(a: Anomaly) -> float | None:
    return a.end if a.end is not None else a.open_until


def episodes(anomalies: Sequence[Anomaly]) -> list[Trouble]:
    out: list[Trouble] = []
    current: list[Anomaly] = []
    end: float | None = None
    for a in sorted(anomalies, key=lambda a: (a.start, a.series.id)):
        if current and end is not None and a.start > end + RELAPSE:
            out.append(Trouble(tuple(current), current[0].start, end))
            current = []
        until = _end(a)
        if not current:
            end = until
        elif end is not None:
            end = None if until is None else max(end, until)
        current.append(a)
    if current:
        out.append(Trouble(tuple(current), current[0].start, end))
    return out


def incident_episode(troubles: Sequence[Trouble], reacted_at: datetime | None) -> Trouble | None:
    """The episode people or alerts reacted to (see the module docstring)."""
    if not troubles:
        return None
    if reacted_at is None:
        return troubles[0]
    t = reacted_at.timestamp()
    begun = [tr for tr in troubles if tr.start <= t]
    return begun[-1] if begun else troubles[0]


def build(
    incident: Incident,
    trouble: Trouble | None,
    started_event: Event | None,
    first_firing: Episode | None,
    declared: Event | None,
    resolved: Event | None,
    events_by_kind: dict[str, list[Event]],
    in_scope: Callable[[str | None], bool],
) -> tuple[Milestones, dict[str, str]]:
    evidence: dict[str, str] = {}
    started = started_event.at if started_event is not None else None
    if started_event is not None:
        evidence["started"] = started_event.id
    detected = None
    fired_at = first_firing.fired_at if first_firing is not None else None
    if first_firing is not None and fired_at is not None and (declared is None or fired_at <= declared.at):
        detected = fired_at
        evidence["detected"] = first_firing.events["alert_firing"].id
    elif declared is not None:
        detected = declared.at
        evidence["detected"] = declared.id
    after = started or incident.start
    acks = [e for e in events_by_kind.get("ack", ()) if e.at >= after and in_scope(e.service)]
    rollbacks = [e for e in events_by_kind.get("rollback", ()) if e.at >= after and in_scope(e.service)]
    said = [e for e in events_by_kind.get("message", ()) if e.at >= after]
    mitigations = sorted(
        rollbacks + [e for e in said if e.attrs.get("intent") == "mitigate"], key=lambda e: (e.at, e.id)
    )
    if not mitigations:
        mitigations = [e for e in said if e.attrs.get("intent") == "rollback"]
    recovered = None
    closer = trouble.recovered_by if trouble is not None else None
    if closer is not None and closer.end is not None and closer.end_event is not None:
        recovered = from_epoch(closer.end)
        evidence["recovered"] = closer.end_event.id
    if acks:
        evidence["acknowledged"] = acks[0].id
    if mitigations:
        evidence["mitigated"] = mitigations[0].id
    resolved_at = incident.resolved_at
    if resolved is not None:
        evidence["resolved"] = resolved.id
    else:
        closed = [e for e in events_by_kind.get("incident_resolved", ()) if e.at >= after and in_scope(e.service)]
        if closed:
            resolved_at = closed[0].at
            evidence["resolved"] = closed[0].id
    return (
        Milestones(
            started=started,
            detected=detected,
            acknowledged=acks[0].at if acks else None,
            mitigated=mitigations[0].at if mitigations else None,
            recovered=recovered,
            resolved=resolved_at,
        ),
        evidence,
    )


def message_phase(e: Event) -> Phase:
    """The phase of a channel message by what it says (MESSAGE_PHASES), context otherwise."""
    return MESSAGE_PHASES.get(str(e.attrs.get("intent") or ""), "context")


def with_message_phases(entries: tuple[TimelineEntry, ...]) -> tuple[TimelineEntry, ...]:
    """Each channel message on the timeline in the phase of what it says."""
    if not any(t.event.kind == "message" for t in entries):
        return entries
    return tuple(
        TimelineEntry(event=t.event, phase=message_phase(t.event), important=t.important)
        if t.event.kind == "message" and t.phase != message_phase(t.event)
        else t
        for t in entries
    )
