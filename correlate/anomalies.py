"""Signals that went wrong: onsets of each watched series, as `anomaly_start`/`anomaly_end` events."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from correlate.onsets import find_onsets
from dossier.model import Event, Incident, Series, format_duration, from_epoch, rfc3339, stable_id


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

    @property
    def service(self) -> str | None:
        return self.series.service

    @property
    def signal(self) -> str:
        return self.series.signal


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:.3g}"


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


def find_anomalies(series: Iterable[Series], incident: Incident, scope: frozenset[str] | None) -> list[Anomaly]:
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
        base = values[times < lo]
        base = base[np.isfinite(base)]
        level = float(np.median(base)) if base.size else None
        is_log = s.role == "log_count"
        for onset in find_onsets(times, values, baseline_end=lo, direction="up" if is_log else s.direction):
            if not lo <= onset.start <= hi:
                continue
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
            }
            start_event = Event(
                id=stable_id(s.id, "anomaly_start", repr(onset.start)),
                at=from_epoch(onset.start),
                end=from_epoch(onset.end) if is_log and onset.end is not None else None,
                kind="log_spike" if is_log else "anomaly_start",
                source=s.source,
                service=s.service,
                title=(
                    f"{who} {verb} from {_fmt(level)} to {_fmt(peak_value)} per {format_duration(s.step)}"
                    if is_log and s.step
                    else f"{who} {verb} from {_fmt(level)} (peak {_fmt(peak_value)})"
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
                )
            )
    found.sort(key=lambda a: (a.start, a.series.source, a.series.id))
    return found
