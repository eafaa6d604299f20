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

from collections.abc import Callable, Iterable
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
    limit: int = LIMIT,
    max_summaries: int = MAX_SUMMARIES,
) -> tuple[TimelineEntry, ...]:
    """`context`: ids of events that did not take part in the incident (alerts of other episodes).
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
                listed, rows, is_marked, started, context, services, max(limit, 0), max(max_summaries, 1)
            )
    entries = [
        TimelineEntry(
            event=e, phase=phase_of(e, started=started, causes=causes, context=context), important=e.id in important
        )
        for e in chosen
    ]
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
    b0 = int(bucket.min()) if len(bucket) else 0
    fields = (phase_c[hidden], kind_c[hidden], svc_c[hidden], src_c[hidden], bucket - b0)
    code = np.zeros(len(hidden), np.int64)
    for f in fields:
        width = int(f.max()) + 1 if len(f) else 1
        code = code * width + f
    order = np.lexsort((ts[hidden], code))
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]]) if len(order) else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], len(order)].astype(np.int64)
    first_i = hidden[order[starts]]
    last_i = hidden[order[ends - 1]].tolist()
    counts = (ends - starts).tolist()
    keys = list(
        zip(
            map(_PHASES.__getitem__, phase_c[first_i].tolist()),
            map(kind_names.__getitem__, kind_c[first_i].tolist()),
            map(svc_names.__getitem__, svc_c[first_i].tolist()),
            map(src_names.__getitem__, src_c[first_i].tolist()),
            (bucket[order[starts]] + b0).tolist(),
            strict=True,
        )
    )
    first_i = first_i.tolist()
    groups = _Groups()
    groups.count = dict(zip(keys, counts, strict=True))
    groups.first = dict(zip(keys, map(ats.__getitem__, first_i), strict=True))
    groups.last = dict(zip(keys, map(ats.__getitem__, last_i), strict=True))
    groups.services = {k: {k[2]} for k in keys}
    groups.sources = {k: {k[3]} for k in keys}
    groups.single = {k: rest[i] for k, i, c in zip(keys, first_i, counts, strict=True) if c == 1}
    for rekey in _LEVELS:
        if len(groups.count) <= max_summaries:
            break
        if rekey is _LEVELS[-1] or len(set(map(rekey, groups.count))) <= max_summaries:
            groups = groups.merged(rekey)
    out: list[TimelineEntry] = []
    for key, count in groups.count.items():
        if count == 1 and key in groups.single:  # a group of one: the event itself
            chosen.append(groups.single[key])
        else:
            out.append(groups.entry(key, count))
    return chosen, out


_Key = tuple[Any, ...]  # (phase, kind, service, source, bucket): what a summary groups by


def _bucket_of(size: float) -> Callable[[_Key], _Key]:
    ratio = size / BUCKET
    return lambda k: (k[0], k[1], k[2], k[3], k[4] // ratio)


# coarser and coarser groupings, until the summaries fit
_LEVELS: tuple[Callable[[_Key], _Key], ...] = (
    _bucket_of(4 * BUCKET),  # per service, hour
    lambda k: (k[0], k[1], k[2], k[3], None),  # per service, whole span
    lambda k: (k[0], k[1], None, k[3], k[4] // 4),  # services together, hour
    lambda k: (k[0], k[1], None, k[3], None),  # services together, whole span
    lambda k: (k[0], k[1], None, None, None),  # per phase and kind: at most 6 x 21
)


class _Groups:
    """Summary groups: key -> count, first, last, services and sources of the events it holds."""

    def __init__(self) -> None:
        self.count: dict[_Key, int] = {}
        self.first: dict[_Key, datetime] = {}
        self.last: dict[_Key, datetime] = {}
        self.services: dict[_Key, set[str | None]] = {}
        self.sources: dict[_Key, set[str]] = {}
        self.single: dict[_Key, Event] = {}  # the event of a group of one

    def add(
        self,
        key: _Key,
        count: int,
        first: datetime,
        last: datetime,
        services: set[str | None],
        sources: set[str],
        single: Event | None,
    ) -> None:
        if key in self.count:
            self.count[key] += count
            self.first[key] = min(self.first[key], first)
            self.last[key] = max(self.last[key], last)
            self.services[key] |= services
            self.sources[key] |= sources
            self.single.pop(key, None)
        else:
            self.count[key] = count
            self.first[key] = first
            self.last[key] = last
            self.services[key] = set(services)
            self.sources[key] = set(sources)
            if single is not None:
                self.single[key] = single

    def merged(self, rekey: Callable[[_Key], _Key]) -> _Groups:
        g = _Groups()
        for k, c in self.count.items():
            g.add(rekey(k), c, self.first[k], self.last[k], self.services[k], self.sources[k], self.single.get(k))
        return g

    def entry(self, key: tuple[Any, ...], n: int) -> TimelineEntry:
        phase, kind, _, _, _ = key
        first, last = self.first[key], self.last[key]
        services = sorted(s for s in self.services[key] if s is not None)
        sources = sorted(self.sources[key])
        if len(self.services[key]) == 1 and services:
            of = f" of {services[0]}"
        elif len(services) > 1:
            of = f" of {len(services):,} services"
        else:
            of = ""
        events = "event" if n == 1 else "events"
        where = ", ".join(sources)
        title = f"{n:,} {kind} {events}{of} {_span(first, last)} ({where}, in the evidence archive)"
        attrs: dict[str, Any] = {"count": n, "kind": kind, "first": rfc3339(first), "last": rfc3339(last)}
        if len(self.services[key]) == 1:
            attrs["service"] = next(iter(self.services[key]))
        else:
            attrs["services"] = len(services)
        attrs["sources"] = sources
        note = Event(
            id=stable_id("timeline-summary", *map(str, key), str(n)),
            at=first,
            end=last if last != first else None,
            kind="note",
            source=sources[0] if len(sources) == 1 else "evidence",
            title=title,
            service=services[0] if len(self.services[key]) == 1 and services else None,
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
