"""The timeline: the events that tell the incident, in time order, with their phase and an `important`
flag; the rest of the evidence as a bounded number of summary entries.

However many events there are, the timeline holds at most

* every event the caller marks (`important`, `causes`, `keep`: milestones, gap evidence, causes),
* `limit` other events, chosen by how much they belong to the incident: its phases before context
  (trigger, then detection and escalation, then mitigation and recovery), the incident's `services`
  before others, then nearest to the onset,
* `max_summaries` entries of kind `note` for the events left out, one per phase, kind, service, source
  and 15-minute bucket (coarser when there would be more), e.g. "1,234 deploy events of payments from
  10:00 to 10:30 (deploy_file/c, in the evidence archive)", attrs `{count, kind, first, last, ...}`.

A group of one event is shown as that event. The counts of the summaries add up to exactly the events
left out, which stay in the evidence archive. When there are no more than `limit` unmarked events,
every event is on the timeline, as it always was. Pure and deterministic: the same events in any
order give the same timeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter
from typing import Any

import numpy as np

from dossier.model import CHANGE_KINDS, Event, Phase, TimelineEntry, rfc3339, stable_id

LIMIT = 200  # unmarked events shown one by one
MAX_SUMMARIES = 100  # summary entries for the rest
BUCKET = 900.0  # seconds: the finest time bucket of a summary

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

# which unmarked events are shown first: the incident's own phases, context last
_TIER: dict[str, int] = {
    "trigger": 0,
    "detection": 1,
    "escalation": 1,
    "mitigation": 2,
    "recovery": 2,
    "context": 3,
}
_PHASES: tuple[Phase, ...] = ("trigger", "detection", "escalation", "mitigation", "recovery", "context")
_OUT_OF_SCOPE = 4  # added to the tier of an event of a service outside `services`

_ORDER = attrgetter("at", "source", "id")
_ID, _AT, _KIND, _SERVICE, _SOURCE = map(attrgetter, ("id", "at", "kind", "service", "source"))


def phase_of(e: Event, *, started: datetime | None, causes: frozenset[str], context: frozenset[str]) -> Phase:
    if e.id in context:
        return "context"
    return _phase(
        e.kind, e.id in causes, started is not None and e.at > started, started is not None and e.at < started
    )


def _phase(kind: str, cause: bool, after: bool, before: bool) -> Phase:
    if kind in CHANGE_KINDS:
        if cause:
            return "trigger"
        return "mitigation" if after else "context"
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    # anomaly_start, log_spike, new_log_signature, trace_errors, latency_shift: the trouble itself
    return "context" if before else "trigger"


def _unique(listed: list[Event]) -> list[Event]:
    """One event per id; where two differ under the same id, the first in (at, source, kind, title)."""
    by_id: dict[str, Event] = {}
    for e in listed:
        kept = by_id.setdefault(e.id, e)
        if e is not kept and (e.at, e.source, e.kind, e.title) < (kept.at, kept.source, kept.kind, kept.title):
            by_id[e.id] = e
    return list(by_id.values())


def build(
    events: Iterable[Event],
    *,
    started: datetime | None,
    causes: frozenset[str],
    important: frozenset[str],
    context: frozenset[str] = frozenset(),
    keep: frozenset[str] = frozenset(),
    services: frozenset[str] | None = None,
    incident_alerts: frozenset[str] | None = None,
    limit: int = LIMIT,
    max_summaries: int = MAX_SUMMARIES,
    ts: np.ndarray | None = None,
) -> tuple[TimelineEntry, ...]:
    """`context`: ids of events that did not take part in the incident (alerts of other episodes).
    `incident_alerts`, when given: the ids of the incident's own alert events; every other `alert_*`
    event is context too (the same as naming them all in `context`, without a set of a million ids).
    `important`, `causes` and `keep`: ids always shown one by one. `services`: the incident's services
    (and their dependencies), whose events are shown before others'; None: every service counts.
    `ts`, when the caller has it: each event's `at` in epoch seconds, in the order of `events`."""
    listed = list(events)
    marked = important | causes | keep
    groups: list[TimelineEntry] = []
    if len(listed) <= limit:
        chosen = _unique(listed)
    else:
        # each pass over the events is a C-level map (a cache miss per event when there are a
        # million); the rest is numpy over their columns
        ids = list(map(_ID, listed))
        if len(set(ids)) != len(ids):
            listed = _unique(listed)
            ids, ts = list(map(_ID, listed)), None
        flags = _flags(ids, marked, context, incident_alerts)
        unmarked = np.flatnonzero((flags & _MARKED) == 0)
        if len(unmarked) <= limit:
            chosen = listed
        else:
            if ts is None:
                ts = np.fromiter(map(datetime.timestamp, map(_AT, listed)), np.float64, len(listed))
            chosen, groups = _bounded(
                listed,
                flags,
                unmarked,
                np.asarray(ts, np.float64),
                started,
                incident_alerts is not None,
                services,
                max(limit, 0),
                max(max_summaries, 1),
            )

    def phase(e: Event) -> Phase:
        if incident_alerts is not None and e.kind.startswith("alert_") and e.id not in incident_alerts:
            return "context"
        return phase_of(e, started=started, causes=causes, context=context)

    entries = [TimelineEntry(event=e, phase=phase(e), important=e.id in important) for e in chosen]
    entries += groups
    entries.sort(key=lambda t: _ORDER(t.event))
    return tuple(entries)


