"""Candidate proximate causes: the changes before the onset, ranked, each with its reasons.

A change qualifies when it happened in the look-back before the onset (or within the onset
detector's precision after it) and touches a service in the blast radius: the incident's
services, the service where the anomaly started, or what they depend on. The score multiplies

* where: the service whose telemetry went wrong first (1.0), something it depends on (0.8), a
  service that went wrong only later, downstream (0.45), another service in the blast radius
  (0.35), a change that names no service (0.25);
* when:  0.4 + 0.6 * exp(-minutes before onset / (look-back / 4));
* what:  deploy and config change 1.0, feature flag 0.9, rollback 0.6;
* size:  where the source tells it (lines changed), 0.85 for a one-line change up to 1.0 for
  thousands of lines: a bigger change has more ways to break;
* undone: when a rollback of that change came shortly before the telemetry recovered (within
  `ROLLBACK_RECOVERY` of it), the "when" factor is 1.0 however early it came, and it ranks ahead
  of any change with the same score: the fix proves more than closeness in time does.

Every factor is in [0, 1], so the score is too: 1.0 is a deploy to the service that went wrong
first, at the onset (or undone by the rollback that ended the incident). `Cause.factors` holds
each factor, so a reader can see why one change outranks another.

So a change to the service whose anomaly started first outranks a later, closer change to a
service that only suffered downstream. Without any qualifying change no cause is claimed, and
each change source says what it looked at (negative evidence).

The call graph seen in traces (`correlate.callgraph.CallGraph`) counts beside `depends_on`: a
service the failing one calls is a dependency, declared or not, and the reasons of a change to
the service that went wrong first name the call that links it to the incident's services
("checkout calls payments, seen in 12 traces; payments' errors began 1m 0s earlier").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter

from correlate.callgraph import CallGraph, began_earlier, deepest_first
from dossier.model import (
    CHANGE_KINDS,
    Cause,
    CorrelateSettings,
    Event,
    SourceReport,
    format_duration,
    rfc3339,
)

ONSET_PRECISION = 60.0  # a change this soon after the estimated onset may still have caused it
ROLLBACK_RECOVERY = 1200.0  # a rollback this long before the recovery "coincides" with it
KIND_WEIGHT = {"deploy": 1.0, "config_change": 1.0, "feature_flag": 0.9, "rollback": 0.6}
KIND_WORDS = {
    "deploy": "deploy",
    "config_change": "config change",
    "feature_flag": "feature flag",
    "rollback": "rollback",
}


@dataclass(frozen=True, slots=True)
class Graph:
    depends_on: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_settings(cls, settings: CorrelateSettings, calls: CallGraph | None = None) -> Graph:
        """The configured `depends_on`, and (with `calls`) what each service was seen calling."""
        deps = {s.name: s.depends_on for s in settings.services}
        if calls:
            for caller, callee in calls.calls:
                if callee not in deps.get(caller, ()):
                    deps[caller] = (*deps.get(caller, ()), callee)
        return cls(deps)

    def reach(self, services: set[str]) -> set[str]:
        """Everything any of `services` depends on, directly or not."""
        out: set[str] = set()
        for s in services:
            out |= self.dependencies(s)
        return out

    def dependencies(self, service: str) -> set[str]:
        """Everything `service` depends on, directly or not."""
        seen: set[str] = set()
        todo = list(self.depends_on.get(service, ()))
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(self.depends_on.get(s, ()))
        return seen


def _where(
    service: str | None,
    origin: str | None,
    first_anomaly: Mapping[str, datetime],
    radius: set[str],
    origin_deps: set[str],
    calls: CallGraph | None = None,
    declared: set[str] | None = None,
) -> tuple[float, str] | None:
    if service is None:
        return 0.25, "the change names no service, so it may touch any of them"
    if origin is not None and service == origin:
        return 1.0, f"{service} is where the telemetry went wrong first ({rfc3339(first_anomaly[origin])})"
    if origin is not None and service in origin_deps:
        call = calls.get(origin, service) if calls else None
        if call is not None and (declared is None or service not in declared):
            return 0.8, f"{origin}, where the telemetry went wrong first, calls {service} ({call.seen})"
        return 0.8, f"{origin}, where the telemetry went wrong first, depends on {service}"
    if service in first_anomaly and origin is not None:
        lag = (first_anomaly[service] - first_anomaly[origin]).total_seconds()
        if lag <= 0 and calls and origin in calls.downstream([service]):
            return 0.45, (
                f"{service} went wrong at the same time as {origin}, which it calls: "
                "it more likely suffered downstream than started it"
            )
        return 0.45, (
            f"{service} went wrong {format_duration(lag)} after {origin}: "
            "it more likely suffered downstream than started it"
        )
    if service in radius:
        return 0.35, f"{service} is in the incident's blast radius"
    return None


def _lines_changed(e: Event) -> int | None:
    total = 0
    found = False
    for key in ("additions", "deletions", "insertions"):
        value = e.attrs.get(key)
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            total += int(value)
            found = True
    return total if found else None


def _size_factor(e: Event) -> float | None:
    lines = _lines_changed(e)
    return None if lines is None else 0.85 + 0.15 * min(1.0, math.log10(1 + lines) / 4)


def _size(e: Event) -> tuple[float, str] | None:
    lines = _lines_changed(e)
    if lines is None:
        return None
    factor = 0.85 + 0.15 * min(1.0, math.log10(1 + lines) / 4)
    files = e.attrs.get("changed_files") or e.attrs.get("files")
    in_files = f" in {files} files" if files not in (None, "", 0) else ""
    return factor, f"{'a large' if lines >= 500 else 'a small' if lines < 20 else 'a'} change: {lines} lines{in_files}"


def undone(events: Sequence[Event], recovered: datetime | None) -> dict[str, Event]:
    """Changes undone by a rollback that came shortly before the recovery: change id -> rollback.

    The rolled-back change is the one the rollback names (`reverts`: its id or sha), else the
    latest change of that service before the rollback that is not the version rolled back to.
    """
    if recovered is None:
        return {}
    low = recovered - timedelta(seconds=ROLLBACK_RECOVERY)
    order = attrgetter("at", "id")
    rollbacks = sorted((e for e in events if e.kind == "rollback" and low <= e.at <= recovered), key=order)
    services = {rb.service for rb in rollbacks}
    of_service: dict[str | None, list[Event]] = {}
    if services:
        for c in sorted(
            (e for e in events if e.service in services and e.kind in CHANGE_KINDS and e.kind != "rollback"), key=order
        ):
            of_service.setdefault(c.service, []).append(c)
    found: dict[str, Event] = {}
    for rb in rollbacks:
        reverts = rb.attrs.get("reverts")
        target = rb.attrs.get("rolled_back_to")
        earlier = [c for c in of_service.get(rb.service, ()) if c.at < rb.at]
        if reverts:
            named = [c for c in earlier if reverts in (c.attrs.get("id"), c.attrs.get("sha"), c.id)]
            if named:
                found.setdefault(named[-1].id, rb)
                continue
        for c in reversed(earlier):
            if target is None or c.attrs.get("version") != target:
                found.setdefault(c.id, rb)
                break
    return found


def blast_radius(
    settings: CorrelateSettings,
    scope: set[str],
    first_anomaly: Mapping[str, datetime],
    calls: CallGraph | None = None,
) -> set[str]:
    """The incident's services, those that went wrong, and everything they depend on (or call)."""
    radius = set(scope) | set(first_anomaly)
    return radius | Graph.from_settings(settings, calls).reach(radius)


