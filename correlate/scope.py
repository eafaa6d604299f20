"""Which services the draft is about, and what the reader must know when the incident names a
service that no source knows (a typo such as `chekout`, or a service nothing watches)."""

from __future__ import annotations

import math

from dossier.model import CorrelateSettings, Evidence, Incident, Series


def _has_data(s: Series) -> bool:
    if s.role == "log_count":
        return any(v > 0 for v in s.values if math.isfinite(v))
    return any(math.isfinite(v) for v in s.values)


def with_evidence(evidence: Evidence) -> frozenset[str]:
    """Services some source returned evidence for: a series with data (a log count with some
    logs), an event, a log message. An empty series a source returned for the name is none."""
    names = {s.service for s in evidence.series if s.service and _has_data(s)}
    names |= {e.service for e in evidence.events if e.service}
    names |= {m.service for m in evidence.log_messages if m.service}
    return frozenset(n for n in names if n is not None)


def resolve(
    incident: Incident, evidence: Evidence, settings: CorrelateSettings
) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """The services in scope (None: all) and notes on the incident's services without evidence.

    When none of the incident's services has any evidence, the draft covers every service that
    has some, and says so: a draft about nothing beside a timeline of firing alerts would
    contradict itself.
    """
    if not incident.services:
        return None, ()
    seen = with_evidence(evidence)
    configured = {s.name for s in settings.services}
    missing = [s for s in incident.services if s not in seen]
    notes = []
    have = ", ".join(sorted(seen)) or "none"
    for name in missing:
        known = "" if name in configured or not configured else " (it is not a configured service)"
        notes.append(f"no source returned any evidence for service {name!r}{known}; services with evidence: {have}")
    if len(missing) == len(incident.services):
        if seen:
            notes.append(
                "none of the incident's services has evidence, so this draft covers every service that does: "
                "check the incident's services"
            )
        return (None if seen else frozenset(incident.services)), tuple(notes)
    return frozenset(incident.services), tuple(notes)