_MARKED, _CONTEXT, _OURS = 1, 2, 4  # bits of an event's flags


def _flags(
    ids: list[str], marked: frozenset[str], context: frozenset[str], incident_alerts: frozenset[str] | None
) -> np.ndarray:
    """One lookup per event in one small table: marked, in context, one of the incident's alerts."""
    table: dict[str, int] = {}
    for bit, members in ((_MARKED, marked), (_CONTEXT, context), (_OURS, incident_alerts or ())):
        for i in members:
            table[i] = table.get(i, 0) | bit
    return np.fromiter(map(table.get, ids, repeat(0)), np.int64, len(ids))


def _codes(values: Iterable[str | None], n: int) -> tuple[np.ndarray, list[str | None]]:
    """Integer codes of `values` (in sorted order of the distinct values, None first) and the names."""
    listed = list(values)
    names = sorted(set(listed), key=lambda v: (v is not None, v or ""))
    index = {v: i for i, v in enumerate(names)}
    return np.fromiter(map(index.__getitem__, listed), np.int64, n), names


def _bounded(
    listed: list[Event],
    flags: np.ndarray,
    unmarked: np.ndarray,
    ts: np.ndarray,
    started: datetime | None,
    alerts_known: bool,
    services: frozenset[str] | None,
    limit: int,
    max_summaries: int,
) -> tuple[list[Event], list[TimelineEntry]]:
    n = len(listed)
    kind_c, kind_names = _codes(map(_KIND, listed), n)
    svc_c, svc_names = _codes(map(_SERVICE, listed), n)
    src_c, src_names = _codes(map(_SOURCE, listed), n)
    ctx = (flags & _CONTEXT) != 0
    if alerts_known:  # alert events not of the incident are context
        is_alert = np.array([str(k).startswith("alert_") for k in kind_names], bool)[kind_c]
        ctx |= is_alert & ((flags & _OURS) == 0)
    rel = np.ones(n, np.int64) if started is None else (np.sign(ts - started.timestamp()).astype(np.int64) + 1)
    # phase of each (kind, before/at/after the onset, in context)
    table = np.zeros((len(kind_names), 3, 2), np.int64)
    for k, kind in enumerate(kind_names):
        for r in range(3):
            table[k, r, 0] = _PHASES.index(_phase(str(kind), False, r == 2, r == 0))
            table[k, r, 1] = _PHASES.index("context")
    phase_c = table[kind_c, rel, ctx.astype(np.int64)]
    tiers = np.array([_TIER[p] for p in _PHASES], np.int64)[phase_c]
    if services is not None:
        outside = np.array([s is not None and s not in services for s in svc_names], np.int64)
        tiers += _OUT_OF_SCOPE * outside[svc_c]

    # the `limit` unmarked events shown one by one: by tier, then nearest the onset
    is_marked = np.ones(n, bool)
    is_marked[unmarked] = False
    if started is not None:
        anchor_at = started
    else:  # no onset: the earliest marked event, else the earliest event
        pool = np.flatnonzero(is_marked).tolist() or range(n)
        anchor_at = min(listed[i].at for i in pool)
    dist = np.abs(ts - anchor_at.timestamp())
    shown = np.zeros(n, bool)
    room = limit
    rest_tiers = tiers[unmarked]
    for tier in np.unique(rest_tiers).tolist():
        if room <= 0:
            break
        members = unmarked[rest_tiers == tier]
        if len(members) > room:
            d = dist[members]
            threshold = np.partition(d, room - 1)[room - 1]
            near = members[d <= threshold + 1e-3].tolist()  # exact order below, ties included
            near.sort(key=lambda i: (abs(listed[i].at - anchor_at), listed[i].at, listed[i].source, listed[i].id))
            members = np.array(near[:room], np.int64)
        shown[members] = True
        room -= len(members)
    chosen = list(compress(listed, (is_marked | shown).tolist()))

    # the others, summarised: fine groups by (phase, kind, service, source, bucket)
    hidden = np.flatnonzero(~(is_marked | shown))
    bucket = np.floor(ts[hidden] / BUCKET).astype(np.int64)
    b0 = (int(bucket.min()) // 4) * 4 if len(bucket) else 0  # a whole hour: coarser buckets stay aligned
    bucket -= b0
    fine = _combine((phase_c[hidden], kind_c[hidden], svc_c[hidden], src_c[hidden], bucket))
    order = np.lexsort((ts[hidden], fine))
    starts, ends = _runs(fine[order])
    # fine groups as numpy columns: their fields, count, first and last event (index into `listed`)
    g_first = hidden[order[starts]]
    g_last = hidden[order[ends - 1]]
    g_count = ends - starts
    g_phase, g_kind, g_svc, g_src = phase_c[g_first], kind_c[g_first], svc_c[g_first], src_c[g_first]
    g_bucket = bucket[order[starts]]
    none = np.zeros(len(g_first), np.int64)
    for by_service, by_source, per in _LEVELS:
        code = _combine(
            (
                g_phase,
                g_kind,
                g_svc if by_service else none,
                g_src if by_source else none,
                none if per is None else g_bucket // per,
            )
        )
        if len(np.unique(code)) <= max_summaries:
            break
    # merge the fine groups of each code: counts add up, first of the firsts, last of the lasts
    o1 = np.lexsort((ts[g_first], code))
    s1, _ = _runs(code[o1])
    o2 = np.lexsort((ts[g_last], code))
    _, e2 = _runs(code[o2])
    codes = code[o1[s1]]
    counts = np.add.reduceat(g_count[o1], s1).tolist() if len(s1) else []
    firsts = g_first[o1[s1]].tolist()
    lasts = g_last[o2[e2 - 1]].tolist()
    group_services = _members(code, g_svc, codes)
    group_sources = _members(code, g_src, codes)
    out: list[TimelineEntry] = []
    for i, (c, f, la) in enumerate(zip(counts, firsts, lasts, strict=True)):
        if c == 1:  # a group of one: the event itself
            chosen.append(listed[f])
            continue
        svc_names_of = {svc_names[j] for j in group_services[i]}
        src_names_of = {str(src_names[j]) for j in group_sources[i]}
        key = (
            _PHASES[int(g_phase[o1[s1[i]]])],
            str(kind_names[int(g_kind[o1[s1[i]]])]),
            next(iter(svc_names_of)) if len(svc_names_of) == 1 else None,
            next(iter(src_names_of)) if len(src_names_of) == 1 else None,
            None if per is None else int(g_bucket[o1[s1[i]]] // per) * per + b0,
        )
        out.append(_entry(key, c, listed[f].at, listed[la].at, svc_names_of, src_names_of))
    return chosen, out


# coarser and coarser groupings, until the summaries fit: by service, by source, bucket (in 15 min)
_LEVELS: tuple[tuple[bool, bool, int | None], ...] = (
    (True, True, 1),  # per service, 15 minutes
    (True, True, 4),  # per service, hour
    (True, True, None),  # per service, whole span
    (False, True, 4),  # services together, hour
    (False, True, None),  # services together, whole span
    (False, False, None),  # per phase and kind: at most 6 x 21
)


def _combine(fields: tuple[np.ndarray, ...]) -> np.ndarray:
    """One int64 code per row of non-negative integer columns, in the columns' lexicographic order."""
    n = len(fields[0])
    code = np.zeros(n, np.int64)
    if not n:
        return code
    widths = [int(f.max()) + 1 for f in fields]
    if math.prod(widths) >= 2**62:  # too many values to pack: rank the rows instead
        order = np.lexsort(tuple(reversed(fields)))
        rows = np.stack([f[order] for f in fields])
        new = np.r_[True, np.any(rows[:, 1:] != rows[:, :-1], axis=0)]
        code[order] = np.cumsum(new) - 1
        return code
    for f, width in zip(fields, widths, strict=True):
        code = code * width + f
    return code


def _runs(sorted_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of equal values."""
    if not len(sorted_codes):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    return starts, np.r_[starts[1:], len(sorted_codes)].astype(np.int64)


def _members(code: np.ndarray, values: np.ndarray, codes: np.ndarray) -> list[list[int]]:
    """For each of `codes` (sorted), the distinct `values` of the rows with that code."""
    pairs = np.unique(np.stack([code, values], axis=1), axis=0) if len(code) else np.zeros((0, 2), np.int64)
    lo = np.searchsorted(pairs[:, 0], codes, side="left")
    hi = np.searchsorted(pairs[:, 0], codes, side="right")
    column = pairs[:, 1].tolist()
    return [column[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]


def _entry(
    key: tuple[Any, ...], n: int, first: datetime, last: datetime, services: set[str | None], sources: set[str]
) -> TimelineEntry:
    phase, kind = key[0], key[1]
    named = sorted(s for s in services if s is not None)
    listed = sorted(sources)
    if len(services) == 1 and named:
        of = f" of {named[0]}"
    elif len(named) > 1:
        of = f" of {len(named):,} services"
    else:
        of = ""
    where = ", ".join(listed)
    title = f"{n:,} {kind} events{of} {_span(first, last)} ({where}, in the evidence archive)"
    attrs: dict[str, Any] = {"count": n, "kind": kind, "first": rfc3339(first), "last": rfc3339(last)}
    if len(services) == 1:
        attrs["service"] = next(iter(services))
    else:
        attrs["services"] = len(named)
    attrs["sources"] = listed
    note = Event(
        id=stable_id("timeline-summary", *map(str, key), str(n)),
        at=first,
        end=last if last != first else None,
        kind="note",
        source=listed[0] if len(listed) == 1 else "evidence",
        title=title,
        service=named[0] if len(services) == 1 and named else None,
        attrs=attrs,
    )
    return TimelineEntry(event=note, phase=phase, important=False)


def _span(first: datetime, last: datetime) -> str:
    a, b = first.astimezone(UTC), last.astimezone(UTC)
    if a.date() != b.date():
        return f"from {a:%Y-%m-%d %H:%M} to {b:%Y-%m-%d %H:%M}"
    if b - a < timedelta(minutes=1) and a.minute == b.minute:
        return f"at {a:%H:%M}"
    return f"from {a:%H:%M} to {b:%H:%M}"
