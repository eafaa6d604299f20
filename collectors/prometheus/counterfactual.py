"""Replaying alerting rules on the Prometheus they came from: the collect stage of action items.

`correlate.actions.plan(dossier)` says which rules to replay (`RuleReplay`: a late alert's own
expression with shorter `for` durations, with a lower threshold, or a proposed rule for a signal no
alert covered); `evaluate` asks the Prometheus and answers with one `ReplayResult` a replay, which
`correlate.actions.build` turns into action items. Nothing here decides what to propose.

How a replay follows the rule engine (Prometheus 2.x `rules/alerting.go`):

* the rule group evaluates at `phase + k * interval`. `interval` is the group's (from the replay,
  else from `/api/v1/rules`; for a proposed rule, the server's most common group interval, else 1m,
  Prometheus' default); `phase` is read from the rule's own
  `ALERTS_FOR_STATE` samples (written at every evaluation while pending or firing), so the replay
  evaluates at the very times the rule did. A rule with no history there (a proposed one) is
  evaluated at the window's start plus whole intervals (`phase_from: "window"`);
* `query_range` with `step = interval` starting on that grid evaluates the expression exactly as the
  engine did at each of those times (same lookback, same staleness);
* each element of the result is an alert instance: it goes pending at the first evaluation where it
  is present (`activeAt`), fires at the first evaluation `t` with `t - activeAt >= for`, and is
  reset by the first evaluation where it is absent. All in integer milliseconds, as the TSDB stores.

Over the history (by default the 30 days before the window's end) the same grid is read in requests
of at most 11000 steps, and each candidate `for` counts how many times the rule would have fired
(episodes of presence at least `for` long). Results are written beside the evidence
(`evidence/counterfactuals.json`) so that `dossier replay` rebuilds the action items without asking
any source. Errors (an expression the server refuses, a source that does not answer) are results
too: the action item then says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from collectors.prometheus.config import PrometheusConfig
from dossier.model import ReplayOutcome, ReplayResult, RuleReplay, from_epoch, parse_time, rfc3339

__all__ = ["FILE", "MAX_POINTS", "evaluate", "read", "run", "write"]

FILE = "evidence/counterfactuals.json"
SCHEMA = "dossier-counterfactuals/v1"
MAX_POINTS = 11000  # Prometheus refuses a query_range of more points per series
MAX_HISTORY_REQUESTS = 400  # a 30-day history at 15s is 16 requests; at 1s, 236
DEFAULT_INTERVAL = 60.0  # Prometheus' default global evaluation_interval


class _Failed(Exception):
    pass


def _client(config: PrometheusConfig) -> httpx.Client:
    verify: Any = True
    if config.tls.insecure_skip_verify:
        verify = False
    elif config.tls.ca_file is not None:
        verify = str(config.tls.ca_file)
    cert: Any = None
    if config.tls.cert_file is not None:
        cert = (
            (str(config.tls.cert_file), str(config.tls.key_file)) if config.tls.key_file else str(config.tls.cert_file)
        )
    auth = None
    if config.basic_auth is not None:
        auth = httpx.BasicAuth(config.basic_auth.username, config.basic_auth.password.get_secret_value())
    return httpx.Client(
        base_url=config.url.rstrip("/"),
        headers={k: v.get_secret_value() for k, v in config.headers.items()},
        auth=auth,
        verify=verify,
        cert=cert,
        timeout=httpx.Timeout(config.timeout, connect=min(config.connect_timeout, config.timeout)),
    )


class _Api:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.calls: list[str] = []

    def get(self, path: str, params: Mapping[str, str]) -> Any:
        self.calls.append(f"GET {path}?" + "&".join(f"{k}={v}" for k, v in params.items()))
        try:
            response = self.client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise _Failed(f"GET {path}: {type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            kind = f"{body.get('errorType')}: " if isinstance(body, dict) and body.get("errorType") else ""
            raise _Failed(f"GET {path}: HTTP {response.status_code}: {kind}{' '.join(str(detail).split())[:200]}")
        return body["data"]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _interval(api: _Api, replay: RuleReplay) -> float:
    if replay.interval:
        return replay.interval
    data = api.get("/api/v1/rules", {"type": "alert"})
    intervals = []
    for group in data.get("groups", []):
        if group.get("interval"):
            intervals.append(float(group["interval"]))
        for rule in group.get("rules", []):
            if rule.get("name") == replay.alert and group.get("interval"):
                return float(group["interval"])
    # a proposed rule: as often as this server's groups are evaluated (the most common interval)
    return max(sorted(set(intervals)), key=intervals.count) if intervals else DEFAULT_INTERVAL


def _phase(api: _Api, replay: RuleReplay, interval_ms: int) -> tuple[int, str]:
    """The rule group's evaluation offset (ms, 0 <= phase < interval) from its own ALERTS_FOR_STATE."""
    span = max(1, math.ceil((replay.end - replay.start).total_seconds()))
    name = replay.alert.replace("\\", "\\\\").replace('"', '\\"')
    data = api.get(
        "/api/v1/query",
        {"query": f'ALERTS_FOR_STATE{{alertname="{name}"}}[{span}s]', "time": f"{replay.end.timestamp():.3f}"},
    )
    stamps = [_ms(float(v[0])) for series in data.get("result", []) for v in series.get("values", [])]
    if stamps:
        return min(stamps) % interval_ms, "ALERTS"
    return _ms(replay.start.timestamp()) % interval_ms, "window"


