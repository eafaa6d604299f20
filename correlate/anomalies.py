"""Signals that went wrong: onsets of each watched series, as `anomaly_start`/`anomaly_end` events."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from correlate.onsets import Onset, find_onsets
from dossier.model import (
    Event,
    Incident,
    Series,
    format_duration,
    from_epoch,
    rfc3339,
    stable_id,
)
from dossier.units import fmt_value, infer_unit, normal_unit, per


@dataclass(frozen=True, slots=True)
class Anomaly:
    series: Series
    direction: str  # up | down
    start: float
    end: float | None
    peak: float
    score: float
    baseline_level: float | None
    peak_value: float | None
    start_event: Event
    end_event: Event | None
    open_until: float | None = None  # not ended when the search stopped following it (long windows)

    @property
    def service(self) -> str | None:
        return self.series.service

    @property
    def signal(self) -> str:
        return self.series.signal


LONG_WINDOW = 3  # a window longer than this many baselines is searched one baseline-long segment at a time
FOLLOW = 3  # ... and an episode found in a segment is followed for at most this many baselines


def _onsets(
    times: np.ndarray, values: np.ndarray, lo: float, hi: float, baseline: float, direction: str
) -> list[tuple[Onset, float | None]]:
    """Onsets starting in [lo, hi], each with the time up to which it was followed when it had not
    ended by then (None: followed to the end of the data).

    In a long window the baseline stays next to what it judges: each baseline-long segment is
    compared with the baseline just before it (so a 7-day window is not judged against the hour
    before its start), and an episode found in one segment is followed for `FOLLOW` baselines: a
    short baseline says nothing about what is normal a day later."""
    if baseline <= 0 or hi - lo <= LONG_WINDOW * baseline:
        return [
            (o, None) for o in find_onsets(times, values, baseline_end=lo, direction=direction) if lo <= o.start <= hi
        ]
    found: list[tuple[Onset, float | None]] = []
    resume = lo
    seg = lo
    last = float(times[-1]) if times.size else hi
    while seg <= hi:
        if seg + baseline > resume:
            until = seg + FOLLOW * baseline
            keep = (times >= seg - baseline) & (times <= until)
            for o in find_onsets(times[keep], values[keep], baseline_end=seg, direction=direction):
                if seg <= o.start < seg + baseline and o.start >= resume and o.start <= hi:
                    open_until = until if o.end is None and until < last else None
                    found.append((o, open_until))
                    resume = o.end if o.end is not None else (open_until if open_until is not None else math.inf)
        if resume == math.inf:
            break
        seg += baseline
    return found


def _value_at(series: Series, t: float) -> float | None:
    times = np.asarray(series.times)
    i = int(np.searchsorted(times, t))
    if i < len(times) and math.isfinite(series.values[i]):
        return float(series.values[i])
    return None


# Log levels whose counts are watched for spikes (the collectors' default `error_levels`).
ERROR_LEVELS = frozenset({"error", "fatal", "critical", "crit", "alert", "emerg", "panic", "severe"})


def watched(s: Series) -> bool:
    """Metric signals, and the error-level log counts (`log_count`, `logs:<level>`)."""
    if s.role == "signal":
        return True
    return s.role == "log_count" and str(s.labels.get("level", "")).lower() in ERROR_LEVELS


def find_anomalies(
    series: Iterable[Series], incident: Incident, scope: frozenset[str] | None, baseline: float = 0.0
) -> list[Anomaly]:
    """Onsets of every watched series of the services in `scope` (all when None) that begin in the window.

    An onset of a metric signal is an `anomaly_start` event, one of error-log counts a `log_spike`.
    """
    lo, hi = incident.start.timestamp(), incident.end.timestamp()
    found: list[Anomaly] = []
    for s in series:
        if not watched(s) or (scope is not None and s.service not in scope):
            continue
        times = np.asarray(s.times, dtype=float)
        values = np.asarray(s.values, dtype=float)
        is_log = s.role == "log_count"
        unit = None if is_log else (normal_unit(s.unit) or infer_unit(s.query))
        for onset, open_until in _onsets(times, values, lo, hi, baseline, "up" if is_log else s.direction):
            recent = values[(times < onset.start) & (times >= onset.start - (baseline or math.inf))]
            recent = recent[np.isfinite(recent)]
            level = float(np.median(recent)) if recent.size else None
            direction = getattr(onset, "direction", s.direction if s.direction != "both" else "up")
            peak_value = _value_at(s, onset.peak)
            who = f"{s.signal} of {s.service}" if s.service else s.signal
            if is_log:
                who = f"{s.labels.get('level')} logs of {s.service or 'all services'}"
            verb = "rose" if direction == "up" else "fell"
            attrs = {
                "signal": s.signal,
                "series": s.id,
                "labels": dict(s.labels),
                "direction": direction,
                "score": round(float(onset.score), 2),
                "baseline": level,
                "peak": peak_value,
                "peak_at": rfc3339(from_epoch(onset.peak)),
                "query": s.query,
                "unit": unit,
                "step": s.step,
            }
            start_event = Event(
                id=stable_id(s.id, "anomaly_start", repr(onset.start)),
                at=from_epoch(onset.start),
                end=from_epoch(onset.end) if is_log and onset.end is not None else None,
                kind="log_spike" if is_log else "anomaly_start",
                source=s.source,
                service=s.service,
                title=(
                    f"{who} {verb} from {fmt_value(level, None)} to {fmt_value(peak_value, None)} {per(s.step)}"
                    if is_log
                    else f"{who} {verb} from {fmt_value(level, unit)} to a peak of {fmt_value(peak_value, unit)}"
                ),
                attrs=attrs,
                link=s.link,
                request=s.request,
            )
            end_event = None
            if onset.end is not None:
                end_event = Event(
                    id=stable_id(s.id, "anomaly_end", repr(onset.end)),
                    at=from_epoch(onset.end),
                    kind="anomaly_end",
                    source=s.source,
                    service=s.service,
                    title=f"{who} back to baseline after {format_duration(onset.end - onset.start)}",
                    attrs={"signal": s.signal, "series": s.id, "labels": dict(s.labels), "started": start_event.id},
                    link=s.link,
                    request=s.request,
                )
            found.append(
                Anomaly(
                    series=s,
                    direction=direction,
                    start=float(onset.start),
                    end=None if onset.end is None else float(onset.end),
                    peak=float(onset.peak),
                    score=float(onset.score),
                    baseline_level=level,
                    peak_value=peak_value,
                    start_event=start_event,
                    end_event=end_event,
                    open_until=open_until,
                )
            )
    found.sort(key=lambda a: (a.start, a.series.source, a.series.id))
    return found