def _call_reasons(
    service: str,
    calls: CallGraph,
    scope: set[str],
    first_anomaly: Mapping[str, datetime],
    trouble: Mapping[str, Mapping[str, datetime]],
) -> list[str]:
    """How the service that went wrong first is linked, by calls seen in traces, to the others:
    `checkout calls payments, seen in 12 traces; payments' errors began 1m 0s earlier`."""
    reasons = []
    mine = first_anomaly.get(service)
    callers = sorted(calls.callers(service), key=lambda c: (c not in scope, first_anomaly.get(c) is None, c))
    for caller in callers:
        if caller not in scope and caller not in first_anomaly:
            continue
        call = calls.get(caller, service)
        assert call is not None
        text = f"{caller} calls {service}, {call.seen}"
        earlier = began_earlier(service, caller, trouble)
        theirs = first_anomaly.get(caller)
        if earlier is None and mine is not None and theirs is not None and theirs > mine:
            earlier = f"{service} went wrong {format_duration((theirs - mine).total_seconds())} earlier"
        reasons.append(f"{text}; {earlier}" if earlier else text)
        if len(reasons) == 2:
            break
    return reasons


def rank(
    events: Sequence[Event],
    *,
    onset: datetime | None,
    origin: str | None,
    first_anomaly: Mapping[str, datetime],
    scope: set[str],
    settings: CorrelateSettings,
    recovered: datetime | None = None,
    calls: CallGraph | None = None,
    trouble: Mapping[str, Mapping[str, datetime]] | None = None,
    explain: int | None = None,
) -> list[tuple[Cause, Event]]:
    """Qualifying changes, best first; `onset` is the incident's start (or its best stand-in).
    With `explain`, only the first `explain` causes carry their reasons (the draft shows
    MAX_CAUSES): the others are counted, and scored, not explained.

    `calls`: the call graph seen in traces; `trouble`: what went wrong first in each service, in
    words (`correlate.callgraph.trouble`), for the reasons."""
    if onset is None:
        return []
    if calls and origin is not None:  # of services that went wrong at once, the one the others call
        origin = deepest_first(origin, first_anomaly, calls)
    radius = blast_radius(settings, scope, first_anomaly, calls)
    origin_deps = Graph.from_settings(settings, calls).dependencies(origin) if origin is not None else set()
    declared = Graph.from_settings(settings).dependencies(origin) if origin is not None and calls else None
    tau = max(settings.cause_lookback / 4, 60.0)
    rolled_back = undone(events, recovered)
    # every qualifying change is scored; the reasons are written for the first `explain` only
    scored: list[tuple[float, bool, float, str, Event, float, tuple[float, str], dict[str, float]]] = []
    horizon = onset - timedelta(seconds=settings.cause_lookback)
    latest = onset + timedelta(seconds=ONSET_PRECISION)
    for e in events:
        if e.kind not in CHANGE_KINDS or not horizon <= e.at <= latest:
            continue
        where = _where(e.service, origin, first_anomaly, radius, origin_deps, calls, declared)
        if where is None:
            continue
        before = (onset - e.at).total_seconds()
        factors = {"where": where[0], "when": round(0.4 + 0.6 * math.exp(-max(before, 0.0) / tau), 3)}
        factors["what"] = KIND_WEIGHT[e.kind]
        size = _size_factor(e)
        if size is not None:
            factors["size"] = round(size, 3)
        is_undone = e.id in rolled_back  # empty unless the telemetry recovered
        if is_undone and recovered is not None:
            factors["when"] = 1.0
        score = round(math.prod(factors.values()), 3)
        scored.append((-score, not is_undone, -e.at.timestamp(), e.id, e, before, where, factors))
    scored.sort(key=itemgetter(0, 1, 2, 3))
    out = []
    for i, (score, _, _, _, e, before, where, factors) in enumerate(scored, 1):
        reasons: tuple[str, ...] = ()
        if explain is None or i <= explain:
            reasons = _reasons(e, before, where, origin, scope, first_anomaly, recovered, rolled_back, calls, trouble)
        out.append((Cause(rank=i, evidence=e.id, score=-score, reasons=reasons, factors=factors), e))
    return out


