"""Benchmark: the whole `dossier collect` against the bare-HTTP floor of the same requests.

    python bench/collect_floor.py [--services 50] [--signals 4] [--hours 24] [--runs 5]
                                  [--out bench/RESULTS.md]

Backfills a real Prometheus (`tests.harness.prometheus`) with `services x signals` signal
series (default 50 x 4 = 200) over `hours` at a 15 s scrape interval (the data of
bench/collect_prometheus.py), plus alert history (`ALERTS`, `ALERTS_FOR_STATE` of an error-rate
alert firing for a tenth of the services) and alerting rules loaded from a rules file, and
measures, runs interleaved:

  (a) the whole `dossier collect`, in process, as the command runs it (`jobs.collect`: the
      collector with signals, alert history, rules replayed over the window and `up`, then the
      archive written, read back, correlated, and `dossier.json` + `draft.md` exported);
  (b) the floor: every request (a) made, read from its `evidence/manifest.json` (same method,
      URL and parameters), sent with plain `requests` on one session at the same concurrency,
      each answer decoded with `.json()`;
  (b') the same floor with plain `httpx` (one client, same concurrency).

(a) is also split into its phases: the collector's requests and decoding (a1), writing the
archive (a2), and the replay that reads it back, correlates and exports (a3); and (a1) is run
once more per round with the loopback tuning of `collectors._http.tune_session` (no gzip, no
per-request .netrc and proxy lookups) turned off (a1 untuned), to measure what that tuning buys.

Reports the median, min and max of each over `runs` and the ratio a / b; writes `--out`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from collect_prometheus import END, SCRAPE, SIGNALS, openmetrics  # noqa: E402

from collectors.prometheus import _api as prometheus_api  # noqa: E402
from dossier import jobs  # noqa: E402
from dossier.config import parse_config  # noqa: E402
from dossier.model import Incident, from_epoch  # noqa: E402
from tests.harness.prometheus import LocalPrometheus  # noqa: E402

CONCURRENCY = 4

RULES = """groups:
  - name: bench
    rules:
      - alert: HighErrorRate
        expr: sum by (service) (rate(http_requests_total{code="500"}[1m])) > 0.5
        for: 5m
        labels: {severity: page}
      - alert: HighLatency
        expr: max by (service) (http_request_duration_seconds{quantile="0.99"}) > 1
        for: 2m
      - alert: QueueBacklog
        expr: max by (service) (queue_depth) > 100
        for: 10m
      - alert: TargetDown
        expr: up == 0
        for: 1m
