"""The incident's episode of trouble and its milestones: started, detected, acknowledged,
mitigated, recovered, resolved (ARCHITECTURE.md, `dossier.json` milestones).

The anomalies of a window are grouped into episodes: anomalies that overlap, or follow one
another within `RELAPSE` (a relapse is the same trouble, not a new one). The incident's episode
is the one that people or alerts reacted to: the episode under way (or last begun) at the first
firing alert or the declaration, whichever came first; without either, the first episode.
`recovered` is the end of that episode, when every signal in it was back in its baseline band
and stayed there; `None` while any of them had not come back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from correlate.alerts import Episode
from correlate.anomalies import Anomaly
from dossier.model import Event, Incident, Milestones, from_epoch

RELAPSE = 900.0  # seconds: trouble that comes back within this long is the same episode


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
    recovered = None
    closer = trouble.recovered_by if trouble is not None else None
    if closer is not None and closer.end is not None and closer.end_event is not None:
        recovered = from_epoch(closer.end)
        evidence["recovered"] = closer.end_event.id
    if acks:
        evidence["acknowledged"] = acks[0].id
    if rollbacks:
        evidence["mitigated"] = rollbacks[0].id
    if resolved is not None:
        evidence["resolved"] = resolved.id
    return (
        Milestones(
            started=started,
            detected=detected,
            acknowledged=acks[0].at if acks else None,
            mitigated=rollbacks[0].at if rollbacks else None,
            recovered=recovered,
            resolved=incident.resolved_at,
        ),
        evidence,
    )
