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
from itertools import compress
from operator import attrgetter, itemgetter, not_
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
_ROW = attrgetter("id", "at", "kind", "service", "source")


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
) -> tuple[TimelineEntry, ...]:
    """`context`: ids of events that did not take part in the incident (alerts of other episodes).
    `incident_alerts`, when given: the ids of the incident's own alert events; every other `alert_*`
    event is context too (the same as naming them all in `context`, without a set of a million ids).
    `important`, `causes` and `keep`: ids always shown one by one. `services`: the incident's services
    (and their dependencies), whose events are shown before others'; None: every service counts."""
    listed = list(events)
    marked = important | causes | keep
    groups: list[TimelineEntry] = []
    if len(listed) <= limit:
        chosen = _unique(listed)
    else:
        # one pass over the events (each a cache miss when there are a million), then over rows
        rows = list(map(_ROW, listed))
        ids = list(map(itemgetter(0), rows))
        if len(set(ids)) != len(ids):
            listed = _unique(listed)
            rows = list(map(_ROW, listed))
            ids = list(map(itemgetter(0), rows))
        is_marked = list(map(marked.__contains__, ids))
        if is_marked.count(False) <= limit:
            chosen = listed
        else:
            chosen, groups = _bounded(
                listed,
                rows,
                is_marked,
                started,
                context,
                incident_alerts,
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


def _codes(values: Iterable[str | None], n: int) -> tuple[np.ndarray, list[str | None]]:
    """Integer codes of `values` (in sorted order of the distinct values, None first) and the names."""
    listed = list(values)
    names = sorted(set(listed), key=lambda v: (v is not None, v or ""))
    index = {v: i for i, v in enumerate(names)}
    return np.fromiter(map(index.__getitem__, listed), np.int64, n), names


def _bounded(
    unique: list[Event],
    rows: list[tuple[Any, ...]],
    is_marked: list[bool],
    started: datetime | None,
    context: frozenset[str],
    incident_alerts: frozenset[str] | None,
    services: frozenset[str] | None,
    limit: int,
    max_summaries: int,
) -> tuple[list[Event], list[TimelineEntry]]:
    # This runs over every event: Python touches each event only in map() and compress() over
    # C-level callables; the rest is numpy over integer codes.
    unmarked = list(map(not_, is_marked))
    rest = list(compress(unique, unmarked))
    marked = list(compress(unique, is_marked))
    rest_rows = list(compress(rows, unmarked))
    n = len(rest)
    ats = list(map(itemgetter(1), rest_rows))
    ts = np.fromiter(map(datetime.timestamp, ats), np.float64, n)
    kind_c, kind_names = _codes(map(itemgetter(2), rest_rows), n)
    svc_c, svc_names = _codes(map(itemgetter(3), rest_rows), n)
    src_c, src_names = _codes(map(itemgetter(4), rest_rows), n)
    if context:
        ctx = np.fromiter(map(context.__contains__, map(itemgetter(0), rest_rows)), np.int64, n)
    else:
        ctx = np.zeros(n, np.int64)
    if incident_alerts is not None:  # alert events not of the incident: a lookup in a small set each
        is_alert = np.array([str(k).startswith("alert_") for k in kind_names], bool)[kind_c]
        alert_rows = np.flatnonzero(is_alert).tolist()
        ours = np.fromiter(
            map(incident_alerts.__contains__, map(itemgetter(0), map(rest_rows.__getitem__, alert_rows))),
            bool,
            len(alert_rows),
        )
        ctx[np.array(alert_rows, np.int64)[~ours]] = 1
    rel = np.ones(n, np.int64) if started is None else (np.sign(ts - started.timestamp()).astype(np.int64) + 1)
    if started is None:  # neither before nor after
        rel[:] = 1
    # phase of each (kind, before/at/after the onset, in context)
    table = np.zeros((len(kind_names), 3, 2), np.int64)
    for k, kind in enumerate(kind_names):
        for r in range(3):
            table[k, r, 0] = _PHASES.index(_phase(str(kind), False, r == 2, r == 0))
            table[k, r, 1] = _PHASES.index("context")
    phase_c = table[kind_c, rel, ctx]
    tiers = np.array([_TIER[p] for p in _PHASES], np.int64)[phase_c]
    if services is not None:
        outside = np.array([s is not None and s not in services for s in svc_names], np.int64)
        tiers += _OUT_OF_SCOPE * outside[svc_c]

    # the `limit` unmarked events shown one by one: by tier, then nearest the onset
    anchor_at = started or min(e.at for e in (marked or rest))
    dist = np.abs(ts - anchor_at.timestamp())
    shown = np.zeros(n, bool)
    room = limit
    for tier in np.unique(tiers).tolist():
        if room <= 0:
            break
        members = np.flatnonzero(tiers == tier)
        if len(members) > room:
            d = dist[members]
            threshold = np.partition(d, room - 1)[room - 1]
            near = members[d <= threshold + 1e-3].tolist()  # exact order below, ties included
            near.sort(key=lambda i: (abs(ats[i] - anchor_at), ats[i], rest[i].source, rest[i].id))
            members = np.array(near[:room], np.int64)
        shown[members] = True
        room -= len(members)
    chosen = marked + [rest[i] for i in np.flatnonzero(shown).tolist()]

    # the others, summarised: fine groups by (phase, kind, service, source, bucket)
    hidden = np.flatnonzero(~shown)
    bucket = np.floor(ts[hidden] / BUCKET).astype(np.int64)
    b0 = (int(bucket.min()) // 4) * 4 if len(bucket) else 0  # a whole hour: coarser buckets stay aligned
    bucket -= b0
    fine = _combine((phase_c[hidden], kind_c[hidden], svc_c[hidden], src_c[hidden], bucket))
    order = np.lexsort((ts[hidden], fine))
    starts, ends = _runs(fine[order])
    # fine groups as numpy columns: their fields, count, first and last event (index into `rest`)
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
            chosen.append(rest[f])
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
        out.append(_entry(key, c, ats[f], ats[la], svc_names_of, src_names_of))
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
