"""From evidence to a draft: scope -> logs and onsets -> the incident's episode -> alert review
-> milestones -> causes -> gaps -> timeline. Each step lives in its own module; this one only
runs them in order.

`draft` is pure: the same incident, evidence (in any order), settings and `generated_at`
always give the same `Dossier`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import attrgetter

import numpy as np

from correlate import alerts, callgraph, causes, gaps, logs, milestones, timeline
from correlate.alerts import ALERT_KINDS
from correlate.anomalies import Anomaly, find_anomalies
from correlate.events import epoch
from correlate.events import index as events_index
from correlate.gaps import metric_names
from correlate.scope import resolve as resolve_scope
from correlate.scope import with_evidence
from dossier.model import (
    CHANGE_KINDS,
    AlertReview,
    AlertRule,
    CorrelateSettings,
    Dossier,
    Event,
    Evidence,
    Incident,
    TimelineEntry,
    format_duration,
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


def draft(incident: Incident, evidence: Evidence, settings: CorrelateSettings, *, generated_at: datetime) -> Dossier:
    scope, notes = resolve_scope(incident, evidence, settings)

    def in_scope(service: str | None) -> bool:
        return scope is None or service in scope

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
    indexed = events_index(itertools.chain(evidence.events, logs.new_signature_events(log_sigs, scope), holes))
    by_kind = indexed.by_kind
    calls = callgraph.CallGraph.from_series(series)  # who calls whom, seen in traces: what they call is searched too
    anomalies = callgraph.traced(
        find_anomalies(logs.without_silences(series, holes), incident, calls.widen(scope), settings.baseline),
        by_kind.get("note", ()),
    )

    # 2. the incident's episode of trouble: the one that alerts or people reacted to
    names = frozenset(scope) if scope is not None else with_evidence(evidence)
    # alerts of services outside the scope are only context: not grouped nor reviewed
    ours = [e for k in sorted(ALERT_KINDS) for e in by_kind.get(k, ())]
    if scope is not None:
        admitted = {None, *scope}
        ours = list(itertools.compress(ours, map(admitted.__contains__, map(attrgetter("service"), ours))))
    all_eps = [alerts.attributed(ep, names) for ep in alerts.episodes(ours)]
    reactions = [
        ep.fired_at
        for ep in all_eps
        if in_scope(ep.service) and ep.fired_at is not None and incident.start <= ep.fired_at <= incident.end
    ]
    if declared is not None:
        reactions.append(declared.at)
    trouble = milestones.incident_episode(milestones.episodes(anomalies), min(reactions) if reactions else None)
    main: list[Anomaly] = (
        sorted(trouble.anomalies, key=lambda a: (a.start, a.series.source, a.series.id)) if trouble else []
    )
    main = callgraph.callees_first(main, calls)  # at the same time, the callee before its callers
    others = len(anomalies) - len(main)
    if others:
        notes += (
            f"{others} other anomal{'y' if others == 1 else 'ies'} in the window came apart from the incident's "
            f"episode of trouble (more than {format_duration(milestones.RELAPSE)} from it): shown in the timeline, "
            "not judged as detection gaps",
        )
    first_anomaly: dict[str, datetime] = {}
    for a in main:
        if a.service is not None and a.service not in first_anomaly:
            first_anomaly[a.service] = from_epoch(a.start)

    # 3. alert episodes of the incident, and the review of each against its service's onset
    conditions = [s for s in series if s.role == "alert_condition"]
    notices = [e for k in sorted(alerts.NOTIFY_KINDS) for e in by_kind.get(k, ())]
    started_event = main[0].start_event if main else None
    started = started_event.at if started_event else None
    anchor = started or incident.start
    incident_eps = [
        ep
        for ep in all_eps
        if in_scope(ep.service)
        and ep.active(anchor - ALERT_TOLERANCE, incident.end)
        and (ep.pending_at or ep.fired_at or anchor) >= anchor - ALERT_TOLERANCE
    ]
    first_alert = min(incident_eps, key=lambda ep: ep.first_seen) if incident_eps else None
    if started is None and first_alert is not None:  # no signal anomaly: the first alert is the best onset
        started_event = first_alert.events.get("alert_pending") or first_alert.events.get("alert_firing")
        started = first_alert.first_seen
    judged: list[Anomaly | None] = []

    def judge(ep: alerts.Episode, rule: AlertRule | None) -> tuple[datetime | None, str | None]:
        """An alert is judged against its own service's onset, on the signal its rule reads where
        one does; an alert of a service whose telemetry showed nothing is judged against the
        incident's onset only when it was the incident's first alert (nothing else to judge by)."""
        own = [a for a in main if a.service == ep.service]
        watched = metric_names(rule.expr) if rule else frozenset()
        reading = [a for a in own if a.series.role == "signal" and watched & metric_names(a.series.query)]
        candidates = reading or own
        pick = candidates[0] if candidates else None
        judged.append(pick)
        if pick is None:
            return (started if ep is first_alert else None), None
        # the signal it is measured from: the one its rule reads, else (no rule known) its service's first
        return from_epoch(pick.start), (pick.signal if reading or rule is None else None)

    review: list[AlertReview] = alerts.review(incident_eps, rules, conditions, notices, judge)

    # 4. milestones
    firing = [(ep.fired_at, ep.alert, i) for i, ep in enumerate(incident_eps) if ep.fired_at is not None]
    first_firing = incident_eps[min(firing)[2]] if firing else None
    found_milestones, evidence_ids = milestones.build(
        incident, trouble, started_event, first_firing, declared, resolved, by_kind, in_scope
    )
    recovered = found_milestones.recovered

    # 5. causes
    origin = main[0].service if main else None
    scope_set = set(scope) if scope is not None else set(first_anomaly)
    changes = sorted(  # each kind is in time order already: a merge
        (e for k in sorted(CHANGE_KINDS) for e in by_kind.get(k, ())), key=attrgetter("at", "source", "id")
    )
    ranked = causes.rank(
        changes,
        onset=started,
        origin=origin,
        first_anomaly=first_anomaly,
        scope=scope_set,
        settings=settings,
        recovered=recovered,
        calls=calls,
        trouble=callgraph.trouble(main),
        explain=causes.MAX_CAUSES,
    )
    cause_list = [c for c, _ in ranked[: causes.MAX_CAUSES]]
    if len(ranked) > causes.MAX_CAUSES:
        notes += (
            f"{len(ranked) - causes.MAX_CAUSES} more changes in the blast radius scored lower than the "
            f"{causes.MAX_CAUSES} candidate causes listed (at most {ranked[causes.MAX_CAUSES][0].score:.2f}); "
            "they are in the evidence archive",
        )
    negative = causes.negative_evidence(
        [c for c, _ in ranked],
        changes,
        evidence.sources,
        onset=started,
        scope=scope_set,
        settings=settings,
        first_anomaly=first_anomaly,
        calls=calls,
    )

    # 6. gaps
    found_gaps = []
    order_of_services = sorted(
        {r.service for r in review if r.service}, key=lambda s: (first_anomaly.get(s, anchor), s)
    )
    proof, measured_from = {}, {}
    for i, (pick, ep) in enumerate(zip(judged, incident_eps, strict=True)):
        firing_event = ep.events.get("alert_firing")
        onset_event = pick.start_event if pick is not None else started_event
        proof[i] = tuple(e.id for e in (onset_event, firing_event) if e is not None)
        measured_from[i] = onset_event.title if onset_event is not None else "the onset"
    found_gaps += gaps.late_alerts(review, order_of_services, settings.late_alert_after, proof, measured_from)
    human = gaps.human_detected(
        incident, first_firing.fired_at if first_firing else None, declared, sorted(scope) if scope else ()
    )
    if human:
        found_gaps.append(human)
    found_gaps += gaps.unalerted_signals(main, incident_eps, rules, incident.end)
    # alerts that only went pending, the incident's and others': their findings explain blind spots
    reviewed = {id(ep) for ep in incident_eps}
    others_pending = [ep for ep in all_eps if ep.fired_at is None and id(ep) not in reviewed]
    findings = [
        r
        for r in review + alerts.review(others_pending, rules, conditions, notices, lambda ep, rule: (None, None))
        if r.finding
    ]
    found_gaps += gaps.blind_spots(
        by_kind.get("telemetry_gap", []), evidence.problems, scope, min(anchor, incident.start), incident.end, findings
    )
    found_gaps += gaps.unavailable(evidence.problems, evidence.sources)
    order = {
        k: i
        for i, k in enumerate(("source_unavailable", "human_detected", "late_alert", "unalerted_signal", "blind_spot"))
    }
    found_gaps.sort(
        key=lambda g: (order[g.kind], g.start or incident.start, g.service or "", g.signal or "", g.explanation)
    )

    # 7. timeline: important events one by one, the rest summarised (raw evidence stays in the archive)
    lookback_start = anchor - timedelta(seconds=settings.cause_lookback)
    cause_ids = frozenset(c.evidence for c in cause_list[:3])
    incident_alert_ids = frozenset(e.id for ep in incident_eps for e in ep.events.values())
    unfired = {
        ep.events["alert_resolved"].id: (ep.alert, ep.pending_at)
        for ep in all_eps
        if ep.fired_at is None and ep.pending_at is not None and "alert_resolved" in ep.events
    }
    extra = [a.start_event for a in anomalies] + [a.end_event for a in anomalies if a.end_event]
    extra += [e for e in (declared, resolved) if e is not None]
    important = set(evidence_ids.values()) | {c.evidence for c in cause_list[:1]}
    important |= {g_id for g in found_gaps for g_id in g.evidence}
    important |= {a.start_event.id for a in _first_per_service(main)}
    important |= {e.id for e in by_kind.get("new_log_signature", ())}
    main_ids = {a.start_event.id for a in main} | {a.end_event.id for a in main if a.end_event}
    context = frozenset(
        e.id for a in anomalies for e in (a.start_event, a.end_event) if e is not None and e.id not in main_ids
    )
    radius = None if scope is None else frozenset(causes.blast_radius(settings, scope_set, first_anomaly, calls))
    recent, recent_ts = indexed.since(lookback_start)
    entries = timeline.build(
        recent + extra,
        ts=np.concatenate([recent_ts, epoch(extra)]),
        started=started,
        causes=cause_ids,
        important=frozenset(important),
        context=context,
        keep=frozenset(c.evidence for c in cause_list)
        | frozenset(unfired)
        | frozenset(_said(by_kind.get("message", ()))),
        services=radius,
        incident_alerts=incident_alert_ids,
    )
    entries = _retitle_unfired(entries, unfired, by_kind, scope)
    entries = milestones.with_message_phases(entries)

    return Dossier(
        incident=incident,
        generated_at=generated_at,
        milestones=found_milestones,
        milestone_evidence=evidence_ids,
        timeline=entries,
        detection_gaps=tuple(found_gaps),
        alert_review=tuple(review),
        candidate_causes=tuple(cause_list),
        negative_evidence=tuple(negative),
        sources=tuple(sorted(evidence.sources, key=lambda s: s.instance)),
        series=tuple(s for s in series if s.role == "signal"),
        notes=notes,
    )


def _unfired(e: Event, alert: str, pending_at: datetime) -> Event:
    """The end of an alert that only went pending is not a "resolved" alert: say what it was."""
    held = format_duration((e.at - pending_at).total_seconds())
    return dataclasses.replace(e, title=f"{alert} stopped pending after {held} without firing")


def _retitle_unfired(
    entries: tuple[TimelineEntry, ...],
    unfired: dict[str, tuple[str, datetime]],
    by_kind: dict[str, list[Event]],
    scope: frozenset[str] | None,
) -> tuple[TimelineEntry, ...]:
    """Every `alert_resolved` row of an alert that never fired says so. The incident's alerts are
    known from their episodes; for the few rows of other services' alerts, their events are looked
    up by name (one pass over the alert events of those names only)."""
    names = {
        str(t.event.attrs.get("alertname") or t.event.title)
        for t in entries
        if t.event.kind == "alert_resolved" and t.event.id not in unfired and scope is not None
    }
    if names:
        unfired = {
            **unfired,
            **alerts.unfired_ends(
                e
                for k in sorted(ALERT_KINDS)
                for e in by_kind.get(k, ())
                if (e.attrs.get("alertname") or e.title) in names
            ),
        }
    if not unfired:
        return entries
    return tuple(
        dataclasses.replace(t, event=_unfired(t.event, *unfired[t.event.id])) if t.event.id in unfired else t
        for t in entries
    )


def _said(messages: Sequence[Event]) -> list[str]:
    """The channel messages kept on the timeline one by one: those that declare, mitigate, roll back or
    resolve (`intent`) and pinned ones; other chatter is summarised like any other evidence."""
    return [e.id for e in messages if e.attrs.get("intent") or e.attrs.get("pinned")]


def _first_per_service(anomalies: Sequence[Anomaly]) -> list[Anomaly]:
    seen: dict[str | None, Anomaly] = {}
    for a in anomalies:
        seen.setdefault(a.service, a)
    return list(seen.values())
