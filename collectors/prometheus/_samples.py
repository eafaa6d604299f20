"""Pure sample arithmetic: step grids and chunks, merging chunked answers, alert episodes, gaps.

No I/O here: everything takes epoch seconds and plain lists, so it is tested without a server.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: Mapping[str, str], drop: Iterable[str] = ()) -> LabelKey:
    skip = set(drop)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in skip))


# ---- range queries: the step grid and its chunks --------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """Evaluation times `start, start+step, ..., end` (end on the grid), epoch seconds."""

    start: float
    end: float
    step: float

    @property
    def points(self) -> int:
        return round((self.end - self.start) / self.step) + 1

    def times(self) -> tuple[float, ...]:
        return tuple(self.start + i * self.step for i in range(self.points))

    def index(self, t: float) -> int:
        return round((t - self.start) / self.step)


def grid_for(start: float, end: float, step: float) -> Grid:
    """The step-aligned grid covering [start, end]: first point at or before `start`.

    Aligning to multiples of the step gives the same evaluation times on every run (and
    the same ones Grafana would use), so re-collecting an incident gives the same series.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    first = math.floor(start / step) * step
    last = math.floor(end / step) * step
    last = max(last, first)
    return Grid(float(first), float(last), float(step))


def range_chunks(grid: Grid, max_points: int) -> list[Grid]:
    """Split `grid` into consecutive sub-grids of at most `max_points` points each.

    Sub-grids do not overlap (each starts one step after the previous one ends), so merged
    answers have neither duplicate nor missing evaluation times. Each satisfies Prometheus'
    limit `(end - start) / step <= 11000` when `max_points <= 11000`.
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    chunks: list[Grid] = []
    total = grid.points
    i = 0
    while i < total:
        n = min(max_points, total - i)
        start = grid.start + i * grid.step
        chunks.append(Grid(start, start + (n - 1) * grid.step, grid.step))
        i += n
    return chunks


def raw_chunks(start: float, end: float, max_span: float) -> list[tuple[float, float]]:
    """Split [start, end] into spans of at most `max_span` seconds for raw range selectors.

    Each span (a, b] is read as `selector[<b-a>s]` at time `b`; neighbouring spans share
    their boundary, and the caller de-duplicates by timestamp (Prometheus 2.x includes both
    ends of a range, 3.x only the right one; the first span starts 1 ms early to keep `start`).
    """
    if end <= start:
        return [(start - 0.001, start)]
    spans: list[tuple[float, float]] = []
    a = start - 0.001
    while a < end:
        b = min(a + max_span, end)
        spans.append((a, b))
        a = b
    return spans


Matrix = list[tuple[LabelKey, np.ndarray, np.ndarray]]


def parse_matrix(result: Iterable[Mapping], grid: Grid | None = None) -> Matrix:
    """A matrix `result` as (label key, times, values) arrays; values are strings on the wire.

    Runs in the worker thread that made the request, so that parsing overlaps the server's work.
    With the `grid` of a range query, a series with as many points as the grid has every grid
    point (its times are distinct grid points), so its times need not be read one by one.
    """
    out: Matrix = []
    for item in result:
        pairs = item.get("values")
        if pairs is None:
            pairs = [item["value"]] if item.get("value") else []
        if grid is not None and len(pairs) == grid.points:
            ts = grid.start + grid.step * np.arange(grid.points, dtype=float)
        else:
            ts = np.array([p[0] for p in pairs], dtype=float)
        vs = np.array([p[1] for p in pairs], dtype=float)  # "NaN", "+Inf" and "-Inf" parse too
        out.append((label_key(item.get("metric") or {}), ts, vs))
    return out


def merge_matrices(chunks: Iterable[Matrix]) -> dict[LabelKey, tuple[np.ndarray, np.ndarray]]:
    """Merge the answers of several chunks by label set: ascending times, one value per time."""
    parts: dict[LabelKey, list[tuple[np.ndarray, np.ndarray]]] = {}
    for chunk in chunks:
        for key, ts, vs in chunk:
            parts.setdefault(key, []).append((ts, vs))
    merged: dict[LabelKey, tuple[np.ndarray, np.ndarray]] = {}
    for key, pieces in parts.items():
        ts = np.concatenate([p[0] for p in pieces])
        vs = np.concatenate([p[1] for p in pieces])
        if len(pieces) > 1 or (ts.size > 1 and not bool(np.all(np.diff(ts) > 0))):
            ts, first = np.unique(ts, return_index=True)  # sorted; the first answer for a time wins
            vs = vs[first]
        merged[key] = (ts, vs)
    return merged


def on_grid(grid: Grid, ts: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Values on every grid point: NaN where the series has no point."""
    out = np.full(grid.points, np.nan)
    if ts.size:
        idx = np.rint((ts - grid.start) / grid.step).astype(np.int64)
        keep = (idx >= 0) & (idx < grid.points)
        out[idx[keep]] = vs[keep]
    return out


