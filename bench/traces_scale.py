"""Memory and time of the `otlp_file` collector as the spans grow: 10k beside 1M.

    python bench/traces_scale.py [--sizes 10000,1000000] [--workdir DIR] [--out FILE]

For each size, the script writes an OTLP/JSON trace file (one ExportTraceServiceRequest a line,
per service and minute or 512 spans, as the OpenTelemetry Collector's file exporter writes them) of the
checkout -> payments scenario of `tests/collectors/_traces/synth.py` (4 spans a trace, payments
failing from 10:05), over a 2-hour collection window, so every span is in the window and every
trace carries a cross-service call. Then `OtlpFileCollector.collect()` runs in a fresh subprocess
per size, which reports:

* `time`: wall time of `collect()`;
* `peak RSS`: the process's high-water mark (`VmHWM` of /proc/self/status) after `collect()`,
  and its growth over the mark before it (after imports);
* what came out: series, calls seen, exemplars, so both runs are seen to do the same work.

The claim checked: memory is bounded whatever the number of spans, while the time grows with them.
What it is bounded by is the join window (`join_window`, 200,000 spans by default, the span ids
remembered to pair a child with its parent of another service): the peak grows until the window
is full (by ~300k spans here) and then stays flat; a last run of the largest size with
`--small-window` (20,000) shows the window is what holds that memory. Writes
`bench/results/traces_scale.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
MINUTES = 120


def write_file(path: Path, spans: int) -> int:
    from tests.collectors._traces.synth import caller_callee, otlp_lines

    per_minute = max(1, spans // 4 // MINUTES)
    with path.open("w") as f:
        for line in otlp_lines(
            caller_callee(
                START,
                END,
                per_minute=per_minute,
                callee_fails_at=datetime(2026, 11, 20, 10, 5, tzinfo=UTC),
                caller_fails_at=datetime(2026, 11, 20, 10, 6, tzinfo=UTC),
            )
        ):
            f.write(line + "\n")
    return per_minute * MINUTES * 4


def hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def child(path: str, join_window: int) -> None:
    """Run one collection; print a JSON line with what was measured."""
    import logging

    from collectors.otlp_file import OtlpFileCollector, OtlpFileConfig
    from dossier.model import Incident, ServiceInfo
    from dossier.plugin import CollectContext, CollectRequest, Recorder

    services = (ServiceInfo("checkout"),)
    request = CollectRequest(
        incident=Incident("BENCH", "bench", INCIDENT, END, ("checkout",)),
        start=START,
        end=END,
        services=services,
        configured=services,
    )
    ctx = CollectContext("otlp_file/bench", logging.LoggerAdapter(logging.getLogger("bench"), {}), Recorder("b"))
    collector = OtlpFileCollector(OtlpFileConfig.model_validate({"path": path, "join_window": join_window}), ctx)
    before = hwm_kb()
    t0 = time.perf_counter()
    result = collector.collect(request)
    took = time.perf_counter() - t0
    after = hwm_kb()
    calls = [s for s in result.series if s.role == "call"]
    print(
        json.dumps(
            {
                "time": took,
                "hwm_before_kb": before,
                "hwm_after_kb": after,
                "series": len(result.series),
                "calls": [(s.labels["caller"], s.labels["callee"], s.labels["calls"]) for s in calls],
                "exemplars": sum(1 for e in result.events if e.kind == "note"),
                "spans": ctx.recorder.requests[0].items,
                "problems": len(result.problems),
                "truncated": result.truncated_reason,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "traces_scale.md")
    parser.add_argument("--small-window", type=int, default=20_000, help="join_window of the extra last run (0: none)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--join-window", type=int, default=200_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.join_window)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="traces_scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    sizes = [int(s) for s in args.sizes.split(",")]
    for n, size in enumerate(sizes):
        path = workdir / f"traces-{size}.json"
        t0 = time.perf_counter()
        spans = write_file(path, size)
        wrote = time.perf_counter() - t0
        windows = [200_000] + ([args.small_window] if args.small_window and n == len(sizes) - 1 else [])
        for window in windows:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "--join-window", str(window)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            m.update(size=spans, bytes=path.stat().st_size, wrote=wrote, window=window)
            rows.append(m)
            print(json.dumps(m), flush=True)
        path.unlink()
    small = rows[0]
    big = next(r for r in reversed(rows) if r["window"] == 200_000)
    lines = [
        "# traces_scale: the otlp_file collector, 10k spans beside 1M",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other work), Python {platform.python_version()}",
        f"- command: `python bench/traces_scale.py --sizes {args.sizes}`",
        "- scenario: checkout -> payments, 4 spans a trace, one ExportTraceServiceRequest a line per service "
        "and minute or 512 spans (an SDK batch), 2 h window (1 h baseline), payments failing from 10:05",
        "",
        "| spans | join_window | file | collect() time | spans/s | peak RSS before | peak RSS after | growth "
        "| series | calls seen |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        calls = ", ".join(f"{a}->{b}: {n}" for a, b, n in r["calls"])
        lines.append(
            f"| {r['spans']:,} | {r['window']:,} | {r['bytes'] / 1e6:,.1f} MB | {r['time']:.2f} s | "
            f"{r['spans'] / r['time']:,.0f} | "
            f"{r['hwm_before_kb'] / 1024:.1f} MB | {r['hwm_after_kb'] / 1024:.1f} MB | "
            f"{(r['hwm_after_kb'] - r['hwm_before_kb']) / 1024:.1f} MB | {r['series']} | {calls} |"
        )
    lines += [
        "",
        f"- peak RSS, 1M beside 10k: {big['hwm_after_kb'] / 1024:.1f} MB vs {small['hwm_after_kb'] / 1024:.1f} MB "
        f"(ratio {big['hwm_after_kb'] / small['hwm_after_kb']:.2f}) for {big['spans'] / small['spans']:.0f}x the spans",
        f"- time ratio: {big['time'] / small['time']:.1f}x",
    ]
    full = [r for r in rows if r["window"] == 200_000 and r["spans"] >= 300_000]
    if len(full) >= 2:
        lines.append(
            f"- once the join window is full ({full[0]['spans']:,} spans and more): "
            f"{full[0]['hwm_after_kb'] / 1024:.1f} MB -> {full[-1]['hwm_after_kb'] / 1024:.1f} MB "
            f"for {full[-1]['spans'] / full[0]['spans']:.1f}x the spans"
        )
    narrow = [r for r in rows if r["window"] != 200_000]
    if narrow:
        r = narrow[-1]
        lines.append(
            f"- {r['spans']:,} spans with join_window {r['window']:,}: {r['hwm_after_kb'] / 1024:.1f} MB, "
            f"{(r['hwm_after_kb'] - small['hwm_after_kb']) / 1024:+.1f} MB beside {small['spans']:,} spans, "
            f"calls seen: {r['calls'][0][2] if r['calls'] else 0} "
            f"(with the default window: {big['calls'][0][2] if big['calls'] else 0})"
        )
    lines += [
        f"- problems: {small['problems']} and {big['problems']}; truncated: {small['truncated']!r} and "
        f"{big['truncated']!r}",
        "",
        "What stays bounded: per service and operation a bucket x histogram array (2 services, 120 buckets), "
        "the calls per bucket, a few exemplars, and the join window (200,000 spans in two generations) that "
        "pairs a child span with its parent of another service. What grows: nothing but the time.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
