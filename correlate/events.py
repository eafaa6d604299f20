"""The evidence's events indexed once: by kind, with each event's time in epoch seconds beside it,
so that no later step sorts or converts a million datetimes again.

Every kind's list is in time order (`at`, then `source`, then `id`), except the alert kinds: their
one reader groups them into episodes, which does not depend on order, and they are most of the
events of a large organisation. The timeline takes all the events in `index` order with `ts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import compress
from operator import attrgetter

import numpy as np

from correlate.alerts import ALERT_KINDS
from dossier.model import Event

_AT = attrgetter("at")


def epoch(events: list[Event]) -> np.ndarray:
    """Each event's `at` in epoch seconds (float64 holds microseconds exactly at today's epoch)."""
    return np.fromiter(map(datetime.timestamp, map(_AT, events)), np.float64, len(events))


@dataclass(frozen=True, slots=True)
class Index:
    by_kind: dict[str, list[Event]]
    ts: dict[str, np.ndarray]  # kind -> epoch seconds, in the order of `by_kind[kind]`

    def since(self, start: datetime) -> tuple[list[Event], np.ndarray]:
        """Every event at or after `start`, or spanning it (`end` at or after it), with its times."""
        lo = start.timestamp()
        out: list[Event] = []
        times = []
        for kind in sorted(self.by_kind):
            listed, ts = self.by_kind[kind], self.ts[kind]
            keep = ts >= lo
            for i in np.flatnonzero(~keep).tolist():
                end = listed[i].end
                keep[i] = end is not None and end >= start
            out += compress(listed, keep.tolist()) if not keep.all() else listed
            times.append(ts[keep])
        return out, (np.concatenate(times) if times else np.zeros(0, np.float64))


def index(events: Iterable[Event]) -> Index:
    by_kind: dict[str, list[Event]] = {}
    for e in events:
        by_kind.setdefault(e.kind, []).append(e)
    ts = {}
    for kind, listed in by_kind.items():
        times = epoch(listed)
        if kind not in ALERT_KINDS:
            listed[:], times = _in_time_order(listed, times)
        ts[kind] = times
    return Index(by_kind, ts)


def _in_time_order(events: list[Event], ts: np.ndarray) -> tuple[list[Event], np.ndarray]:
    """`events` by (at, source, id): numpy sorts the times; Python only breaks ties."""
    order = np.argsort(ts, kind="stable")
    times = ts[order]
    picked = order.tolist()
    bounds = np.flatnonzero(np.r_[True, times[1:] != times[:-1], True])
    for run in np.flatnonzero(np.diff(bounds) > 1).tolist():
        a, b = int(bounds[run]), int(bounds[run + 1])
        picked[a:b] = sorted(picked[a:b], key=lambda i: (events[i].source, events[i].id))
    return list(map(events.__getitem__, picked)), times