def _reasons(
    e: Event,
    before: float,
    where: tuple[float, str],
    origin: str | None,
    scope: set[str],
    first_anomaly: Mapping[str, datetime],
    recovered: datetime | None,
    rolled_back: Mapping[str, Event],
    calls: CallGraph | None,
    trouble: Mapping[str, Mapping[str, datetime]] | None,
) -> tuple[str, ...]:
    kind = KIND_WORDS[e.kind]
    when = (
        f"{kind} {format_duration(before)} before the onset"
        if before >= 0
        else f"{kind} {format_duration(-before)} after the estimated onset, within the detector's precision"
    )
    reasons = [when, where[1]]
    if calls and e.service is not None and e.service == origin:
        reasons += _call_reasons(e.service, calls, scope, first_anomaly, trouble or {})
    size = _size(e)
    if size is not None:
        reasons.append(size[1])
    if e.id in rolled_back and recovered is not None:
        rb = rolled_back[e.id]
        reasons.append(
            f"it was rolled back at {rfc3339(rb.at)} and the telemetry recovered "
            f"{format_duration((recovered - rb.at).total_seconds())} later: strong evidence it was the cause"
        )
    if e.kind == "rollback":
        reasons.append("a rollback undoes a change more often than it causes one")
    return tuple(reasons)


