"""Synthetic incidents with known truth, for tests and demos.

Pure Python, deterministic (every random draw comes from a `random.Random` seeded from an explicit
seed and the series' identity, so adding a series does not change the noise of another), no network.
The result is loaded into a real Prometheus with `tests.harness.prometheus.LocalPrometheus`.

Times
    The public API takes epoch seconds (float) or timezone-aware datetimes and returns epoch seconds.
    Internally every sample and evaluation time is an integer number of **milliseconds**, exactly as the
    TSDB stores it, so the rule-engine emulation below sees the same numbers Prometheus will.

Building series (`Synth`, `Target`, `Series`)
    syn = Synth(start, end, seed=0, scrape_interval=15.0)
    tgt = syn.target(job="payments", instance="payments-0:8080", offset=4.0)   # scrape phase in seconds
    tgt.add_gap(t_a, t_b, kind="failed")       # scrapes in [t_a, t_b) fail: up=0, no other samples
    tgt.add_gap(t_c, t_d, kind="missing")      # target gone (or Prometheus down): no samples at all, no up
    s = tgt.counter("http_requests_total", {"service": "payments", "code": "500"},
                    rate=lambda t: 0.5, noise="poisson", resets=[t_deploy], start_value=1e5)
    g = tgt.gauge("http_request_duration_seconds", {"service": "payments", "quantile": "0.99"},
                  value=lambda t: 0.2, noise=0.04)
    series = syn.all_series()                  # every built series plus up{job,instance} per target

    Gaps must be added before the target's series are built. Scrapes happen at `offset + k*interval`
    (epoch-aligned) within [start, end]. A counter integrates `rate(t)` (per second) over each scrape
    interval and draws a Poisson increment; it keeps counting through gaps (the process runs, the scrape
    fails), restarts from 0 at each reset time, and only successful scrapes produce samples. A gauge is
    `value(t) * (1 + N(0, noise))`. Every non-`up` series of a target carries the times at which a live
    Prometheus would have written a staleness marker (first failed/missed scrape of each gap); they are
    not exported (backfill cannot carry them) but `instant()` honours them, as the live engine did.

Evaluating PromQL-like conditions (`Data`, `rate`, `increase`, `instant`, `sum_by`, `divide`, `compare`)
    data = Data(series)
    data.select('http_requests_total{service="payments",code=~"5.."}')   -> list[Series]
    rate(series_list, at, window)       -> Vector   exact port of Prometheus 2.x extrapolatedRate,
                                                     range [at-window, at] closed on both ends (2.x)
    increase(series_list, at, window)   -> Vector
    instant(series_list, at, lookback=300) -> Vector   newest sample in [at-lookback, at], stale-aware
    sum_by(vector, *labels) / divide(a, b) / compare(vector, ">", x) / gt(vector, x)
    A `Vector` is `dict[LabelKey, float]`, LabelKey = sorted tuple of (name, value) pairs; `rate` and
    aggregations drop `__name__`, `instant` keeps it, as PromQL does.

Alerting rules (`AlertRule`, `evaluate_rules`, `rules_yaml`)
    AlertRule(name, expr, condition, for_=300.0, labels={...}, annotations={...})
    `expr` is the PromQL text written to the rules file; `condition(data, t)` must compute the same
    thing in Python and return the vector of elements for which it holds (what the PromQL returns).
    evaluate_rules(rules, series, start=, end=, interval=15.0, offset=0.0) -> RuleEvaluation(series, alerts)
    emulates Prometheus 2.x rules/alerting.go at each evaluation time `offset + k*interval`:
      * an element present for the first time becomes pending with activeAt = that evaluation time;
      * it turns firing at the first evaluation with t - activeAt >= for (for: 0 fires at once);
      * ALERTS{alertname, alertstate, <rule labels>, <series labels>} = 1 and
        ALERTS_FOR_STATE{alertname, <labels>} = floor(activeAt) are written at every evaluation while
        pending or firing (pending and firing are separate ALERTS series);
      * at the first evaluation without the element the alert resolves: no more samples.
    The truth of each rule is an `AlertTruth` with its `episodes` (one per activeAt); its properties
    condition_true_at / pending_at / fired_at / resolved_at describe the first episode that fired (or
    the first episode when none fired). `pending_at` is activeAt, `fired_at` the first firing evaluation,
    `resolved_at` the first evaluation at which the condition no longer held; `condition_true_at` is the
    first whole second after the previous evaluation at which the condition held (what a continuously
    evaluating engine would have seen), so pending_at - interval < condition_true_at <= pending_at.
    rules_yaml(rules) -> the Prometheus rules file text (groups/rules: alert, expr, for, labels,
    annotations). Rule labels are literal (no templating); annotations are not labels of ALERTS.

Output
    to_openmetrics(series) -> str: one contiguous family per metric (# HELP, # TYPE; counters as family
    `x` with samples `x_total`), families and series sorted, samples time-sorted, timestamps in seconds
    with millisecond precision, ends with "# EOF\\n". Raises on duplicates or out-of-order samples
    (promtool would silently drop them).

Scenario
    checkout_incident(start, seed=0, ...) -> Scenario(openmetrics, rules_yaml, truth, changes)
    build_checkout_incident(...) -> ScenarioParts(series, alert_series, rules, truth, changes) with the
    same content before serialisation. See `build_checkout_incident` for the story and the numbers.
    checkout_logs(truth, seed=0) -> CheckoutLogs(text, truth): the services' logs for that scenario as
    ECS JSON lines (a new error at the fault, an old one bursting, a 6-minute ingestion hole), with
    their own `LogTruth`.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

__all__ = [
    "CHECKOUT_ALERT_EXPR",
    "ERROR_RATE_QUERY",
    "LATENCY_QUERY",
    "PAYMENTS_ALERT_EXPR",
    "TARGET_DOWN_EXPR",
    "AlertEpisode",
    "AlertRule",
    "AlertTruth",
    "CheckoutLogs",
    "Data",
    "LabelKey",
    "LogTruth",
    "RuleEvaluation",
    "Scenario",
    "ScenarioParts",
    "ScrapeGap",
    "Series",
    "SignalTruth",
    "Synth",
    "Target",
    "Truth",
    "Vector",
    "build_checkout_incident",
    "checkout_incident",
    "checkout_logs",
    "compare",
    "diurnal",
    "divide",
    "evaluate_rules",
    "gt",
    "increase",
    "instant",
    "labels_key",
    "ramp",
    "rate",
    "rfc3339",
    "rules_yaml",
    "sum_by",
    "to_openmetrics",
]

LabelKey = tuple[tuple[str, str], ...]
Vector = dict[LabelKey, float]
TimeLike = float | int | datetime

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_KINDS = ("counter", "gauge")
GAP_KINDS = ("failed", "missing")


# --------------------------------------------------------------------------------------------- time


def _ms(t: TimeLike) -> int:
    if isinstance(t, datetime):
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t.isoformat()!r}: give a timezone")
        return round(t.timestamp() * 1000)
    return round(float(t) * 1000)


def _sec(ms: int) -> float:
    return ms / 1000.0


def rfc3339(t: TimeLike | None) -> str | None:
    """Epoch seconds (or an aware datetime) as `2026-11-20T10:00:00Z` (milliseconds only when present)."""
    if t is None:
        return None
    ms = _ms(t)
    dt = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
    text = dt.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def labels_key(labels: Mapping[str, str]) -> LabelKey:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


# ------------------------------------------------------------------------------------------- series


@dataclass(eq=False)
class Series:
    """One time series: metric name, labels (without `__name__`), kind, samples at integer ms."""

    name: str
    labels: dict[str, str]
    kind: str = "gauge"
    help: str = ""
    t_ms: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stale_ms: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not _METRIC_NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {self.kind!r}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r}: OpenMetrics counter samples must end with _total")
        for k in self.labels:
            if not _LABEL_NAME.match(k) or k.startswith("__"):
                raise ValueError(f"invalid label name {k!r} on {self.name}")
        self.labels = {str(k): str(v) for k, v in self.labels.items()}

    @property
    def key(self) -> LabelKey:
        """Labels including `__name__`, sorted: the identity of the series."""
        return labels_key({"__name__": self.name, **self.labels})

    @property
    def family(self) -> str:
        return self.name[: -len("_total")] if self.kind == "counter" else self.name

    @property
    def metric(self) -> dict[str, str]:
        """Labels as Prometheus' HTTP API returns them (`__name__` included)."""
        return {"__name__": self.name, **self.labels}

    @property
    def times(self) -> list[float]:
        return [_sec(t) for t in self.t_ms]

    @property
    def samples(self) -> list[tuple[float, float]]:
        return [(_sec(t), v) for t, v in zip(self.t_ms, self.values, strict=True)]

    def append(self, t: TimeLike, value: float) -> None:
        """Append a sample at `t` (epoch seconds or aware datetime); times must increase."""
        self._append_ms(_ms(t), value)

    def _append_ms(self, ms: int, value: float) -> None:
        if self.t_ms and ms <= self.t_ms[-1]:
            raise ValueError(f"{self.name}{self.labels}: sample at {ms} ms is not after {self.t_ms[-1]} ms")
        self.t_ms.append(ms)
        self.values.append(float(value))

    def window_ms(self, lo: int, hi: int) -> tuple[list[int], list[float]]:
        """Samples with lo <= t <= hi (Prometheus 2.x range selection: closed on both ends)."""
        i = bisect.bisect_left(self.t_ms, lo)
        j = bisect.bisect_right(self.t_ms, hi)
        return self.t_ms[i:j], self.values[i:j]

    def latest_ms(self, at: int, lookback: int) -> tuple[int, float] | None:
        """Newest sample in [at - lookback, at], or None; None too when a staleness marker follows it."""
        j = bisect.bisect_right(self.t_ms, at) - 1
        if j < 0:
            return None
        t = self.t_ms[j]
        if t < at - lookback:
            return None
        k = bisect.bisect_right(self.stale_ms, t)
        if k < len(self.stale_ms) and self.stale_ms[k] <= at:
            return None
        return t, self.values[j]

    def value_at(self, t: TimeLike, lookback: float = 300.0) -> float | None:
        hit = self.latest_ms(_ms(t), round(lookback * 1000))
        return None if hit is None else hit[1]


