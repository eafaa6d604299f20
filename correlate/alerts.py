"""The alert review: for each alert, when its condition held, when it went pending, fired,
notified and resolved, and where the time between the onset and the page went.

Alert history arrives as `alert_pending`/`alert_firing`/`alert_resolved` events sharing
`attrs.alertname`, `attrs.labels` and `attrs.active_at` (one alert episode); a rule's condition
arrives as a `Series` with `role="alert_condition"`, the replay of its expression, which has a
value wherever the condition held.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dossier.model import AlertReview, AlertRule, Event, Series, from_epoch, rfc3339
from dossier.model import format_duration as fd

ALERT_KINDS = frozenset({"alert_pending", "alert_firing", "alert_resolved"})
NOTIFY_KINDS = frozenset({"notification", "page"})


@dataclass(frozen=True, slots=True)
class Episode:
    alert: str
    source: str
    service: str | None
    labels: Mapping[str, str]
    pending_at: datetime | None
    fired_at: datetime | None
    resolved_at: datetime | None
    events: Mapping[str, Event] = field(default_factory=dict)  # kind -> event

    @property
    def first_seen(self) -> datetime:
        times = [t for t in (self.pending_at, self.fired_at, self.resolved_at) if t is not None]
        return min(times)

    def active(self, start: datetime, end: datetime | None) -> bool:
        """Pending or firing at some time in [start, end] (end None: open)."""
        begin = self.pending_at or self.fired_at
        if begin is None:
            return False
        return (end is None or begin <= end) and (self.resolved_at is None or self.resolved_at >= start)


def _labels_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def episodes(events: Iterable[Event]) -> list[Episode]:
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], str], dict[str, Event]] = {}
    for e in events:
        if e.kind not in ALERT_KINDS:
            continue
        attrs = e.attrs
        labels = attrs.get("labels") or {}
        key = (e.source, str(attrs.get("alertname") or e.title), _labels_key(labels), str(attrs.get("active_at") or ""))
        group = groups.get(key)
        if group is None:
            groups[key] = {e.kind: e}
            continue
        known = group.get(e.kind)
        if known is None or (e.at, e.id) < (known.at, known.id):
            group[e.kind] = e
    found = []
    for (source, name, labels, _), group in groups.items():
        any_event = next(iter(group.values()))
        pending = group.get("alert_pending")
        firing = group.get("alert_firing")
        resolved = group.get("alert_resolved")
        resolved_at = resolved.at if resolved else (firing.end if firing else (pending.end if pending else None))
        found.append(
            Episode(
                alert=name,
                source=source,
                service=any_event.service,
                labels=dict(labels),
                pending_at=pending.at if pending else None,
                fired_at=firing.at if firing else None,
                resolved_at=resolved_at,
                events=group,
            )
        )
    found.sort(key=lambda ep: (ep.first_seen, ep.alert, ep.source, _labels_key(ep.labels)))
    return found


def unfired_ends(events: Iterable[Event]) -> dict[str, tuple[str, datetime]]:
    """For alerts only shown as context: the `alert_resolved` events of episodes that went pending
    and never fired (resolved event id -> (alert, pending time)), in one cheap pass."""
    pending: dict[tuple, datetime] = {}
    fired: set[tuple] = set()
    ends: list[tuple[tuple, Event]] = []
    for e in events:
        attrs = e.attrs
        key = (e.source, attrs.get("alertname") or e.title, attrs.get("active_at"))  # labels: not worth the cost here
        if e.kind == "alert_firing":
            fired.add(key)
        elif e.kind == "alert_pending":
            pending[key] = min(e.at, pending.get(key, e.at))
        elif e.kind == "alert_resolved":
            ends.append((key, e))
    return {e.id: (str(key[1]), pending[key]) for key, e in ends if key not in fired and key in pending}


def find_rule(rules: Sequence[AlertRule], alert: str, source: str, labels: Mapping[str, str]) -> AlertRule | None:
    """The rule that produced an alert: same name and source, its own labels all on the alert."""
    matches = [
        r
        for r in rules
        if r.name == alert and r.source == source and all(labels.get(k) == v for k, v in r.labels.items())
    ]
    return matches[0] if matches else None


def condition_runs(series: Series) -> list[tuple[float, float]]:
    """Intervals [first, last] of consecutive evaluations where the condition held."""
    step = series.step or _median_step(series.times)
    runs: list[tuple[float, float]] = []
    start = prev = None
    for t, v in zip(series.times, series.values, strict=True):
        held = not math.isnan(v)
        if held and start is not None and prev is not None and t - prev <= 1.5 * step:
            prev = t
        elif held:
            if start is not None and prev is not None:
                runs.append((start, prev))
            start = prev = t
        elif start is not None and prev is not None:
            runs.append((start, prev))
            start = prev = None
    if start is not None and prev is not None:
        runs.append((start, prev))
    return runs


def _median_step(times: Sequence[float]) -> float:
    if len(times) < 2:
        return 60.0
    diffs = sorted(b - a for a, b in itertools.pairwise(times))
    return diffs[len(diffs) // 2]


def condition_true_at(
    conditions: Sequence[Series], alert: str, source: str, labels: Mapping[str, str], before: datetime | None
) -> datetime | None:
    """When the alert's condition began to hold, for the run that led to `before` (its pending time).

    With no `before` (the alert never went pending), the first run in the window.
    """
    best: float | None = None
    for s in conditions:
        if s.alert != alert or s.source != source or any(labels.get(k) != v for k, v in s.labels.items()):
            continue
        step = s.step or _median_step(s.times)
        for first, last in condition_runs(s):
            if before is None or (first <= before.timestamp() + step and last >= before.timestamp() - step):
                best = first if best is None else min(best, first)
                break
    return None if best is None else from_epoch(best)


def notifications(events: Sequence[Event]) -> dict[str, list[Event]]:
    """Notification and page events by alert name, in time order; those that name no alert (a
    PagerDuty or Opsgenie page of a service) under `""`, matched to the alerts of their service."""
    by_alert: dict[str, list[Event]] = {}
    for e in events:
        if e.kind not in NOTIFY_KINDS:
            continue
        name = e.attrs.get("alertname")
        if name or e.service is not None:
            by_alert.setdefault(str(name or ""), []).append(e)
    for items in by_alert.values():
        items.sort(key=lambda e: (e.at, e.id))
    return by_alert


def first_notification(notified: Mapping[str, Sequence[Event]], episode: Episode) -> Event | None:
    """The first page or notification for the episode once it fired (and before it ended): one
    that names the alert (of its service, or of none), else one that names only its service."""
    if episode.fired_at is None:
        return None
    found: list[Event] = []
    for name in (episode.alert, ""):
        for e in notified.get(name, ()):
            if e.at < episode.fired_at:
                continue
            if episode.resolved_at is not None and e.at > episode.resolved_at:
                break
            if name and e.service not in (None, episode.service):
                continue
            if not name and (episode.service is None or e.service != episode.service):
                continue
            found.append(e)
            break
    return min(found, key=lambda e: (e.at, e.id)) if found else None


def attributed(ep: Episode, services: frozenset[str]) -> Episode:
    """An alert that names no service (e.g. `TargetDown{job="payments"}`) belongs to the one
    service its label values name, when exactly one does."""
    if ep.service is not None:
        return ep
    named = {v for v in ep.labels.values() if v in services}
    if len(named) != 1:
        return ep
    return dataclasses.replace(ep, service=named.pop())


Judge = Callable[[Episode, AlertRule | None], tuple[datetime | None, str | None]]


def review(
    eps: Sequence[Episode],
    rules: Sequence[AlertRule],
    conditions: Sequence[Series],
    events: Sequence[Event],
    judge: Judge,
) -> list[AlertReview]:
    """One row per alert episode. `judge(episode, rule)` gives the onset the alert is judged
    against (its service's, on the signal its rule reads where one does) and that signal.

    The delays partition the time from the onset to the notification: threshold (onset to
    condition), evaluation (condition to pending), `for` (pending to firing), notify. When the
    condition held before the detected onset, the alert is judged from the condition instead,
    so the parts always add up to the whole.
    """
    rows = []
    notified_by_alert = notifications(events)
    for ep in eps:
        rule = find_rule(rules, ep.alert, ep.source, ep.labels)
        cond = condition_true_at(conditions, ep.alert, ep.source, ep.labels, ep.pending_at or ep.fired_at)
        if cond is None or (ep.pending_at is not None and cond > ep.pending_at):
            cond = ep.pending_at or ep.fired_at
        notice = first_notification(notified_by_alert, ep)
        notified = notice.at if notice is not None else None
        onset, signal = judge(ep, rule)
        if onset is not None and cond is not None and cond < onset:
            onset = cond

        def gap(a: datetime | None, b: datetime | None) -> float | None:
            return None if a is None or b is None else (b - a).total_seconds()

        rows.append(
            AlertReview(
                alert=ep.alert,
                service=ep.service,
                expr=rule.expr if rule else None,
                for_seconds=rule.for_seconds if rule else None,
                condition_true_at=cond,
                pending_at=ep.pending_at,
                fired_at=ep.fired_at,
                notified_at=notified,
                resolved_at=ep.resolved_at,
                delays={
                    "threshold": gap(onset, cond),
                    "evaluation": gap(cond, ep.pending_at),
                    "for": gap(ep.pending_at, ep.fired_at),
                    "notify": gap(ep.fired_at, notified),
                },
                labels=dict(ep.labels),
                source=ep.source,
                onset=onset,
                signal=signal,
                finding=_finding(ep, rule),
            )
        )
    return rows


def _finding(ep: Episode, rule: AlertRule | None) -> str | None:
    """An alert that went pending and never fired: why, in words."""
    if ep.fired_at is not None or ep.pending_at is None:
        return None
    spec = f"its `for: {fd(rule.for_seconds)}`" if rule and rule.for_seconds else "its `for`"
    if ep.resolved_at is None:
        return f"went pending at {rfc3339(ep.pending_at)} and was still pending at the end of the window; never fired"
    held = (ep.resolved_at - ep.pending_at).total_seconds()
    why = (
        f"{spec} is longer than the {fd(held)} the condition held"
        if rule and rule.for_seconds and rule.for_seconds > held
        else "it never held long enough to fire"
    )
    return (
        f"went pending at {rfc3339(ep.pending_at)} and stopped at {rfc3339(ep.resolved_at)} "
        f"without firing: {why}, so no one was told"
    )


def total_delay(row: AlertReview) -> float | None:
    """From the onset the alert is judged against to its firing: the sum of its delays."""
    if row.onset is None or row.fired_at is None:
        return None
    return (row.fired_at - row.onset).total_seconds()


def explain_delay(row: AlertReview) -> str:
    """Where the time between the onset and the firing went, in words: the parts add up to the whole."""
    d = row.delays
    parts = []
    if d.get("threshold") is not None:
        parts.append(f"{fd(d['threshold'])} until its condition held (threshold)")
    if d.get("evaluation"):
        parts.append(f"{fd(d['evaluation'])} until the rule was next evaluated")
    if d.get("for") is not None:
        spec = f" (`for: {fd(row.for_seconds)}`)" if row.for_seconds else ""
        parts.append(f"{fd(d['for'])} pending{spec}")
    return " + ".join(parts) if parts else "no breakdown available"
