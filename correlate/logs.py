"""Log evidence: new error signatures, and services whose logs went silent.

Collectors count distinct messages (`LogMessage`) and keep a few exemplar documents
(`LogRecord`); here the messages are grouped into signatures (`correlate.signatures`), and:

* a signature seen in the window but never in the baseline becomes a `new_log_signature`
  event at its first occurrence, with its counts and exemplars;
* a service whose logs normally arrive in (nearly) every bucket of the baseline but stop for
  at least two buckets in the window gets a `telemetry_gap` event (an ingestion hole), which
  the gap analysis reports as a `blind_spot`.

Bursts of error logs (`log_spike`) come from the same onset detector as metrics: see
`correlate.anomalies`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from correlate.signatures import group_messages
from dossier.model import (
    Event,
    Incident,
    LogMessage,
    LogRecord,
    Series,
    format_duration,
    from_epoch,
    rfc3339,
    stable_id,
)

EXEMPLARS_PER_SIGNATURE = 3
NORMALLY_LOGS = 0.9  # share of baseline buckets with logs for a service to "normally log"
MIN_SILENT_BUCKETS = 2


@dataclass(slots=True)
class Signature:
    service: str | None
    template: str
    window_count: int = 0
    baseline_count: int = 0
    first_seen: datetime | None = None
    levels: set[str] = field(default_factory=set)
    error_types: set[str] = field(default_factory=set)
    messages: list[LogMessage] = field(default_factory=list)
    exemplars: list[LogRecord] = field(default_factory=list)


def signatures(messages: Sequence[LogMessage], records: Sequence[LogRecord]) -> list[Signature]:
    """Group distinct messages (and exemplar documents) by service and signature."""
    msgs = sorted(messages, key=lambda m: (m.service or "", m.message, m.level or "", m.source, m.id))
    recs = sorted(records, key=lambda r: (r.at, r.source, r.id))
    templates = group_messages([m.message for m in msgs] + [r.message for r in recs])
    groups: dict[tuple[str, str], Signature] = {}
    for m, template in zip(msgs, templates[: len(msgs)], strict=True):
        sig = groups.setdefault((m.service or "", template), Signature(m.service, template))
        sig.window_count += m.window_count
        sig.baseline_count += m.baseline_count
        if m.first_seen is not None and (sig.first_seen is None or m.first_seen < sig.first_seen):
            sig.first_seen = m.first_seen
        if m.level:
            sig.levels.add(m.level)
        if m.error_type:
            sig.error_types.add(m.error_type)
        sig.messages.append(m)
    for r, template in zip(recs, templates[len(msgs) :], strict=True):
        found = groups.get((r.service or "", template))
        if found is not None and len(found.exemplars) < EXEMPLARS_PER_SIGNATURE:
            found.exemplars.append(r)
    return sorted(groups.values(), key=lambda s: (s.first_seen is None, s.first_seen or 0, s.service or "", s.template))


def new_signature_events(sigs: Sequence[Signature], scope: frozenset[str] | None) -> list[Event]:
    events = []
    for sig in sigs:
        if sig.window_count == 0 or sig.baseline_count > 0 or sig.first_seen is None:
            continue
        if scope is not None and sig.service not in scope:
            continue
        first = min(sig.messages, key=lambda m: (m.first_seen or sig.first_seen, m.id))
        exemplars = [{"at": rfc3339(e.at), "message": e.message, "id": e.id, "link": e.link} for e in sig.exemplars]
        events.append(
            Event(
                id=stable_id(first.source, "new_log_signature", sig.service or "", sig.template),
                at=sig.first_seen,
                kind="new_log_signature",
                source=first.source,
                service=sig.service,
                title=f"new error in {sig.service or 'logs'}: {sig.template[:140]}",
                attrs={
                    "signature": sig.template,
                    "count": sig.window_count,
                    "baseline_count": 0,
                    "levels": sorted(sig.levels),
                    "error_types": sorted(sig.error_types),
                    "distinct_messages": len(sig.messages),
                    "exemplars": exemplars,
                },
                link=(sig.exemplars[0].link if sig.exemplars and sig.exemplars[0].link else first.link),
                request=first.request,
            )
        )
    return events


def silences(series: Sequence[Series], incident: Incident, scope: frozenset[str] | None) -> list[Event]:
    """Ingestion holes: runs of empty buckets in the window of a service that normally logs."""
    lo = incident.start.timestamp()
    events = []
    for s in series:
        if s.role != "log_count" or s.signal != "logs:*" or (scope is not None and s.service not in scope):
            continue
        base = [v for t, v in zip(s.times, s.values, strict=True) if t < lo]
        if not base or sum(1 for v in base if v > 0) < NORMALLY_LOGS * len(base):
            continue
        typical = sorted(base)[len(base) // 2]
        step = s.step or 60.0
        run: list[float] = []
        points = [(t, v) for t, v in zip(s.times, s.values, strict=True) if t >= lo]
        for i, (t, v) in enumerate([*points, (float("inf"), 1.0)]):
            if v == 0:
                run.append(t)
                continue
            if len(run) >= MIN_SILENT_BUCKETS:
                start, end = run[0], (t if i < len(points) else run[-1] + step)
                events.append(
                    Event(
                        id=stable_id(s.id, "silence", repr(start)),
                        at=from_epoch(start),
                        end=from_epoch(end),
                        kind="telemetry_gap",
                        source=s.source,
                        service=s.service,
                        title=f"no logs from {s.service} for {format_duration(end - start)}",
                        attrs={
                            "reason": (
                                f"no logs ingested ({len(run)} empty buckets of {format_duration(step)}; "
                                f"normally {typical:g} per bucket)"
                            ),
                            "signal": "logs",
                        },
                        link=s.link,
                        request=s.request,
                    )
                )
            run = []
    return events


def without_silences(series: Sequence[Series], holes: Sequence[Event]) -> list[Series]:
    """Log counts with the buckets of an ingestion hole as missing (NaN), not as zero.

    A hole says nothing about the error rate: read as zeros, it would end a burst of errors and
    start it again when the logs come back.
    """
    by_service: dict[str | None, list[tuple[float, float]]] = {}
    for h in holes:
        if h.end is not None:
            by_service.setdefault(h.service, []).append((h.at.timestamp(), h.end.timestamp()))
    out = []
    for s in series:
        ranges = by_service.get(s.service) if s.role == "log_count" else None
        if not ranges:
            out.append(s)
            continue
        values = tuple(
            math.nan if any(a <= t < b for a, b in ranges) else v for t, v in zip(s.times, s.values, strict=True)
        )
        out.append(
            Series(
                id=s.id,
                source=s.source,
                signal=s.signal,
                service=s.service,
                labels=s.labels,
                query=s.query,
                times=s.times,
                values=values,
                direction=s.direction,
                step=s.step,
                link=s.link,
                request=s.request,
                role=s.role,
                alert=s.alert,
                unit=s.unit,
            )
        )
    return out