def nan_runs(values: Sequence[float] | np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """(first, last) indices of NaN runs longer than `min_len` points, between valid points."""
    arr = np.asarray(values, dtype=float)
    missing = np.isnan(arr)
    if not missing.any():
        return []
    valid = np.flatnonzero(~missing)
    if valid.size < 2:
        return []
    lo, hi = int(valid[0]), int(valid[-1])
    edges = np.diff(np.concatenate(([0], missing[lo : hi + 1].astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a) + lo, int(b) - 1 + lo) for a, b in zip(starts, ends, strict=True) if b - a > min_len]


def median_spacing(times: Sequence[float]) -> float | None:
    diffs = [b - a for a, b in itertools.pairwise(times) if b > a]
    return float(statistics.median(diffs)) if diffs else None


# ---- alert episodes from ALERTS / ALERTS_FOR_STATE raw samples ------------------------------


@dataclass(slots=True)
class Episode:
    labels: dict[str, str]  # identity: alertname and the alert's labels (no alertstate)
    pending_at: float | None
    fired_at: float | None
    resolved_at: float | None
    first_sample: float
    last_sample: float
    active_at: float | None  # ALERTS_FOR_STATE's value, when present
    interval: float
    interval_source: str
    samples: list[tuple[float, str]] = field(default_factory=list)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


def build_episodes(
    alerts: Mapping[LabelKey, Mapping[float, str]],
    for_state: Mapping[LabelKey, Mapping[float, str]],
    *,
    window_end: float,
    fallback_interval: Mapping[str, float] | None = None,
    default_interval: float = 60.0,
) -> list[Episode]:
    """Turn raw `ALERTS` and `ALERTS_FOR_STATE` samples into alert episodes.

    `alerts` is keyed by the ALERTS label set (with `alertstate`), `for_state` by the
    ALERTS_FOR_STATE label set; both without `__name__`. The evaluation interval is the
    median spacing of the alert's samples (else `fallback_interval[alertname]`, else
    `default_interval`). An episode ends where samples stop for more than two intervals or
    where ALERTS_FOR_STATE's value (activeAt) changes.
    """
    # identity -> time -> (state, active_at)
    states: dict[LabelKey, dict[float, str]] = {}
    actives: dict[LabelKey, dict[float, float]] = {}
    for key, samples in alerts.items():
        ident = tuple((k, v) for k, v in key if k not in ("alertstate", "__name__"))
        state = dict(key).get("alertstate", "firing")
        bucket = states.setdefault(ident, {})
        for t in samples:
            # both series present at one time only around a transition: firing wins
            if bucket.get(t) != "firing":
                bucket[t] = state
    for key, samples in for_state.items():
        ident = tuple((k, v) for k, v in key if k != "__name__")
        bucket_a = actives.setdefault(ident, {})
        for t, v in samples.items():
            try:
                bucket_a[t] = float(v)
            except ValueError:
                continue

    episodes: list[Episode] = []
    for ident in sorted(set(states) | set(actives)):
        st = states.get(ident, {})
        ac = actives.get(ident, {})
        times = sorted(set(st) | set(ac))
        if not times:
            continue
        labels = dict(ident)
        spacing = median_spacing(times)
        if spacing:
            interval, source = spacing, "median sample spacing"
        elif fallback_interval and labels.get("alertname") in fallback_interval:
            interval, source = fallback_interval[labels["alertname"]], "rule group interval"
        else:
            interval, source = default_interval, "assumed (one sample only)"
        current: list[float] = []
        current_active: float | None = None
        make = {"labels": labels, "states": st, "interval": interval, "source": source, "window_end": window_end}
        prev: float | None = None
        for t in times:
            a = ac.get(t)
            new = prev is not None and t - prev > 2 * interval
            if a is not None and current_active is not None and a != current_active:
                new = True
            if new:
                _close(episodes, current, current_active, **make)
                current, current_active = [], None
            current.append(t)
            if a is not None and current_active is None:
                current_active = a
            prev = t
        _close(episodes, current, current_active, **make)
    return episodes


def _close(
    episodes: list[Episode],
    ts: list[float],
    active: float | None,
    *,
    labels: dict[str, str],
    states: Mapping[float, str],
    interval: float,
    source: str,
    window_end: float,
) -> None:
    """Append the episode made of the sample times `ts` (if it has any ALERTS sample)."""
    if not ts:
        return
    pending = [t for t in ts if states.get(t) == "pending"]
    firing = [t for t in ts if states.get(t) == "firing"]
    if not pending and not firing:  # ALERTS_FOR_STATE only (its ALERTS samples lie outside the window)
        return
    last = ts[-1]
    still_active = window_end - last <= 2 * interval
    episodes.append(
        Episode(
            labels=labels,
            pending_at=active if active is not None else (pending[0] if pending else None),
            fired_at=firing[0] if firing else None,
            resolved_at=None if still_active else last + interval,
            first_sample=ts[0],
            last_sample=last,
            active_at=active,
            interval=interval,
            interval_source=source,
            samples=[(t, states.get(t, "")) for t in ts],
        )
    )


# ---- scrape gaps from raw `up` samples ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    start: float
    end: float | None
    reason: str
    interval: float


def up_gaps(times: Sequence[float], values: Sequence[float], *, interval: float | None = None) -> list[Gap]:
    """Failed scrapes (`up == 0` runs) and missing samples (spacing > 2x the scrape interval).

    `interval` defaults to the median spacing of the samples. A run of zeros ends at the next
    sample with 1 (else at the last zero + interval); a hole in the samples spans from one
    interval after the last sample before it to the first sample after it.
    """
    if not times:
        return []
    interval = interval or median_spacing(times) or 0.0
    gaps: list[Gap] = []
    zero_start: float | None = None
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        if i and interval and t - times[i - 1] > 2 * interval:
            if zero_start is not None:
                gaps.append(Gap(zero_start, times[i - 1] + interval, "scrape failed (up == 0)", interval))
                zero_start = None
            gaps.append(Gap(times[i - 1] + interval, t, "no samples (target missing or Prometheus down)", interval))
        if v == 0:
            if zero_start is None:
                zero_start = t
        elif zero_start is not None:
            gaps.append(Gap(zero_start, t, "scrape failed (up == 0)", interval))
            zero_start = None
    if zero_start is not None:
        gaps.append(Gap(zero_start, times[-1] + interval, "scrape failed (up == 0)", interval))
    return gaps
