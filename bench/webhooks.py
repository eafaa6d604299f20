"""Benchmark: 1,000 webhooks to `dossier serve` as fast as one client can send them; none may be lost.

    python bench/webhooks.py [--requests 1000] [--concurrency 50] [--out bench/results/webhooks.md]

Starts `dossier serve --workers 0` (a process, on a free loopback port; no worker, so every job
stays queued and can be counted) on each store, SQLite (the default) and a real PostgreSQL
(`tests.harness.postgres`), and sends `requests` webhooks with `concurrency` at once from one
httpx.AsyncClient: half Alertmanager v4 resolved groups, half generic incidents, each a distinct
incident. Each answer is either an acceptance (202) or a refusal a sender retries (503 with
Retry-After, 429); the client retries refusals the way Alertmanager does, until accepted.
At the end it reads the store: every accepted id must be there, exactly once, and nothing else.

Reports per store: requests/s of the first pass (wall time of all first tries), answers by status,
retries, latency percentiles, and the store check. Writes markdown to `--out` and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dossier.store import JobStore  # noqa: E402
from tests.harness.postgres import LocalPostgres  # noqa: E402

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(i: int) -> tuple[str, dict]:
    if i % 2:
        return "/webhooks/incident", {
            "id": f"BENCH-{i:05d}",
            "start": "2026-11-20T10:00:00Z",
            "end": "2026-11-20T11:00:00Z",
            "services": ["checkout"],
        }
    alert = {
        "status": "resolved",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "group": str(i)},
        "annotations": {"summary": "error rate is high"},
        "startsAt": "2026-11-20T10:05:00Z",
        "endsAt": "2026-11-20T10:45:00.000000001Z",
        "fingerprint": f"{i:016x}",
    }
    return "/webhooks/alertmanager", {
        "version": "4",
        "groupKey": f'{{}}:{{group="{i}"}}',
        "status": "resolved",
        "receiver": "dossier",
        "groupLabels": {"group": str(i)},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager",
        "alerts": [alert],
    }


async def send_all(url: str, n: int, concurrency: int) -> dict:
    sem = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    accepted: dict[int, str] = {}
    retries = 0
    first_pass_end = 0.0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:

        async def one(i: int) -> None:
            nonlocal retries, first_pass_end
            path, payload = body(i)
            attempt = 0
            while True:
                async with sem:
                    t = time.perf_counter()
                    try:
                        r = await client.post(path, json=payload)
                        status = r.status_code
                    except httpx.TransportError:
                        status = -1  # a sender retries a failed connection too
                    latencies.append(time.perf_counter() - t)
                statuses[status] = statuses.get(status, 0) + 1
                if attempt == 0:
                    first_pass_end = max(first_pass_end, time.perf_counter())
                if status == 202:
                    accepted[i] = r.json()["job"]
                    return
                if status not in (503, 429, -1):
                    raise RuntimeError(f"request {i}: status {status} is neither accepted nor retryable: {r.text}")
                retries += 1
                attempt += 1
                await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")) if status > 0 else 0.5, 1.0))

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        end = time.perf_counter()
    q = statistics.quantiles(latencies, n=100)
    return {
        "seconds": end - start,
        "first_pass": first_pass_end - start,
        "statuses": statuses,
        "retries": retries,
        "accepted": accepted,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
    }


def run_store(
    name: str, store_url: str, workdir: Path, n: int, concurrency: int, *, notification_log: bool = False
) -> dict:
    (workdir / "changes.jsonl").write_text("")
    serve: dict = {"token": TOKEN}
    log = workdir / "am-notifications.jsonl"
    if notification_log:
        serve["alertmanager"] = {"notification_log": str(log)}
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "services": {"checkout": {}},
        "output": {"dir": "out"},
        "serve": serve,
        "store": store_url,
    }
    (workdir / "dossier.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dossier.cli",
            "serve",
            "--config",
            str(workdir / "dossier.yaml"),
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = asyncio.run(send_all(url, n, concurrency))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    store = JobStore(store_url)
    stored = [j.id for j in store.jobs()]
    store.close()
    expected = sorted(result["accepted"].values())
    result["store_ok"] = sorted(stored) == expected and len(set(stored)) == n
    result["stored"] = len(stored)
    result["name"] = name
    result["log"] = "-"
    if notification_log:  # every accepted Alertmanager webhook is in the log (a retried one may be twice)
        import json

        logged = {json.loads(line)["body"]["groupKey"] for line in log.read_text().splitlines()}
        wanted = {body(i)[1]["groupKey"] for i in result["accepted"] if i % 2 == 0}
        result["log"] = f"{len(logged)} {'yes' if logged == wanted else 'NO'}"
    return result


def fresh_database(pg: LocalPostgres, name: str) -> str:
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three configurations, interleaved")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "webhooks.md")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp, LocalPostgres() as pg:
        # the configurations interleaved, round after round, so a change of the machine's load
        # falls on all of them; each run on a fresh store and folder (PostgreSQL: a fresh database)
        for n in range(args.rounds):
            for name, store, log in (
                ("SQLite (default)", "sqlite", False),
                ("SQLite + notification log", "sqlite", True),
                ("PostgreSQL", "postgresql", False),
            ):
                folder = Path(tmp) / f"{store}-{int(log)}-{n}"
                folder.mkdir()
                url = f"sqlite:///{folder / 'jobs.db'}" if store == "sqlite" else fresh_database(pg, f"bench_{n}")
                result = run_store(name, url, folder, args.requests, args.concurrency, notification_log=log)
                print(f"round {n}: {name}: first pass {result['first_pass']:.2f} s", file=sys.stderr)
                runs.setdefault(name, []).append(result)
    rows = []
    for results in runs.values():
        ordered = sorted(results, key=lambda r: r["first_pass"])
        row = dict(ordered[len(ordered) // 2])  # the median round
        row["spread"] = f"{ordered[0]['first_pass']:.1f}-{ordered[-1]['first_pass']:.1f} s"
        row["every_round_ok"] = all(r["store_ok"] and not r["log"].endswith("NO") for r in results)
        rows.append(row)
    lines = [
        "# webhooks: 1,000 webhooks to `dossier serve`, none lost",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/webhooks.py --requests {args.requests} "
        f"--concurrency {args.concurrency} --rounds {args.rounds}`; {platform.machine()}, {os.cpu_count()} cores "
        "shared with other work, "
        f"Python {platform.python_version()}. One httpx.AsyncClient, {args.concurrency} requests at once, on "
        "loopback; `dossier serve --workers 0` (a uvicorn process); half Alertmanager v4 resolved groups, half "
        "generic incidents, each a distinct incident. PostgreSQL runs with fsync off (a test server); SQLite "
        "with synchronous=FULL in WAL mode.",
        "",
        "| store | requests | first pass (median) | rounds' range | webhooks/s | x of SQLite | 202 | 503 (retried) | "
        "other | p50 ms | p99 ms | in the store, once each | Alertmanager groups in the notification log |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = rows[0]["first_pass"]
    for r in rows:
        st = r["statuses"]
        other = sum(v for k, v in st.items() if k not in (202, 503))
        lines.append(
            f"| {r['name']} | {args.requests} | {r['first_pass']:.2f} s | {r['spread']} | "
            f"{args.requests / r['first_pass']:.0f} | {base / r['first_pass']:.2f} | "
            f"{st.get(202, 0)} | {st.get(503, 0)} | {other} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['stored']} {'yes' if r['every_round_ok'] else 'NO'} | {r['log']} |"
        )
    lines += [
        "",
        '"First pass" is the wall time until every webhook had its first answer; a refused one (503 with '
        'Retry-After) is sent again as Alertmanager would, and counted in the 503 column. "In the store": the '
        "jobs read back from the store after the run equal the accepted ids, each once (in every round). "
        '"x of SQLite": webhooks/s over those of the default. With '
        "`serve.alertmanager.notification_log`, each Alertmanager webhook is also appended to the log before "
        "its answer; the last column is the group keys found there, which must be those accepted.",
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
