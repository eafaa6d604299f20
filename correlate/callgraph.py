"""The service call graph seen in traces, and the trace signals' onsets as trace events (pure).

Trace collectors return, beside their `trace_errors` (error ratio) and `trace_latency` (p95)
signals, one `call` series per pair of services whose spans were parent and child: who calls
whom, in how many traces. That graph is evidence of its own, beside the configured `depends_on`:

* `CallGraph.widen(scope)`: the incident's services and everything they call, directly or not,
  are searched for onsets: a callee that failed first is where the trouble began, even when the
  config declares no dependency and the incident names only the caller;
* `correlate.causes` ranks a change to a service the failing one calls like a change to a
  dependency, and says so in its reasons ("checkout calls payments, seen in 12 traces;
  payments' errors began 1m 0s earlier").

`traced(anomalies, events)` turns the onsets of trace signals into `trace_errors` and
`latency_shift` events (the same onset detector as metrics found them), linked to an exemplar
trace of that service when the collector kept one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from correlate.anomalies import Anomaly
from dossier.model import Event, Series, format_duration, from_epoch

TRACE_KINDS = {"trace_errors": "trace_errors", "trace_latency": "latency_shift"}
_WHAT = {"trace_errors": "error ratio", "trace_latency": "p95 latency"}


@dataclass(frozen=True, slots=True)
class Call:
    caller: str
    callee: str
    traces: int  # distinct traces in which the caller's span was the parent of the callee's
    calls: int
    errors: int  # calls whose callee span failed
    more: bool = False  # more traces than the collector counted one by one
    sources: tuple[str, ...] = ()

    @property
    def seen(self) -> str:
        n = f"{'more than ' if self.more else ''}{self.traces:,}"
        return f"seen in {n} trace{'' if self.traces == 1 and not self.more else 's'}"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class CallGraph:
    calls: Mapping[tuple[str, str], Call] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_series(cls, series: Iterable[Series]) -> CallGraph:
        """The calls of every `call` series; the same call seen by two sources counts once (the most traces)."""
        found: dict[tuple[str, str], Call] = {}
        for s in series:
            if s.role != "call":
                continue
            caller, callee = s.labels.get("caller"), s.labels.get("callee")
            if not caller or not callee or caller == callee:
                continue
            call = Call(
                caller,
                callee,
                traces=_int(s.labels.get("traces")),
                calls=_int(s.labels.get("calls")),
                errors=_int(s.labels.get("errors")),
                more=s.labels.get("more_traces") == "true",
                sources=(s.source,),
            )
            old = found.get((caller, callee))
            if old is not None:
                best = max(old, call, key=lambda c: (c.traces, c.calls, c.sources))
                call = dataclasses.replace(best, sources=tuple(sorted({*old.sources, *call.sources})))
            found[(caller, callee)] = call
        return cls(dict(sorted(found.items())))

    def __bool__(self) -> bool:
        return bool(self.calls)

    def get(self, caller: str, callee: str) -> Call | None:
        return self.calls.get((caller, callee))

    def callees(self, service: str) -> list[str]:
        return [b for (a, b) in self.calls if a == service]

    def callers(self, service: str) -> list[str]:
        return [a for (a, b) in self.calls if b == service]

    def downstream(self, services: Iterable[str]) -> set[str]:
        """Everything `services` call, directly or not (not the services themselves, unless called)."""
        seen: set[str] = set()
        todo = [b for s in services for b in self.callees(s)]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self.callees(s))
        return seen

    def widen(self, scope: frozenset[str] | None) -> frozenset[str] | None:
        """`scope` and what it calls (None stays None: every service is already in it)."""
        if scope is None or not self.calls:
            return scope
        return scope | frozenset(self.downstream(scope))


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _words(a: Anomaly) -> str:
    if a.series.signal == "trace_errors":
        return "errors"
    if a.series.signal == "trace_latency":
        return "latency"
    if a.series.role == "log_count":
        return "error logs"
    return a.series.signal


def trouble(anomalies: Sequence[Anomaly]) -> dict[str, dict[str, datetime]]:
    """What went wrong in each service and when it began, in words: errors, latency, error logs,
    or the signal's name; the first of each (in the order they began)."""
    out: dict[str, dict[str, datetime]] = {}
    for a in sorted(anomalies, key=lambda a: (a.start, a.series.source, a.series.id)):
        if a.service is not None:
            out.setdefault(a.service, {}).setdefault(_words(a), from_epoch(a.start))
    return out


