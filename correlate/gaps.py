"""Detection gaps: where the monitoring was late, silent or blind (see ARCHITECTURE.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from correlate.alerts import Episode, explain_delay, total_delay
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


def late_alerts(
    review: Sequence[AlertReview],
    services: Sequence[str],
    late_after: float,
    evidence: Mapping[int, tuple[str, ...]],
    measured_from: Mapping[int, str],
) -> list[DetectionGap]:
    """Each service's first alert to fire, judged against that service's onset (on the signal its
    rule reads where one does): late when it fired more than `late_after` after it.

    `evidence[i]`: the event ids that prove row `i` (onset, firing); `measured_from[i]`: the
    onset it is judged against, in words.
    """
    gaps = []
    for service in services:
        rows = [(r.fired_at, i, r) for i, r in enumerate(review) if r.service == service and r.fired_at is not None]
        if not rows:
            continue
        _, i, row = min(rows, key=lambda x: (x[0], x[1]))
        delay = total_delay(row)
        if delay is None or delay <= late_after:
            continue
        gaps.append(
            DetectionGap(
                kind="late_alert",
                service=service,
                signal=row.signal,
                start=row.onset,
                end=row.fired_at,
                explanation=(
                    f"{row.alert}, the first alert of {service} to fire, fired {format_duration(delay)} after "
                    f"the onset it should have caught ({measured_from.get(i, 'the onset')} at {rfc3339(row.onset)}), "
                    f"more than the {format_duration(late_after)} allowed: {explain_delay(row)}"
                ),
                evidence=evidence.get(i, ()),
            )
        )
    return gaps


def human_detected(
    incident: Incident, first_firing: datetime | None, declared: Event | None, services: Sequence[str] = ()
) -> DetectionGap | None:
    if first_firing is not None and (incident.declared_at is None or first_firing <= incident.declared_at):
        return None
    if first_firing is None:
        names = ", ".join(services)
        what = f"no alert fired for {names}" if names else "no alert fired for the incident's services"
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


def _target(e: Event) -> tuple[str, str | None]:
    """What went dark, and which kind of telemetry: a scrape target, a signal's series, a log stream."""
    if e.attrs.get("signal") == "logs":
        return "logs", e.source
    if e.attrs.get("instance") or e.attrs.get("job"):
        return "metrics", str(e.attrs.get("instance") or e.attrs.get("job"))
    if e.attrs.get("signal"):
        return "metrics", f"signal {e.attrs['signal']}"
    return str(e.attrs.get("telemetry") or "metrics"), None


def blind_spots(
    events: Sequence[Event],
    problems: Sequence[Problem],
    scope: frozenset[str] | None,
    lo: datetime,
    hi: datetime,
    findings: Sequence[AlertReview] = (),
) -> list[DetectionGap]:
    """Where telemetry was missing, per target and per kind (metrics, logs), with exact bounds.

    A scrape target that went dark is one target, not its service: the sentence says which. An
    alert on that target that went pending during the gap and never fired (a review row with a
    `finding`) is named with the reason.
    """
    gaps = []
    for e in events:
        if e.kind != "telemetry_gap" or (scope is not None and e.service not in scope and e.service is not None):
            continue
        end = e.end or e.at
        if end < lo or e.at > hi:
            continue
        reason = str(e.attrs.get("reason") or e.title)
        telemetry, target = _target(e)
        svc = e.service or "the monitored services"
        if telemetry == "logs":
            what = f"no logs from {svc} reached {target}" if target else f"no logs from {svc}"
        elif target and target.startswith("signal "):
            what = f"no data for {target[len('signal ') :]} of {svc}"
        elif target:
            what = f"no metrics from {target} (a scrape target of {svc})"
        else:
            what = f"no {telemetry} from {svc}"
        text = f"{what} from {_span(e.at, e.end)}: {reason}"
        for row in findings:
            if target is None or target not in row.labels.values() or row.pending_at is None:
                continue
            if e.at <= row.pending_at <= end:
                text += f"; {row.alert} {row.finding}"
        gaps.append(
            DetectionGap(
                kind="blind_spot",
                service=e.service,
                signal=e.attrs.get("signal") if telemetry != "logs" else "logs",
                start=e.at,
                end=e.end,
                explanation=text,
                evidence=(e.id,),
                target=target,
                telemetry=telemetry,
            )
        )
    for p in problems:
        if p.kind == "blind_spot" and (scope is None or p.service is None or p.service in scope):
            gaps.append(
                DetectionGap(
                    kind="blind_spot",
                    service=p.service,
                    signal=p.signal,
                    start=p.start,
                    end=p.end,
                    explanation=f"{p.source}: {p.reason}",
                    evidence=(),
                    target=p.source,
                    telemetry="logs" if (p.signal or "").startswith("logs") else "metrics",
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