def _grid(start_ms: int, end_ms: int, phase: int, interval_ms: int) -> tuple[int, int]:
    """The first and last evaluation times of the grid within [start, end]."""
    first = start_ms + (phase - start_ms) % interval_ms
    last = end_ms - (end_ms - phase) % interval_ms
    return first, last


def _presence(api: _Api, expr: str, first: int, last: int, interval_ms: int) -> Iterable[dict[str, list[int]]]:
    """Per request of at most MAX_POINTS steps: {series key: evaluation times (ms) it was present}."""
    step = interval_ms * MAX_POINTS
    t = first
    while t <= last:
        end = min(last, t + step - interval_ms)
        data = api.get(
            "/api/v1/query_range",
            {
                "query": expr,
                "start": f"{t / 1000:.3f}",
                "end": f"{end / 1000:.3f}",
                "step": f"{interval_ms / 1000:.3f}",
            },
        )
        chunk: dict[str, list[int]] = {}
        for series in data.get("result", []):
            key = json.dumps(series.get("metric", {}), sort_keys=True)
            chunk.setdefault(key, []).extend(_ms(float(v[0])) for v in series.get("values", []))
        yield chunk
        t = end + interval_ms


def _episodes(stamps: Sequence[int], interval_ms: int) -> list[tuple[int, int]]:
    """Runs of consecutive evaluations: (activeAt, last evaluation present)."""
    runs: list[tuple[int, int]] = []
    for ts in sorted(stamps):
        if runs and ts - runs[-1][1] == interval_ms:
            runs[-1] = (runs[-1][0], ts)
        elif not runs or ts != runs[-1][1]:
            runs.append((ts, ts))
    return runs


def _fires_at(active: int, last: int, for_ms: int, interval_ms: int) -> int | None:
    """The first evaluation t of a run with t - activeAt >= for, if the run lasts that long."""
    t = active + math.ceil(for_ms / interval_ms) * interval_ms if for_ms > 0 else active
    return t if t <= last else None


def _one(api: _Api, replay: RuleReplay) -> ReplayResult:
    interval = _interval(api, replay)
    interval_ms = _ms(interval)
    phase, phase_from = _phase(api, replay, interval_ms)
    first, last = _grid(_ms(replay.start.timestamp()), _ms(replay.end.timestamp()), phase, interval_ms)
    window: dict[str, list[int]] = {}
    for chunk in _presence(api, replay.expr, first, last, interval_ms):
        for key, stamps in chunk.items():
            window.setdefault(key, []).extend(stamps)
    runs = [run for stamps in window.values() for run in _episodes(stamps, interval_ms)]
    hist_first, hist_last = _grid(
        _ms(replay.end.timestamp() - replay.history), _ms(replay.end.timestamp()), phase, interval_ms
    )
    requests = math.ceil((hist_last - hist_first + interval_ms) / (interval_ms * MAX_POINTS))
    history: list[tuple[int, int]] | None = None
    if replay.history > 0 and requests <= MAX_HISTORY_REQUESTS:
        merged: dict[str, list[int]] = {}
        for chunk in _presence(api, replay.expr, hist_first, hist_last, interval_ms):
            for key, stamps in chunk.items():
                merged.setdefault(key, []).extend(stamps)
        history = [run for stamps in merged.values() for run in _episodes(stamps, interval_ms)]
    outcomes = []
    for for_seconds in replay.for_candidates:
        for_ms = _ms(for_seconds)
        fired = [(t, a) for a, b in runs if (t := _fires_at(a, b, for_ms, interval_ms)) is not None]
        active = min(fired)[1] if fired else (min(a for a, _ in runs) if runs else None)
        firings = None
        if history is not None:
            firings = sum(1 for a, b in history if _fires_at(a, b, for_ms, interval_ms) is not None)
        outcomes.append(
            ReplayOutcome(
                for_seconds=for_seconds,
                active_at=from_epoch(active / 1000) if active is not None else None,
                fired_at=from_epoch(min(fired)[0] / 1000) if fired else None,
                firings=firings,
            )
        )
    return ReplayResult(
        key=replay.key,
        source=replay.source,
        expr=replay.expr,
        error=None,
        interval=interval,
        phase=phase / 1000,
        phase_from=phase_from,
        outcomes=tuple(outcomes),
        history_start=from_epoch(hist_first / 1000) if history is not None else None,
        history_end=from_epoch(hist_last / 1000) if history is not None else None,
        requests=tuple(api.calls),
    )