"""


def with_alert_history(path: Path, services: int, hours: float) -> int:
    """Append ALERTS / ALERTS_FOR_STATE of HighErrorRate, firing for one service in ten, to the data."""
    text = path.read_text(encoding="utf-8").removesuffix("# EOF\n")
    start = END - hours * 3600
    lines = ["# TYPE ALERTS gauge"]
    state = ["# TYPE ALERTS_FOR_STATE gauge"]
    samples = 0
    for i in range(0, services, 10):
        name = f"svc-{i:03d}"
        active = start + hours * 3600 * (0.5 + i / (services * 4))
        labels = f'alertname="HighErrorRate",service="{name}",severity="page"'
        for t in range(int(active), int(active) + 3600, SCRAPE):
            alertstate = "pending" if t < active + 300 else "firing"
            lines.append(f'ALERTS{{{labels},alertstate="{alertstate}"}} 1 {t}')
            state.append(f"ALERTS_FOR_STATE{{{labels}}} {int(active)} {t}")
            samples += 2
    path.write_text(text + "\n".join(lines + state) + "\n# EOF\n", encoding="utf-8")
    return samples


def config(url: str, out: Path, signals: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "collectors": {
            "prometheus/bench": {
                "url": url,
                "signals": signals,
                "concurrency": CONCURRENCY,
                "up_query": 'up{job="$service"}',
            }
        },
        "output": {"dir": str(out), "formats": ["json", "md"]},
    }


PHASES: dict[str, float] = {}


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[name] = time.perf_counter() - t0

    return run


jobs.archive.write = _timed("write", jobs.archive.write)  # type: ignore[method-assign]
jobs.replay = _timed("replay", jobs.replay)  # type: ignore[assignment]


def run_collect(settings: Any, incident: Incident, out: Path) -> tuple[float, list[dict[str, Any]]]:
    PHASES.clear()
    t0 = time.perf_counter()
    outcome = jobs.collect(settings, incident, out)
    elapsed = time.perf_counter() - t0
    source = outcome.dossier.sources[0]
    if source.status != "ok":
        raise SystemExit(f"the collection is not ok: {source.status}: {source.error}")
    manifest = json.loads((outcome.folder / "evidence" / "manifest.json").read_text())
    return elapsed, manifest["requests"]


def floor(requests_made: list[dict[str, Any]], send: Callable[[dict[str, Any]], Any]) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, requests_made))
    return time.perf_counter() - t0


def run_requests_floor(requests_made: list[dict[str, Any]]) -> float:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))

    def send(r: dict[str, Any]) -> Any:
        answer = session.request(r["method"], r["url"], params=r["params"], timeout=60)
        answer.raise_for_status()
        return answer.json()

    try:
        return floor(requests_made, send)
    finally:
        session.close()


def run_httpx_floor(requests_made: list[dict[str, Any]]) -> float:
    client = httpx.Client(limits=httpx.Limits(max_connections=CONCURRENCY), timeout=60)

    def send(r: dict[str, Any]) -> Any:
        answer = client.request(r["method"], r["url"], params=r["params"])
        answer.raise_for_status()
        return answer.json()

    try:
        return floor(requests_made, send)
    finally:
        client.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--signals", type=int, default=4, help=f"signals per service (1..{len(SIGNALS)})")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    signals = [{"name": n, "query": q} for n, q in SIGNALS[: args.signals]]
    names = [f"svc-{i:03d}" for i in range(args.services)]
    start = END - args.hours * 3600
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        work = Path(tmp)
        om, rules = work / "bench.om", work / "rules.yml"
        n_samples = openmetrics(args.services, args.hours, om)
        n_samples += with_alert_history(om, args.services, args.hours)
        rules.write_text(RULES, encoding="utf-8")
        t0 = time.perf_counter()
        with LocalPrometheus(om, rules, workdir=work / "prom", extra_args=("--query.max-samples=200000000",)) as prom:
            load = time.perf_counter() - t0
            data = config(prom.url, work / "out", signals)
            data["services"] = {n: {} for n in names}
            settings = parse_config(data, file=str(work / "dossier.yaml"), base_dir=work, env={})
            incident = Incident(
                id="BENCH", title="bench", start=from_epoch(start + 3600), end=from_epoch(END), services=tuple(names)
            )
            # warm-up (page cache, connections, imports), and the exact requests the command makes
            _, made = run_collect(settings, incident, work / "out")
            run_requests_floor(made)
            run_httpx_floor(made)
            timings: dict[str, list[float]] = {k: [] for k in ("a", "a1", "a2", "a3", "a1_untuned", "b", "b_httpx")}
            for i in range(args.runs):
                timings["b"].append(run_requests_floor(made))
                elapsed, made_now = run_collect(settings, incident, work / f"out-{i}")
                timings["a"].append(elapsed)
                timings["a2"].append(PHASES["write"])
                timings["a3"].append(PHASES["replay"])
                timings["a1"].append(elapsed - PHASES["write"] - PHASES["replay"])
                timings["b_httpx"].append(run_httpx_floor(made))
                tuned = prometheus_api.tune_session
                prometheus_api.tune_session = lambda session, url: None  # type: ignore[assignment]
                try:
                    untuned, _ = run_collect(settings, incident, work / f"untuned-{i}")
                    timings["a1_untuned"].append(untuned - PHASES["write"] - PHASES["replay"])
                finally:
                    prometheus_api.tune_session = tuned
                if len(made_now) != len(made):
                    raise SystemExit(f"the command made {len(made_now)} requests, then {len(made)}")

    kinds: dict[str, int] = {}
    for r in made:
        path = r["url"].split("/api/v1/", 1)[-1]
        kinds[path] = kinds.get(path, 0) + 1
    med = {k: statistics.median(v) for k, v in timings.items()}
    command = "python bench/collect_floor.py " + " ".join(sys.argv[1:])
    lines = [
        "# Benchmark: the whole `dossier collect` vs. the bare-HTTP floor of the same requests",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- machine: {os.cpu_count()} CPUs (nproc), {platform.machine()}, Python {platform.python_version()}, "
        "Prometheus on loopback (same machine)",
        f"- command: `{command.strip()}`",
        f"- load average before / after: {load_before} / {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
        "(the machine is shared with other work: the numbers are noisy)",
        f"- data: {args.services} services x {args.signals} signals = {args.services * args.signals} signal "
        f"series over {args.hours:g} h at {SCRAPE} s, alert history of HighErrorRate for one service in ten, "
        f"4 alerting rules ({n_samples:,} samples backfilled, loaded in {load:.1f} s)",
        f"- requests of one collection ({len(made)}): "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])),
        f"- concurrency {CONCURRENCY} for both; {args.runs} runs, interleaved (warm-up run first, not counted)",
        "",
        "| measurement | median (s) | min (s) | max (s) |",
        "|---|---|---|---|",
        f"| (a) `dossier collect` (collect, archive, correlate, export) | {spread(timings['a'])} |",
        f"| (a1) of which the collector: requests, decoding, series | {spread(timings['a1'])} |",
        f"| (a2) of which writing the archive | {spread(timings['a2'])} |",
        f"| (a3) of which the replay: read the archive, correlate, export | {spread(timings['a3'])} |",
        f"| (a1 untuned) the collector without the loopback tuning | {spread(timings['a1_untuned'])} |",
        f"| (b) floor: the same requests with plain `requests` + `.json()` | {spread(timings['b'])} |",
        f"| (b') floor: the same requests with plain `httpx` + `.json()` | {spread(timings['b_httpx'])} |",
        "",
        f"- **a / b = {med['a'] / med['b']:.2f}x** (target: within 1.2x); a / b' = {med['a'] / med['b_httpx']:.2f}x",
        "- per run: " + ", ".join(f"{a / b:.2f}x" for a, b in zip(timings["a"], timings["b"], strict=True)),
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
