"""Benchmark: backfill incidents per minute at 1, 2 and 4 workers, threads in one process and processes.

    python bench/backfill_workers.py [--incidents 40] [--out bench/results/backfill_workers.md]

The incidents are windows of the checkout scenario (`dossier.testing.synth.checkout_incident`)
in a real Prometheus (`dossier.testing.prometheus`), with the scenario's change log as a
deploy_file source: each job makes the collector's real requests and correlates real evidence.
For each N in 1, 2, 4, side by side in one run:

  (a) threads: one `dossier backfill --concurrency N` process on the SQLite default store;
  (b) processes: N `dossier backfill --shard k/N --concurrency 1` processes at once on one real
      PostgreSQL store (`dossier.testing.postgres`), as the pods of the Kubernetes Indexed Job run.

Every run starts from an empty output folder and store and must draft every incident. The
rate counts wall time from the start of the first process to the end of the last, process
start-up included. Writes markdown to `--out` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dossier.testing.postgres import LocalPostgres  # noqa: E402
from dossier.testing.prometheus import LocalPrometheus  # noqa: E402
from dossier.testing.synth import ERROR_RATE_QUERY, LATENCY_QUERY, checkout_incident  # noqa: E402

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


def run(cmds: list[list[str]]) -> float:
    t = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for c in cmds]
    for p in procs:
        out, _ = p.communicate(timeout=1800)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"{p.args} exited {p.returncode}: {out}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--incidents", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backfill_workers.md")
    args = ap.parse_args()
    n = args.incidents
    om, rules, _truth, changes = checkout_incident(START)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp,
        LocalPrometheus(om, rules) as prom,
        LocalPostgres() as pg,
    ):
        base = [sys.executable, "-m", "dossier.cli", "backfill"]
        for workers in (1, 2, 4):
            folder = Path(tmp) / f"threads-{workers}"
            config, incidents = write_case(folder, prom.url, changes, n, None)
            t_threads = run(
                [[*base, "--config", str(config), "--incidents", str(incidents), "--concurrency", str(workers)]]
            )
            assert len(list((folder / "out").glob("B-*"))) == n
            shutil.rmtree(folder)

            import psycopg

            db = f"b{workers}"
            with psycopg.connect(pg.url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {db}")
            url = pg.url.rsplit("/", 1)[0] + "/" + db
            folder = Path(tmp) / f"procs-{workers}"
            config, incidents = write_case(folder, prom.url, changes, n, url)
            cmds = [
                [
                    *base,
                    "--config",
                    str(config),
                    "--incidents",
                    str(incidents),
                    "--concurrency",
                    "1",
                    "--shard",
                    f"{k}/{workers}",
                ]
                for k in range(workers)
            ]
            t_procs = run(cmds)
            assert len(list((folder / "out").glob("B-*"))) == n
            shutil.rmtree(folder)
            rows.append((workers, t_threads, t_procs))
            print(workers, t_threads, t_procs, file=sys.stderr)
    one_t, one_p = rows[0][1], rows[0][2]
    lines = [
        "# backfill_workers: incidents per minute at 1, 2 and 4 workers",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/backfill_workers.py --incidents {n}`; "
        f"{platform.machine()}, {os.cpu_count()} cores shared with other work, Python {platform.python_version()}. "
        f"{n} incidents of 60 minutes over the checkout scenario in a real Prometheus (two signals, alert history, "
        "rules replayed, scrape gaps) and a deploy_file change log; wall time including process start-up.",
        "",
        "| workers | threads: 1 process, SQLite | incidents/min | x of 1 | "
        "processes: shards on PostgreSQL | incidents/min | x of 1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for w, tt, tp in rows:
        lines.append(
            f"| {w} | {tt:.1f} s | {n / tt * 60:.0f} | {one_t / tt:.2f} | "
            f"{tp:.1f} s | {n / tp * 60:.0f} | {one_p / tp:.2f} |"
        )
    lines += [
        "",
        "Threads share one interpreter (correlation is CPU work under the GIL), processes do not; the machine has "
        "2 cores, so 4 workers cannot be twice as fast as 2 here.",
        "",
    ]
    text = "\n".join(lines)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
