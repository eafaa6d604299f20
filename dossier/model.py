"""The values that flow through Dossier: evidence in, a draft out.

Everything here is a frozen dataclass with timezone-aware UTC datetimes, so that the
correlation engine can be pure: it receives these values and returns new ones.

Evidence that collectors return (`CollectResult`):

* `Event`     a point (or span) in time: a deploy, an alert going firing, a scrape gap
* `Series`    a metric signal of one service, sampled over the window and its baseline
* `AlertRule` an alerting rule with its expression, `for` and labels
* `LogMessage` one distinct log message text of a service, counted in the window and baseline
* `LogRecord` one log document kept as an exemplar, with its link back to the log store
* `Problem`   something a collector could not see (a failed query, a failed source)
* `Request`   the provenance of one request made to a source

The draft (`Dossier`) is built by `correlate` and written by the exporters.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA = "dossier/v1"

EventKind = Literal[
    "deploy",
    "config_change",
    "rollback",
    "feature_flag",
    "alert_pending",
    "alert_firing",
    "alert_resolved",
    "notification",
    "page",
    "ack",
    "anomaly_start",
    "anomaly_end",
    "log_spike",
    "new_log_signature",
    "trace_errors",
    "latency_shift",
    "telemetry_gap",
    "message",
    "incident_declared",
    "incident_resolved",
    "note",
]
EVENT_KINDS: frozenset[str] = frozenset(EventKind.__args__)  # type: ignore[attr-defined]
CHANGE_KINDS: frozenset[str] = frozenset({"deploy", "config_change", "rollback", "feature_flag"})

Phase = Literal["trigger", "detection", "escalation", "mitigation", "recovery", "context"]
GapKind = Literal["late_alert", "unalerted_signal", "blind_spot", "human_detected", "source_unavailable"]
Direction = Literal["up", "down", "both"]
SourceStatus = Literal["ok", "partial", "failed"]


def utc(dt: datetime) -> datetime:
    """Return `dt` in UTC; refuse naive datetimes (they would silently mean local time)."""
    if dt.tzinfo is UTC:  # most times, as read back from an archive: no new object (0.6 us saved each)
        return dt
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()!r}: give a timezone, e.g. 2026-11-20T10:00:00Z")
    return dt.astimezone(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def rfc3339(dt: datetime | None) -> str | None:
    """`2026-11-20T10:00:00Z`; sub-second precision only when there is some."""
    if dt is None:
        return None
    dt = utc(dt)
    text = dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time; naive times are refused."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)") from None
    return utc(dt)


def stable_id(*parts: str) -> str:
    """A short, stable id: the same source and native identity always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:16]


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    title: str
    start: datetime
    end: datetime
    services: tuple[str, ...] = ()
    declared_at: datetime | None = None
    resolved_at: datetime | None = None
    severity: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("start", "end", "declared_at", "resolved_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value))
        if self.end <= self.start:
            raise ValueError(f"end {rfc3339(self.end)} is not after start {rfc3339(self.start)}")


@dataclass(frozen=True, slots=True)
class Event:
    """A point or span in time that some source recorded."""

    id: str
    at: datetime
    kind: str
    source: str
    title: str
    service: str | None = None
    end: datetime | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    link: str | None = None
    request: str | None = None  # id of the Request (evidence/manifest.json) that proves it

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        object.__setattr__(self, "at", utc(self.at))
        if self.end is not None:
            object.__setattr__(self, "end", utc(self.end))


@dataclass(frozen=True, slots=True)
class Series:
    """One metric signal of one service (`times` epoch seconds ascending, NaN for missing)."""

    id: str
    source: str
    signal: str
    service: str | None
    labels: Mapping[str, str]
    query: str
    times: tuple[float, ...]
    values: tuple[float, ...]
    direction: Direction = "up"
    step: float | None = None
    link: str | None = None
    request: str | None = None
    # What the series is: a watched `signal`, the replay of an alerting rule's expression
    # (`alert_condition`, then `alert` names the rule), or the number of log documents per
    # bucket of one service and level (`log_count`, `signal` "logs:<level>", "logs:*" for all),
    # or the calls one service made to another seen in traces per bucket (`call`, `signal`
    # "calls", `service` the caller, labels caller, callee, traces, calls, errors).
    role: Literal["signal", "alert_condition", "log_count", "call"] = "signal"
    alert: str | None = None
    unit: str | None = None  # as configured for the signal ("s", "req/s", "ratio")

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values):
            raise ValueError(f"series {self.id}: {len(self.times)} times but {len(self.values)} values")


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    expr: str
    for_seconds: float
    source: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None
    interval: float | None = None  # the rule group's evaluation interval, when known
    service: str | None = None  # the incident service the rule watches, when it names one
    link: str | None = None


