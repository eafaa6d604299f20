"""Benchmark: backfill incidents per minute at 1, 2 and 4 workers, threads in one process and processes.

    python bench/backfill_workers.py [--incidents 24] [--rounds 2] [--out bench/results/backfill_workers.md]

The incidents are windows of the checkout scenario (`tests.harness.synth.checkout_incident`)
in a real Prometheus (`tests.harness.prometheus`), with the scenario's change log as a
deploy_file source: each job makes the collector's real requests and correlates real evidence.
For each N in 1, 2, 4, side by side in one run:

  (a) threads: one `dossier backfill --concurrency N` process on the SQLite default store;
  (b) processes: N `dossier backfill --shard k/N --concurrency 1` processes at once on one real
      PostgreSQL store (`tests.harness.postgres`), as the pods of the Kubernetes Indexed Job run.

`--rounds` rounds are run interleaved (1, 2, 4, 1, 2, 4, ...) and the median reported, so a change
of the machine's load hits every N alike; the CPU time (user + system) of the dossier processes is
reported beside the wall time.

Every run starts from an empty output folder and store and must draft every incident. The
rate counts wall time from the start of the first process to the end of the last, process
start-up included. Writes markdown to `--out` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.postgres import LocalPostgres  # noqa: E402
from tests.harness.prometheus import LocalPrometheus  # noqa: E402
from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY, checkout_incident  # noqa: E402

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def write_case(folder: Path, prom_url: str, changes: list, n: int, store: str | None) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in changes))
    config = {
        "collectors": {
            "prometheus/bench": {
                "url": prom_url,
                "signals": [
                    {"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"},
                    {"name": "latency", "query": LATENCY_QUERY, "direction": "up"},
                ],
            },
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {"checkout": {"depends_on": ["payments"]}, "payments": {}, "inventory": {}},
        "output": {"dir": "out"},
    }
    if store:
        config["store"] = store
    (folder / "dossier.yaml").write_text(yaml.safe_dump(config))
    with (folder / "incidents.jsonl").open("w") as fh:
        for i in range(n):
            start = START - timedelta(minutes=10) + timedelta(minutes=i % 15)
            row = {
                "id": f"B-{i:04d}",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=60)).isoformat(),
                "services": ["checkout", "payments"],
            }
            fh.write(json.dumps(row) + "\n")
    return folder / "dossier.yaml", folder / "incidents.jsonl"


def run(cmds: list[list[str]]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the processes) of running `cmds` at once."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        out, err = p.communicate(timeout=1800)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"{p.args} exited {p.returncode}: {out}{err[-2000:]}")
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backfill_workers.md")
    args = ap.parse_args()
    n = args.incidents
    om, rules, _truth, changes = checkout_incident(START)
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp, LocalPrometheus(om, rules) as prom:
        with LocalPostgres() as pg:
            import psycopg

            base = [sys.executable, "-m", "dossier.cli", "backfill"]
            for rnd in range(args.rounds):
                for workers in (1, 2, 4):
                    folder = Path(tmp) / f"threads-{workers}-{rnd}"
                    config, incidents = write_case(folder, prom.url, changes, n, None)
                    cmd = [*base, "--config", str(config), "--incidents", str(incidents)]
                    results.setdefault(("threads", workers), []).append(run([[*cmd, "--concurrency", str(workers)]]))
                    assert len(list((folder / "out").glob("B-*"))) == n
                    shutil.rmtree(folder)

                    db = f"b{workers}_{rnd}"
                    with psycopg.connect(pg.url, autocommit=True) as conn:
                        conn.execute(f"CREATE DATABASE {db}")
                    url = pg.url.rsplit("/", 1)[0] + "/" + db
                    folder = Path(tmp) / f"procs-{workers}-{rnd}"
                    config, incidents = write_case(folder, prom.url, changes, n, url)
                    cmd = [*base, "--config", str(config), "--incidents", str(incidents), "--concurrency", "1"]
                    shards = [[*cmd, "--shard", f"{k}/{workers}"] for k in range(workers)]
                    results.setdefault(("processes", workers), []).append(run(shards))
                    assert len(list((folder / "out").glob("B-*"))) == n
                    shutil.rmtree(folder)
                    last = results[("threads", workers)][-1], results[("processes", workers)][-1]
                    print(rnd, workers, last, file=sys.stderr)
    load = os.getloadavg()
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
    lines = [
        "# backfill_workers: incidents per minute at 1, 2 and 4 workers",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/backfill_workers.py --incidents {n} --rounds "
        f"{args.rounds}`; {platform.machine()}, {os.cpu_count()} cores shared with other work (load average at "
        f"the end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}), Python {platform.python_version()}. "
        f"{n} incidents of 60 minutes over the checkout scenario in a real Prometheus (two signals, alert "
        "history, rules replayed, scrape gaps) and a deploy_file change log. Wall time includes process "
        "start-up; median of the rounds, run interleaved; CPU is the user+system time of the dossier processes.",
        "",
        "| workers | threads (1 process, SQLite): wall | incidents/min | x of 1 | CPU s/incident "
        "| processes (shards on PostgreSQL): wall | incidents/min | x of 1 | CPU s/incident |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w in (1, 2, 4):
        cells = []
        for kind in ("threads", "processes"):
            wall, cpu = med[(kind, w)]
            cells.append(f"{wall:.1f} s | {n / wall * 60:.0f} | {med[(kind, 1)][0] / wall:.2f} | {cpu / n:.2f}")
        lines.append(f"| {w} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "Threads share one interpreter (correlation is CPU work under the GIL), processes do not. On 2 cores "
        "shared with other work, with the Prometheus server on the same cores, more workers than free cores "
        "cannot go faster; the CPU per incident says what each incident costs.",
        "",
    ]
    text = "\n".join(lines)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