@dataclass(frozen=True)
class ScrapeGap:
    """A run of scrapes of one target that failed (`failed`: up=0) or did not happen (`missing`).

    `start` is the first failed/missed scrape, `end` the first scrape after the run (normally the first
    successful one; None if the data ends first), `last_ok` the last successful scrape before it (None
    if none); epoch seconds.
    """

    job: str
    instance: str
    kind: str
    start: float
    end: float | None
    last_ok: float | None
    scrapes: int

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "instance": self.instance,
            "kind": self.kind,
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "last_ok": rfc3339(self.last_ok),
            "scrapes": self.scrapes,
            "duration": self.duration,
        }


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 40:
        limit = math.exp(-lam)
        k, p = 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def _integrate(f: Callable[[float], float], a_ms: int, b_ms: int, step_ms: int = 3000) -> float:
    """Midpoint rule for the integral of f (per second) over (a, b] in seconds."""
    if b_ms <= a_ms:
        return 0.0
    n = max(1, math.ceil((b_ms - a_ms) / step_ms))
    h = (b_ms - a_ms) / n
    total = 0.0
    for i in range(n):
        total += max(0.0, float(f((a_ms + (i + 0.5) * h) / 1000.0)))
    return total * h / 1000.0


class Target:
    """A scrape target (job, instance): the schedule of its scrapes, its gaps and its series."""

    def __init__(self, synth: Synth, job: str, instance: str, offset: float, interval: float) -> None:
        if interval <= 0:
            raise ValueError("scrape interval must be positive")
        self.synth = synth
        self.job = job
        self.instance = instance
        self.interval_ms = round(interval * 1000)
        self.offset_ms = round(offset * 1000) % self.interval_ms
        first = math.ceil((synth.start_ms - self.offset_ms) / self.interval_ms)
        last = math.floor((synth.end_ms - self.offset_ms) / self.interval_ms)
        self.scrape_ms: list[int] = [k * self.interval_ms + self.offset_ms for k in range(first, last + 1)]
        self._gaps: list[tuple[int, int, str]] = []
        self._built = False
        self.series: list[Series] = []

    @property
    def interval(self) -> float:
        return _sec(self.interval_ms)

    def add_gap(self, start: TimeLike, end: TimeLike, kind: str = "failed") -> Target:
        """Scrapes at times in [start, end) fail (`failed`: up=0) or do not happen (`missing`)."""
        if kind not in GAP_KINDS:
            raise ValueError(f"gap kind must be one of {GAP_KINDS}, not {kind!r}")
        if self._built:
            raise RuntimeError("add gaps to a target before building its series")
        a, b = _ms(start), _ms(end)
        if b <= a:
            raise ValueError("gap end must be after its start")
        self._gaps.append((a, b, kind))
        return self

    def state_ms(self, s: int) -> str:
        """'ok', 'failed' or 'missing' for a scrape at s ms (missing wins over failed)."""
        state = "ok"
        for a, b, kind in self._gaps:
            if a <= s < b:
                if kind == "missing":
                    return "missing"
                state = "failed"
        return state

    def _stale_points(self, *, for_up: bool) -> list[int]:
        """Where a live server writes staleness markers: the first bad scrape of each run."""
        out, prev = [], "ok"
        for s in self.scrape_ms:
            st = self.state_ms(s)
            bad = st == "missing" if for_up else st != "ok"
            was_bad = prev == "missing" if for_up else prev != "ok"
            if bad and not was_bad:
                out.append(s)
            prev = st
        return out

    def _new_series(self, name: str, labels: Mapping[str, str], kind: str, help: str) -> Series:
        for reserved in ("job", "instance"):
            if reserved in labels:
                raise ValueError(f"{reserved!r} is a target label; it is added to every series")
        s = Series(name, {"job": self.job, "instance": self.instance, **labels}, kind, help)
        self._built = True
        return s

    def counter(
        self,
        name: str,
        labels: Mapping[str, str],
        rate: Callable[[float], float],
        *,
        noise: str | None = "poisson",
        resets: Iterable[TimeLike] = (),
        start_value: float = 0.0,
        help: str = "",
    ) -> Series:
        """A counter whose per-second rate is `rate(t)` (t in epoch seconds).

        noise="poisson": each scrape interval adds a Poisson draw of the integrated rate; None: exactly
        the integral (a float counter). `resets`: process restarts (the counter restarts at 0).
        """
        if noise not in ("poisson", None):
            raise ValueError("noise must be 'poisson' or None")
        s = self._new_series(name, labels, "counter", help)
        rng = self.synth.rng_for("counter", self.job, self.instance, name, repr(labels_key(labels)))
        reset_ms = sorted(_ms(r) for r in resets)
        value = float(start_value)
        prev = None
        for t in self.scrape_ms:
            lo = t - self.interval_ms if prev is None else prev
            while reset_ms and reset_ms[0] <= lo:
                reset_ms.pop(0)
            if reset_ms and lo < reset_ms[0] <= t:
                while reset_ms and reset_ms[0] <= t:
                    lo = reset_ms.pop(0)
                value = 0.0
            lam = _integrate(rate, lo, t)
            value += _poisson(rng, lam) if noise == "poisson" else lam
            if self.state_ms(t) == "ok":
                s._append_ms(t, value)
            prev = t
        s.stale_ms = self._stale_points(for_up=False)
        self.series.append(s)
        return s

    def gauge(
        self,
        name: str,
        labels: Mapping[str, str],
        value: Callable[[float], float],
        *,
        noise: float = 0.0,
        nonnegative: bool = True,
        digits: int = 6,
        help: str = "",
    ) -> Series:
        """A gauge `value(t) * (1 + N(0, noise))`, rounded to `digits` decimals."""
        s = self._new_series(name, labels, "gauge", help)
        rng = self.synth.rng_for("gauge", self.job, self.instance, name, repr(labels_key(labels)))
        for t in self.scrape_ms:
            v = float(value(t / 1000.0))
            eps = rng.gauss(0.0, noise) if noise else 0.0
            v *= 1.0 + eps
            if nonnegative:
                v = max(0.0, v)
            if self.state_ms(t) == "ok":
                s._append_ms(t, round(v, digits))
        s.stale_ms = self._stale_points(for_up=False)
        self.series.append(s)
        return s

    def up(self) -> Series:
        """up{job,instance}: 1 per successful scrape, 0 per failed one, nothing when missing."""
        s = Series(
            "up",
            {"job": self.job, "instance": self.instance},
            "gauge",
            "1 if the scrape of the target succeeded, 0 if it failed.",
        )
        for t in self.scrape_ms:
            st = self.state_ms(t)
            if st != "missing":
                s._append_ms(t, 1.0 if st == "ok" else 0.0)
        s.stale_ms = self._stale_points(for_up=True)
        self._built = True
        return s

    def gaps(self) -> list[ScrapeGap]:
        """The actual runs of failed / missed scrapes (each kind separately)."""
        out: list[ScrapeGap] = []
        states = [self.state_ms(s) for s in self.scrape_ms]
        last_ok: int | None = None
        i = 0
        while i < len(states):
            if states[i] == "ok":
                last_ok = self.scrape_ms[i]
                i += 1
                continue
            j = i
            while j < len(states) and states[j] == states[i]:
                j += 1
            end = self.scrape_ms[j] if j < len(states) else None
            out.append(
                ScrapeGap(
                    self.job,
                    self.instance,
                    states[i],
                    _sec(self.scrape_ms[i]),
                    None if end is None else _sec(end),
                    None if last_ok is None else _sec(last_ok),
                    j - i,
                )
            )
            i = j
        return out