MAX_CAUSES = 20  # the draft lists at most this many candidate causes
MAX_NOT_RANKED = 20  # negative evidence names at most this many changes one by one


def negative_evidence(
    causes: Sequence[Cause],
    events: Sequence[Event],
    sources: Sequence[SourceReport],
    *,
    onset: datetime | None,
    scope: set[str],
    settings: CorrelateSettings,
    first_anomaly: Mapping[str, datetime] | None = None,
    calls: CallGraph | None = None,
) -> list[str]:
    """What was looked at and not found, and why each change near the incident is not a candidate."""
    lookback = format_duration(settings.cause_lookback)
    names = ", ".join(sorted(scope)) or "any service"
    change_sources = [s for s in sources if "change" in s.kinds]
    if not change_sources:
        return ["no change source is configured: deploys and config changes were not checked"]
    if onset is None:
        return ["no onset was found in the telemetry, so changes could not be placed before it"]
    cited = {c.evidence for c in causes}
    by_source = {e.source for e in events if e.id in cited}
    notes = []
    for s in sorted(change_sources, key=lambda s: s.instance):
        if s.status == "failed":
            notes.append(f"{s.instance}: could not be read ({s.error}), so its changes are unknown")
        elif s.instance not in by_source:
            notes.append(
                f"{s.instance}: no deploy, config change, feature flag or rollback of {names} "
                f"or their dependencies in the {lookback} before the onset ({rfc3339(onset)})"
            )
    radius = blast_radius(settings, scope, first_anomaly or {}, calls)
    shown = sorted(radius)
    radius_text = ", ".join(shown[:8]) + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
    not_ranked: list[str] = []
    more = 0
    horizon = onset - timedelta(seconds=settings.cause_lookback)
    for e in events:
        if e.at < horizon or e.kind not in CHANGE_KINDS or e.id in cited:
            continue
        before = (onset - e.at).total_seconds()
        if len(not_ranked) >= MAX_NOT_RANKED:
            more += 1
            continue
        what = f"{e.title} ({KIND_WORDS[e.kind]}"
        what += f" of {e.service}" if e.service else ""
        if before < -ONSET_PRECISION:
            why = f"{what} at {rfc3339(e.at)}) came {format_duration(-before)} after the onset: " + (
                "part of the response, not a cause" if e.kind == "rollback" else "too late to have caused it"
            )
        else:
            why = (
                f"{what} {format_duration(before)} before the onset): {e.service} is not in the blast radius "
                f"(the incident's services, those that went wrong, and their dependencies: {radius_text})"
            )
        not_ranked.append(why)
    notes += not_ranked
    if more:
        notes.append(f"and {more} more changes after the onset or outside the blast radius")
    return notes