PREFERRED = ("errors", "error logs", "latency")


def began_earlier(callee: str, caller: str, trouble: Mapping[str, Mapping[str, datetime]]) -> str | None:
    """`payments' errors began 1m 0s earlier`: the callee's trouble against the same kind of trouble
    of its caller (errors first, then error logs, latency, any signal both have), when it came first."""
    mine, theirs = trouble.get(callee, {}), trouble.get(caller, {})
    common = [w for w in PREFERRED if w in mine and w in theirs]
    common += sorted(w for w in mine if w in theirs and w not in PREFERRED)
    for what in common:
        lag = (theirs[what] - mine[what]).total_seconds()
        if lag > 0:
            return f"{possessive(callee)} {what} began {format_duration(lag)} earlier"
    return None


def callees_first(anomalies: Sequence[Anomaly], calls: CallGraph) -> list[Anomaly]:
    """`anomalies` (in time order) with, among those that began at the same time, the services
    others call (directly or not) first: a caller's trouble includes its callee's, so the draft
    says the trouble began in the callee."""
    if not calls:
        return list(anomalies)
    depth: dict[str, int] = {}

    def below(service: str | None) -> int:  # how many calls deep the chain under `service` goes
        if service is None:
            return 0
        if service not in depth:
            depth[service] = 0  # a cycle counts as nothing below
            depth[service] = max((1 + below(c) for c in calls.callees(service)), default=0)
        return depth[service]

    return sorted(anomalies, key=lambda a: (a.start, below(a.service), a.series.source, a.series.id))


def deepest_first(origin: str, first_anomaly: Mapping[str, datetime], calls: CallGraph) -> str:
    """Of services whose trouble began at the same time, the one the others call: a caller's latency
    and errors include its callee's, so the callee is where it started."""
    at = first_anomaly.get(origin)
    if at is None:
        return origin
    seen = {origin}
    current = origin
    while True:
        tied = sorted(c for c in calls.callees(current) if c not in seen and first_anomaly.get(c) == at)
        if not tied:
            return current
        current = tied[0]
        seen.add(current)


def traced(anomalies: Sequence[Anomaly], events: Iterable[Event]) -> list[Anomaly]:
    """Onsets of `trace_errors` and `trace_latency` signals as `trace_errors` / `latency_shift`
    events, linked to the first exemplar trace of that service from the onset on (failing ones
    for errors, any for latency); every other anomaly as it is."""
    exemplars: dict[tuple[str, str | None], list[Event]] = {}
    for e in events:
        if e.kind == "note" and e.attrs.get("exemplar") == "trace":
            exemplars.setdefault((e.source, e.service), []).append(e)
    for found in exemplars.values():
        found.sort(key=lambda e: (e.at, e.id))
    out = []
    for a in anomalies:
        s = a.series
        kind = TRACE_KINDS.get(s.signal) if s.role == "signal" else None
        if kind is None:
            out.append(a)
            continue
        op = s.labels.get("operation")
        who = f"{_WHAT[s.signal]} of {s.service or 'all'} spans" + (f" ({op})" if op else "")
        start = a.start_event
        title = start.title.replace(f"{s.signal} of {s.service}" if s.service else s.signal, who, 1)
        attrs = dict(start.attrs)
        link = start.link
        step = s.step or 0.0
        for ex in exemplars.get((s.source, s.service), ()):
            if ex.at.timestamp() < a.start - step:
                continue
            if s.signal == "trace_errors" and ex.attrs.get("why") != "error":
                continue
            if op and ex.attrs.get("operation") != op and s.signal == "trace_latency":
                continue
            attrs["exemplar_trace"] = ex.attrs.get("trace_id")
            attrs["exemplar_event"] = ex.id
            link = ex.link or link
            break
        out.append(
            dataclasses.replace(
                a, start_event=dataclasses.replace(start, kind=kind, title=title, attrs=attrs, link=link)
            )
        )
    return out