class Synth:
    """Builds series for targets scraped over [start, end]; see the module docstring."""

    def __init__(self, start: TimeLike, end: TimeLike, *, seed: int = 0, scrape_interval: float = 15.0) -> None:
        self.start_ms, self.end_ms = _ms(start), _ms(end)
        if self.end_ms <= self.start_ms:
            raise ValueError("end must be after start")
        self.seed = seed
        self.scrape_interval = float(scrape_interval)
        self.targets: list[Target] = []

    @property
    def start(self) -> float:
        return _sec(self.start_ms)

    @property
    def end(self) -> float:
        return _sec(self.end_ms)

    def rng_for(self, *parts: str) -> random.Random:
        """A generator seeded from the seed and an identity (stable across runs and Python versions)."""
        return random.Random("\x1f".join([str(self.seed), *parts]))

    def target(self, job: str, instance: str, *, offset: float = 0.0, scrape_interval: float | None = None) -> Target:
        if any(t.job == job and t.instance == instance for t in self.targets):
            raise ValueError(f"target {job}/{instance} exists already")
        tgt = Target(self, job, instance, offset, scrape_interval or self.scrape_interval)
        self.targets.append(tgt)
        return tgt

    def all_series(self) -> list[Series]:
        out: list[Series] = []
        for tgt in self.targets:
            out.append(tgt.up())
            out.extend(tgt.series)
        return out

    def gaps(self) -> list[ScrapeGap]:
        return [g for tgt in self.targets for g in tgt.gaps()]


# ---------------------------------------------------------------------------------- shape helpers


def ramp(t: float, t0: float, t1: float, v0: float, v1: float) -> float:
    """v0 before t0, v1 after t1, linear in between."""
    if t <= t0:
        return v0
    if t >= t1:
        return v1
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def diurnal(t: float, amplitude: float = 0.15, peak_hour_utc: float = 15.0) -> float:
    """A gentle daily traffic factor: 1 + amplitude * cos(2π (hour - peak) / 24)."""
    hour = (t % 86400.0) / 3600.0
    return 1.0 + amplitude * math.cos(2.0 * math.pi * (hour - peak_hour_utc) / 24.0)


# ------------------------------------------------------------------------- PromQL-like evaluation

_SEL_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass(frozen=True)
class _Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit


def _parse_selector(text: str) -> list[_Matcher]:
    m = _SEL_RE.match(text)
    if not m:
        raise ValueError(f"cannot parse selector {text!r}")
    out = []
    if m.group(1):
        out.append(_Matcher("__name__", "=", m.group(1)))
    body = (m.group(2) or "").strip()
    pos = 0
    while pos < len(body):
        mm = _MATCHER_RE.match(body, pos)
        if not mm:
            raise ValueError(f"cannot parse matchers in {text!r} at {body[pos:]!r}")
        value = json.loads('"' + mm.group(3) + '"')
        out.append(_Matcher(mm.group(1), mm.group(2), value))
        pos = mm.end()
    if not out:
        raise ValueError(f"empty selector {text!r}")
    return out


class Data:
    """The scraped series a rule condition can read, with PromQL-like selection."""

    def __init__(self, series: Iterable[Series]) -> None:
        self.series = list(series)
        self._cache: dict[str, list[Series]] = {}

    def select(self, selector: str) -> list[Series]:
        """Series matching e.g. `http_requests_total{service="payments",code=~"5.."}`, sorted by labels."""
        hit = self._cache.get(selector)
        if hit is None:
            matchers = _parse_selector(selector)
            hit = sorted((s for s in self.series if all(m.matches(s.metric) for m in matchers)), key=lambda s: s.key)
            self._cache[selector] = hit
        return hit


def _drop_name(key: LabelKey) -> LabelKey:
    return tuple(kv for kv in key if kv[0] != "__name__")


