"""How correlation time and memory grow with the evidence: 1k to 1M events.

The evidence is what a large organisation's sources return for one incident window: alert
episodes of many alerts (a few of them the incident's), deploys and config changes across
hundreds of services, scrape gaps and chat messages, plus 50 signal series of 3 h at 15 s.
Each size is drafted `--repeat` times; the median wall time and the peak traced memory of one
run are reported. `correlate.draft` is pure, so nothing but the evidence size changes.

    python bench/correlate_scale.py                 # 1k, 10k, 100k, 1M
    python bench/correlate_scale.py --sizes 1000,10000 --repeat 5
    python bench/correlate_scale.py --base /tmp/dossier-base   # beside a baseline checkout

With `--base DIR` every size runs in a fresh process per tree (DIR's code, then this tree's), side by
side, and the ratios are written down. `--tree DIR` (used for that) runs DIR's code in this process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = Path(sys.argv[sys.argv.index("--tree") + 1]) if "--tree" in sys.argv else ROOT
sys.path.insert(0, str(TREE))

from correlate import draft  # noqa: E402  (from TREE)
from dossier import jobs  # noqa: E402
from dossier.model import (  # noqa: E402
    CorrelateSettings,
    Event,
    Evidence,
    Incident,
    Series,
    ServiceInfo,
    SourceReport,
    stable_id,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
INCIDENT = Incident("INC-BENCH", "bench", T0, T0 + timedelta(hours=2), services=("svc-0", "svc-1"))
SETTINGS = CorrelateSettings(services=tuple(ServiceInfo(f"svc-{i}", depends_on=(f"svc-{i + 1}",)) for i in range(500)))
SOURCES = (
    SourceReport("prometheus/p", "prometheus", "ok", None, 0, 0.0, kinds=("alert", "metric")),
    SourceReport("deploy_file/c", "deploy_file", "ok", None, 0, 0.0, kinds=("change",)),
)


def make_series(rng: random.Random) -> list[Series]:
    out = []
    start = T0 - timedelta(hours=1)
    n = 3 * 240
    for i in range(50):
        service = f"svc-{i % 5}"
        fault = T0.timestamp() + 600 if i < 3 else math.inf
        times = tuple(start.timestamp() + 15 * k for k in range(n))
        values = tuple((5.0 if t >= fault else 1.0) + rng.gauss(0, 0.1) for t in times)
        out.append(
            Series(
                stable_id("s", str(i)), "prometheus/p", f"sig{i}", service, {"i": str(i)}, "q", times, values, step=15.0
            )
        )
    return out


def make_events(n: int, rng: random.Random) -> list[Event]:
    span = 3 * 3600
    base = T0 - timedelta(hours=1)
    events: list[Event] = []
    i = 0
    while len(events) < n:
        r = rng.random()
        at = base + timedelta(seconds=rng.uniform(0, span))
        service = f"svc-{rng.randrange(500)}"
        if r < 0.6:  # an alert episode: pending, firing, resolved
            name = f"Alert{rng.randrange(2000)}"
            attrs = {"alertname": name, "labels": {"service": service, "i": str(i)}, "active_at": at.isoformat()}
            for k, dt in (("alert_pending", 0), ("alert_firing", 300), ("alert_resolved", 900)):
                events.append(
                    Event(
                        stable_id("a", str(i), k),
                        at + timedelta(seconds=dt),
                        k,
                        "prometheus/p",
                        name,
                        service,
                        attrs=attrs,
                    )
                )
        elif r < 0.8:
            kind = rng.choice(["deploy", "config_change", "feature_flag", "rollback"])
            events.append(Event(stable_id("c", str(i)), at, kind, "deploy_file/c", f"{kind} {service}", service))
        elif r < 0.9:
            events.append(
                Event(
                    stable_id("g", str(i)),
                    at,
                    "telemetry_gap",
                    "prometheus/p",
                    "gap",
                    service,
                    end=at + timedelta(seconds=120),
                    attrs={"reason": "scrape failed"},
                )
            )
        else:
            events.append(Event(stable_id("m", str(i)), at, "message", "chat/x", "message", None))
        i += 1
    return events[:n]


def run(size: int, repeat: int, trace: bool = True) -> dict[str, float]:
    rng = random.Random(size)
    evidence = Evidence(events=tuple(make_events(size, rng)), series=tuple(make_series(rng)), sources=SOURCES)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, paused = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        d = draft(INCIDENT, evidence, SETTINGS, generated_at=T0)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        jobs.draft(INCIDENT, evidence, SETTINGS, T0)
        paused.append(time.perf_counter() - t)
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    peak = math.nan
    if trace:
        tracemalloc.start()
        draft(INCIDENT, evidence, SETTINGS, generated_at=T0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "events": size,
        "seconds": statistics.median(times),
        "paused": statistics.median(paused),
        "peak_mib": peak / 2**20,
        "rss_growth_mib": growth,
        "timeline": len(d.timeline),
    }


def in_child(tree: Path, size: int, repeat: int, trace: bool) -> dict[str, float]:
    """One size, measured by `tree`'s code in a fresh process."""
    cmd = [sys.executable, __file__, "--tree", str(tree), "--json", "--sizes", str(size), "--repeat", str(repeat)]
    if not trace:
        cmd.append("--no-trace")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{tree} at {size}: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, float]]) -> list[str]:
    first = rows[0]
    lines = [
        "| events | correlate.draft | per 1k events | vs. 1k, per event "
        "| jobs.draft (GC paused) | ratio | traced peak | RSS growth | timeline entries |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per_k = r["seconds"] / r["events"] * 1000
        ratio = (r["seconds"] / r["events"]) / (first["seconds"] / first["events"])
        traced = "-" if math.isnan(r["peak_mib"]) else f"{r['peak_mib']:.1f} MiB"
        lines.append(
            f"| {r['events']:,} | {r['seconds']:.3f} s | {per_k * 1000:.2f} ms | {ratio:.2f}x "
            f"| {r['paused']:.3f} s | {r['paused'] / r['seconds']:.2f}x | {traced} "
            f"| {r['rss_growth_mib']:.0f} MiB | {int(r['timeline']):,} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--base", type=Path, help="baseline checkout (e.g. git worktree of 632b7ae), run side by side")
    ap.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run (it slows 1M down 2-3x)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "correlate_scale.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    def repeat(size: int) -> int:
        return args.repeat if size < 1_000_000 else 1

    if args.json:  # child: one size, this process
        print(json.dumps(run(sizes[0], args.repeat, not args.no_trace)))
        return
    head = [
        "# Correlation time as the evidence grows",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores (shared with other work: timings vary by +-30%); command: "
        f"`python bench/correlate_scale.py --sizes {args.sizes}" + (f" --base {args.base}`" if args.base else "`"),
        "",
        "Traced peak: `tracemalloc` over one `correlate.draft` (skipped at 1M unless asked: it slows the run "
        "2-3x); RSS growth: the process's peak RSS while drafting over its peak before (the evidence built).",
        "",
    ]
    if not args.base:
        rows = [run(s, repeat(s), s < 1_000_000 and not args.no_trace) for s in sizes]
        lines = head + table(rows)
    else:
        base, current = [], []
        for s in sizes:
            trace = s < 1_000_000 and not args.no_trace
            base.append(in_child(args.base, s, repeat(s), trace))
            current.append(in_child(ROOT, s, repeat(s), trace))
            print(s, "base", base[-1], "current", current[-1], flush=True)
        lines = [*head, f"## base: `{args.base}`", "", *table(base), "", "## current: this tree", "", *table(current)]
        lines += [
            "",
            "## ratio base / current (above 1: faster or smaller now)",
            "",
            "| events | correlate.draft | jobs.draft (GC paused) | traced peak | RSS growth | timeline entries |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for b, c in zip(base, current, strict=True):
            traced = "-" if math.isnan(b["peak_mib"]) else f"{b['peak_mib'] / c['peak_mib']:.1f}x"
            growth = f"{b['rss_growth_mib'] / c['rss_growth_mib']:.1f}x" if c["rss_growth_mib"] > 0 else "-"
            lines.append(
                f"| {b['events']:,} | {b['seconds'] / c['seconds']:.1f}x | {b['paused'] / c['paused']:.1f}x "
                f"| {traced} | {growth} | {b['timeline'] / c['timeline']:.0f}x |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