@dataclass(frozen=True, slots=True)
class LogMessage:
    """One distinct message text of one service and level, as the log store aggregated it.

    Collectors count messages; `correlate.signatures` groups them into signatures (the log
    statement that printed them), so no collector needs to pull every document.
    """

    id: str
    source: str
    service: str | None
    level: str | None
    message: str
    window_count: int  # documents in the incident window
    baseline_count: int  # documents in the baseline before it
    first_seen: datetime | None  # first occurrence in the window
    last_seen: datetime | None = None
    error_type: str | None = None
    link: str | None = None
    request: str | None = None

    def __post_init__(self) -> None:
        for name in ("first_seen", "last_seen"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value))


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log document kept as an exemplar (the store's own id, a link to open it)."""

    id: str
    source: str
    at: datetime
    service: str | None
    level: str | None
    message: str
    link: str | None = None
    request: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)  # trace.id, error.type, host, index

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", utc(self.at))


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a source could not tell us: becomes a `source_unavailable` or `blind_spot` gap."""

    source: str
    reason: str
    kind: Literal["source_unavailable", "blind_spot"] = "source_unavailable"
    service: str | None = None
    signal: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    request: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Provenance of one request to a source, as written to evidence/manifest.json."""

    id: str
    source: str
    method: str
    url: str
    params: Mapping[str, Any]
    status: int | None
    sha256: str | None
    bytes: int
    items: int | None
    duration: float
    started_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SourceReport:
    instance: str
    type: str
    status: SourceStatus
    error: str | None
    items: int
    duration: float
    truncated: bool = False
    kinds: tuple[str, ...] = ()  # what the source provides: metric, alert, change, ...
    truncated_reason: str | None = None  # why the result is incomplete, when `truncated`


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the collectors returned for one incident: the input of `correlate`."""

    events: tuple[Event, ...] = ()
    series: tuple[Series, ...] = ()
    rules: tuple[AlertRule, ...] = ()
    problems: tuple[Problem, ...] = ()
    sources: tuple[SourceReport, ...] = ()
    log_messages: tuple[LogMessage, ...] = ()
    log_records: tuple[LogRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    name: str
    aliases: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CorrelateSettings:
    """Durations in seconds."""

    baseline: float = 3600.0
    late_alert_after: float = 300.0
    cause_lookback: float = 7200.0
    services: tuple[ServiceInfo, ...] = ()


# ---- the draft ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    event: Event
    phase: Phase
    important: bool


@dataclass(frozen=True, slots=True)
class DetectionGap:
    kind: GapKind
    service: str | None
    signal: str | None
    start: datetime | None
    end: datetime | None
    explanation: str
    evidence: tuple[str, ...] = ()
    target: str | None = None  # blind_spot: which scrape target, file or index went dark
    telemetry: str | None = None  # blind_spot: "metrics", "logs" or "traces"

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class AlertReview:
    alert: str
    service: str | None
    expr: str | None
    for_seconds: float | None
    condition_true_at: datetime | None
    pending_at: datetime | None
    fired_at: datetime | None
    notified_at: datetime | None
    resolved_at: datetime | None
    delays: Mapping[str, float | None] = field(default_factory=dict)  # threshold, for, notify
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    onset: datetime | None = None  # the onset this alert is judged against (its service's, on its signal)
    signal: str | None = None  # the anomalous signal its rule reads, when one does
    finding: str | None = None  # e.g. went pending and never fired: why


@dataclass(frozen=True, slots=True)
class Cause:
    rank: int
    evidence: str
    score: float  # 0..1: the product of `factors`
    reasons: tuple[str, ...]
    factors: Mapping[str, float] = field(default_factory=dict)  # where, when, what, size: each 0..1


@dataclass(frozen=True, slots=True)
class Milestones:
    started: datetime | None = None
    detected: datetime | None = None
    acknowledged: datetime | None = None
    mitigated: datetime | None = None
    recovered: datetime | None = None
    resolved: datetime | None = None


@dataclass(frozen=True, slots=True)
class Dossier:
    incident: Incident
    generated_at: datetime
    milestones: Milestones
    milestone_evidence: Mapping[str, str]
    timeline: tuple[TimelineEntry, ...]
    detection_gaps: tuple[DetectionGap, ...]
    alert_review: tuple[AlertReview, ...]
    candidate_causes: tuple[Cause, ...]
    negative_evidence: tuple[str, ...]
    sources: tuple[SourceReport, ...]
    series: tuple[Series, ...] = ()  # for exporters' charts and links; not in dossier.json
    notes: tuple[str, ...] = ()  # what the reader must know about the draft itself (unknown services, ...)
    action_items: tuple[ActionItem, ...] = ()  # what to do, from the evidence (correlate.actions)

    @property
    def durations(self) -> dict[str, float | None]:
        m = self.milestones

        def since_start(t: datetime | None) -> float | None:
            if t is None or m.started is None:
                return None
            return (t - m.started).total_seconds()

        return {
            "time_to_detect": since_start(m.detected),
            "time_to_acknowledge": since_start(m.acknowledged),
            "time_to_mitigate": since_start(m.mitigated),
            "time_to_recover": since_start(m.recovered),
            "time_to_resolve": since_start(m.resolved),
        }


def format_duration(seconds: float | None) -> str:
    """`45s`, `6m 0s`, `1h 2m`, `2d 3h`: how people read a delay."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    sign = "-" if seconds < 0 else ""
    s = round(abs(seconds))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{sign}{d}d {h}h"
    if h:
        return f"{sign}{h}h {m}m"
    if m:
        return f"{sign}{m}m {s}s"
    return f"{sign}{s}s"


