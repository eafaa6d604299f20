"""From evidence to a draft: onsets -> alert review -> milestones -> gaps -> causes -> timeline.

`draft` is pure: the same incident, evidence (in any order), settings and `generated_at`
always give the same `Dossier`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from correlate import alerts, causes, gaps, logs, timeline
from correlate.anomalies import Anomaly, find_anomalies
from dossier.model import (
    AlertReview,
    CorrelateSettings,
    Dossier,
    Event,
    Evidence,
    Incident,
    Milestones,
    from_epoch,
    stable_id,
)

ALERT_TOLERANCE = timedelta(seconds=120)  # an alert pending this long before the onset still belongs to it


def _incident_events(incident: Incident) -> list[Event]:
    out = []
    if incident.declared_at is not None:
        out.append(
            Event(
                id=stable_id("incident", incident.id, "declared"),
                at=incident.declared_at,
                kind="incident_declared",
                source="incident",
                title=f"incident {incident.id} declared",
            )
        )
    if incident.resolved_at is not None:
        out.append(
            Event(
                id=stable_id("incident", incident.id, "resolved"),
                at=incident.resolved_at,
                kind="incident_resolved",
                source="incident",
                title=f"incident {incident.id} resolved",
            )
        )
    return out


def _in_scope(service: str | None, scope: frozenset[str] | None) -> bool:
    return scope is None or service in scope


def draft(incident: Incident, evidence: Evidence, settings: CorrelateSettings, *, generated_at: datetime) -> Dossier:
    scope = frozenset(incident.services) if incident.services else None
    events = sorted(evidence.events, key=lambda e: (e.at, e.source, e.id))
    series = sorted(evidence.series, key=lambda s: (s.source, s.id))
    rules = sorted(evidence.rules, key=lambda r: (r.source, r.name, r.group or "", sorted(r.labels.items())))
    declared, resolved = None, None
    for e in _incident_events(incident):
        if e.kind == "incident_declared":
            declared = e
        else:
            resolved = e

    # 1. what the logs say, and onsets (metric signals and error-log counts, holes left out)
    holes = logs.silences(series, incident, scope)
    log_sigs = logs.signatures(evidence.log_messages, evidence.log_records)
    events = sorted(
        [*events, *logs.new_signature_events(log_sigs, scope), *holes], key=lambda e: (e.at, e.source, e.id)
    )
    anomalies: list[Anomaly] = find_anomalies(logs.without_silences(series, holes), incident, scope)
    first_anomaly: dict[str, datetime] = {}
    for a in anomalies:
        if a.service is not None and a.service not in first_anomaly:
            first_anomaly[a.service] = from_epoch(a.start)

    # 2. alert episodes of the incident
    all_eps = alerts.episodes(events)
    conditions = [s for s in series if s.role == "alert_condition"]
    started_event = anomalies[0].start_event if anomalies else None
    started = started_event.at if started_event else None
    anchor = started or incident.start
    incident_eps = [
        ep
        for ep in all_eps
        if _in_scope(ep.service, scope)
        and ep.active(anchor - ALERT_TOLERANCE, incident.end)
        and (ep.pending_at or ep.fired_at or anchor) >= anchor - ALERT_TOLERANCE
    ]
    if started is None and incident_eps:  # no signal anomaly: the first alert condition is the best onset
        first = min(incident_eps, key=lambda ep: ep.first_seen)
        started_event = first.events.get("alert_pending") or first.events.get("alert_firing")
        started = first.first_seen
    onset_of: dict[str | None, datetime] = {k: v for k, v in first_anomaly.items()}
    if started is not None:
        onset_of[None] = started
    review: list[AlertReview] = alerts.review(incident_eps, rules, conditions, events, onset_of)

    # 3. milestones
    firing = [(ep.fired_at, ep.alert, i) for i, ep in enumerate(incident_eps) if ep.fired_at is not None]
    first_firing = incident_eps[min(firing)[2]] if firing else None
    first_fired_at = min(firing)[0] if firing else None
    evidence_ids: dict[str, str] = {}
    if started_event is not None:
        evidence_ids["started"] = started_event.id
    detected = None
    if (
        first_firing is not None
        and first_fired_at is not None
        and (incident.declared_at is None or first_fired_at <= incident.declared_at)
    ):
        detected = first_fired_at
        evidence_ids["detected"] = first_firing.events["alert_firing"].id
    elif declared is not None:
        detected = declared.at
        evidence_ids["detected"] = declared.id
    after = started or incident.start
    acks = [e for e in events if e.kind == "ack" and e.at >= after and _in_scope(e.service, scope)]
    rollbacks = [e for e in events if e.kind == "rollback" and e.at >= after and _in_scope(e.service, scope)]
    recovered = None
    if anomalies and all(a.end_event is not None for a in anomalies):
        last = max(anomalies, key=lambda a: (a.end or 0.0, a.series.id))
        recovered = last.end_event.at if last.end_event else None
        if last.end_event:
            evidence_ids["recovered"] = last.end_event.id
    if acks:
        evidence_ids["acknowledged"] = acks[0].id
    if rollbacks:
        evidence_ids["mitigated"] = rollbacks[0].id
    if resolved is not None:
        evidence_ids["resolved"] = resolved.id
    milestones = Milestones(
        started=started,
        detected=detected,
        acknowledged=acks[0].at if acks else None,
        mitigated=rollbacks[0].at if rollbacks else None,
        recovered=recovered,
        resolved=incident.resolved_at,
    )

    # 4. causes
    origin = anomalies[0].service if anomalies else None
    scope_set = set(scope) if scope is not None else set(first_anomaly)
    ranked = causes.rank(
        events,
        onset=started,
        origin=origin,
        first_anomaly=first_anomaly,
        scope=scope_set,
        settings=settings,
        recovered=recovered,
    )
    cause_list = [c for c, _ in ranked]
    negative = causes.negative_evidence(
        cause_list, events, evidence.sources, onset=started, scope=scope_set, settings=settings
    )

    # 5. gaps
    found_gaps = []
    if (
        started is not None
        and started_event is not None
        and first_firing is not None
        and detected == first_firing.fired_at
    ):
        row = next(r for r in review if r.alert == first_firing.alert and r.fired_at == first_firing.fired_at)
        late = gaps.late_alert(
            started, started_event, row, first_firing.events["alert_firing"], settings.late_alert_after, anomalies
        )
        if late:
            found_gaps.append(late)
    human = gaps.human_detected(incident, first_firing.fired_at if first_firing else None, declared)
    if human:
        found_gaps.append(human)
    window_end = incident.end
    found_gaps += gaps.unalerted_signals(anomalies, incident_eps, rules, window_end)
    found_gaps += gaps.blind_spots(events, evidence.problems, scope, min(anchor, incident.start), incident.end)
    found_gaps += gaps.unavailable(evidence.problems, evidence.sources)
    order = {
        k: i
        for i, k in enumerate(("source_unavailable", "human_detected", "late_alert", "unalerted_signal", "blind_spot"))
    }
    found_gaps.sort(
        key=lambda g: (order[g.kind], g.start or incident.start, g.service or "", g.signal or "", g.explanation)
    )

    # 6. timeline
    lookback_start = anchor - timedelta(seconds=settings.cause_lookback)
    cause_ids = frozenset(c.evidence for c in cause_list[:3])
    incident_alert_ids = {e.id for ep in incident_eps for e in ep.events.values()}
    shown: list[Event] = [e for e in events if e.at >= lookback_start or (e.end and e.end >= lookback_start)]
    shown += [a.start_event for a in anomalies] + [a.end_event for a in anomalies if a.end_event]
    shown += [e for e in (declared, resolved) if e is not None]
    important = set(evidence_ids.values()) | {c.evidence for c in cause_list[:1]}
    important |= {g_id for g in found_gaps for g_id in g.evidence}
    important |= {a.start_event.id for a in _first_per_service(anomalies)}
    important |= {e.id for e in events if e.kind == "new_log_signature"}
    context = frozenset(e.id for e in shown if e.kind.startswith("alert_") and e.id not in incident_alert_ids)
    entries = timeline.build(shown, started=started, causes=cause_ids, important=frozenset(important), context=context)

    return Dossier(
        incident=incident,
        generated_at=generated_at,
        milestones=milestones,
        milestone_evidence=evidence_ids,
        timeline=entries,
        detection_gaps=tuple(found_gaps),
        alert_review=tuple(review),
        candidate_causes=tuple(cause_list),
        negative_evidence=tuple(negative),
        sources=tuple(sorted(evidence.sources, key=lambda s: s.instance)),
        series=tuple(s for s in series if s.role == "signal"),
    )


def _first_per_service(anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    seen: dict[str | None, Anomaly] = {}
    for a in anomalies:
        seen.setdefault(a.service, a)
    return list(seen.values())
