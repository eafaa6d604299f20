"""The job store and queue: SQLite embedded by default, PostgreSQL for many workers and machines.

    store = open_store("sqlite:///var/lib/dossier/jobs.db")      # or "postgresql://user@host/db"
    store.enqueue(incident, out_dir=Path("dossiers"), source="alertmanager")
    job = store.claim("host:pid:thread", lease=60)                # None when nothing is due
    store.heartbeat(job, lease=60)                                # the worker is alive: keep the lease
    store.finish(job, exit_code=0)  |  store.retry(job, error, delay)  |  store.fail(job, error)

One job per incident id (the folder it writes). States:

    queued --claim--> running --finish--> done
       ^                 |  \\--fail--> failed          (no attempts left, or an error no retry can fix)
       +---retry(delay)--+
       +---lease expired (the worker died or hung): claimed again by any worker

A claim takes the oldest due job in one statement. On PostgreSQL the row is chosen with
`FOR UPDATE SKIP LOCKED`, so workers on several machines never take the same job and never wait
on each other; on SQLite the claim runs in a `BEGIN IMMEDIATE` transaction (one writer at a time).
Every claim gets a fresh `token`; `heartbeat`, `finish`, `retry` and `fail` only act while the
job is still held by that token, so a worker whose lease expired (and whose job another worker
now runs) cannot overwrite the other's result. Times come from the database's clock, so the
workers' clocks need not agree.

Each claim is also a row of `dossier_runs` (worker, attempt, start, end, outcome): the history
the tests read to check that no job ever ran twice at once.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dossier import codec
from dossier.errors import ConfigError, DossierError, ExitCode, Issue
from dossier.model import Incident

__all__ = [
    "Job",
    "JobStore",
    "Replayed",
    "StoreUnavailable",
    "default_store_url",
    "open_store",
    "worker_name",
]

JobState = Literal["queued", "running", "done", "failed"]
STATES: tuple[JobState, ...] = ("queued", "running", "done", "failed")


class Replayed(DossierError):
    """A request whose signature was seen before: refused, and nothing was stored."""


class StoreUnavailable(DossierError):
    """The store cannot be reached or is too busy: the caller may retry (a webhook answers 503)."""

    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    incident: Incident
    out_dir: Path
    state: JobState
    attempts: int
    max_attempts: int
    source: str
    batch: str | None
    token: str | None = None
    worker: str | None = None
    error: str | None = None
    exit_code: int | None = None
    recollect: bool = False


def worker_name(suffix: str = "") -> str:
    """`host:pid[:suffix]`: who holds a claim (a backfill rerun uses it to spot its dead predecessor)."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    return f"{name}:{suffix}" if suffix else name


def default_store_url(out_dir: Path) -> str:
    """The embedded default: `.jobs.db` in the output folder, beside the incidents' folders."""
    return f"sqlite:///{(out_dir / '.jobs.db').absolute()}"


_SCHEMA_LOCK = 0x646F7373  # "doss": the advisory lock taken while the schema is created

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS dossier_jobs (
        id TEXT PRIMARY KEY,
        incident TEXT NOT NULL,
        out_dir TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        run_after DOUBLE PRECISION NOT NULL,
        lease_until DOUBLE PRECISION,
        worker TEXT,
        token TEXT,
        error TEXT,
        exit_code INTEGER,
        source TEXT NOT NULL,
        batch TEXT,
        recollect INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        finished_at DOUBLE PRECISION
    )""",
    "CREATE INDEX IF NOT EXISTS dossier_jobs_due ON dossier_jobs (state, run_after)",
    "CREATE INDEX IF NOT EXISTS dossier_jobs_batch ON dossier_jobs (batch, state)",
    """CREATE TABLE IF NOT EXISTS dossier_runs (
        job_id TEXT NOT NULL,
        token TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        worker TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        ended_at DOUBLE PRECISION,
        outcome TEXT,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS dossier_runs_job ON dossier_runs (job_id)",
    """CREATE TABLE IF NOT EXISTS dossier_seen (
        key TEXT PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL
    )""",
]

_COLUMNS = (
    "id, incident, out_dir, state, attempts, max_attempts, source, batch, token, worker, error, exit_code, recollect"
)


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=row[0],
        incident=codec.incident_from_dict(json.loads(row[1])),
        out_dir=Path(row[2]),
        state=row[3],
        attempts=int(row[4]),
        max_attempts=int(row[5]),
        source=row[6],
        batch=row[7],
        token=row[8],
        worker=row[9],
        error=row[10],
        exit_code=row[11],
        recollect=bool(row[12]),
    )


