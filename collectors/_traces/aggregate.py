"""From spans to what a postmortem needs of them, in memory that does not grow with the spans.

`TraceAggregator.add(span)` takes one span at a time, in any order. What it keeps:

* per service and operation (its entry spans: server and consumer spans, and roots), per bucket:
  the spans, the error spans, and a histogram of durations (log-spaced bins, a factor 2^(1/4)
  apart, 100 µs to 1000 s): enough for the error ratio and the 95th percentile of each bucket;
* the calls between services: a parent span of one service whose child span is of another, per
  bucket, with the errors of the child and the traces seen (counted up to `MAX_TRACE_IDS`);
* a few exemplar traces per service: its first failing ones in the incident window, and its slowest.

Parents and children arrive in any order (a callee's span is often written before its caller's), so
spans are joined on (trace id, span id) within a bounded join window: the last `join_window`
spans seen, and the children still waiting for a parent. Memory is then bounded by the services,
operations, buckets and that window, never by the number of spans.

`result()` turns it into `Series`: `trace_errors` (error ratio, unit `ratio`) and `trace_latency`
(p95, unit `s`) with role `signal`, for the onset detector, per service and for its busiest
operations; `calls` with role `call` per (caller, callee); and `note` events for the exemplars.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from collectors._traces.spans import Span
from dossier.model import Event, Series, format_duration, from_epoch, stable_id

NBINS = 94  # histogram bins: bin i holds durations in [LOW * 2^((i-1)/4), LOW * 2^(i/4)); 0 below LOW
LOW = 1e-4
MAX_TRACE_IDS = 10_000  # distinct traces counted per call; past it, "more than"
MAX_TRACKED_OPERATIONS = 200  # operations told apart per service; later ones are counted as "(other)"
OTHER = "(other)"
EXEMPLAR_ERRORS = 3  # failing traces kept per service


def bin_of(duration: float) -> int:
    if duration < LOW:
        return 0
    return min(NBINS - 1, int(4 * math.log2(duration / LOW)) + 1)


def bin_value(i: int) -> float:
    """The representative duration of bin `i` (its geometric middle)."""
    if i == 0:
        return LOW / 2
    return LOW * 2 ** ((i - 0.5) / 4)


BIN_VALUES = np.array([bin_value(i) for i in range(NBINS)])


@dataclass(slots=True)
class _Op:
    spans: np.ndarray
    errors: np.ndarray
    hist: np.ndarray  # (buckets, NBINS)
    total: int = 0


_Child = tuple[str, float, bool, int]  # a child span waiting for its parent: service, start, error, hash of trace id


@dataclass(slots=True)
class _Call:
    calls: np.ndarray
    errors: int = 0
    total: int = 0
    traces: set[int] = field(default_factory=set)  # hashes of trace ids
    more_traces: bool = False


@dataclass(slots=True)
class Exemplar:
    service: str
    span: Span
    why: str  # "error" | "slowest"


@dataclass(frozen=True, slots=True)
class Grid:
    """Buckets of `step` seconds over [start, end), aligned on multiples of the step."""

    start: float
    window_start: float  # the incident's start: exemplars come from [window_start, end)
    end: float
    step: float

    @property
    def first(self) -> float:
        return math.floor(self.start / self.step) * self.step

    @property
    def size(self) -> int:
        return max(1, math.ceil((self.end - self.first) / self.step))

    def times(self) -> tuple[float, ...]:
        first = self.first
        return tuple(first + i * self.step for i in range(self.size))

    def index(self, t: float) -> int | None:
        if not self.start <= t < self.end:
            return None
        i = int((t - self.first) // self.step)
        return i if 0 <= i < self.size else None


MAX_BUCKETS = 2_000
NICE = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def choose_step(span: float, configured: float) -> float:
    """`configured` unless it gives more than MAX_BUCKETS buckets; then the next round interval."""
    if span / configured <= MAX_BUCKETS:
        return configured
    for nice in NICE:
        if nice >= configured and span / nice <= MAX_BUCKETS:
            return float(nice)
    return float(math.ceil(span / MAX_BUCKETS / 86400) * 86400)


class TraceAggregator:
    def __init__(
        self,
        grid: Grid,
        *,
        name: Callable[[str], str] = lambda s: s,
        max_services: int = 200,
        join_window: int = 200_000,
    ) -> None:
        self.grid = grid
        self.name = name  # the config's name of a source's service name
        self.max_services = max_services
        self.join_window = join_window
        self.ops: dict[tuple[str, str], _Op] = {}
        self.op_count: dict[str, int] = {}
        self.calls: dict[tuple[str, str], _Call] = {}
        self.services: dict[str, str] = {}  # source name -> config name
        self.dropped_services: set[str] = set()
        self.spans = 0
        self.in_grid = 0
        self.errors: dict[str, list[Exemplar]] = {}
        self.slowest: dict[str, Exemplar] = {}
        # join window: (trace, span) -> service; and children waiting for their parent
        # each in two generations: when the current one holds half the window, it becomes the old one
        self._seen: dict[int, str] = {}
        self._seen_old: dict[int, str] = {}
        self._waiting: dict[int, _Child | list[_Child]] = {}
        self._waiting_old: dict[int, _Child | list[_Child]] = {}
        self.evicted = 0  # children whose parent never came within the join window

    # ---- taking spans ---------------------------------------------------------------------

    def _service(self, raw: str) -> str | None:
        found = self.services.get(raw)
        if found is not None:
            return found
        if len(self.services) >= self.max_services:
            self.dropped_services.add(raw)
            return None
        found = self.services[raw] = self.name(raw)
        return found

    def add(self, span: Span) -> None:
        self.spans += 1
        service = self._service(span.service)
        if service is None:
            return
        self._join(span, service)
        i = self.grid.index(span.start)
        if i is None:
            return
        self.in_grid += 1
        if span.entry:
            op = self._op(service, span.name)
            op.spans[i] += 1
            op.total += 1
            if span.error:
                op.errors[i] += 1
            op.hist[i, bin_of(span.duration)] += 1
        if span.start >= self.grid.window_start:
            self._exemplar(service, span)

    def _op(self, service: str, name: str) -> _Op:
        key = (service, name)
        op = self.ops.get(key)
        if op is None:
            n = self.op_count.get(service, 0)
            if n >= MAX_TRACKED_OPERATIONS:
                key = (service, OTHER)
                op = self.ops.get(key)
            if op is None:
                size = self.grid.size
                op = self.ops[key] = _Op(
                    np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros((size, NBINS), np.int32)
                )
                self.op_count[service] = n + 1
        return op

    def _join(self, span: Span, service: str) -> None:
        key = hash((span.trace_id, span.span_id))
        for waiting in (self._waiting, self._waiting_old):
            found = waiting.pop(key, None)
            if found is not None:
                for child_service, start, error, trace in found if isinstance(found, list) else (found,):
                    self._call(service, child_service, start, error, trace)
        if span.parent_id:
            parent = hash((span.trace_id, span.parent_id))
            parent_service = self._seen.get(parent) or self._seen_old.get(parent)
            trace = hash(span.trace_id)
            if parent_service is not None:
                self._call(parent_service, service, span.start, span.error, trace)
            else:
                child = (service, span.start, span.error, trace)
                other = self._waiting.get(parent)
                if other is None:
                    self._waiting[parent] = child  # one tuple: most parents wait for one child only
                elif isinstance(other, list):
                    other.append(child)
                else:
                    self._waiting[parent] = [other, child]
                if len(self._waiting) > self.join_window // 2:
                    self.evicted += sum(len(v) if isinstance(v, list) else 1 for v in self._waiting_old.values())
                    self._waiting_old, self._waiting = self._waiting, {}
        self._seen[key] = service
        if len(self._seen) > self.join_window // 2:
            self._seen_old, self._seen = self._seen, {}

    def _call(self, caller: str, callee: str, start: float, error: bool, trace: int) -> None:
        if caller == callee:
            return
        call = self.calls.get((caller, callee))
        if call is None:
            call = self.calls[(caller, callee)] = _Call(np.zeros(self.grid.size, np.int64))
        call.total += 1
        i = self.grid.index(start)
        if i is not None:
            call.calls[i] += 1
        if error:
            call.errors += 1
        if len(call.traces) < MAX_TRACE_IDS:
            call.traces.add(trace)
        elif trace not in call.traces:
            call.more_traces = True

    def _exemplar(self, service: str, span: Span) -> None:
        if span.error and span.entry:  # a failing client span only echoes its callee's failure
            kept = self.errors.setdefault(service, [])
            if all(e.span.trace_id != span.trace_id for e in kept):
                if len(kept) < EXEMPLAR_ERRORS:
                    kept.append(Exemplar(service, span, "error"))
                else:
                    late = max(range(len(kept)), key=lambda k: kept[k].span.start)
                    if span.start < kept[late].span.start:
                        kept[late] = Exemplar(service, span, "error")
        if span.entry:
            slow = self.slowest.get(service)
            if slow is None or span.duration > slow.span.duration:
                self.slowest[service] = Exemplar(service, span, "slowest")

    # ---- the result -----------------------------------------------------------------------

    def series(
        self,
        *,
        source: str,
        query: Callable[[str, str | None, str], str],
        link: Callable[[str, str | None], str | None] = lambda service, op: None,
        request: str | None = None,
        max_operations: int = 5,
    ) -> list[Series]:
        """`query(service, operation, signal)` says how the values were counted (shown in the draft)."""
        times = self.grid.times()
        step = self.grid.step
        out: list[Series] = []
        by_service: dict[str, list[tuple[str, _Op]]] = {}
        for (service, op_name), op in self.ops.items():
            by_service.setdefault(service, []).append((op_name, op))
        for service in sorted(by_service):
            ops = sorted(by_service[service], key=lambda x: (-x[1].total, x[0]))
            spans = np.sum([op.spans for _, op in ops], axis=0)
            errors = np.sum([op.errors for _, op in ops], axis=0)
            hist = np.sum([op.hist for _, op in ops], axis=0)
            out += self._pair(source, service, None, spans, errors, hist, times, step, query, link, request)
            for op_name, op in ops[:max_operations] if len(ops) > 1 else ():
                if op_name == OTHER:
                    continue
                out += self._pair(
                    source, service, op_name, op.spans, op.errors, op.hist, times, step, query, link, request
                )
        for (caller, callee), call in sorted(self.calls.items()):
            traces = len(call.traces)
            out.append(
                Series(
                    id=stable_id(source, "calls", caller, callee),
                    source=source,
                    signal="calls",
                    service=caller,
                    labels={
                        "caller": caller,
                        "callee": callee,
                        "traces": str(traces),
                        "more_traces": "true" if call.more_traces else "false",
                        "calls": str(call.total),
                        "errors": str(call.errors),
                    },
                    query=f"spans of {callee} whose parent span is of {caller}",
                    times=times,
                    values=tuple(float(v) for v in call.calls),
                    step=step,
                    request=request,
                    role="call",
                    unit="calls",
                )
            )
        return out

    @staticmethod
    def _pair(
        source: str,
        service: str,
        op: str | None,
        spans: np.ndarray,
        errors: np.ndarray,
        hist: np.ndarray,
        times: tuple[float, ...],
        step: float,
        query: Callable[[str, str | None, str], str],
        link: Callable[[str, str | None], str | None],
        request: str | None,
    ) -> list[Series]:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(spans > 0, errors / np.maximum(spans, 1), np.nan)
        p95 = percentile(hist, 0.95)
        labels = {"operation": op} if op is not None else {}
        base = (source, service, op or "")
        common = {"source": source, "service": service, "labels": labels, "times": times, "step": step}
        return [
            Series(
                id=stable_id(*base, "trace_errors"),
                signal="trace_errors",
                query=query(service, op, "trace_errors"),
                values=tuple(float(v) for v in ratio),
                link=link(service, op),
                request=request,
                unit="ratio",
                **common,  # type: ignore[arg-type]
            ),
            Series(
                id=stable_id(*base, "trace_latency"),
                signal="trace_latency",
                query=query(service, op, "trace_latency"),
                values=tuple(float(v) for v in p95),
                link=link(service, op),
                request=request,
                unit="s",
                **common,  # type: ignore[arg-type]
            ),
        ]

    def exemplars(self, max_exemplars: int) -> list[Exemplar]:
        """Failing traces first (the earliest of each service, then the next ones), then the slowest."""
        rounds = [
            sorted((kept[k] for kept in self.errors.values() if len(kept) > k), key=lambda e: e.span.start)
            for k in range(EXEMPLAR_ERRORS)
        ]
        ordered = [e for r in rounds for e in r]
        ordered += sorted(self.slowest.values(), key=lambda e: -e.span.duration)
        out: list[Exemplar] = []
        seen: set[tuple[str, str]] = set()
        for e in ordered:
            if len(out) >= max_exemplars:
                break
            if (e.span.trace_id, e.service) not in seen:  # one trace may show two services failing
                seen.add((e.span.trace_id, e.service))
                out.append(e)
        return out

    def exemplar_events(
        self, *, source: str, max_exemplars: int, link: Callable[[str], str | None], request: str | None = None
    ) -> list[Event]:
        events = []
        for e in self.exemplars(max_exemplars):
            s = e.span
            took = format_duration(s.duration) if s.duration >= 1 else f"{s.duration * 1000:.0f} ms"
            if e.why == "error":
                title = f"trace {s.trace_id[:16]}: {e.service} {s.name} failed after {took}"
                title += f": {s.message}" if s.message else ""
            else:
                title = f"trace {s.trace_id[:16]}: slowest {e.service} {s.name} in the window, {took}"
            events.append(
                Event(
                    id=stable_id(source, "exemplar", s.trace_id, s.span_id),
                    at=from_epoch(s.start),
                    kind="note",
                    source=source,
                    service=e.service,
                    title=title,
                    attrs={
                        "exemplar": "trace",
                        "why": e.why,
                        "trace_id": s.trace_id,
                        "span_id": s.span_id,
                        "operation": s.name,
                        "duration": round(s.duration, 6),
                        "error": s.error,
                        "message": s.message,
                    },
                    link=link(s.trace_id),
                    request=request,
                )
            )
        return events

    def services_seen(self) -> set[str]:
        return set(self.services.values())


def percentile(hist: np.ndarray, q: float) -> np.ndarray:
    """Per row of a (buckets, NBINS) histogram, the `q` quantile (NaN for an empty row)."""
    total = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    need = np.ceil(q * total)
    idx = (cum < need[:, None]).sum(axis=1)
    idx = np.minimum(idx, NBINS - 1)
    return np.where(total > 0, BIN_VALUES[idx], np.nan)


def window_of(start: datetime, incident_start: datetime, end: datetime, interval: float) -> Grid:
    lo, hi = start.timestamp(), end.timestamp()
    mid = min(max(incident_start.timestamp(), lo), hi)
    return Grid(lo, mid, hi, choose_step(hi - lo, interval))
