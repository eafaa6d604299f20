"""Workers on the store: claims never overlap, a dead worker's job is taken over, failures are retried
then shown with their reason.

The multi-worker tests run `dossier worker` processes on one real PostgreSQL (tests/jobs/conftest.py
`postgres`), collecting from the real Prometheus of the checkout scenario behind a slow proxy, so a
job lasts a few seconds and a worker can be killed in the middle of one.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from dossier.config import load_config
from dossier.model import Incident, parse_time
from dossier.store import JobStore
from dossier.worker import Worker, WorkerOptions
from tests.harness.synth import ERROR_RATE_QUERY
from tests.jobs.conftest import fresh_db


def incidents(n: int, start: str = "2026-11-20T09:45:00Z", minutes: int = 40) -> list[Incident]:
    t0 = parse_time(start)
    return [
        Incident(
            id=f"INC-{i:03d}",
            title=f"incident {i}",
            start=t0,
            end=t0 + timedelta(minutes=minutes),
            services=("payments",),
        )
        for i in range(n)
    ]


def write_config(folder: Path, prometheus_url: str, store: str, changes: list[dict[str, str]] | None = None) -> Path:
    (folder / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in changes or []))
    config = {
        "collectors": {
            "prometheus/test": {
                "url": prometheus_url,
                "retries": 1,
                "signals": [{"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"}],
            },
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {"checkout": {"depends_on": ["payments"]}, "payments": {}},
        "correlate": {"baseline": "30m"},
        "output": {"dir": "out"},
        "store": store,
    }
    path = folder / "dossier.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_concurrent_claims_on_postgres_take_each_job_once(postgres, tmp_path):
    url = fresh_db(postgres)
    store = JobStore(url)
    for inc in incidents(120):
        store.enqueue(inc, out_dir=tmp_path, source="test")
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        own = JobStore(url)
        while (job := own.claim(f"w{n}", lease=60)) is not None:
            with lock:
                claimed.append(job.id)
            assert own.finish(job, exit_code=0)
        own.close()

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(i.id for i in incidents(120))  # each once, none lost
    assert store.counts()["done"] == 120
    workers = {r["worker"] for r in store.runs()}
    assert len(workers) > 1  # they really took turns


@pytest.mark.slow
def test_workers_on_postgres_never_overlap_and_finish_a_killed_workers_job(
    postgres, checkout_prometheus, slow_proxy, processes, tmp_path
):
    url = fresh_db(postgres)
    proxy = slow_proxy(checkout_prometheus.url, 0.15)
    config = write_config(tmp_path, proxy.url, url, checkout_prometheus.changes)
    store = JobStore(url)
    todo = incidents(6)
    for inc in todo:
        store.enqueue(inc, out_dir=tmp_path / "out", source="test", max_attempts=3)
    args = ["worker", "--config", str(config), "--lease", "2", "--poll", "0.2", "--backoff", "0.5"]
    procs = {}
    for n in range(3):
        p = processes(args, log_name=f"worker-{n}.log")
        procs[p.pid] = p
    # kill the worker of the first job seen running, in the middle of it
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        exited = [p for p in procs.values() if p.poll() is not None]
        assert not exited, (tmp_path / "worker-0.log").read_text()
        running = [j for j in store.jobs() if j.state == "running" and j.worker]
        if running:
            victim = running[0]
        else:
            time.sleep(0.05)
    assert victim is not None, "no job started"
    time.sleep(0.5)
    victim_pid = int(victim.worker.split(":")[1])
    killed_at = time.time()
    procs[victim_pid].send_signal(signal.SIGKILL)
    procs[victim_pid].wait(timeout=10)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and store.counts()["done"] < len(todo):
        time.sleep(0.2)
    counts = store.counts()
    assert counts["done"] == len(todo), (counts, [(j.id, j.state, j.error) for j in store.jobs()])

    dead = f":{victim_pid}:"
    for inc in todo:
        runs = store.runs(inc.id)
        done = [r for r in runs if r["outcome"] == "done"]
        assert len(done) == 1, runs  # drafted exactly once
        for a, b in itertools.pairwise(runs):
            end = a["ended_at"] if a["ended_at"] is not None else (killed_at if dead in a["worker"] else None)
            assert end is not None, a  # only the killed worker left a run open
            assert b["started_at"] >= end, (a, b)  # never two at once
        assert (tmp_path / "out" / inc.id / "dossier.json").is_file()
    taken_over = store.runs(victim.id)
    assert dead in taken_over[0]["worker"] and taken_over[0]["ended_at"] is None
    assert dead not in taken_over[-1]["worker"] and taken_over[-1]["outcome"] == "done"
    # not given away while its worker was alive and beating: taken only after the kill
    assert all(r["started_at"] >= killed_at for r in taken_over[1:]), (killed_at, taken_over)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".INC")]  # no temporary folder left


def test_a_failing_job_is_retried_with_backoff_then_fails_with_the_reason(tmp_path):
    config = write_config(tmp_path, "http://127.0.0.1:9", f"sqlite:///{tmp_path / 'jobs.db'}")
    (tmp_path / "dossier.yaml").write_text(
        (tmp_path / "dossier.yaml").read_text().replace("  deploy_file/changes:\n    path: changes.jsonl\n", "")
    )
    settings = load_config(config)
    store = JobStore(settings.store)
    (inc,) = incidents(1)
    store.enqueue(inc, out_dir=tmp_path / "out", source="test", max_attempts=2)
    worker = Worker(settings, store, name="w", options=WorkerOptions(backoff=0.3, poll=0.05))
    started = time.monotonic()
    stop = threading.Event()
    worker.run(stop, until_empty=True)
    job = store.get(inc.id)
    assert job.state == "failed"
    assert "every source failed: prometheus/test:" in job.error and "after 2 attempts" in job.error
    runs = store.runs(inc.id)
    assert [r["outcome"] for r in runs] == ["retry", "failed"]
    assert runs[1]["started_at"] - runs[0]["ended_at"] >= 0.3  # the backoff was waited
    assert time.monotonic() - started >= 0.3
    assert not (tmp_path / "out" / inc.id).exists()  # a draft of nothing is not published


def test_an_expired_lease_is_taken_over_and_the_old_claim_cannot_finish(checkout_prometheus, tmp_path):
    config = write_config(tmp_path, checkout_prometheus.url, f"sqlite:///{tmp_path / 'jobs.db'}")
    settings = load_config(config)
    store = JobStore(settings.store)
    (inc,) = incidents(1)
    store.enqueue(inc, out_dir=tmp_path / "out", source="test")
    ghost = store.claim("ghost", lease=0.3)  # a worker that hangs: no heartbeat
    assert store.claim("other", lease=30) is None  # held
    time.sleep(0.4)
    result = Worker(settings, store, name="w").process(store.claim("w", lease=30))
    assert result.outcome == "done"
    assert store.finish(ghost, exit_code=0) is False  # fenced: the ghost's token no longer holds
    assert store.get(inc.id).state == "done" and store.get(inc.id).worker == "w"