def _extrapolated_rate(
    ts: Sequence[int],
    vs: Sequence[float],
    range_start: int,
    range_end: int,
    range_s: float,
    is_counter: bool,
    is_rate: bool,
) -> float | None:
    """Prometheus 2.x promql/functions.go extrapolatedRate, on integer-ms timestamps."""
    if len(ts) < 2:
        return None
    result = vs[-1] - vs[0]
    if is_counter:
        last = 0.0
        for v in vs:
            if v < last:
                result += last
            last = v
    duration_to_start = (ts[0] - range_start) / 1000
    duration_to_end = (range_end - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    avg = sampled / (len(ts) - 1)
    if is_counter and result > 0 and vs[0] >= 0:
        duration_to_zero = sampled * (vs[0] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = avg * 1.1
    extrapolate_to = sampled
    extrapolate_to += duration_to_start if duration_to_start < threshold else avg / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else avg / 2
    result = result * (extrapolate_to / sampled)
    if is_rate:
        result = result / range_s
    return result


def _range_fn(series: Sequence[Series], at: TimeLike, window: float, is_rate: bool) -> Vector:
    at_ms = _ms(at)
    win_ms = round(window * 1000)
    out: Vector = {}
    for s in series:
        ts, vs = s.window_ms(at_ms - win_ms, at_ms)
        r = _extrapolated_rate(ts, vs, at_ms - win_ms, at_ms, win_ms / 1000, True, is_rate)
        if r is not None:
            out[_drop_name(s.key)] = r
    return out


def rate(series: Sequence[Series], at: TimeLike, window: float) -> Vector:
    """`rate(<series>[window])` evaluated at `at` (Prometheus 2.x semantics)."""
    return _range_fn(series, at, window, True)


def increase(series: Sequence[Series], at: TimeLike, window: float) -> Vector:
    """`increase(<series>[window])` evaluated at `at`."""
    return _range_fn(series, at, window, False)


def instant(series: Sequence[Series], at: TimeLike, lookback: float = 300.0) -> Vector:
    """An instant vector selector at `at`: newest sample within the lookback, not stale."""
    at_ms, lb = _ms(at), round(lookback * 1000)
    out: Vector = {}
    for s in series:
        hit = s.latest_ms(at_ms, lb)
        if hit is not None:
            out[s.key] = hit[1]
    return out


def sum_by(vec: Vector, *by: str) -> Vector:
    """`sum by (<by>) (vec)`; `sum(vec)` with no labels. Empty in, empty out."""
    out: Vector = {}
    for key in sorted(vec):
        k = tuple(kv for kv in key if kv[0] in by)
        out[k] = out.get(k, 0.0) + vec[key]
    return out


def divide(a: Vector, b: Vector) -> Vector:
    """`a / b` with one-to-one matching on all labels but `__name__`; x/0 follows IEEE like Go."""
    rhs = {_drop_name(k): v for k, v in b.items()}
    out: Vector = {}
    for k, v in a.items():
        k2 = _drop_name(k)
        if k2 in rhs:
            d = rhs[k2]
            if d == 0:
                out[k2] = math.nan if v == 0 or math.isnan(v) else math.copysign(math.inf, v)
            else:
                out[k2] = v / d
    return out


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}


def compare(vec: Vector, op: str, threshold: float) -> Vector:
    """The filtering comparison `vec <op> threshold` (NaN never passes)."""
    fn = _OPS[op]
    return {k: v for k, v in vec.items() if not math.isnan(v) and fn(v, threshold)}


def gt(vec: Vector, threshold: float) -> Vector:
    return compare(vec, ">", threshold)


# ---------------------------------------------------------------------------------- alert rules


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule: the PromQL text for the rules file and the same condition in Python."""

    name: str
    expr: str
    condition: Callable[[Data, float], Vector]
    for_: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertEpisode:
    """One alert instance from activeAt to resolution. `labels` are ALERTS' labels minus alertstate."""

    labels: Mapping[str, str]
    condition_true_at: float
    pending_at: float
    fired_at: float | None
    resolved_at: float | None
    last_eval_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "condition_true_at": rfc3339(self.condition_true_at),
            "pending_at": rfc3339(self.pending_at),
            "fired_at": rfc3339(self.fired_at),
            "resolved_at": rfc3339(self.resolved_at),
            "last_eval_at": rfc3339(self.last_eval_at),
        }


@dataclass(frozen=True)
class AlertTruth:
    """What the rule engine did with one rule over the data."""

    name: str
    expr: str
    for_: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    episodes: tuple[AlertEpisode, ...]

    @property
    def primary(self) -> AlertEpisode | None:
        """The first episode that fired, else the first episode, else None."""
        for e in self.episodes:
            if e.fired_at is not None:
                return e
        return self.episodes[0] if self.episodes else None

    @property
    def fired(self) -> bool:
        return any(e.fired_at is not None for e in self.episodes)

    @property
    def condition_true_at(self) -> float | None:
        return None if self.primary is None else self.primary.condition_true_at

    @property
    def pending_at(self) -> float | None:
        return None if self.primary is None else self.primary.pending_at

    @property
    def fired_at(self) -> float | None:
        return None if self.primary is None else self.primary.fired_at

    @property
    def resolved_at(self) -> float | None:
        return None if self.primary is None else self.primary.resolved_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "condition_true_at": rfc3339(self.condition_true_at),
            "pending_at": rfc3339(self.pending_at),
            "fired_at": rfc3339(self.fired_at),
            "resolved_at": rfc3339(self.resolved_at),
            "episodes": [e.to_dict() for e in self.episodes],
        }


class RuleEvaluation(NamedTuple):
    series: list[Series]
    alerts: dict[str, AlertTruth]


def _alert_labels(rule: AlertRule, vec: Vector) -> dict[LabelKey, dict[str, str]]:
    out: dict[LabelKey, dict[str, str]] = {}
    for key in vec:
        lbls = {k: v for k, v in key if k != "__name__"}
        lbls.update(rule.labels)
        lbls["alertname"] = rule.name
        ak = labels_key(lbls)
        if ak in out:
            raise ValueError(f"{rule.name}: vector contains metrics with the same labelset after applying alert labels")
        out[ak] = lbls
    return out


def _episode(a: Mapping[str, Any], resolved: int | None) -> AlertEpisode:
    return AlertEpisode(
        a["labels"],
        _sec(a["cond"]),
        _sec(a["active"]),
        None if a["fired"] is None else _sec(a["fired"]),
        None if resolved is None else _sec(resolved),
        _sec(a["last"]),
    )