class JobStore:
    """The jobs table on SQLite or PostgreSQL (see the module docstring); safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.dialect: Literal["sqlite", "postgresql"]
        if parts.scheme == "sqlite":
            self.dialect = "sqlite"
            # sqlite:///var/lib/dossier/jobs.db is /var/lib/dossier/jobs.db; sqlite:jobs.db is relative
            path = url[len("sqlite://") :] if url.startswith("sqlite://") else url[len("sqlite:") :]
            if not path:
                raise ConfigError(None, [Issue(("store",), f"{url!r} names no file: use sqlite:///PATH")])
            self._path = Path(path)
            self._now = "((julianday('now') - 2440587.5) * 86400.0)"
            self._lock_clause = ""
        elif parts.scheme in ("postgresql", "postgres"):
            self.dialect = "postgresql"
            self._now = "extract(epoch from clock_timestamp())::double precision"
            self._lock_clause = "FOR UPDATE SKIP LOCKED"
        else:
            raise ConfigError(
                None, [Issue(("store",), f"unsupported store {url!r}: use sqlite:///PATH or postgresql://...")]
            )
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        with self._tx() as cur:
            if self.dialect == "postgresql":  # concurrent CREATE ... IF NOT EXISTS can collide: one at a time
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                cur.execute(statement)

    # ---- connections ------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a 202 means the job is on disk
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency
            raise ConfigError(
                None, [Issue(("store",), "PostgreSQL needs psycopg: pip install 'psycopg[binary]'")]
            ) from None
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"store {_safe(self.url)}: cannot connect: {_first_line(exc)}") from None

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _sql(self, text: str) -> str:
        text = text.replace("{now}", self._now).replace("{lock}", self._lock_clause)
        return text.replace("%s", "?") if self.dialect == "sqlite" else text

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction on this thread's connection; a lost connection is StoreUnavailable."""
        conn = self._conn()
        try:
            if self.dialect == "sqlite":
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield _Cursor(cur, self)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            else:
                with conn.transaction(), conn.cursor() as cur:
                    yield _Cursor(cur, self)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"store {_safe(self.url)}: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                self._local.conn = None  # reconnect next time
                raise StoreUnavailable(f"store {_safe(self.url)}: {_first_line(exc)}") from None
            raise

    def release_thread(self) -> None:
        """Close this thread's connection (a short-lived thread, such as a heartbeat, ends)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is None:
            return
        with self._all_lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except Exception:  # closing is best effort
            pass

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # closing is best effort
                pass
        self._local = threading.local()

    # ---- enqueueing -------------------------------------------------------------------------

    def enqueue(
        self,
        incident: Incident,
        *,
        out_dir: Path,
        source: str,
        on_repeat: Literal["skip", "recollect"] = "skip",
        max_attempts: int = 3,
        batch: str | None = None,
        run_after: float | None = None,
        seen_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Store a job for `incident` (committed before this returns); `(job, created)`.

        The same incident again: with `skip` the stored job is returned as it is; with
        `recollect` it is queued again (a running one is marked to run once more when it ends).
        `seen_key` (a webhook's signature) is recorded in the same transaction; when it was
        recorded before, `Replayed` is raised and nothing is stored.
        """
        data = json.dumps(codec.incident_to_dict(incident), sort_keys=True)
        with self._tx() as cur:
            if seen_key is not None:
                cur.execute(
                    "INSERT INTO dossier_seen (key, at) VALUES (%s, {now}) ON CONFLICT (key) DO NOTHING", (seen_key,)
                )
                if cur.rowcount != 1:
                    raise Replayed("this signature was seen before: a replayed request")
            cur.execute(
                "INSERT INTO dossier_jobs (id, incident, out_dir, state, attempts, max_attempts, run_after, source,"
                " batch, created_at, updated_at) VALUES (%s, %s, %s, 'queued', 0, %s, COALESCE(%s, {now}), %s, %s,"
                " {now}, {now}) ON CONFLICT (id) DO NOTHING",
                (incident.id, data, str(out_dir), max_attempts, run_after, source, batch),
            )
            created = cur.rowcount == 1
            if not created and on_repeat == "recollect":
                cur.execute(
                    "UPDATE dossier_jobs SET incident = %s, out_dir = %s, updated_at = {now},"
                    " recollect = CASE WHEN state = 'running' THEN 2 ELSE 1 END,"
                    " state = CASE WHEN state = 'running' THEN state ELSE 'queued' END,"
                    " attempts = CASE WHEN state = 'running' THEN attempts ELSE 0 END,"
                    " run_after = COALESCE(%s, {now}), error = NULL WHERE id = %s",
                    (data, str(out_dir), run_after, incident.id),
                )
            cur.execute(f"SELECT {_COLUMNS} FROM dossier_jobs WHERE id = %s", (incident.id,))
            job = _job(cur.fetchone())
        return job, created

    def enqueue_many(
        self, incidents: Iterable[Incident], *, out_dir: Path, source: str, batch: str, max_attempts: int = 3
    ) -> list[tuple[Job, bool]]:
        """`enqueue` (with `skip`) of many incidents in one transaction: `(job, created)` each."""
        rows = [(i.id, json.dumps(codec.incident_to_dict(i), sort_keys=True)) for i in incidents]
        out: list[tuple[Job, bool]] = []
        with self._tx() as cur:
            for job_id, data in rows:
                cur.execute(
                    "INSERT INTO dossier_jobs (id, incident, out_dir, state, attempts, max_attempts, run_after,"
                    " source, batch, created_at, updated_at) VALUES (%s, %s, %s, 'queued', 0, %s, {now}, %s, %s,"
                    " {now}, {now}) ON CONFLICT (id) DO NOTHING",
                    (job_id, data, str(out_dir), max_attempts, source, batch),
                )
                created = cur.rowcount == 1
                if not created:  # still to do: this batch takes it over
                    cur.execute("UPDATE dossier_jobs SET batch = %s WHERE id = %s AND state <> 'done'", (batch, job_id))
                cur.execute(f"SELECT {_COLUMNS} FROM dossier_jobs WHERE id = %s", (job_id,))
                out.append((_job(cur.fetchone()), created))
        return out

    def requeue(self, job: Job, *, forgive: bool = False) -> bool:
        """Queue a failed job again now, with all its attempts (a backfill rerun redoes what failed);
        or, `forgive`, a running one whose process is known dead, without counting that attempt."""
        with self._tx() as cur:
            if forgive:
                cur.execute(
                    "UPDATE dossier_jobs SET state = 'queued', run_after = {now}, token = NULL, lease_until = NULL,"
                    " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = {now}"
                    " WHERE id = %s AND token = %s AND state = 'running'",
                    (job.id, job.token),
                )
                ok = cur.rowcount == 1
                if ok:
                    self._end(cur, job, "lost", "its process was gone")
                return ok
            cur.execute(
                "UPDATE dossier_jobs SET state = 'queued', run_after = {now}, token = NULL, lease_until = NULL,"
                " attempts = 0, error = NULL, updated_at = {now} WHERE id = %s AND state = 'failed'",
                (job.id,),
            )
            return cur.rowcount == 1

    def seen(self, key: str) -> bool:
        """Record `key` (a webhook signature); True when it was recorded before (a replay)."""
        with self._tx() as cur:
            cur.execute("INSERT INTO dossier_seen (key, at) VALUES (%s, {now}) ON CONFLICT (key) DO NOTHING", (key,))
            return cur.rowcount != 1

    # ---- working ----------------------------------------------------------------------------

    def claim(self, worker: str, *, lease: float, batch: str | None = None) -> Job | None:
        """Take the oldest due job (queued and due, or running with an expired lease), or None."""
        token = uuid.uuid4().hex
        where_batch = " AND batch = %s" if batch is not None else ""
        params: tuple[Any, ...] = (batch,) if batch is not None else ()
        with self._tx() as cur:
            # a job whose worker died on its last attempt: failed, with the reason
            cur.execute(
                "UPDATE dossier_jobs SET state = 'failed', finished_at = {now}, updated_at = {now},"
                " error = COALESCE(error || '; ', '') || 'lease expired on attempt ' || attempts ||"
                " ' of ' || max_attempts || ' (worker ' || COALESCE(worker, '?') || ' lost)'"
                " WHERE state = 'running' AND lease_until < {now} AND attempts >= max_attempts" + where_batch,
                params,
            )
            cur.execute(
                "UPDATE dossier_jobs SET state = 'running', attempts = attempts + 1, worker = %s, token = %s,"
                " lease_until = {now} + %s, updated_at = {now} WHERE id = ("
                " SELECT id FROM dossier_jobs WHERE ((state = 'queued' AND run_after <= {now})"
                " OR (state = 'running' AND lease_until < {now}))"
                + where_batch
                + " ORDER BY run_after, id LIMIT 1 {lock}"
                f") RETURNING {_COLUMNS}",
                (worker, token, lease, *params),
            )
            row = cur.fetchone()
            if row is None:
                return None
            job = _job(row)
            cur.execute(
                "INSERT INTO dossier_runs (job_id, token, attempt, worker, started_at) VALUES (%s, %s, %s, %s, {now})",
                (job.id, token, job.attempts, worker),
            )
        return job

    def heartbeat(self, job: Job, *, lease: float) -> bool:
        """Extend the lease; False when the job is no longer held by this claim."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE dossier_jobs SET lease_until = {now} + %s WHERE id = %s AND token = %s AND state = 'running'",
                (lease, job.id, job.token),
            )
            return cur.rowcount == 1

    def holds(self, job: Job) -> bool:
        with self._tx() as cur:
            cur.execute(
                "SELECT 1 FROM dossier_jobs WHERE id = %s AND token = %s AND state = 'running'", (job.id, job.token)
            )
            return cur.fetchone() is not None

    def _end(self, cur: _Cursor, job: Job, outcome: str, error: str | None) -> None:
        cur.execute(
            "UPDATE dossier_runs SET ended_at = {now}, outcome = %s, error = %s WHERE job_id = %s AND token = %s",
            (outcome, error, job.id, job.token),
        )

    def finish(self, job: Job, *, exit_code: int, note: str | None = None) -> bool:
        """The draft is written: done (or queued again when a recollect came in meanwhile)."""
        with self._tx() as cur:
            cur.execute(
                "UPDATE dossier_jobs SET state = CASE WHEN recollect = 2 THEN 'queued' ELSE 'done' END,"
                " attempts = CASE WHEN recollect = 2 THEN 0 ELSE attempts END, exit_code = %s, error = %s,"
                " recollect = CASE WHEN recollect = 2 THEN 1 ELSE 0 END,"
                " token = NULL, lease_until = NULL, finished_at = {now}, updated_at = {now}, run_after = {now}"
                " WHERE id = %s AND token = %s AND state = 'running'",
                (exit_code, note, job.id, job.token),
            )
            ok = cur.rowcount == 1
            self._end(cur, job, "done" if ok else "lost", note)
        return ok

    def retry(self, job: Job, error: str, *, delay: float) -> bool:
        """This attempt failed: try again after `delay` seconds, or fail when no attempt is left."""
        if job.attempts >= job.max_attempts:
            return self.fail(job, f"{error} (after {job.attempts} attempts)")
        with self._tx() as cur:
            cur.execute(
                "UPDATE dossier_jobs SET state = 'queued', run_after = {now} + %s, error = %s, token = NULL,"
                " lease_until = NULL, updated_at = {now} WHERE id = %s AND token = %s AND state = 'running'",
                (delay, error, job.id, job.token),
            )
            ok = cur.rowcount == 1
            self._end(cur, job, "retry" if ok else "lost", error)
        return ok

    def fail(self, job: Job, error: str) -> bool:
        with self._tx() as cur:
            cur.execute(
                "UPDATE dossier_jobs SET state = 'failed', error = %s, token = NULL, lease_until = NULL,"
                " finished_at = {now}, updated_at = {now} WHERE id = %s AND token = %s AND state = 'running'",
                (error, job.id, job.token),
            )
            ok = cur.rowcount == 1
            self._end(cur, job, "failed" if ok else "lost", error)
        return ok

    # ---- reading ----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self._tx() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM dossier_jobs WHERE id = %s", (job_id,))
            row = cur.fetchone()
        return _job(row) if row else None

    def jobs(self, *, batch: str | None = None, ids: Iterable[str] | None = None) -> list[Job]:
        with self._tx() as cur:
            if batch is not None:
                cur.execute(f"SELECT {_COLUMNS} FROM dossier_jobs WHERE batch = %s ORDER BY id", (batch,))
            else:
                cur.execute(f"SELECT {_COLUMNS} FROM dossier_jobs ORDER BY id")
            rows = cur.fetchall()
        wanted = set(ids) if ids is not None else None
        return [j for j in map(_job, rows) if wanted is None or j.id in wanted]

    def counts(self, *, batch: str | None = None) -> dict[str, int]:
        with self._tx() as cur:
            if batch is None:
                cur.execute("SELECT state, COUNT(*) FROM dossier_jobs GROUP BY state")
            else:
                cur.execute("SELECT state, COUNT(*) FROM dossier_jobs WHERE batch = %s GROUP BY state", (batch,))
            rows = cur.fetchall()
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        out.update({state: int(n) for state, n in rows})
        return out

    def runs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """The claim history: one dict per claim (job_id, attempt, worker, started_at, ended_at, outcome, error)."""
        with self._tx() as cur:
            query = "SELECT job_id, attempt, worker, started_at, ended_at, outcome, error, token FROM dossier_runs"
            if job_id is None:
                cur.execute(query + " ORDER BY started_at")
            else:
                cur.execute(query + " WHERE job_id = %s ORDER BY started_at", (job_id,))
            rows = cur.fetchall()
        keys = ("job_id", "attempt", "worker", "started_at", "ended_at", "outcome", "error", "token")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def ping(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()


class _Cursor:
    """A DB-API cursor whose statements are written once for both dialects."""

    def __init__(self, cur: Any, store: JobStore) -> None:
        self._cur = cur
        self._store = store

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._cur.execute(self._store._sql(sql), params)

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())


def _safe(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_store(url: str) -> JobStore:
    return JobStore(url)
