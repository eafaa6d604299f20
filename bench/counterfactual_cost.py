"""What the rule replays behind action items cost a collection, side by side with the collection.

    python bench/counterfactual_cost.py [--runs N] [--out bench/results/counterfactual_cost.md]

Starts a real Prometheus with the demo incident (tests.harness.synth.checkout_incident), runs
`jobs.collect` (which now replays the late and never-fired alerts and the proposed rules), then times
`counterfactual.run` alone for the same plan, with the 30-day history and without it (history 0),
`runs` times each, and writes the medians with the number of query_range requests. Needs the
Debian `prometheus` package.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collectors.prometheus import counterfactual  # noqa: E402
from correlate import actions  # noqa: E402
from dossier import jobs  # noqa: E402
from dossier.config import load_config  # noqa: E402
from dossier.incident import load_incident  # noqa: E402
from tests.harness.prometheus import LocalPrometheus  # noqa: E402
from tests.harness.synth import checkout_incident  # noqa: E402
from tests.test_end_to_end import write_case  # noqa: E402

START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/counterfactual_cost.md")
    args = parser.parse_args()
    om, rules, truth, changes = checkout_incident(START)
    with LocalPrometheus(om, rules) as prom, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config_path, incident_path = write_case(folder, prom.url, truth, changes)
        settings, incident = load_config(config_path), load_incident(incident_path)
        collect_times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            outcome = jobs.collect(settings, incident, folder / "out")
            collect_times.append(time.perf_counter() - t)
        plan = actions.plan(outcome.dossier)
        configs = {i: s.config for i, s in settings.collectors.items() if s.type == "prometheus"}
        rows = []
        for label, history in (("with the 30-day history", actions.HISTORY), ("window only (history 0)", 0.0)):
            replays = [dataclasses.replace(r, history=history) for r in plan]
            times, requests = [], 0
            for _ in range(args.runs):
                t = time.perf_counter()
                results = counterfactual.run(folder / "scratch", replays, configs)
                times.append(time.perf_counter() - t)
                requests = sum(sum("/api/v1/query_range" in c for c in r.requests) for r in results)
            rows.append((label, statistics.median(times), requests))
    median_collect = statistics.median(collect_times)
    lines = [
        "# counterfactual_cost",
        "",
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC. Command: `python bench/counterfactual_cost.py "
        f"--runs {args.runs}`. Demo incident (checkout_incident), real Prometheus on loopback, 15 s rule "
        f"evaluation interval, {len(plan)} replays planned ({', '.join(sorted({r.alert for r in plan}))}).",
        "",
        "| what | median seconds | query_range requests | share of a whole collect |",
        "|---|---|---|---|",
        f"| `jobs.collect` (replays included) | {median_collect:.3f} | | 100% |",
    ]
    for label, seconds, requests in rows:
        lines.append(f"| `counterfactual.run`, {label} | {seconds:.3f} | {requests} | {seconds / median_collect:.0%} |")
    lines += [
        "",
        "A 30-day history at a 15 s interval is 172800 evaluation times, read in 16 requests of at most",
        "11000 steps per replay; a Prometheus that keeps less simply answers empty ranges.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