def evaluate_rules(
    rules: Sequence[AlertRule],
    series: Iterable[Series],
    *,
    start: TimeLike,
    end: TimeLike,
    interval: float = 15.0,
    offset: float = 0.0,
    refine_step: float = 1.0,
) -> RuleEvaluation:
    """Emulate Prometheus 2.x alerting-rule evaluation at `offset + k*interval` in [start, end]."""
    data = Data(series)
    iv = round(interval * 1000)
    off = round(offset * 1000) % iv
    lo, hi = _ms(start), _ms(end)
    first = math.ceil((lo - off) / iv)
    evals = [k * iv + off for k in range(first, math.floor((hi - off) / iv) + 1)]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError("alert rule names must be unique here")

    out: dict[LabelKey, Series] = {}

    def emit(name: str, lbls: Mapping[str, str], t: int, v: float) -> None:
        s = Series(name, dict(lbls), "gauge")
        got = out.setdefault(s.key, s)
        got._append_ms(t, v)

    truths: dict[str, AlertTruth] = {}
    step = max(1, round(refine_step * 1000))
    for rule in rules:
        active: dict[LabelKey, dict[str, Any]] = {}
        episodes: list[AlertEpisode] = []
        prev: int | None = None

        for t in evals:
            current = _alert_labels(rule, rule.condition(data, t / 1000.0))
            for ak in [k for k in active if k not in current]:
                episodes.append(_episode(active.pop(ak), t))
            for ak, lbls in current.items():
                if ak not in active:
                    cond = t
                    if prev is not None:
                        probe = prev + step
                        while probe < t:
                            if ak in _alert_labels(rule, rule.condition(data, probe / 1000.0)):
                                cond = probe
                                break
                            probe += step
                    active[ak] = {"labels": lbls, "active": t, "cond": cond, "fired": None, "last": t}
                a = active[ak]
                if a["fired"] is None and t - a["active"] >= round(rule.for_ * 1000):
                    a["fired"] = t
                a["last"] = t
                state = "pending" if a["fired"] is None else "firing"
                emit("ALERTS", {**lbls, "alertstate": state}, t, 1.0)
                emit("ALERTS_FOR_STATE", lbls, t, float(a["active"] // 1000))
            prev = t
        episodes.extend(_episode(a, None) for a in active.values())
        episodes.sort(key=lambda e: (e.pending_at, labels_key(e.labels)))
        truths[rule.name] = AlertTruth(
            rule.name, rule.expr, float(rule.for_), dict(rule.labels), dict(rule.annotations), tuple(episodes)
        )
    alert_series = [out[k] for k in sorted(out)]
    for s in alert_series:
        s.help = (
            "Alert state written by the rule engine (emulated)."
            if s.name == "ALERTS"
            else "activeAt of the alert, unix seconds (emulated)."
        )
    return RuleEvaluation(alert_series, truths)


def _prom_duration(seconds: float) -> str:
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(str(text), ensure_ascii=False)


def rules_yaml(rules: Sequence[AlertRule], *, group: str = "dossier-synthetic", interval: float | None = None) -> str:
    """The Prometheus rules file for `rules` (one group)."""
    lines = ["groups:", f"  - name: {_q(group)}"]
    if interval is not None:
        lines.append(f"    interval: {_prom_duration(interval)}")
    lines.append("    rules:")
    for r in rules:
        lines.append(f"      - alert: {_q(r.name)}")
        lines.append(f"        expr: {_q(r.expr)}")
        if r.for_:
            lines.append(f"        for: {_prom_duration(r.for_)}")
        for section, mapping in (("labels", r.labels), ("annotations", r.annotations)):
            if mapping:
                lines.append(f"        {section}:")
                for k in sorted(mapping):
                    lines.append(f"          {k}: {_q(mapping[k])}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- OpenMetrics


def _fmt_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(float(v))


def _fmt_ts(ms: int) -> str:
    if ms < 0:
        raise ValueError("negative timestamps are not supported")
    return str(ms // 1000) if ms % 1000 == 0 else f"{ms // 1000}.{ms % 1000:03d}"


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def to_openmetrics(series: Iterable[Series]) -> str:
    """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics` (see module docstring)."""
    families: dict[str, list[Series]] = {}
    seen: set[LabelKey] = set()
    for s in series:
        if s.key in seen:
            raise ValueError(f"duplicate series {s.name}{s.labels}")
        seen.add(s.key)
        fam = families.setdefault(s.family, [])
        if fam and fam[0].kind != s.kind:
            raise ValueError(f"family {s.family!r} mixes {fam[0].kind} and {s.kind}")
        fam.append(s)
    names = {s.name for fam in families.values() for s in fam}
    for fam_name, fam in families.items():
        if fam[0].kind == "counter" and fam_name in names:
            raise ValueError(f"counter family {fam_name!r} collides with a metric of the same name")
    lines: list[str] = []
    for fam_name in sorted(families):
        fam = sorted(families[fam_name], key=lambda s: s.key)
        help_text = next((s.help for s in fam if s.help), "")
        if help_text:
            lines.append(f"# HELP {fam_name} {_escape_help(help_text)}")
        lines.append(f"# TYPE {fam_name} {fam[0].kind}")
        for s in fam:
            lab = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(s.labels.items()))
            head = f"{s.name}{{{lab}}}" if lab else s.name
            prev = None
            for t, v in zip(s.t_ms, s.values, strict=True):
                if prev is not None and t <= prev:
                    raise ValueError(f"{s.name}{s.labels}: samples out of order at {t} ms")
                prev = t
                lines.append(f"{head} {_fmt_value(v)} {_fmt_ts(t)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ truth


@dataclass(frozen=True)
class SignalTruth:
    """An injected change in one service signal: when the underlying rate/value changed."""

    service: str
    signal: str
    query: str
    onset_at: float
    recovered_at: float | None
    baseline: float
    peak: float
    alert: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "signal": self.signal,
            "query": self.query,
            "onset_at": rfc3339(self.onset_at),
            "recovered_at": rfc3339(self.recovered_at),
            "baseline": self.baseline,
            "peak": self.peak,
            "alert": self.alert,
        }


@dataclass(frozen=True)
class Truth:
    """What really happened in a synthetic incident (epoch seconds; `to_dict()` gives RFC 3339)."""

    incident: Mapping[str, Any]
    data_start: float
    data_end: float
    scrape_interval: float
    eval_interval: float
    eval_offset: float
    fault_at: float | None
    mitigated_at: float | None
    recovered_at: float | None
    alerts: Mapping[str, AlertTruth]
    scrape_gaps: tuple[ScrapeGap, ...]
    signals: tuple[SignalTruth, ...]
    culprit_change_id: str | None
    services: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    @property
    def detected_at(self) -> float | None:
        """The first firing of any alert."""
        fired = [e.fired_at for a in self.alerts.values() for e in a.episodes if e.fired_at is not None]
        return min(fired) if fired else None

    @property
    def unalerted_signals(self) -> list[SignalTruth]:
        return [s for s in self.signals if s.alert is None]

    def signal(self, service: str, signal: str) -> SignalTruth:
        for s in self.signals:
            if s.service == service and s.signal == signal:
                return s
        raise KeyError((service, signal))

    def to_dict(self) -> dict[str, Any]:
        return {
            "incident": dict(self.incident),
            "data_start": rfc3339(self.data_start),
            "data_end": rfc3339(self.data_end),
            "scrape_interval": self.scrape_interval,
            "eval_interval": self.eval_interval,
            "eval_offset": self.eval_offset,
            "fault_at": rfc3339(self.fault_at),
            "mitigated_at": rfc3339(self.mitigated_at),
            "recovered_at": rfc3339(self.recovered_at),
            "detected_at": rfc3339(self.detected_at),
            "alerts": {k: v.to_dict() for k, v in self.alerts.items()},
            "scrape_gaps": [g.to_dict() for g in self.scrape_gaps],
            "signals": [s.to_dict() for s in self.signals],
            "culprit_change_id": self.culprit_change_id,
            "services": dict(self.services),
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------- scenario


class Scenario(NamedTuple):
    openmetrics: str
    rules_yaml: str
    truth: Truth
    changes: list[dict[str, str]]


@dataclass(frozen=True)
class ScenarioParts:
    series: list[Series]
    alert_series: list[Series]
    rules: list[AlertRule]
    truth: Truth
    changes: list[dict[str, str]]

    def openmetrics(self) -> str:
        return to_openmetrics([*self.series, *self.alert_series])

    def rules_yaml(self) -> str:
        return rules_yaml(self.rules)

    def scenario(self) -> Scenario:
        return Scenario(self.openmetrics(), self.rules_yaml(), self.truth, list(self.changes))


# The signal queries of the demo config ($service is substituted per service) and the rule expressions.
ERROR_RATE_QUERY = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m]))'
LATENCY_QUERY = 'max(http_request_duration_seconds{service="$service",quantile="0.99"})'

PAYMENTS_ALERT_EXPR = (
    'sum(rate(http_requests_total{service="payments",code=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{service="payments"}[5m])) > 0.05'
)
CHECKOUT_ALERT_EXPR = 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m])) > 2.5'
TARGET_DOWN_EXPR = "up == 0"


def _payments_condition(data: Data, t: float) -> Vector:
    errors = sum_by(rate(data.select('http_requests_total{service="payments",code=~"5.."}'), t, 300))
    total = sum_by(rate(data.select('http_requests_total{service="payments"}'), t, 300))
    return gt(divide(errors, total), 0.05)


