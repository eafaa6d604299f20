"""JSON forms of the model: the evidence archive's lines and the `dossier.json` contract.

Every `*_to_dict` has its `*_from_dict` twin where the archive needs to read the value back;
`dossier replay` depends on the round trip being exact.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from dossier.model import (
    SCHEMA,
    ActionItem,
    AlertRule,
    CorrelateSettings,
    Dossier,
    Event,
    Incident,
    LogMessage,
    LogRecord,
    Problem,
    Request,
    Series,
    ServiceInfo,
    SourceReport,
    parse_time,
    rfc3339,
)

_fromisoformat = datetime.fromisoformat


def _time(text: str) -> datetime:
    """`parse_time`, faster for the `...Z` form that `rfc3339` writes (Python 3.11 reads the `Z`
    itself, as UTC); anything else, and any error, goes through `parse_time`."""
    if type(text) is str and text[-1:] == "Z":
        try:
            return _fromisoformat(text)
        except ValueError:
            pass
    return parse_time(text)


def _t(text: str | None) -> datetime | None:
    return None if text is None else _time(text)


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def incident_to_dict(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "title": i.title,
        "start": rfc3339(i.start),
        "end": rfc3339(i.end),
        "services": list(i.services),
        "declared_at": rfc3339(i.declared_at),
        "resolved_at": rfc3339(i.resolved_at),
        "severity": i.severity,
        "labels": dict(i.labels),
    }


def incident_from_dict(d: dict[str, Any]) -> Incident:
    return Incident(
        id=d["id"],
        title=d["title"],
        start=_time(d["start"]),
        end=_time(d["end"]),
        services=tuple(d.get("services") or ()),
        declared_at=_t(d.get("declared_at")),
        resolved_at=_t(d.get("resolved_at")),
        severity=d.get("severity"),
        labels=dict(d.get("labels") or {}),
    )


def event_to_dict(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": rfc3339(e.at),
        "end": rfc3339(e.end),
        "kind": e.kind,
        "source": e.source,
        "service": e.service,
        "title": e.title,
        "attrs": dict(e.attrs),
        "link": e.link,
        "request": e.request,
    }


def event_from_dict(d: dict[str, Any]) -> Event:
    return Event(
        id=d["id"],
        at=_time(d["at"]),
        end=_t(d.get("end")),
        kind=d["kind"],
        source=d["source"],
        service=d.get("service"),
        title=d["title"],
        attrs=d.get("attrs") or {},
        link=d.get("link"),
        request=d.get("request"),
    )


def series_to_dict(s: Series) -> dict[str, Any]:
    return {
        "id": s.id,
        "source": s.source,
        "signal": s.signal,
        "service": s.service,
        "role": s.role,
        "alert": s.alert,
        "labels": dict(s.labels),
        "query": s.query,
        "direction": s.direction,
        "unit": s.unit,
        "step": s.step,
        "link": s.link,
        "request": s.request,
        "times": list(s.times),
        "values": [_num(v) for v in s.values],
    }


def series_from_dict(d: dict[str, Any]) -> Series:
    return Series(
        id=d["id"],
        source=d["source"],
        signal=d["signal"],
        service=d.get("service"),
        role=d.get("role", "signal"),
        alert=d.get("alert"),
        labels=d.get("labels") or {},
        query=d["query"],
        direction=d.get("direction", "up"),
        unit=d.get("unit"),
        step=d.get("step"),
        link=d.get("link"),
        request=d.get("request"),
        times=tuple(map(float, d["times"])),
        values=tuple(math.nan if v is None else float(v) for v in d["values"]),
    )


def rule_to_dict(r: AlertRule) -> dict[str, Any]:
    return {
        "name": r.name,
        "expr": r.expr,
        "for": r.for_seconds,
        "source": r.source,
        "labels": dict(r.labels),
        "annotations": dict(r.annotations),
        "group": r.group,
        "interval": r.interval,
        "service": r.service,
        "link": r.link,
    }


def rule_from_dict(d: dict[str, Any]) -> AlertRule:
    return AlertRule(
        name=d["name"],
        expr=d["expr"],
        for_seconds=float(d["for"]),
        source=d["source"],
        labels=d.get("labels") or {},
        annotations=d.get("annotations") or {},
        group=d.get("group"),
        interval=d.get("interval"),
        service=d.get("service"),
        link=d.get("link"),
    )


def problem_to_dict(p: Problem) -> dict[str, Any]:
    return {
        "source": p.source,
        "kind": p.kind,
        "reason": p.reason,
        "service": p.service,
        "signal": p.signal,
        "start": rfc3339(p.start),
        "end": rfc3339(p.end),
        "request": p.request,
    }


def problem_from_dict(d: dict[str, Any]) -> Problem:
    return Problem(
        source=d["source"],
        kind=d.get("kind", "source_unavailable"),
        reason=d["reason"],
        service=d.get("service"),
        signal=d.get("signal"),
        start=_t(d.get("start")),
        end=_t(d.get("end")),
        request=d.get("request"),
    )


def log_message_to_dict(m: LogMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "source": m.source,
        "service": m.service,
        "level": m.level,
        "message": m.message,
        "window_count": m.window_count,
        "baseline_count": m.baseline_count,
        "first_seen": rfc3339(m.first_seen),
        "last_seen": rfc3339(m.last_seen),
        "error_type": m.error_type,
        "link": m.link,
        "request": m.request,
    }


def log_message_from_dict(d: dict[str, Any]) -> LogMessage:
    return LogMessage(
        id=d["id"],
        source=d["source"],
        service=d.get("service"),
        level=d.get("level"),
        message=d["message"],
        window_count=int(d["window_count"]),
        baseline_count=int(d["baseline_count"]),
        first_seen=_t(d.get("first_seen")),
        last_seen=_t(d.get("last_seen")),
        error_type=d.get("error_type"),
        link=d.get("link"),
        request=d.get("request"),
    )


def log_record_to_dict(r: LogRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "at": rfc3339(r.at),
        "service": r.service,
        "level": r.level,
        "message": r.message,
        "link": r.link,
        "request": r.request,
        "attrs": dict(r.attrs),
    }


def log_record_from_dict(d: dict[str, Any]) -> LogRecord:
    return LogRecord(
        id=d["id"],
        source=d["source"],
        at=_time(d["at"]),
        service=d.get("service"),
        level=d.get("level"),
        message=d["message"],
        link=d.get("link"),
        request=d.get("request"),
        attrs=d.get("attrs") or {},
    )


def request_to_dict(r: Request) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "method": r.method,
        "url": r.url,
        "params": dict(r.params),
        "started_at": rfc3339(r.started_at),
        "duration": r.duration,
        "status": r.status,
        "bytes": r.bytes,
        "sha256": r.sha256,
        "items": r.items,
        "error": r.error,
    }


def source_to_dict(s: SourceReport) -> dict[str, Any]:
    return {
        "instance": s.instance,
        "type": s.type,
        "status": s.status,
        "error": s.error,
        "items": s.items,
        "duration": s.duration,
        "truncated": s.truncated,
        "truncated_reason": s.truncated_reason,
        "kinds": list(s.kinds),
    }


def source_from_dict(d: dict[str, Any]) -> SourceReport:
    return SourceReport(
        instance=d["instance"],
        type=d["type"],
        status=d["status"],
        error=d.get("error"),
        items=int(d.get("items") or 0),
        duration=float(d.get("duration") or 0.0),
        truncated=bool(d.get("truncated")),
        kinds=tuple(d.get("kinds") or ()),
        truncated_reason=d.get("truncated_reason"),
    )


def settings_to_dict(s: CorrelateSettings) -> dict[str, Any]:
    return {
        "baseline": s.baseline,
        "late_alert_after": s.late_alert_after,
        "cause_lookback": s.cause_lookback,
        "services": {
            svc.name: {"aliases": list(svc.aliases), "depends_on": list(svc.depends_on)} for svc in s.services
        },
    }


def settings_from_dict(d: dict[str, Any]) -> CorrelateSettings:
    return CorrelateSettings(
        baseline=float(d["baseline"]),
        late_alert_after=float(d["late_alert_after"]),
        cause_lookback=float(d["cause_lookback"]),
        services=tuple(
            ServiceInfo(name, tuple(v.get("aliases") or ()), tuple(v.get("depends_on") or ()))
            for name, v in (d.get("services") or {}).items()
        ),
    )


def dossier_to_dict(d: Dossier) -> dict[str, Any]:
    """The `dossier.json` contract (schema dossier/v1), keys in the contract's order."""
    m = d.milestones
    return {
        "schema": SCHEMA,
        "incident": incident_to_dict(d.incident),
        "generated_at": rfc3339(d.generated_at),
        "milestones": {
            "started": rfc3339(m.started),
            "detected": rfc3339(m.detected),
            "acknowledged": rfc3339(m.acknowledged),
            "mitigated": rfc3339(m.mitigated),
            "recovered": rfc3339(m.recovered),
            "resolved": rfc3339(m.resolved),
        },
        "milestone_evidence": dict(d.milestone_evidence),
        "durations": d.durations,
        "timeline": [
            {
                "id": t.event.id,
                "at": rfc3339(t.event.at),
                "end": rfc3339(t.event.end),
                "kind": t.event.kind,
                "source": t.event.source,
                "service": t.event.service,
                "title": t.event.title,
                "attrs": dict(t.event.attrs),
                "link": t.event.link,
                "request": t.event.request,
                "phase": t.phase,
                "important": t.important,
            }
            for t in d.timeline
        ],
        "detection_gaps": [
            {
                "kind": g.kind,
                "service": g.service,
                "signal": g.signal,
                "start": rfc3339(g.start),
                "end": rfc3339(g.end),
                "duration": g.duration,
                "explanation": g.explanation,
                "evidence": list(g.evidence),
                "target": g.target,
                "telemetry": g.telemetry,
            }
            for g in d.detection_gaps
        ],
        "alert_review": [
            {
                "alert": a.alert,
                "service": a.service,
                "expr": a.expr,
                "for": a.for_seconds,
                "condition_true_at": rfc3339(a.condition_true_at),
                "pending_at": rfc3339(a.pending_at),
                "fired_at": rfc3339(a.fired_at),
                "notified_at": rfc3339(a.notified_at),
                "resolved_at": rfc3339(a.resolved_at),
                "delays": dict(a.delays),
                "labels": dict(a.labels),
                "source": a.source,
                "onset": rfc3339(a.onset),
                "signal": a.signal,
                "finding": a.finding,
            }
            for a in d.alert_review
        ],
        "candidate_causes": [
            {
                "rank": c.rank,
                "evidence": c.evidence,
                "score": c.score,
                "reasons": list(c.reasons),
                "factors": dict(c.factors),
            }
            for c in d.candidate_causes
        ],
        "negative_evidence": list(d.negative_evidence),
        "sources": [source_to_dict(s) for s in d.sources],
        "notes": list(d.notes),
        **({"action_items": [action_item_to_dict(a) for a in d.action_items]} if d.action_items else {}),
    }


def action_item_to_dict(a: ActionItem) -> dict[str, Any]:
    """`dossier.json` `action_items[]` (present when the draft has any)."""
    cf = a.counterfactual
    return {
        "id": a.id,
        "cause": a.cause,
        "kind": a.kind,
        "title": a.title,
        "reason": a.reason,
        "service": a.service,
        "alert": a.alert,
        "signal": a.signal,
        "target": a.target,
        "rule": a.rule,
        "checked": a.checked,
        "counterfactual": None
        if cf is None
        else {
            "source": cf.source,
            "expr": cf.expr,
            "for": cf.for_seconds,
            "fired_at": rfc3339(cf.fired_at),
            "actual_fired_at": rfc3339(cf.actual_fired_at),
            "earlier_by": cf.earlier_by,
            "firings": cf.firings,
            "firings_now": cf.firings_now,
            "history_start": rfc3339(cf.history_start),
            "history_end": rfc3339(cf.history_end),
        },
        "evidence": list(a.evidence),
    }
