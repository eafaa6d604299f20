"""Workers: take jobs from the store, collect, publish the draft, and say how it went.

    worker = Worker(settings, store, name=worker_name("0"))
    worker.run(stop_event)                 # until stopped (`dossier worker`, `dossier serve`)
    worker.run(stop_event, batch="b1", until_empty=True)   # a backfill's share

A job's draft is collected into a hidden temporary folder and renamed into `<out>/<id>/` only
when it is finished and the worker still holds the job (`jobs.collect_published`), so a killed
worker leaves nothing half-written, and a folder that is there is done: a job whose folder
already exists is marked done without collecting again (unless it was queued as a recollection).

While a job runs, a heartbeat thread extends its lease every third of it; a worker that dies or
hangs loses the lease, and another worker takes the job again. Outcomes:

* the draft is written (every source ok, or some failed: exit 0 or 1): done;
* every source failed (exit 5), or the job raised: retried after `backoff * 2**(attempt-1)`
  seconds (at most `max_backoff`), then failed with the reason once no attempt is left; a draft
  whose every source failed is never published, so a rerun redoes it;
* the incident or configuration is wrong (`ConfigError`): failed at once, no retry can fix it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram

from dossier import jobs
from dossier.config import Settings
from dossier.errors import ConfigError, ExitCode
from dossier.store import Job, JobStore, StoreUnavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossier")
meter = otel_metrics.get_meter("dossier")

__all__ = ["JobMetrics", "JobResult", "Worker", "WorkerOptions"]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    lease: float = 60.0  # seconds a claim lasts without a heartbeat
    poll: float = 1.0  # seconds between looks at an empty queue
    backoff: float = 30.0  # first retry delay; doubled each attempt
    max_backoff: float = 900.0
    per_source: int = 2  # collections at once against one source, across this process's jobs


@dataclass(frozen=True, slots=True)
class JobResult:
    job: Job
    outcome: str  # done | skipped | retry | failed | lost
    duration: float
    exit_code: int | None = None
    error: str | None = None


class JobMetrics:
    """Prometheus metrics of the jobs this process ran (serve exposes them on /metrics), and the
    same durations and errors as OpenTelemetry instruments (exported only when OTEL_* say so)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.duration = Histogram(
            "dossier_job_duration_seconds",
            "How long a collection job took, by outcome.",
            ["outcome"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.finished = Counter(
            "dossier_jobs_finished", "Jobs this process finished, by outcome.", ["outcome"], registry=self.registry
        )
        self.source_errors = Counter(
            "dossier_source_errors",
            "Sources that failed or were partial in a job, by instance and status.",
            ["source", "status"],
            registry=self.registry,
        )
        self._otel_duration = meter.create_histogram("dossier.job.duration", unit="s", description="job duration")
        self._otel_errors = meter.create_counter("dossier.source.errors", description="failed or partial sources")

    def observe(self, result: JobResult, sources: list[tuple[str, str]]) -> None:
        self.duration.labels(result.outcome).observe(result.duration)
        self.finished.labels(result.outcome).inc()
        self._otel_duration.record(result.duration, {"outcome": result.outcome})
        for instance, status in sources:
            self.source_errors.labels(instance, status).inc()
            self._otel_errors.add(1, {"source": instance, "status": status})


@dataclass
class _Heartbeat:
    store: JobStore
    job: Job
    lease: float
    lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.job.id}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.lease / 3):
                try:
                    if not self.store.heartbeat(self.job, lease=self.lease):
                        self.lost.set()
                        return
                except StoreUnavailable as exc:  # the lease may still hold: try again next beat
                    log.warning("heartbeat for %s failed: %s", self.job.id, exc)
        finally:
            self.store.release_thread()  # one thread per job: do not leave a connection per job behind


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        *,
        name: str,
        options: WorkerOptions | None = None,
        limits: jobs.SourceLimits | None = None,
        metrics: JobMetrics | None = None,
        on_result: Callable[[JobResult], None] | None = None,
        on_start: Callable[[Job], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.name = name
        self.options = options or WorkerOptions()
        self.limits = limits or jobs.SourceLimits(self.options.per_source)
        self.metrics = metrics
        self.on_result = on_result
        self.on_start = on_start

    def run(self, stop: threading.Event, *, batch: str | None = None, until_empty: bool = False) -> None:
        """Take and run jobs until `stop` is set (or, `until_empty`, until the batch has none left)."""
        while not stop.is_set():
            try:
                job = self.store.claim(self.name, lease=self.options.lease, batch=batch)
            except StoreUnavailable as exc:
                log.warning("%s; trying again in %.0fs", exc, self.options.poll)
                stop.wait(self.options.poll)
                continue
            if job is None:
                if until_empty:
                    counts = self.store.counts(batch=batch)
                    if counts["queued"] == 0 and counts["running"] == 0:
                        return
                stop.wait(self.options.poll)
                continue
            self.process(job)

    def _delay(self, attempt: int) -> float:
        return float(min(self.options.backoff * 2 ** max(attempt - 1, 0), self.options.max_backoff))

    def process(self, job: Job) -> JobResult:
        started = time.monotonic()
        sources: list[tuple[str, str]] = []
        if self.on_start is not None:
            self.on_start(job)
        attributes: dict[str, str | int] = {
            "incident.id": job.id,
            "job.attempt": job.attempts,
            "job.source": job.source,
        }
        with tracer.start_as_current_span(f"job {job.id}", attributes=attributes) as span:
            result = self._process(job, started, sources)
            span.set_attribute("job.outcome", result.outcome)
            if result.error:
                span.set_attribute("job.error", result.error[:500])
        if self.metrics is not None:
            self.metrics.observe(result, sources)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _process(self, job: Job, started: float, sources: list[tuple[str, str]]) -> JobResult:
        def result(outcome: str, exit_code: int | None = None, error: str | None = None) -> JobResult:
            return JobResult(job, outcome, round(time.monotonic() - started, 3), exit_code, error)

        try:
            if not job.recollect and jobs.published(job.out_dir, job.id):
                # written by an earlier attempt that died before it could say so: not redone, but
                # pushed where that attempt had not pushed it yet
                jobs.clear_leftovers(job.out_dir, job.id)
                code, note = ExitCode.OK, "already written"
                if self.settings.push:
                    folder = jobs.incident_folder(job.out_dir, job.incident)
                    pushed = jobs.push_draft(jobs.replay(folder), self.settings, missing_only=True)
                    code, errors = pushed.exit_code, _push_errors(pushed, sources)
                    note = "; ".join(["already written", *errors])
                ok = self.store.finish(job, exit_code=int(code), note=note)
                return result("skipped" if ok else "lost", int(code))
            last_try = job.attempts >= job.max_attempts
            with _Heartbeat(self.store, job, self.options.lease) as beat:

                def publish(outcome: jobs.Outcome) -> bool:
                    if outcome.exit_code == ExitCode.ALL_FAILED:
                        return False  # retried, or failed: a rerun redoes it
                    return not beat.lost.is_set() and self.store.holds(job)

                outcome = jobs.collect_published(
                    self.settings, job.incident, job.out_dir, limits=self.limits, publish=publish
                )
            sources.extend((s.instance, s.status) for s in outcome.dossier.sources if s.status != "ok")
            if outcome.exit_code == ExitCode.ALL_FAILED:
                reason = "every source failed: " + "; ".join(
                    f"{s.instance}: {s.error}" for s in outcome.dossier.sources if s.error
                )
                if last_try:
                    ok = self.store.fail(job, f"{reason} (after {job.attempts} attempts)")
                    return result("failed" if ok else "lost", int(outcome.exit_code), reason)
                ok = self.store.retry(job, reason, delay=self._delay(job.attempts))
                return result("retry" if ok else "lost", int(outcome.exit_code), reason)
            if outcome.folder.parent != job.out_dir.resolve() or beat.lost.is_set():
                return result("lost", int(outcome.exit_code), "the lease was lost before the draft was published")
            # published: pushed as `dossier collect` pushes it (a failed destination: exit 1, stated)
            outcome = jobs.push_draft(outcome, self.settings)
            failed_pushes = "; ".join(_push_errors(outcome, sources)) or None
            ok = self.store.finish(job, exit_code=int(outcome.exit_code), note=failed_pushes)
            return result("done" if ok else "lost", int(outcome.exit_code), failed_pushes)
        except ConfigError as exc:
            reason = "; ".join(exc.lines())
            ok = self.store.fail(job, reason)
            return result("failed" if ok else "lost", int(exc.exit_code), reason)
        except StoreUnavailable as exc:  # the lease runs out and another worker takes the job
            log.warning("job %s: %s", job.id, exc)
            return result("lost", None, str(exc))
        except Exception as exc:
            log.debug("job %s raised", job.id, exc_info=True)
            reason = f"{type(exc).__name__}: {exc}"
            try:
                ok = self.store.retry(job, reason, delay=self._delay(job.attempts))
            except StoreUnavailable:
                ok = False
            return result(
                "retry" if ok and job.attempts < job.max_attempts else "failed" if ok else "lost", None, reason
            )


def _push_errors(outcome: jobs.Outcome, sources: list[tuple[str, str]]) -> list[str]:
    """The failed destinations of `output.push`, as lines (counted with the source errors)."""
    failed = [r for r in outcome.pushed if not r.ok]
    sources.extend((f"push/{r.name}", "failed") for r in failed)
    return [f"{r.error} (the local draft is written)" for r in failed]