def _checkout_condition(data: Data, t: float) -> Vector:
    return gt(sum_by(rate(data.select('http_requests_total{service="checkout",code=~"5.."}'), t, 60)), 2.5)


def _target_down_condition(data: Data, t: float) -> Vector:
    return compare(instant(data.select("up"), t), "==", 0)


def build_checkout_incident(
    start: datetime,
    seed: int = 0,
    *,
    fault_after: timedelta = timedelta(minutes=2),
    baseline: timedelta = timedelta(hours=2),
    duration: timedelta = timedelta(hours=2),
    scrape_interval: float = 15.0,
    eval_interval: float = 15.0,
    eval_offset: float = 0.0,
) -> ScenarioParts:
    """A two-service incident: a bad payments deploy breaks payments and, downstream, checkout.

    `start` is the incident window start (the incident file's `start`); the data covers
    [start - baseline, start + duration]; T = start + fault_after is the fault. Per instance
    (two instances per service, scraped every 15 s at different phases):

    * T-100m config_change of `inventory` (unrelated); T-3m deploy payments v2.14.0 (the culprit;
      payments restart: counter resets); T-1m deploy checkout v5.3.1 (later and closer to the onset,
      downstream, innocent; checkout restarts).
    * payments: ~12 req/s per instance with a gentle diurnal drift, 0.3 % 5xx (500, 503). At T the
      5xx share jumps to 20 % (within 20 s) and the p99 latency gauge
      `http_request_duration_seconds{quantile="0.99"}` from ~0.21 s to ~1.9 s (within 60 s).
    * checkout: ~40 req/s per instance, 0.2 % 5xx. At T+60s 502s rise to ~0.6/s per instance
      (downstream of payments), at T+9m to ~2/s per instance as checkout's payment client saturates.
      Checkout latency does not move.
    * payments-1:8080 fails its scrapes (up=0, no other samples) from T+13m to T+18m.
    * R = T+40m rollback of payments (restarts again); from R+1m to R+2m every signal returns to its
      baseline: recovered_at = R+2m.
    * Rules (evaluated every 15 s): PaymentsHighErrorRate (5xx share over 5m > 5 %, for 5m: late),
      CheckoutHighErrorRate (checkout 5xx > 2.5/s over 1m, for 2m: fires after the payments alert),
      TargetDown (up == 0, for 10m: pending during the scrape gap, never fires). Nothing watches
      payments latency: an unalerted signal.
    """
    start_ms = _ms(start)
    t_start = _sec(start_ms)
    fault = t_start + fault_after.total_seconds()
    rollback = fault + 40 * 60
    recovered = rollback + 120
    rec_begin = rollback + 60
    data_start = t_start - baseline.total_seconds()
    data_end = t_start + duration.total_seconds()
    deploy_payments = fault - 180
    deploy_checkout = fault - 60
    config_change = fault - 100 * 60
    gap_start, gap_end = fault + 13 * 60, fault + 18 * 60

    syn = Synth(data_start, data_end, seed=seed, scrape_interval=scrape_interval)

    def incident_level(t: float, t_on: float, rise: float) -> float:
        """0 before t_on, 1 after t_on+rise, back to 0 between rec_begin and recovered."""
        up_level = ramp(t, t_on, t_on + rise, 0.0, 1.0)
        return up_level * ramp(t, rec_begin, recovered, 1.0, 0.0)

    req_help = "Total HTTP requests handled, by status code."
    lat_help = "Request latency quantiles over the last minute (summary-style gauge)."

    # payments
    pay_targets = [
        ("payments-0:8080", 4.0, deploy_payments, rollback),
        ("payments-1:8080", 11.5, deploy_payments + 40, rollback + 40),
    ]
    for inst, phase, restart1, restart2 in pay_targets:
        tgt = syn.target("payments", inst, offset=phase)
        if inst == "payments-1:8080":
            tgt.add_gap(gap_start, gap_end, kind="failed")

        def p_total(t: float) -> float:
            return 12.0 * diurnal(t)

        def p_frac(t: float, base: float, bad: float) -> float:
            return base + (bad - base) * incident_level(t, fault, 20.0)

        def p_500(t: float) -> float:
            return p_total(t) * p_frac(t, 0.002, 0.16)

        def p_503(t: float) -> float:
            return p_total(t) * p_frac(t, 0.001, 0.04)

        def p_200(t: float) -> float:
            return p_total(t) - p_500(t) - p_503(t)

        for code, fn in (("200", p_200), ("500", p_500), ("503", p_503)):
            start_value = round(fn(data_start) * 86400 * 1.7)
            tgt.counter(
                "http_requests_total",
                {"service": "payments", "code": code},
                fn,
                resets=[restart1, restart2],
                start_value=start_value,
                help=req_help,
            )
        tgt.gauge(
            "http_request_duration_seconds",
            {"service": "payments", "quantile": "0.99"},
            lambda t: 0.21 * diurnal(t, 0.05) + 1.7 * incident_level(t, fault, 60.0),
            noise=0.04,
            help=lat_help,
        )

    # checkout
    chk_targets = [("checkout-0:8080", 2.0, deploy_checkout), ("checkout-1:8080", 9.0, deploy_checkout + 40)]
    for inst, phase, restart in chk_targets:
        tgt = syn.target("checkout", inst, offset=phase)

        def c_total(t: float) -> float:
            return 40.0 * diurnal(t)

        def c_500(t: float) -> float:
            return c_total(t) * 0.0015

        def c_502(t: float) -> float:
            extra = 0.6 * incident_level(t, fault + 60, 30.0) + 1.4 * incident_level(t, fault + 540, 30.0)
            return c_total(t) * 0.0005 + extra

        def c_200(t: float) -> float:
            return c_total(t) - c_500(t) - c_502(t)

        for code, fn in (("200", c_200), ("500", c_500), ("502", c_502)):
            start_value = round(fn(data_start) * 86400 * 2.3)
            tgt.counter(
                "http_requests_total",
                {"service": "checkout", "code": code},
                fn,
                resets=[restart],
                start_value=start_value,
                help=req_help,
            )
        tgt.gauge(
            "http_request_duration_seconds",
            {"service": "checkout", "quantile": "0.99"},
            lambda t: 0.32 * diurnal(t, 0.05),
            noise=0.04,
            help=lat_help,
        )

    series = syn.all_series()

    rules = [
        AlertRule(
            "PaymentsHighErrorRate",
            PAYMENTS_ALERT_EXPR,
            _payments_condition,
            for_=300.0,
            labels={"severity": "page", "service": "payments", "team": "payments"},
            annotations={
                "summary": "payments 5xx ratio above 5% for 5 minutes",
                "description": "{{ $value | humanizePercentage }} of payments requests fail.",
                "runbook_url": "https://runbooks.example.com/payments/high-error-rate",
            },
        ),
        AlertRule(
            "CheckoutHighErrorRate",
            CHECKOUT_ALERT_EXPR,
            _checkout_condition,
            for_=120.0,
            labels={"severity": "page", "service": "checkout", "team": "checkout"},
            annotations={
                "summary": "checkout returns more than 2.5 5xx per second",
                "runbook_url": "https://runbooks.example.com/checkout/high-error-rate",
            },
        ),
        AlertRule(
            "TargetDown",
            TARGET_DOWN_EXPR,
            _target_down_condition,
            for_=600.0,
            labels={"severity": "ticket"},
            annotations={"summary": "{{ $labels.job }}/{{ $labels.instance }} cannot be scraped"},
        ),
    ]
    evaluation = evaluate_rules(
        rules, series, start=data_start, end=data_end, interval=eval_interval, offset=eval_offset
    )

    changes = [
        {
            "at": rfc3339(config_change),
            "service": "inventory",
            "kind": "config_change",
            "version": "inventory-config@41c9e2d",
            "id": "chg-inventory-41c9e2d",
            "title": "inventory: raise stock cache TTL from 60s to 600s",
            "author": "dana.kim",
            "url": "https://git.example.com/platform/inventory-config/commit/41c9e2d",
        },
        {
            "at": rfc3339(deploy_payments),
            "service": "payments",
            "kind": "deploy",
            "version": "v2.14.0",
            "id": "deploy-payments-2291",
            "title": "payments v2.14.0: pooled PSP client, new retry policy",
            "author": "alice.ng",
            "url": "https://ci.example.com/payments/deployments/2291",
        },
        {
            "at": rfc3339(deploy_checkout),
            "service": "checkout",
            "kind": "deploy",
            "version": "v5.3.1",
            "id": "deploy-checkout-1187",
            "title": "checkout v5.3.1: order confirmation copy changes",
            "author": "bob.ortiz",
            "url": "https://ci.example.com/checkout/deployments/1187",
        },
        {
            "at": rfc3339(rollback),
            "service": "payments",
            "kind": "rollback",
            "version": "v2.13.2",
            "id": "deploy-payments-2292",
            "title": "Roll back payments to v2.13.2",
            "author": "carol.ibe",
            "url": "https://ci.example.com/payments/deployments/2292",
        },
    ]

    signals = (
        SignalTruth(
            "payments",
            "error_rate",
            ERROR_RATE_QUERY.replace("$service", "payments"),
            fault,
            recovered,
            round(2 * 12.0 * 0.003, 4),
            round(2 * 12.0 * 0.2, 3),
            "PaymentsHighErrorRate",
        ),
        SignalTruth(
            "payments", "latency", LATENCY_QUERY.replace("$service", "payments"), fault, recovered, 0.21, 1.91, None
        ),
        SignalTruth(
            "checkout",
            "error_rate",
            ERROR_RATE_QUERY.replace("$service", "checkout"),
            fault + 60,
            recovered,
            round(2 * 40.0 * 0.002, 4),
            round(2 * (40 * 0.002 + 2.0), 3),
            "CheckoutHighErrorRate",
        ),
    )
    incident = {
        "id": "INC-2041",
        "title": "Checkout returns 500s",
        "start": rfc3339(t_start),
        "end": rfc3339(data_end),
        "services": ["checkout", "payments"],
        "declared_at": rfc3339(fault + 10 * 60),
        "resolved_at": rfc3339(fault + 58 * 60),
        "severity": "SEV2",
        "labels": {"team": "payments"},
    }
    truth = Truth(
        incident=incident,
        data_start=data_start,
        data_end=data_end,
        scrape_interval=float(scrape_interval),
        eval_interval=float(eval_interval),
        eval_offset=float(eval_offset),
        fault_at=fault,
        mitigated_at=rollback,
        recovered_at=recovered,
        alerts=evaluation.alerts,
        scrape_gaps=tuple(syn.gaps()),
        signals=signals,
        culprit_change_id="deploy-payments-2291",
        services={"checkout": {"depends_on": ["payments"]}, "payments": {"depends_on": []}},
        notes=(
            "signal onset_at is when the injected rate/value changed; a rate()[1m] query shows it "
            "within about one minute after",
            "payments latency rises with the fault and no rule watches it (unalerted signal)",
            "the checkout deploy is later and closer to the onset than the culprit but downstream",
        ),
    )
    return ScenarioParts(series, evaluation.series, rules, truth, changes)