def format_time(dt: datetime | None) -> str:
    """`10:02:15Z` style used in explanations: full RFC 3339 keeps them unambiguous."""
    return rfc3339(dt) or "unknown"


# ---- action items and the rule replays behind them ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleReplay:
    """A rule expression to evaluate on the Prometheus it came from, at its group's evaluation times,
    over `start`..`end` and over the `history` seconds before `end`, for each candidate `for`.

    `correlate.actions.plan` decides what to replay (pure); the collect stage evaluates it
    (`collectors/prometheus/counterfactual.py`) and answers with a `ReplayResult` of the same `key`.
    """

    key: str
    source: str  # the Prometheus instance, e.g. "prometheus/prod"
    alert: str  # the rule's name (its ALERTS history gives the evaluation times)
    expr: str  # the expression to evaluate: the rule's own, or a changed or proposed one
    for_candidates: tuple[float, ...]  # `for` durations, seconds
    start: datetime
    end: datetime
    interval: float | None = None  # the rule group's evaluation interval, when known
    history: float = 30 * 86400.0
    labels: Mapping[str, str] = field(default_factory=dict)  # the alert's labels, to find its ALERTS series

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """With `for: for_seconds`: when the rule would have gone pending and fired first in the window,
    and how many times it would have fired over the history."""

    for_seconds: float
    active_at: datetime | None
    fired_at: datetime | None
    firings: int | None  # over the history (None: not counted)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    key: str
    source: str
    expr: str
    error: str | None  # the server refused or could not evaluate the expression
    interval: float | None = None
    phase: float | None = None  # evaluation times are phase + k * interval (epoch seconds)
    phase_from: str | None = None  # "ALERTS" (the rule's own history) or "window" (assumed)
    outcomes: tuple[ReplayOutcome, ...] = ()
    history_start: datetime | None = None  # the history actually read (retention may be shorter)
    history_end: datetime | None = None
    requests: tuple[str, ...] = ()  # the query_range calls made (URL and parameters, no secret)


@dataclass(frozen=True, slots=True)
class Counterfactual:
    """What a changed rule would have done over the same data, on the same Prometheus."""

    source: str
    expr: str
    for_seconds: float
    fired_at: datetime | None  # first firing in the incident window
    actual_fired_at: datetime | None  # the rule as it is (None: it never fired, or a proposed rule)
    earlier_by: float | None  # seconds
    firings: int | None  # over the history, with the change
    firings_now: int | None  # over the history, as the rule is
    history_start: datetime | None
    history_end: datetime | None


@dataclass(frozen=True, slots=True)
class ActionItem:
    """One thing to do, with its reason from the evidence. `cause` splits the proximate cause (what
    set this incident off) from the systemic weaknesses (what let it be late, unseen or blind)."""

    id: str
    cause: Literal["proximate", "systemic"]
    kind: Literal["fix_change", "tune_alert", "new_alert", "fix_blind_spot", "restore_source"]
    title: str
    reason: str
    service: str | None = None
    alert: str | None = None
    signal: str | None = None
    target: str | None = None
    rule: str | None = None  # a proposed alerting rule (rules-file YAML)
    checked: str | None = None  # what the Prometheus said when the rule was evaluated
    counterfactual: Counterfactual | None = None
    evidence: tuple[str, ...] = ()  # event ids
