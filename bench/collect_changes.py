"""Benchmark: the `github` collector against a rate-limited GitHub stand-in, and its memory per page.

    python bench/collect_changes.py [--repos 50] [--deployments 5000] [--budget 300] [--period 2]
                                    [--out bench/results/collect_changes.md]

Generates `repos` repositories with `deployments` deployments in the collection window in all (each
with an `in_progress` and a `success` or `failure` status), older deployments before the window (read
for rollback detection, and to reach the end of the list) and a few workflow runs per repository, and
serves them with `tests/standins/github.py` in a separate process (so that its memory is not
counted), shaped as GitHub's REST API, with a request budget of `budget` per `period` seconds
(`X-RateLimit-*` headers, 403 "API rate limit exceeded" once spent).

Measures, in one run:

  (1) the collector against the rate-limited stand-in: requests made, most requests in any rate-limit
      window against the budget, rate-limited (403/429) answers received, wall time;
  (2) the same collection without a rate limit: the time the requests themselves take;
  (3) peak memory of the collector (`tracemalloc`, collector process only) for 500 and 5,000
      deployments over 50 repositories and over one repository (5 and 50 pages): peak, what the
      result and the provenance still hold after collect, the transient rest, and the bytes of all
      pages received (what holding the pages would cost at least).

Writes markdown to `--out` and prints it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.github import GitHubCollector, GitHubConfig  # noqa: E402
from dossier.model import Incident, ServiceInfo  # noqa: E402
from dossier.plugin import CollectContext, CollectRequest, Recorder  # noqa: E402
from tests.standins.github import GitHubData  # noqa: E402

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WINDOW_START = T0 - timedelta(hours=2)
WINDOW_END = T0 + timedelta(hours=2)
TOKEN = "ghp_bench"


def build(repos: int, deployments: int, *, seed: int = 7) -> GitHubData:
    """`deployments` in the window spread over `repos` repositories, plus history and runs."""
    rng = random.Random(seed)
    data = GitHubData()
    per_repo = [deployments // repos + (1 if i < deployments % repos else 0) for i in range(repos)]
    span = (WINDOW_END - WINDOW_START).total_seconds()
    for r, count in enumerate(per_repo):
        repo = data.repo(f"acme/svc-{r:03d}")
        shas = [f"{r:04x}{i:036x}" for i in range(count + 20)]
        for i in range(10):  # ten days before: past rollback_lookback, ends the list
            repo.deployment(created_at=T0 - timedelta(days=10, minutes=10 - i), sha=shas[i], ref=f"v0.{i}.0")
        for i in range(10):  # two days before: history for rollback detection
            at = T0 - timedelta(days=2, minutes=10 - i)
            repo.deployment(created_at=at, sha=shas[10 + i], ref=f"v1.{i}.0")
        times = sorted(WINDOW_START + timedelta(seconds=rng.uniform(0, span - 600)) for _ in range(count))
        for i, at in enumerate(times):
            done = at + timedelta(seconds=rng.uniform(30, 300))
            state = "failure" if rng.random() < 0.1 else "success"
            repo.deployment(
                created_at=at,
                sha=shas[20 + i] if rng.random() > 0.05 else shas[10 + rng.randrange(10)],  # a few rollbacks
                ref=f"v2.{i}.0",
                statuses=[("in_progress", at + timedelta(seconds=5)), (state, done)],
            )
        for i in range(5):
            at = WINDOW_START + timedelta(minutes=20 * i + 5)
            repo.run(created_at=at, name="Deploy" if i % 2 == 0 else "CI", updated_at=at + timedelta(minutes=4))
    return data


class StandIn:
    """tests/standins/github.py in its own process."""

    def __init__(self, data_file: Path, *, budget: int | None, period: float) -> None:
        cmd = [sys.executable, str(ROOT / "tests" / "standins" / "github.py"), "--port", "0"]
        cmd += ["--load", str(data_file), "--token", TOKEN, "--rate-reset", str(period)]
        cmd += ["--rate-limit", str(budget if budget is not None else 10**9)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("GitHub stand-in at "):
            self.process.kill()
            raise RuntimeError(f"the stand-in did not start: {line!r}")
        self.url = line.split(" at ", 1)[1].strip()

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_standin/stats", timeout=30) as response:
            return json.loads(response.read())

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Run:
    label: str
    repos: int
    deployments: int
    events: int
    problems: int
    requests: int
    seconds: float
    stats: dict[str, Any]
    peak: int | None = None
    retained: int | None = None
    bytes_received: int = 0
    list_pages: int = 0
    deploy_events: int = 0


def collect(url: str, repos: int, *, traced: bool) -> tuple[Any, Recorder, float, int | None, int | None]:
    config = GitHubConfig.model_validate(
        {
            "url": url,
            "token": TOKEN,
            "repositories": [{"repo": f"acme/svc-{r:03d}"} for r in range(repos)],
            "max_pages": 200,
            "http": {"timeout": "30s", "retries": 4, "retry_max_delay": "60s"},
        }
    )
    recorder = Recorder("github/bench")
    ctx = CollectContext("github/bench", logging.LoggerAdapter(logging.getLogger("bench"), {}), recorder)
    incident = Incident(id="BENCH", title="bench", start=T0, end=WINDOW_END, services=("svc-000",))
    request = CollectRequest(incident=incident, start=WINDOW_START, end=WINDOW_END, services=(ServiceInfo("svc-000"),))
    peak = retained = None
    if traced:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    collector = GitHubCollector(config, ctx)
    try:
        result = collector.collect(request)
    finally:
        collector.close()
    seconds = time.perf_counter() - started
    if traced:
        current, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak, retained = top - base, current - base
    return result, recorder, seconds, peak, retained


def measure(label: str, repos: int, deployments: int, *, budget: int | None, period: float, traced: bool) -> Run:
    data = build(repos, deployments)
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "github.json"
        data_file.write_text(data.to_json(), encoding="utf-8")
        del data
        with StandIn(data_file, budget=budget, period=period) as server:
            result, recorder, seconds, peak, retained = collect(server.url, repos, traced=traced)
            stats = server.stats()
    requests = recorder.requests
    return Run(
        label=label,
        repos=repos,
        deployments=deployments,
        events=len(result.events),
        problems=len(result.problems),
        requests=len(requests),
        seconds=seconds,
        stats=stats,
        peak=peak,
        retained=retained,
        bytes_received=sum(r.bytes for r in requests),
        list_pages=sum(1 for r in requests if r.url.endswith("/deployments")),
        deploy_events=sum(1 for e in result.events if e.attrs.get("record") == "deployment"),
    )


def mib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:.2f}"


def report(args: argparse.Namespace, limited: Run, free: Run, memory: list[Run], started: str) -> str:
    budget, period = args.budget, args.period
    windows = limited.stats["windows"]
    refused = limited.stats["limited"]
    rate_statuses = {k: v for k, v in limited.stats["statuses"].items() if k in ("403", "429")}
    load = os.getloadavg()
    lines = [
        "# Benchmark: github collector under a rate limit, and its memory per page",
        "",
        f"- date: {started}",
        f"- machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        "stand-in in its own process on loopback",
        f"- command: `python bench/collect_changes.py --repos {args.repos} --deployments {args.deployments} "
        f"--budget {budget} --period {period:g}`",
        f"- load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- data: {args.repos} repositories, {args.deployments:,} deployments in the 4 h window (2 statuses each, "
        "10% failed, ~5% redeploying an older sha), 20 older deployments and 5 workflow runs per repository",
        "",
        "## 1. Rate limit: paced by the headers, never exceeded",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| events collected | {limited.events:,}: {limited.deploy_events:,} deployments and "
        f"{limited.events - limited.deploy_events} deploy workflow runs ({limited.problems} problems) |",
        f"| requests made | {limited.requests:,} ({limited.list_pages} deployment list pages, "
        f"{limited.requests - limited.list_pages - args.repos:,} status reads, {args.repos} run lists) |",
        f"| rate-limit budget | {budget} requests per window; a window resets {period:g} s after it opens "
        f"(`X-RateLimit-Reset` is in whole epoch seconds, so {period:g} to {period + 1:g} s) |",
        f"| rate-limit windows used | {len(windows)} |",
        f"| **most requests in one window** | **{max(windows)}** (budget {budget}) |",
        f"| **rate-limited answers received (403/429)** | **{sum(rate_statuses.values())}** "
        f"(refused by the stand-in: {refused}) |",
        f"| wall time | {limited.seconds:.1f} s ({limited.requests / limited.seconds:.0f} requests/s) |",
        f"| floor set by the budget | {limited.requests / budget:.1f} windows x {period:g}-{period + 1:g} s = "
        f"{limited.requests / budget * period:.0f}-{limited.requests / budget * (period + 1):.0f} s |",
        f"| same collection without a rate limit | {free.seconds:.1f} s ({free.requests:,} requests, "
        f"{free.requests / free.seconds:.0f} requests/s) |",
        "",
        f"Requests per window: {', '.join(map(str, windows))}.",
        "",
        "## 2. Memory of the collector (tracemalloc, no rate limit)",
        "",
        "| data | list pages | requests | bytes received | events | peak (MiB) | held after collect (MiB) "
        "| transient = peak - held (MiB) | held per event (KiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in memory:
        transient = (m.peak or 0) - (m.retained or 0)
        per_event = (m.retained or 0) / max(1, m.events) / 1024
        lines.append(
            f"| {m.label} | {m.list_pages} | {m.requests:,} | {mib(m.bytes_received)} MiB | {m.events:,} | "
            f"{mib(m.peak)} | {mib(m.retained)} | {mib(transient)} | {per_event:.1f} |"
        )
    lines += [
        "",
        "- *held after collect*: the result's events and the provenance (`Recorder`: one `Request` per "
        "request made) - the output, which grows with the deployments by design.",
        "- *transient*: what the collection needed on top of its output at its peak: one page and its "
        "decoded JSON, the compact records kept per deployment until rollbacks are decided, the HTTP client.",
        "- *bytes received*: the raw bodies of all pages and statuses; holding the pages would cost at least "
        "this, and their decoded JSON several times more.",
        "",
        "## Reading the numbers",
        "",
        *reading(args, limited, free, memory),
    ]
    return "\n".join(lines) + "\n"


def reading(args: argparse.Namespace, limited: Run, free: Run, memory: list[Run]) -> list[str]:
    windows = limited.stats["windows"]
    per_window = limited.seconds / max(1, len(windows) - 1)
    wide_small, wide_big, one_small, one_big = memory
    t = [(m.peak or 0) - (m.retained or 0) for m in memory]
    per_deployment = (t[3] - t[2]) / max(1, one_big.deployments - one_small.deployments)
    received = one_big.bytes_received / max(1, one_big.deployments)
    return [
        f"- **Pacing.** `collectors/_http.py` reads `X-RateLimit-Remaining`/`-Reset` from every answer; when the "
        f"budget is spent, the next request waits until the reset (plus 0.5 s) instead of being sent. Every full "
        f"window held exactly the budget ({args.budget}) and no request was refused: pacing by the headers costs "
        f"no 403. The stand-in sends the reset in whole epoch seconds, as GitHub does, so a {args.period:g} s "
        f"window lasts {args.period:g} to {args.period + 1:g} s, and the client adds its 0.5 s: "
        f"{per_window:.1f} s per window here, {limited.seconds:.0f} s in all, against "
        f"{free.seconds:.1f} s for the same {free.requests:,} requests without a limit. The wall time is the "
        "rate limit's, not the collector's.",
        f"- **Where the requests go.** {limited.requests - limited.list_pages - args.repos:,} of "
        f"{limited.requests:,} requests are the statuses of the deployments in the window (one each); the "
        f"deployment lists are {limited.list_pages} pages. Against github.com (5,000 requests an hour for a token) "
        f"this collection would spend {limited.requests / 5000:.2f} hours of budget: name `environments` to read "
        "fewer deployments.",
        f"- **Memory.** The pages are not held: the collector reads one page, turns what it needs into events and "
        f"small records, and drops it. Over {args.repos} repositories, 10x the deployments "
        f"({wide_small.list_pages} to {wide_big.list_pages} list pages, {mib(wide_small.bytes_received)} to "
        f"{mib(wide_big.bytes_received)} MiB received) moved the transient memory from {mib(t[0])} to "
        f"{mib(t[1])} MiB: the records of one repository are freed before the next is read. In one repository "
        f"with {one_big.list_pages} list pages, it rose from {mib(t[2])} to {mib(t[3])} MiB, about "
        f"{per_deployment:.0f} bytes per deployment: the compact record (environment, time, id, sha, ref) kept per "
        "deployment until the older ones are read, since the list comes newest first and a rollback is "
        f"recognised against earlier deployments; the raw JSON received was {received:.0f} bytes per deployment.",
        f"- **Output.** What stays after collect is the output: the events ({one_big.events:,}) with their attrs, "
        "and the provenance of every request (the `Recorder`), about "
        f"{(one_big.retained or 0) / max(1, one_big.events) / 1024:.1f} KiB per event in all.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--deployments", type=int, default=5000)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--period", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collect_changes.md")
    args = parser.parse_args()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    logging.basicConfig(level=logging.WARNING)

    print("1. rate-limited collection ...", file=sys.stderr, flush=True)
    limited = measure(
        "rate limited", args.repos, args.deployments, budget=args.budget, period=args.period, traced=False
    )
    print(f"   {limited.seconds:.1f} s, {limited.requests} requests", file=sys.stderr, flush=True)
    free = measure("no limit", args.repos, args.deployments, budget=None, period=3600, traced=False)
    memory = []
    small = args.deployments // 10
    for repos, n in ((args.repos, small), (args.repos, args.deployments), (1, small), (1, args.deployments)):
        label = f"{repos} repositories, {n:,} deployments" if repos > 1 else f"1 repository, {n:,} deployments"
        print(f"2. memory: {label} ...", file=sys.stderr, flush=True)
        memory.append(measure(label, repos, n, budget=None, period=3600, traced=True))
    text = report(args, limited, free, memory, started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