def checkout_incident(start: datetime, seed: int = 0, **kwargs: Any) -> Scenario:
    """(openmetrics_text, rules_yaml_text, truth, change_records) for `build_checkout_incident`."""
    return build_checkout_incident(start, seed, **kwargs).scenario()


# -------------------------------------------------------------------------------------------- logs


@dataclass(frozen=True)
class LogTruth:
    """What the logs of `checkout_logs` hold (epoch seconds; `to_dict()` gives RFC 3339).

    `new_signature_*`: the error statement that first appears with the fault (never in the baseline);
    `spike_*`: an old error statement (also in the baseline, rarely) that bursts from the checkout onset;
    `silence_*`: every log line of that service is missing in [silence_start, silence_end) (an
    ingestion hole, minute-aligned). Both error statements stop at the recovery.
    """

    new_signature_service: str
    new_signature_template: str
    new_signature_first_at: float
    new_signature_count: int
    spike_service: str
    spike_template: str
    spike_start: float
    spike_end: float
    silence_service: str
    silence_start: float
    silence_end: float
    lines: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.__dict__)
        for name in ("new_signature_first_at", "spike_start", "spike_end", "silence_start", "silence_end"):
            out[name] = rfc3339(out[name])
        return out


class CheckoutLogs(NamedTuple):
    text: str  # JSON lines with ECS fields, in time order
    truth: LogTruth


NEW_SIGNATURE_TEMPLATE = "PSP client pool exhausted: waited <*>ms for a connection (pool psp-v2, <*> in use)"
SPIKE_TEMPLATE = "upstream payments returned 502 for order <*>"