def evaluate(config: PrometheusConfig, replays: Sequence[RuleReplay]) -> list[ReplayResult]:
    """Each replay on the Prometheus of `config`; a failure is a result with its `error`."""
    out = []
    with _client(config) as client:
        for replay in replays:
            api = _Api(client)
            try:
                out.append(_one(api, replay))
            except _Failed as exc:
                out.append(
                    ReplayResult(
                        key=replay.key,
                        source=replay.source,
                        expr=replay.expr,
                        error=str(exc),
                        requests=tuple(api.calls),
                    )
                )
    return out


def run(folder: Path, replays: Sequence[RuleReplay], configs: Mapping[str, PrometheusConfig]) -> list[ReplayResult]:
    """Evaluate every replay on its source's Prometheus and write the results beside the evidence."""
    results: list[ReplayResult] = []
    by_source: dict[str, list[RuleReplay]] = {}
    for r in replays:
        by_source.setdefault(r.source, []).append(r)
    for source, todo in sorted(by_source.items()):
        config = configs.get(source)
        if config is None:
            results += [
                ReplayResult(r.key, r.source, r.expr, error=f"{source!r} is not a configured prometheus collector")
                for r in todo
            ]
            continue
        try:
            results += evaluate(config, todo)
        except Exception as exc:  # a bad TLS file, a client bug: the draft is still written, saying so
            results += [
                ReplayResult(r.key, r.source, r.expr, error=f"replay failed: {type(exc).__name__}: {exc}") for r in todo
            ]
    write(folder, results)
    return results


# ---- evidence/counterfactuals.json ---------------------------------------------------------------


def _result_to_dict(r: ReplayResult) -> dict[str, Any]:
    return {
        "key": r.key,
        "source": r.source,
        "expr": r.expr,
        "error": r.error,
        "interval": r.interval,
        "phase": r.phase,
        "phase_from": r.phase_from,
        "outcomes": [
            {
                "for": o.for_seconds,
                "active_at": rfc3339(o.active_at),
                "fired_at": rfc3339(o.fired_at),
                "firings": o.firings,
            }
            for o in r.outcomes
        ],
        "history_start": rfc3339(r.history_start),
        "history_end": rfc3339(r.history_end),
        "requests": list(r.requests),
    }


def _t(text: str | None) -> Any:
    return None if text is None else parse_time(text)


def _result_from_dict(d: Mapping[str, Any]) -> ReplayResult:
    return ReplayResult(
        key=d["key"],
        source=d["source"],
        expr=d["expr"],
        error=d.get("error"),
        interval=d.get("interval"),
        phase=d.get("phase"),
        phase_from=d.get("phase_from"),
        outcomes=tuple(
            ReplayOutcome(
                for_seconds=float(o["for"]),
                active_at=_t(o.get("active_at")),
                fired_at=_t(o.get("fired_at")),
                firings=o.get("firings"),
            )
            for o in d.get("outcomes", [])
        ),
        history_start=_t(d.get("history_start")),
        history_end=_t(d.get("history_end")),
        requests=tuple(d.get("requests", [])),
    )


def write(folder: Path, results: Sequence[ReplayResult]) -> Path:
    path = folder / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"schema": SCHEMA, "results": [_result_to_dict(r) for r in results]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read(folder: Path) -> tuple[ReplayResult, ...]:
    """The results written at collection; none when the folder has no such file (older archives)."""
    path = folder / FILE
    if not path.is_file():
        return ()
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(_result_from_dict(d) for d in data.get("results", []))
