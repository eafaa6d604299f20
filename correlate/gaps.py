"""Detection gaps: where the monitoring was late, silent or blind (see ARCHITECTURE.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from correlate.alerts import Episode, explain_delay
from correlate.anomalies import Anomaly
from dossier.model import (
    AlertReview,
    AlertRule,
    DetectionGap,
    Event,
    Incident,
    Problem,
    SourceReport,
    format_duration,
    from_epoch,
    rfc3339,
)

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.I)
_DURATIONS = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset("and or unless by without on ignoring group_left group_right offset bool atan2 inf nan".split())


def metric_names(promql: str) -> frozenset[str]:
    """The metric names a PromQL expression reads (functions, labels and keywords left out)."""
    text = _STRINGS.sub(" ", promql)
    text = _BRACES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _DURATIONS.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group().lower() in _KEYWORDS:
            continue
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the exponent or unit of a number, e.g. 1e3
        names.add(m.group())
    return frozenset(names)


def _span(a: datetime | None, b: datetime | None) -> str:
    return f"{rfc3339(a)} to {rfc3339(b) if b else 'the end of the window'}"


def late_alert(
    started: datetime,
    started_event: Event,
    row: AlertReview,
    firing: Event,
    late_after: float,
    anomalies: Sequence[Anomaly] = (),
) -> DetectionGap | None:
    """The first alert came too long after the onset; `signal` is the anomalous signal its rule reads."""
    if row.fired_at is None:
        return None
    delay = (row.fired_at - started).total_seconds()
    if delay <= late_after:
        return None
    watched = metric_names(row.expr or "")
    signal = next(
        (a.signal for a in anomalies if a.service == row.service and watched & metric_names(a.series.query)),
        started_event.attrs.get("signal"),
    )
    return DetectionGap(
        kind="late_alert",
        service=row.service,
        signal=signal,
        start=started,
        end=row.fired_at,
        explanation=(
            f"{row.alert} fired {format_duration(delay)} after the onset "
            f"({started_event.title} at {rfc3339(started)}), more than the {format_duration(late_after)} "
            f"allowed: {explain_delay(row, started)}"
        ),
        evidence=(started_event.id, firing.id),
    )


def human_detected(incident: Incident, first_firing: datetime | None, declared: Event | None) -> DetectionGap | None:
    if first_firing is not None and (incident.declared_at is None or first_firing <= incident.declared_at):
        return None
    if first_firing is None:
        what = "no alert fired for the incident's services"
    else:
        what = f"people declared the incident before any alert fired (first at {rfc3339(first_firing)})"
    if incident.declared_at is not None:
        text = f"{what}; it was declared by people at {rfc3339(incident.declared_at)}"
    else:
        text = f"{what}, and no declaration time is recorded: detection came from outside the monitoring"
    return DetectionGap(
        kind="human_detected",
        service=None,
        signal=None,
        start=incident.declared_at,
        end=first_firing,
        explanation=text,
        evidence=(declared.id,) if declared else (),
    )


def unalerted_signals(
    anomalies: Sequence[Anomaly], eps: Sequence[Episode], rules: Sequence[AlertRule], window_end: datetime
) -> list[DetectionGap]:
    """Anomalies during which no alert watching that signal's metric (for that service) was active.

    Where the source served its alerting rules, an alert covers a signal only if its rule reads one
    of the signal's metrics; without rules, and for log counts, any alert of the same service covers it.
    """
    gaps = []
    rules_by_source = {r.source for r in rules}
    for a in anomalies:
        s = a.series
        start, end = from_epoch(a.start), from_epoch(a.end) if a.end is not None else None
        metrics = metric_names(s.query) if s.role == "signal" else frozenset()
        relevant = [
            r
            for r in rules
            if r.source == s.source and r.service in (None, s.service) and metrics & metric_names(r.expr)
        ]
        relevant_names = {r.name for r in relevant}
        covered = False
        for ep in eps:
            if ep.service != s.service or not ep.active(start, end or window_end):
                continue
            if s.role != "signal" or ep.source not in rules_by_source or ep.alert in relevant_names:
                covered = True
                break
        if covered:
            continue
        who = f"{s.signal} of {s.service}" if s.service else s.signal
        if s.role != "signal":
            who = f"{s.labels.get('level')} logs of {s.service or 'all services'}"
            why = f"no alert for {s.service or 'its service'} was pending or firing"
        elif relevant:
            why = f"the rules on its metric ({', '.join(sorted(relevant_names))}) never went pending"
        elif s.source in rules_by_source:
            why = f"no alerting rule reads {', '.join(sorted(metrics)) or 'its metric'}"
            why += f" for {s.service}" if s.service else ""
        else:
            why = f"no alert for {s.service or 'its service'} was pending or firing"
        gaps.append(
            DetectionGap(
                kind="unalerted_signal",
                service=s.service,
                signal=s.signal,
                start=start,
                end=end,
                explanation=f"{who} was anomalous from {_span(start, end)}, and {why}",
                evidence=(a.start_event.id,),
            )
        )
    return gaps


def blind_spots(
    events: Sequence[Event], problems: Sequence[Problem], scope: frozenset[str] | None, lo: datetime, hi: datetime
) -> list[DetectionGap]:
    gaps = []
    for e in events:
        if e.kind != "telemetry_gap" or (scope is not None and e.service not in scope and e.service is not None):
            continue
        end = e.end or e.at
        if end < lo or e.at > hi:
            continue
        reason = str(e.attrs.get("reason") or e.title)
        where = f"{e.service}" if e.service else "the monitored services"
        gaps.append(
            DetectionGap(
                kind="blind_spot",
                service=e.service,
                signal=e.attrs.get("signal"),
                start=e.at,
                end=e.end,
                explanation=f"no telemetry from {where} from {_span(e.at, e.end)}: {reason}",
                evidence=(e.id,),
            )
        )
    for p in problems:
        if p.kind == "blind_spot":
            gaps.append(
                DetectionGap(
                    kind="blind_spot",
                    service=p.service,
                    signal=p.signal,
                    start=p.start,
                    end=p.end,
                    explanation=f"{p.source}: {p.reason}",
                    evidence=(),
                )
            )
    return gaps


def unavailable(problems: Sequence[Problem], sources: Sequence[SourceReport]) -> list[DetectionGap]:
    gaps = []
    reported = set()
    for p in problems:
        if p.kind == "source_unavailable":
            reported.add(p.source)
            gaps.append(
                DetectionGap(
                    kind="source_unavailable",
                    service=p.service,
                    signal=p.signal,
                    start=p.start,
                    end=p.end,
                    explanation=f"{p.source}: {p.reason}",
                    evidence=(),
                )
            )
    for s in sources:
        if s.status == "failed" and s.instance not in reported:
            gaps.append(
                DetectionGap(
                    kind="source_unavailable",
                    service=None,
                    signal=None,
                    start=None,
                    end=None,
                    explanation=f"{s.instance}: {s.error or 'failed'}: its evidence is missing from this draft",
                    evidence=(),
                )
            )
    return gaps
