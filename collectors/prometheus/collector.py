"""The `prometheus` collector: signals, alert history, alerting rules and scrape gaps.

For one incident window it reads, over the Prometheus HTTP API (any server that speaks it):

* each configured signal for each incident service (`query_range`, chunked under the 11k-points
  limit) -> `Series(role="signal")`, plus `telemetry_gap` events for runs of missing points;
* the raw `ALERTS` / `ALERTS_FOR_STATE` samples (range selectors, exact evaluation times) ->
  `alert_pending` / `alert_firing` / `alert_resolved` events, one set per episode;
* the alerting rules (`/api/v1/rules`) -> `AlertRule`, and the replay of each relevant rule's
  expression over the window -> `Series(role="alert_condition")`;
* the raw samples of `up_query` per service -> `telemetry_gap` events (failed scrapes, holes).

Every request goes through one bounded thread pool; each is retried by tenacity and recorded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from collectors.prometheus._api import PromAPI, RequestFailure
from collectors.prometheus._promql import graph_link, label_matchers, selector, substitute
from collectors.prometheus._samples import (
    Episode,
    Grid,
    LabelKey,
    Matrix,
    build_episodes,
    grid_for,
    merge_matrices,
    nan_runs,
    on_grid,
    parse_matrix,
    range_chunks,
    raw_chunks,
    up_gaps,
)
from collectors.prometheus.config import PrometheusConfig
from dossier.errors import CollectorError
from dossier.model import AlertRule, Event, Problem, Series, from_epoch, rfc3339, stable_id, utc
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult

RAW_SPAN_MAX = 6 * 3600.0  # longest window of one raw-sample (range selector) request


def _labels_text(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def _no_name(labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "__name__"}


@dataclass(slots=True)
class _Outcome:
    """The answer of one request: result and request id, or the failure."""

    result: list[dict] | Any = None
    request_id: str | None = None
    failure: RequestFailure | None = None


@dataclass(slots=True)
class _Chunked:
    """A logical query split into several requests, merged in chunk order."""

    query: str
    futures: list[Future[_Outcome]] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)

    def outcomes(self) -> list[_Outcome]:
        return [f.result() for f in self.futures]

    def merged(self) -> dict[LabelKey, tuple[np.ndarray, np.ndarray]]:
        return merge_matrices(o.result for o in self.outcomes() if o.failure is None)

    def first_request(self) -> str | None:
        return next((o.request_id for o in self.outcomes() if o.failure is None), None)

    def failures(self) -> list[tuple[tuple[float, float], RequestFailure]]:
        return [(w, o.failure) for w, o in zip(self.windows, self.outcomes(), strict=True) if o.failure]


class PrometheusCollector(Collector[PrometheusConfig]):
    """Evidence from a Prometheus-compatible server (see the module docstring)."""

    type = "prometheus"
    Config = PrometheusConfig
    kinds = frozenset({"metric", "alert"})

    def __init__(self, config: PrometheusConfig, ctx: CollectContext) -> None:
        super().__init__(config, ctx)
        self._api: PromAPI | None = None

    @property
    def api(self) -> PromAPI:
        if self._api is None:
            self._api = PromAPI(self.config, self.ctx.instance, self.ctx.recorder)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def check(self) -> str:
        """`Prometheus 2.42.0 (revision ...)`, or what answers when the server has no buildinfo."""
        api = self.api
        try:
            data, _ = api.get_json("/api/v1/status/buildinfo")
        except RequestFailure as failure:
            if failure.auth or failure.unreachable or (failure.status or 0) >= 500 or failure.status == 429:
                raise api.source_error(failure) from None
            try:
                api.query("vector(1)", time.time())
            except RequestFailure as second:
                raise api.source_error(second) from None
            return f"Prometheus HTTP API at {api.base} (no build information: {failure.reason})"
        version = str((data or {}).get("version") or "unknown version")
        revision = (data or {}).get("revision")
        return f"Prometheus {version}" + (f" (revision {revision})" if revision else "")

    def collect(self, request: CollectRequest) -> CollectResult:
        return _Run(self, request).execute()


class _Run:
    """One `collect` call: its window, pool, pending requests and the result being built."""

    def __init__(self, collector: PrometheusCollector, request: CollectRequest) -> None:
        self.config: PrometheusConfig = collector.config
        self.instance = collector.ctx.instance
        self.api = collector.api
        self.api.reset()
        self.request = request
        self.start = utc(request.start).timestamp()
        self.end = utc(request.end).timestamp()
        self.result = CollectResult()
        self.pool: ThreadPoolExecutor | None = None
        self.failures: list[RequestFailure] = []
        self.successes = 0
        self.link_base = self.config.link_base

    # ---- scheduling ----------------------------------------------------------------------

    def _submit(self, fn: Callable[[], tuple[Any, str]]) -> Future[_Outcome]:
        assert self.pool is not None

        def task() -> _Outcome:
            try:
                result, rid = fn()
            except RequestFailure as failure:
                if failure.auth or failure.kind == "deadline":  # nothing more can be read: stop the rest
                    self.api.abort(self.api.source_error(failure))
                return _Outcome(failure=failure, request_id=failure.request_id)
            except CollectorError:  # aborted: another request found the source unusable
                return _Outcome(failure=RequestFailure("GET", self.api.base, "aborted", kind="aborted"))
            return _Outcome(result=result, request_id=rid)

        return self.pool.submit(task)

    def _range(self, query: str, grid: Grid) -> _Chunked:
        chunked = _Chunked(query)
        for chunk in range_chunks(grid, self.config.max_points):
            chunked.futures.append(self._submit(lambda c=chunk: _parsed(self.api.query_range(query, c), c)))
            chunked.windows.append((chunk.start, chunk.end))
        return chunked

    def _raw(self, series_selector: str) -> _Chunked:
        """Raw samples of `series_selector` over the window: `sel[<span>]` at each span's end."""
        span = min(RAW_SPAN_MAX, self.config.max_points * self.config.scrape_interval)
        chunked = _Chunked(series_selector)
        for a, b in raw_chunks(self.start, self.end, span):
            ms = max(1, round((b - a) * 1000))
            q = f"{series_selector}[{ms}ms]"
            chunked.futures.append(self._submit(lambda q=q, b=b: _parsed(self.api.query(q, b))))
            chunked.windows.append((a, b))
        return chunked

    # ---- the run -------------------------------------------------------------------------

    def execute(self) -> CollectResult:
        self._preflight()
        cfg = self.config
        with ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="prometheus") as pool:
            self.pool = pool
            rules_f = self._submit(self._fetch_rules) if cfg.alert_rules else None
            alerts = self._raw("ALERTS") if cfg.alerts else None
            for_state = self._raw("ALERTS_FOR_STATE") if cfg.alerts else None
            signals = self._submit_signals()
            ups = self._submit_up() if cfg.up_query else []
            rules = self._rules(rules_f) if rules_f else []
            episodes = self._episodes(alerts, for_state, rules) if alerts and for_state else []
            replays = self._submit_replays(rules, episodes)
            self._signals(signals)
            self._ups(ups)
            self._replays(replays)
        self.pool = None
        self._total_failure()
        return self.result

    def _preflight(self) -> None:
        """Ask for buildinfo first: a dead or refusing server fails here, before any fan-out."""
        try:
            self.api.get_json("/api/v1/status/buildinfo")
        except RequestFailure as failure:
            if failure.auth or failure.unreachable:
                raise self.api.source_error(failure) from None
            # no buildinfo (404, not JSON): other servers speak the query API without it

    def _outcomes(self, chunked: _Chunked) -> None:
        for o in chunked.outcomes():
            if o.failure is None:
                self.successes += 1
            elif o.failure.kind != "aborted":
                self.failures.append(o.failure)

    def _total_failure(self) -> None:
        if self.api.abort_error is not None:
            raise type(self.api.abort_error)(self.instance, str(self.api.abort_error))
        if self.successes == 0 and self.failures:
            # nothing could be read, and not because a query was rejected (400, 422: that is the query's
            # problem): the server is down, overloaded, or does not speak the Prometheus API here
            if not any(f.status in (400, 422) for f in self.failures):
                raise self.api.source_error(self.failures[0])

    def _why(self, what: str, query: str, failure: RequestFailure) -> str:
        verb = "rejected" if failure.status is not None and 400 <= failure.status < 500 else "failed"
        return f"{what}: query {query!r} {verb}: {failure.detail()}"

    def _chunk_problems(self, what: str, chunked: _Chunked, **fields: Any) -> None:
        self._outcomes(chunked)
        for (a, b), failure in chunked.failures():
            if failure.kind == "aborted":
                continue
            self.result.problems.append(
                Problem(
                    source=self.instance,
                    reason=self._why(what, chunked.query, failure),
                    start=_dt(max(a, self.start)),
                    end=_dt(b),
                    request=failure.request_id,
                    **fields,
                )
            )

    # ---- signals -------------------------------------------------------------------------

    def _submit_signals(self) -> list[tuple[Any, str, Grid, _Chunked]]:
        grid = grid_for(self.start, self.end, self.config.effective_step)
        out = []
        for signal in self.config.signals:
            for svc in self.request.services:
                query = substitute(signal.query, svc.name)
                out.append((signal, svc.name, grid, self._range(query, grid)))
        return out

    def _signals(self, pending: list[tuple[Any, str, Grid, _Chunked]]) -> None:
        times_cache: dict[Grid, tuple[float, ...]] = {}
        # chunks were parsed into arrays by the worker threads while other requests ran
        for signal, service, grid, chunked in pending:
            what = f"signal {signal.name!r} for service {service!r}"
            self._chunk_problems(what, chunked, signal=signal.name, service=service)
            merged = chunked.merged()
            if not merged:
                continue
            times = times_cache.get(grid)
            if times is None:
                times = times_cache[grid] = grid.times()
            rid = chunked.first_request()
            link = graph_link(self.link_base, chunked.query, start=grid.start, end=grid.end, step=grid.step)
            for key in sorted(merged):
                labels = _no_name(dict(key))
                grid_values = on_grid(grid, *merged[key])
                values = tuple(grid_values.tolist())
                labels_text = _labels_text(labels)
                self.result.series.append(
                    Series(
                        id=stable_id(self.instance, "series", signal.name, service, labels_text),
                        source=self.instance,
                        signal=signal.name,
                        service=service,
                        labels=labels,
                        query=chunked.query,
                        times=times,
                        values=values,
                        direction=signal.direction,
                        step=grid.step,
                        link=link,
                        request=rid,
                        role="signal",
                        unit=signal.unit,
                    )
                )
                for first, last in nan_runs(grid_values, 2):
                    at, until = times[first], times[last + 1]
                    self.result.events.append(
                        Event(
                            id=stable_id(
                                self.instance,
                                "telemetry_gap",
                                "signal",
                                signal.name,
                                service,
                                labels_text,
                                rfc3339(_dt(at)) or "",
                            ),
                            at=_dt(at),
                            end=_dt(until),
                            kind="telemetry_gap",
                            source=self.instance,
                            title=f"no data for signal {signal.name} of {service}",
                            service=service,
                            attrs={
                                "reason": f"signal {signal.name!r} has no data",
                                "signal": signal.name,
                                "labels": labels,
                                "step": grid.step,
                            },
                            link=graph_link(
                                self.link_base,
                                chunked.query,
                                start=at - 10 * grid.step,
                                end=until + 10 * grid.step,
                                step=grid.step,
                            ),
                            request=rid,
                        )
                    )

    # ---- alerting rules ------------------------------------------------------------------

    def _fetch_rules(self) -> tuple[Any, str]:
        return self.api.get_json(
            "/api/v1/rules",
            {"type": "alert"},
            items=lambda data: sum(len(g.get("rules") or ()) for g in (data or {}).get("groups") or ()),
        )

    def _rules(self, future: Future[_Outcome]) -> list[AlertRule]:
        outcome = future.result()
        if outcome.failure is not None:
            f = outcome.failure
            if f.kind == "aborted":
                return []
            if f.retryable:
                self.failures.append(f)
            self.result.problems.append(
                Problem(
                    source=self.instance,
                    reason=f"rules API not available: {f.method} {f.url}: {f.detail()} "
                    "(alert review from ALERTS history only)",
                    request=f.request_id,
                )
            )
            return []
        self.successes += 1
        rules: list[AlertRule] = []
        groups = (outcome.result or {}).get("groups") or []
        for group in groups:
            interval = group.get("interval")
            interval = float(interval) if isinstance(interval, int | float) and interval > 0 else None
            for rule in group.get("rules") or []:
                if rule.get("type", "alerting") != "alerting" or "name" not in rule:
                    continue
                expr = str(rule.get("query", ""))
                labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
                rules.append(
                    AlertRule(
                        name=str(rule["name"]),
                        expr=expr,
                        for_seconds=float(rule.get("duration") or 0.0),
                        source=self.instance,
                        labels=labels,
                        annotations={str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                        group=group.get("name"),
                        interval=interval,
                        service=self._rule_service(labels, expr),
                        link=graph_link(self.link_base, expr, start=self.start, end=self.end),
                    )
                )
        self.result.rules.extend(rules)
        return rules

    def _rule_service(self, labels: Mapping[str, str], expr: str) -> str | None:
        """The config's name of the service a rule is about: its label, else its expression's
        matcher; an incident service first, else any configured service (by name or alias)."""
        found = self._scoped_rule_service(labels, expr)
        if found:
            return found
        named = self.request.canonical(labels.get(self.config.service_label))
        if named:
            return named
        for op, value in label_matchers(expr, self.config.service_label):
            hit = self.request.canonical(value) if op == "=" else None
            if hit:
                return hit
        return None

    def _scoped_rule_service(self, labels: Mapping[str, str], expr: str) -> str | None:
        label = self.config.service_label
        named = self.request.service_for(labels.get(label))
        if named:
            return named
        for op, value in label_matchers(expr, label):
            if op == "=":
                hit = self.request.service_for(value)
                if hit:
                    return hit
            elif op == "=~":
                try:
                    pattern = re.compile(value)
                except re.error:
                    continue
                for svc in self.request.services:
                    if any(pattern.fullmatch(n) for n in (svc.name, *svc.aliases)):
                        return svc.name
        return None

    def _submit_replays(
        self, rules: Sequence[AlertRule], episodes: Sequence[Episode]
    ) -> list[tuple[AlertRule, Grid, _Chunked]]:
        fired = {e.alertname for e in episodes}
        out = []
        for rule in rules:
            if self.request.service_for(rule.service) is None and rule.name not in fired:
                continue  # a rule of no incident service that did not fire: nothing to replay
            step = rule.interval or self.config.scrape_interval
            grid = grid_for(self.start, self.end, step)
            out.append((rule, grid, self._range(rule.expr, grid)))
        return out

    def _replays(self, pending: list[tuple[AlertRule, Grid, _Chunked]]) -> None:
        for rule, grid, chunked in pending:
            what = f"replay of alerting rule {rule.name!r}"
            self._chunk_problems(what, chunked, service=rule.service, signal=rule.name)
            merged = chunked.merged()
            rid = chunked.first_request()
            link = graph_link(self.link_base, rule.expr, start=grid.start, end=grid.end, step=grid.step)
            for key in sorted(merged):
                labels = _no_name(dict(key))
                ts, vs = merged[key]
                service = self.request.canonical(labels.get(self.config.service_label)) or rule.service
                self.result.series.append(
                    Series(
                        id=stable_id(
                            self.instance, "alert_condition", rule.group or "", rule.name, _labels_text(labels)
                        ),
                        source=self.instance,
                        signal=rule.name,
                        service=service,
                        labels=labels,
                        query=rule.expr,
                        times=tuple(ts.tolist()),
                        values=tuple(vs.tolist()),
                        direction="up",
                        step=grid.step,
                        link=link,
                        request=rid,
                        role="alert_condition",
                        alert=rule.name,
                    )
                )

    # ---- alert history -------------------------------------------------------------------

    def _episodes(self, alerts: _Chunked, for_state: _Chunked, rules: Sequence[AlertRule]) -> list[Episode]:
        self._chunk_problems("alert history", alerts)
        self._chunk_problems("alert history", for_state)
        fallback = {r.name: r.interval for r in rules if r.interval}
        episodes = build_episodes(
            {
                _drop_name(k): dict(zip(ts.tolist(), vs.tolist(), strict=True))
                for k, (ts, vs) in alerts.merged().items()
            },
            {
                _drop_name(k): dict(zip(ts.tolist(), vs.tolist(), strict=True))
                for k, (ts, vs) in for_state.merged().items()
            },
            window_end=self.end,
            fallback_interval=fallback,
            default_interval=self.config.scrape_interval,
        )
        rid = alerts.first_request() or for_state.first_request()
        for ep in episodes:
            self.result.events.extend(self._alert_events(ep, rid))
        return episodes

    def _alert_events(self, ep: Episode, rid: str | None) -> list[Event]:
        name = ep.alertname
        labels = {k: v for k, v in ep.labels.items() if k != "alertname"}
        service = self.request.canonical(labels.get(self.config.service_label))
        severity = labels.get("severity")
        suffix = f" (severity={severity})" if severity else ""
        anchor = ep.pending_at if ep.pending_at is not None else (ep.fired_at or ep.first_sample)
        attrs = {
            "alertname": name,
            "labels": labels,
            "active_at": rfc3339(_dt(ep.active_at if ep.active_at is not None else anchor)),
            "interval": ep.interval,
            "interval_source": ep.interval_source,
        }
        link = graph_link(
            self.link_base,
            selector("ALERTS", ep.labels),
            start=min(anchor, ep.first_sample) - 600,
            end=(ep.resolved_at or ep.last_sample) + 600,
            step=ep.interval,
        )
        labels_text = _labels_text(labels)
        anchor_text = rfc3339(_dt(anchor)) or ""

        def event(kind: str, state: str, at: float, end: float | None) -> Event:
            return Event(
                id=stable_id(self.instance, kind, name, labels_text, anchor_text),
                at=_dt(at),
                end=_dt(end) if end is not None else None,
                kind=kind,
                source=self.instance,
                title=f"{name} {state}{suffix}",
                service=service,
                attrs=attrs,
                link=link,
                request=rid,
            )

        events = []
        if ep.pending_at is not None and (ep.fired_at is None or ep.pending_at < ep.fired_at):
            events.append(
                event(
                    "alert_pending",
                    "pending",
                    ep.pending_at,
                    ep.fired_at if ep.fired_at is not None else ep.resolved_at,
                )
            )
        if ep.fired_at is not None:
            events.append(event("alert_firing", "firing", ep.fired_at, ep.resolved_at))
        if ep.resolved_at is not None:
            events.append(event("alert_resolved", "resolved", ep.resolved_at, None))
        return events

    # ---- scrape gaps ---------------------------------------------------------------------

    def _submit_up(self) -> list[tuple[str, _Chunked]]:
        assert self.config.up_query is not None
        return [(svc.name, self._raw(substitute(self.config.up_query, svc.name))) for svc in self.request.services]

    def _ups(self, pending: list[tuple[str, _Chunked]]) -> None:
        for service, chunked in pending:
            what = f"scrape gaps of service {service!r}"
            self._chunk_problems(what, chunked, service=service)
            if chunked.failures():
                continue
            merged = chunked.merged()
            rid = chunked.first_request()
            if not merged:
                # Prometheus answered: the absence of any series is evidence (a blind spot, or a query
                # that does not match the targets), not a failure of the source.
                self.result.problems.append(
                    Problem(
                        source=self.instance,
                        kind="blind_spot",
                        service=service,
                        start=_dt(self.start),
                        end=_dt(self.end),
                        request=rid,
                        reason=f"no series of {service} at all for up_query `{chunked.query}` in the window, so its "
                        f"scrape gaps are unknown: check the query's labels (up_query: {self.config.up_query!r})",
                    )
                )
                continue
            for key in sorted(merged):
                labels = _no_name(dict(key))
                ts, vs = merged[key]
                for gap in up_gaps(ts.tolist(), vs.tolist()):
                    start_text = rfc3339(_dt(gap.start)) or ""
                    target = labels.get("instance") or labels.get("job") or _labels_text(labels)
                    self.result.events.append(
                        Event(
                            id=stable_id(
                                self.instance, "telemetry_gap", "up", service, _labels_text(labels), start_text
                            ),
                            at=_dt(gap.start),
                            end=_dt(gap.end) if gap.end is not None else None,
                            kind="telemetry_gap",
                            source=self.instance,
                            title=f"{gap.reason.split(' (')[0]} for {service} ({target})",
                            service=service,
                            attrs={
                                "reason": gap.reason,
                                "instance": labels.get("instance"),
                                "job": labels.get("job"),
                                "labels": labels,
                                "interval": gap.interval,
                            },
                            link=graph_link(
                                self.link_base,
                                selector(dict(key).get("__name__", ""), labels),
                                start=gap.start - 600,
                                end=(gap.end or gap.start) + 600,
                            ),
                            request=rid,
                        )
                    )


def _parsed(answer: tuple[list[dict], str], grid: Grid | None = None) -> tuple[Matrix, str]:
    result, request_id = answer
    return parse_matrix(result, grid), request_id


def _drop_name(key: LabelKey) -> LabelKey:
    return tuple(kv for kv in key if kv[0] != "__name__")


def _dt(seconds: float) -> datetime:
    return from_epoch(seconds)