def _ecs_time(ms: int) -> str:
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def checkout_logs(truth: Truth, seed: int = 0) -> CheckoutLogs:
    """The logs of payments, checkout and inventory for a `build_checkout_incident` scenario.

    JSON lines as ecs-logging writes them (`@timestamp`, flat `log.level`, `message`, and nested
    `service.name`, `host.name`, `trace.id`, `error.type`), about 1.3 lines per second in all over
    the scenario's data range, plus the incident's errors (about 4.4 MB, 19,000 lines, for 4 hours):

    * steady info and warn lines of the three services, and a handful of recurring baseline errors
      ("card declined for order 1234: insufficient funds", a webhook signature mismatch, a template
      timeout in checkout, an inventory query timeout, a rare 502 from payments seen by checkout);
    * at the fault, a NEW payments error, "PSP client pool exhausted: waited 3012ms for a connection
      (pool psp-v2, 64 in use)" (numbers vary), at about 0.8/s, never seen before the fault;
    * from the checkout onset, a burst of the OLD checkout error "upstream payments returned 502 for
      order 81723" (0.3/s, 0.8/s from 8 minutes later); both end at the recovery;
    * an ingestion hole: no checkout line at all for 6 minutes, from 24 minutes after the fault (moved
      past any scrape gap it would overlap).

    Deterministic from `seed`: each stream of lines draws from its own generator.
    """
    if truth.fault_at is None or truth.recovered_at is None or truth.mitigated_at is None:
        raise ValueError("checkout_logs needs a scenario with a fault, a mitigation and a recovery")
    fault, recovered = truth.fault_at, truth.recovered_at
    rec_begin = truth.mitigated_at + 60.0
    spike_start = truth.signal("checkout", "error_rate").onset_at
    data_start_ms, data_end_ms = _ms(truth.data_start), _ms(truth.data_end)

    silence_start = math.ceil((fault + 24 * 60) / 60) * 60
    for gap in sorted(truth.scrape_gaps, key=lambda g: g.start):
        gap_end = gap.end if gap.end is not None else truth.data_end
        if gap.start < silence_start + 360 and silence_start < gap_end:
            silence_start = math.ceil(gap_end / 60) * 60 + 60
    silence_end = silence_start + 360
    if silence_end > recovered:
        raise ValueError("no room for the ingestion hole between the scrape gaps and the recovery")

    def level(t: float, onset: float, rise: float) -> float:
        return ramp(t, onset, onset + rise, 0.0, 1.0) * ramp(t, rec_begin, recovered, 1.0, 0.0)

    def order(rng: random.Random) -> int:
        return rng.randint(10_000, 99_999)

    def trace(rng: random.Random) -> str:
        return f"{rng.getrandbits(128):032x}"

    Line = tuple[str, str, str | None, str | None]  # level, message, error.type, trace id
    Maker = Callable[[random.Random], Line]

    def card_declined(rng: random.Random) -> Line:
        reason = rng.choice(("insufficient funds", "insufficient funds", "expired card", "do not honor"))
        return "error", f"card declined for order {order(rng)}: {reason}", "CardDeclinedError", trace(rng)

    def pool_exhausted(rng: random.Random) -> Line:
        waited, in_use = 3000 + rng.randint(0, 40), 64 - rng.choice((0, 0, 0, 1, 2))
        message = f"PSP client pool exhausted: waited {waited}ms for a connection (pool psp-v2, {in_use} in use)"
        return "error", message, "PoolExhaustedError", trace(rng)

    def upstream_502(rng: random.Random) -> Line:
        return "error", f"upstream payments returned 502 for order {order(rng)}", "UpstreamError", trace(rng)

    # (name, service, rate per second at time t, line maker)
    streams: list[tuple[str, str, Callable[[float], float], Maker]] = [
        (
            "pay-capture",
            "payments",
            lambda t: 0.26 * diurnal(t) * (1 - 0.5 * level(t, fault, 20)),
            lambda r: (
                "info",
                f"charge ch_{r.getrandbits(40):010x} captured for order {order(r)}: "
                f"{r.randint(5, 400)}.{r.randint(0, 99):02d} EUR",
                None,
                trace(r),
            ),
        ),
        (
            "pay-refund",
            "payments",
            lambda t: 0.02,
            lambda r: ("info", f"refund rf_{r.getrandbits(40):010x} issued for order {order(r)}", None, trace(r)),
        ),
        (
            "pay-slow",
            "payments",
            lambda t: 0.03 + 0.3 * level(t, fault, 60),
            lambda r: (
                "warn",
                f"PSP latency {r.randint(801, 2900)}ms above 800ms for order {order(r)}",
                None,
                trace(r),
            ),
        ),
        ("pay-declined", "payments", lambda t: 0.01, card_declined),
        (
            "pay-webhook",
            "payments",
            lambda t: 0.001,
            lambda r: (
                "error",
                f"PSP webhook signature mismatch for event evt_{r.getrandbits(32):08x}",
                "WebhookSignatureError",
                None,
            ),
        ),
        ("pay-pool", "payments", lambda t: 0.8 * level(t, fault, 20), pool_exhausted),
        (
            "chk-order",
            "checkout",
            lambda t: 0.2 * diurnal(t),
            lambda r: (
                "info",
                f"order {order(r)} placed: {r.randint(2, 9)} items, total {r.randint(5, 400)} EUR",
                None,
                trace(r),
            ),
        ),
        (
            "chk-cart",
            "checkout",
            lambda t: 0.26 * diurnal(t),
            lambda r: ("info", f"cart {r.getrandbits(32):08x} updated: {r.randint(2, 9)} items", None, None),
        ),
        (
            "chk-retry",
            "checkout",
            lambda t: 0.02 + 0.2 * level(t, spike_start, 30),
            lambda r: ("warn", f"payment retry {r.randint(1, 3)}/3 for order {order(r)}", None, trace(r)),
        ),
        (
            "chk-502",
            "checkout",
            lambda t: 0.004 + 0.3 * level(t, spike_start, 30) + 0.5 * level(t, spike_start + 480, 30),
            upstream_502,
        ),
        (
            "chk-template",
            "checkout",
            lambda t: 0.002,
            lambda r: (
                "error",
                f"failed to render confirmation email for order {order(r)}: template timeout",
                "TemplateTimeoutError",
                None,
            ),
        ),
        (
            "inv-reserve",
            "inventory",
            lambda t: 0.18 * diurnal(t),
            lambda r: (
                "info",
                f"reserved {r.randint(1, 5)} units of sku SKU-{r.randint(1000, 9999)} for order {order(r)}",
                None,
                trace(r),
            ),
        ),
        (
            "inv-cache",
            "inventory",
            lambda t: 1 / 60,
            lambda r: (
                "info",
                f"stock cache refreshed: {r.randint(11_800, 12_400)} skus in {r.randint(40, 260)}ms",
                None,
                None,
            ),
        ),
        (
            "inv-conflict",
            "inventory",
            lambda t: 0.03,
            lambda r: ("warn", f"stock reservation conflict for sku SKU-{r.randint(1000, 9999)}, retrying", None, None),
        ),
        (
            "inv-timeout",
            "inventory",
            lambda t: 0.002,
            lambda r: (
                "error",
                "inventory db query timeout after 2000ms on reserve_stock",
                "QueryTimeoutError",
                trace(r),
            ),
        ),
    ]
    hosts = {
        "payments": ("payments-0", "payments-1"),
        "checkout": ("checkout-0", "checkout-1"),
        "inventory": ("inventory-0",),
    }
    silence_ms = (_ms(silence_start), _ms(silence_end))

    records: list[tuple[int, int, str]] = []  # (ms, stream index, JSON line)
    first_new: int | None = None
    new_count = 0
    for index, (name, service, rate_fn, make) in enumerate(streams):
        rng = random.Random("\x1f".join([str(seed), "logs", name]))
        for slot_ms in range(data_start_ms, data_end_ms, 1000):
            lam = rate_fn((slot_ms + 500) / 1000.0)
            if lam <= 0:
                continue
            for ms in sorted(slot_ms + rng.randrange(1000) for _ in range(_poisson(rng, lam))):
                lvl, message, error_type, trace_id = make(rng)
                host = rng.choice(hosts[service])
                if service == "checkout" and silence_ms[0] <= ms < silence_ms[1]:
                    continue  # written by the service, lost on the way to the store
                doc: dict[str, Any] = {
                    "@timestamp": _ecs_time(ms),
                    "log.level": lvl,
                    "message": message,
                    "service": {"name": service},
                    "host": {"name": host},
                }
                if trace_id is not None:
                    doc["trace"] = {"id": trace_id}
                if error_type is not None:
                    doc["error"] = {"type": error_type}
                records.append((ms, index, json.dumps(doc, separators=(",", ":"))))
                if name == "pay-pool":
                    new_count += 1
                    first_new = ms if first_new is None else min(first_new, ms)
    if first_new is None:
        raise ValueError("the fault produced no new error line")
    records.sort(key=lambda r: (r[0], r[1]))
    text = "".join(line + "\n" for _, _, line in records)
    log_truth = LogTruth(
        new_signature_service="payments",
        new_signature_template=NEW_SIGNATURE_TEMPLATE,
        new_signature_first_at=_sec(first_new),
        new_signature_count=new_count,
        spike_service="checkout",
        spike_template=SPIKE_TEMPLATE,
        spike_start=spike_start,
        spike_end=recovered,
        silence_service="checkout",
        silence_start=float(silence_start),
        silence_end=float(silence_end),
        lines=len(records),
    )
    return CheckoutLogs(text, log_truth)
