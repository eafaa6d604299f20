"""`dossier backfill`: many past incidents, resumable, bounded per source.

    summary = backfill(settings, read_incidents(Path("incidents.csv")), out_dir, concurrency=4)

The incidents become jobs of one batch in the store (the SQLite default, or the shared
PostgreSQL), run by `concurrency` worker threads of this process (see `dossier.worker`), at most
`per_source` collections at a time against any one source. A rerun of the same list skips what
is done (its folder is there), redoes what failed, and takes back what a killed run left in
flight: a claim by a process of this host that no longer exists is queued again at once
(without counting that attempt); one from another host waits for its lease to expire.

`shard=(k, n)` keeps the incidents whose id hashes to k modulo n: pods of a Kubernetes
Indexed Job each take their share of one list, by index, on one PostgreSQL store.

Incident lists: CSV (a header row of the incident file's fields; `services` separated by `;`,
`labels` as `key=value;key=value`), JSON lines (`.jsonl`, `.ndjson`), or YAML (`.yaml`, `.yml`:
a list of incidents, or `{incidents: [...]}`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from dossier import jobs
from dossier.config import Settings
from dossier.errors import ConfigError, Issue
from dossier.incident import parse_incident
from dossier.model import Incident
from dossier.store import Job, JobStore, worker_name
from dossier.worker import JobMetrics, JobResult, Worker, WorkerOptions

__all__ = ["Summary", "backfill", "read_incidents", "shard_of"]


# ---- the incident list ------------------------------------------------------------------------


def _csv_rows(text: str) -> list[dict[str, Any]]:
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None or value is None or value.strip() == "":
                continue
            key = key.strip()
            value = value.strip()
            if key == "services":
                row[key] = [s.strip() for s in value.replace(",", ";").split(";") if s.strip()]
            elif key == "labels":
                pairs = [p.split("=", 1) for p in value.split(";") if p.strip()]
                row[key] = {k.strip(): (v[0].strip() if v else "") for k, *v in pairs}
            else:
                row[key] = value
        rows.append(row)
    return rows


def read_incidents(path: Path) -> list[Incident]:
    """Every incident of the list, checked as incident files are; every bad row is reported at once
    (`FILE: row N: key: message`), and an id listed twice is an error."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, ["cannot read: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [f"cannot read: {exc}"]) from None
    suffix = path.suffix.lower()
    rows: list[tuple[str, Any]] = []
    issues: list[Issue] = []
    if suffix == ".csv":
        rows = [(f"row {i + 2}", r) for i, r in enumerate(_csv_rows(text))]  # row 1 is the header
    elif suffix in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((f"line {n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                issues.append(Issue((f"line {n}",), f"invalid JSON at column {exc.colno}: {exc.msg}"))
    elif suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(file, [f"invalid YAML: {str(exc).splitlines()[0]}"]) from None
        if isinstance(data, dict) and "incidents" in data:
            data = data["incidents"]
        if not isinstance(data, list):
            raise ConfigError(file, ["expected a list of incidents (or incidents: [...])"])
        rows = [(f"item {i}", r) for i, r in enumerate(data)]
    else:
        raise ConfigError(file, [f"unknown list format {suffix or '(no suffix)'!r}: use .csv, .jsonl or .yaml"])
    incidents: list[Incident] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        try:
            incident = parse_incident(row)
        except ConfigError as exc:
            issues.extend(Issue((where, *i.path), i.message) for i in exc.issues)
            continue
        if incident.id in seen:
            issues.append(Issue((where, "id"), f'"{incident.id}" is already the id of {seen[incident.id]}'))
            continue
        seen[incident.id] = where
        incidents.append(incident)
    if issues:
        raise ConfigError(file, issues)
    if not incidents:
        raise ConfigError(file, ["the list holds no incident"])
    return incidents


def shard_of(incident_id: str, count: int) -> int:
    """The shard (0..count-1) of an incident: stable across machines and Python runs."""
    return int.from_bytes(hashlib.sha256(incident_id.encode()).digest()[:8], "big") % count


# ---- running ----------------------------------------------------------------------------------


@dataclass
class Summary:
    total: int = 0
    done: list[str] = field(default_factory=list)  # drafted by this run
    partial: list[str] = field(default_factory=list)  # drafted by this run, with gaps (exit 1)
    skipped: list[str] = field(default_factory=list)  # already done before this run
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    pending: list[str] = field(default_factory=list)  # held by a worker elsewhere (its lease runs)
    push_failed: dict[str, str] = field(default_factory=dict)  # id -> why output.push failed (draft written)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = (len(self.done) / self.seconds * 60) if self.seconds > 0 and self.done else 0.0
        out = [
            f"backfill: {self.total} incidents: {len(self.done)} drafted ({len(self.partial)} with gaps), "
            f"{len(self.skipped)} skipped (already done), {len(self.failed)} failed, {len(self.pending)} pending; "
            f"{self.seconds:.1f}s ({rate:.0f} incidents/min)"
        ]
        out += [f"  failed  {job_id}: {reason}" for job_id, reason in sorted(self.failed.items())]
        out += [f"  push    {job_id}: {reason}" for job_id, reason in sorted(self.push_failed.items())]
        out += [f"  pending {job_id}: held by another worker; rerun after its lease expires" for job_id in self.pending]
        return out


def _pid_gone(worker: str | None) -> bool:
    """The claim was made by a process of this host that no longer runs."""
    if not worker:
        return False
    parts = worker.split(":")
    if len(parts) < 2 or parts[0] != worker_name().split(":")[0] or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class _Progress:
    """A rich progress bar on a terminal; a plain line per finished incident otherwise."""

    def __init__(self, total: int, done_before: int, stream: TextIO) -> None:
        self.total = total
        self.count = done_before
        self.stream = stream
        self.lock = threading.Lock()
        self._rich: Any = None
        self._task: Any = None
        if stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._rich = Progress(
                TextColumn("backfill"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(file=stream),
                transient=False,
            )
            self._task = self._rich.add_task("", total=total, completed=done_before)

    def __enter__(self) -> _Progress:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def __call__(self, result: JobResult) -> None:
        if result.outcome in ("retry", "lost"):
            return
        with self.lock:
            self.count += 1
            text = f"{result.job.id} {result.outcome}" + (f": {result.error}" if result.error else "")
            if self._rich is not None:
                self._rich.update(self._task, completed=self.count, description=text[:60])
            else:
                print(f"[{self.count}/{self.total}] {text} ({result.duration:.1f}s)", file=self.stream, flush=True)


def backfill(
    settings: Settings,
    incidents: Sequence[Incident],
    out_dir: Path,
    *,
    store: JobStore,
    concurrency: int = 4,
    options: WorkerOptions | None = None,
    max_attempts: int = 3,
    shard: tuple[int, int] | None = None,
    stream: TextIO | None = None,
    on_start: Callable[[Job], None] | None = None,
) -> Summary:
    started = time.monotonic()
    out_dir = out_dir.absolute()
    if shard is not None:
        index, count = shard
        incidents = [i for i in incidents if shard_of(i.id, count) == index]
    ids = [i.id for i in incidents]
    batch = "backfill:" + hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]
    summary = Summary(total=len(incidents))
    entries = store.enqueue_many(incidents, out_dir=out_dir, source="backfill", batch=batch, max_attempts=max_attempts)
    before_done: set[str] = set()
    for job, _created in entries:
        if job.state == "done" and jobs.published(job.out_dir, job.id):
            before_done.add(job.id)
        elif job.state == "done":  # its folder was removed since: draft it again
            store.enqueue(job.incident, out_dir=out_dir, source="backfill", on_repeat="recollect", batch=batch)
        elif job.state == "failed":
            store.requeue(job)
        elif job.state == "running" and _pid_gone(job.worker):
            store.requeue(job, forgive=True)
    summary.skipped = sorted(before_done)
    options = options or WorkerOptions()
    limits = jobs.SourceLimits(options.per_source)
    metrics = JobMetrics()  # durations and errors, exported over OTLP when OTEL_* say so
    stop = threading.Event()
    stream = stream if stream is not None else sys.stderr
    with _Progress(len(incidents), len(before_done), stream) as progress:
        workers = [
            Worker(
                settings,
                store,
                name=worker_name(f"backfill-{n}"),
                options=options,
                limits=limits,
                metrics=metrics,
                on_result=progress,
                on_start=on_start,
            )
            for n in range(max(1, concurrency))
        ]
        threads = [
            threading.Thread(target=w.run, args=(stop,), kwargs={"batch": batch, "until_empty": True}, daemon=True)
            for w in workers
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            stop.set()  # each worker finishes the job it holds; the rest stays queued for a rerun
            for t in threads:
                t.join()
            raise
    wanted = set(ids)
    for job in store.jobs(batch=batch):
        if job.id not in wanted or job.id in before_done:
            continue
        if job.state == "done":
            if (job.error or "").startswith("already written"):
                summary.skipped.append(job.id)
            else:
                summary.done.append(job.id)
                if job.exit_code == 1:
                    summary.partial.append(job.id)
            rest = (job.error or "").removeprefix("already written").lstrip("; ")
            if rest:  # a push destination that failed: the draft is written, the push is not
                summary.push_failed[job.id] = rest
        elif job.state == "failed":
            summary.failed[job.id] = job.error or "failed"
        else:
            summary.pending.append(job.id)
    # jobs of the list that another batch holds (not taken over: they were done there)
    summary.skipped.extend(sorted(wanted - {j.id for j in store.jobs(batch=batch)} - before_done))
    summary.skipped.sort()
    summary.seconds = round(time.monotonic() - started, 2)
    return summary
