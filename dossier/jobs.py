"""One collection job: run the collectors, archive their evidence, correlate, export.

The draft is always correlated from the archive as read back from disk, so `dossier replay`
of the same folder gives the same `dossier.json`, byte for byte.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace

import correlate
from collectors.prometheus import counterfactual
from correlate import actions
from dossier import archive, registry
from dossier.config import CollectorSpec, Settings
from dossier.errors import CollectorError, ConfigError, ExitCode, Issue
from dossier.exporters import markdown, push
from dossier.exporters.push import PushOutcome
from dossier.model import (
    CorrelateSettings,
    Dossier,
    Evidence,
    Incident,
    Problem,
    Request,
    ServiceInfo,
    SourceReport,
    SourceStatus,
)
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult, Recorder

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossier")
_collector_duration = metrics.get_meter("dossier").create_histogram(
    "dossier.collector.duration", unit="s", description="How long a collector took in a job, by source and status"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    folder: Path
    dossier: Dossier
    files: tuple[Path, ...]
    exit_code: ExitCode
    pushed: tuple[PushOutcome, ...] = ()  # output.push, when `push_draft` ran


def incident_folder(out_dir: Path, incident: Incident) -> Path:
    """`out_dir/<id>`, refusing any id that would land outside `out_dir`."""
    base = out_dir.resolve()
    folder = (base / incident.id).resolve()
    if folder.parent != base:
        raise ConfigError(None, [Issue(("id",), f"{incident.id!r} would write outside {str(out_dir)!r}")])
    return folder


def exit_code_for(sources: Sequence[SourceReport]) -> ExitCode:
    if sources and all(s.status == "failed" for s in sources):
        return ExitCode.ALL_FAILED
    if any(s.status != "ok" for s in sources):
        return ExitCode.PARTIAL
    return ExitCode.OK


def build_collector(spec: CollectorSpec) -> Collector:  # type: ignore[type-arg]
    ctx = CollectContext(
        instance=spec.instance,
        log=logging.LoggerAdapter(logging.getLogger(f"collectors.{spec.type}"), {"collector": spec.instance}),
        recorder=Recorder(spec.instance),
    )
    return spec.cls(spec.config, ctx)


class SourceLimits:
    """At most `per_source` collections at once against each source instance, across the jobs of
    one process (a backfill must not flood Prometheus or a CI API)."""

    def __init__(self, per_source: int) -> None:
        self.per_source = max(1, per_source)
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = {}

    def __call__(self, instance: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._sems.get(instance)
            if sem is None:
                sem = self._sems[instance] = threading.BoundedSemaphore(self.per_source)
            return sem


def _run_one(
    spec: CollectorSpec, request: CollectRequest, limits: SourceLimits | None = None
) -> archive.InstanceEvidence:
    kinds = tuple(sorted(spec.cls.kinds))
    collector = None
    result, error = CollectResult(), None
    sem = limits(spec.instance) if limits is not None else None
    if sem is not None:
        sem.acquire()
    started = time.monotonic()
    attributes = {"incident.id": request.incident.id, "source.type": spec.type}
    with tracer.start_as_current_span(f"collect {spec.instance}", attributes=attributes) as span:
        try:
            collector = build_collector(spec)
            result = collector.collect(request)
        except CollectorError as exc:
            error = str(exc)
        except Exception as exc:  # a broken plugin must not take the other sources down with it
            log.debug("collector %s crashed", spec.instance, exc_info=True)
            error = f"collector crashed: {type(exc).__name__}: {exc}"
        finally:
            if collector is not None:
                try:
                    collector.close()
                except Exception:  # closing is best effort
                    log.debug("closing %s failed", spec.instance, exc_info=True)
            if sem is not None:
                sem.release()
        if collector is not None:
            _request_batch_spans(collector.ctx.recorder.requests)
        if error:
            span.set_status(trace.Status(trace.StatusCode.ERROR, error[:500]))
    # A source that answered is ok, whatever it found: absence of data (a blind_spot problem) is
    # evidence about the monitoring, not a failure of the source. Only what it could not tell
    # (source_unavailable) makes it partial.
    unavailable = [p for p in result.problems if p.kind == "source_unavailable"]
    status: SourceStatus = "failed" if error else ("partial" if unavailable else "ok")
    _collector_duration.record(time.monotonic() - started, {"source": spec.instance, "status": status})
    problems = list(result.problems)
    if error:
        problems.append(Problem(source=spec.instance, reason=error))
    truncated = result.truncated or bool(result.truncated_reason)
    report = SourceReport(
        instance=spec.instance,
        type=spec.type,
        status=status,
        error=error or (unavailable[0].reason if unavailable else None),
        items=result.items,
        duration=round(time.monotonic() - started, 3),
        truncated=truncated,
        kinds=kinds,
        truncated_reason=(result.truncated_reason or "the collector gave no reason") if truncated else None,
    )
    return archive.InstanceEvidence(
        report=report,
        events=result.events,
        series=result.series,
        rules=result.rules,
        problems=problems,
        requests=collector.ctx.recorder.requests if collector is not None else (),
        log_messages=result.log_messages,
        log_records=result.log_records,
    )


def _request_batch_spans(requests: Sequence[Request]) -> None:
    """A span per batch of a collector's requests (same method, host and path: the query_range
    requests of one Prometheus are one batch), from the first one's start to the last one's end,
    children of the collector's span, with how many there were, how many failed, and their bytes."""
    if not trace.get_current_span().is_recording():
        return
    batches: dict[tuple[str, str, str], list[Request]] = {}
    for r in requests:
        url = urlsplit(r.url)
        batches.setdefault((r.method, url.netloc, url.path or "/"), []).append(r)
    for (method, host, path), batch in batches.items():
        start = min(r.started_at.timestamp() for r in batch)
        end = max(r.started_at.timestamp() + r.duration for r in batch)
        failed = [r for r in batch if r.error or r.status is None or r.status >= 400]
        span = tracer.start_span(
            f"{method} {path}",
            kind=trace.SpanKind.CLIENT,
            start_time=int(start * 1e9),
            attributes={
                "http.request.method": method,
                "server.address": host,
                "url.path": path,
                "dossier.requests": len(batch),
                "dossier.requests.failed": len(failed),
                "dossier.response.bytes": sum(r.bytes for r in batch),
            },
        )
        if failed:
            first = failed[0]
            span.set_status(trace.Status(trace.StatusCode.ERROR, first.error or f"HTTP {first.status}"))
        span.end(end_time=int(end * 1e9))


def _with_dependencies(services: Sequence[ServiceInfo], settings: Settings) -> list[str]:
    names = [s.name for s in services]
    todo = list(names)
    while todo:
        svc = settings.services.get(todo.pop())
        for dep in svc.depends_on if svc else ():
            if dep not in names:
                names.append(dep)
                todo.append(dep)
    return names


def collect(
    settings: Settings,
    incident: Incident,
    out_dir: Path,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limits: SourceLimits | None = None,
) -> Outcome:
    folder = incident_folder(out_dir, incident)
    # the incident names its services as the config does: an alias (checkout-api) is its service
    incident = settings.canonical_incident(incident)
    corr = settings.correlate_settings()
    configured = settings.service_infos(settings.services)
    services = settings.service_infos(incident.services or tuple(settings.services))
    # change sources also look at what the incident's services depend on: their changes are causes too
    with_dependencies = settings.service_infos(_with_dependencies(services, settings))
    specs = list(settings.collectors.values())
    generated_at = clock().replace(microsecond=0)

    def request_for(spec: CollectorSpec) -> CollectRequest:
        changes = "change" in spec.cls.kinds
        return CollectRequest(
            incident=incident,
            start=incident.start - timedelta(seconds=corr.cause_lookback if changes else corr.baseline),
            end=incident.end,
            services=with_dependencies if changes else services,
            configured=configured,
        )

    parent = otel_context.get_current()  # the collectors' spans belong to this job's trace

    def one(spec: CollectorSpec) -> archive.InstanceEvidence:
        token = otel_context.attach(parent)
        try:
            return _run_one(spec, request_for(spec), limits)
        finally:
            otel_context.detach(token)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(specs))), thread_name_prefix="collect") as pool:
        instances = list(pool.map(one, specs))

    folder.mkdir(parents=True, exist_ok=True)
    archive.write(
        folder,
        incident=incident,
        settings=corr,
        generated_at=generated_at,
        formats=settings.formats,
        instances=instances,
    )
    if limits is None:
        return replay(folder, settings)
    # the action items' rule replays query the Prometheus sources again: under the same bound
    # (taken in sorted order, so jobs holding several never wait on each other in a circle)
    with contextlib.ExitStack() as held:
        for instance in sorted(i for i, spec in settings.collectors.items() if spec.type == "prometheus"):
            held.enter_context(limits(instance))
        return replay(folder, settings)


TEMP_MARK = ".tmp-"
OLD_MARK = ".old-"


def published(out_dir: Path, incident_id: str) -> bool:
    """`out_dir/<id>/` exists: `collect_published` only ever renames a finished folder there."""
    return (out_dir / incident_id).is_dir()


def clear_leftovers(out_dir: Path, incident_id: str) -> None:
    """Remove what an attempt killed midway left for this incident (hidden temporary folders)."""
    if not out_dir.is_dir():
        return
    for mark in (TEMP_MARK, OLD_MARK):
        for path in out_dir.glob(f".{incident_id}{mark}*"):
            shutil.rmtree(path, ignore_errors=True)


def collect_published(
    settings: Settings,
    incident: Incident,
    out_dir: Path,
    *,
    limits: SourceLimits | None = None,
    publish: Callable[[Outcome], bool] = lambda outcome: True,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Outcome:
    """`collect` into a hidden temporary folder, then rename it to `out_dir/<id>/` in one step.

    A process killed at any moment leaves either no `<id>/` or a complete one, never half of
    one (what it leaves is hidden, `.<id>.tmp-*`, and removed by the next attempt).
    `publish(outcome)` decides whether the finished folder is published (a worker checks it
    still holds the job, and does not publish a draft whose every source failed while it will
    retry); when it says no, the temporary folder is removed and the outcome is returned all the same.
    An existing `<id>/` (a recollection) is replaced: moved aside, the new one renamed in, the
    old one removed.
    """
    final = incident_folder(out_dir, incident)
    out_dir.mkdir(parents=True, exist_ok=True)
    clear_leftovers(out_dir, incident.id)
    tag = uuid.uuid4().hex[:12]
    tmp = out_dir / f".{incident.id}{TEMP_MARK}{tag}"
    try:
        # the folder as `dossier collect` leaves it: the team's template kept beside the draft (so
        # `replay` drafts with it), and what an earlier collection pushed (so a recollection's push
        # updates those documents instead of creating second copies)
        markdown.keep_template(settings.template, tmp / incident.id)
        if (final / push.STATE_FILE).is_file():
            (tmp / incident.id).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(final / push.STATE_FILE, tmp / incident.id / push.STATE_FILE)
        outcome = collect(settings, incident, tmp, limits=limits, clock=clock)
        if not publish(outcome):
            return outcome
        _fsync_tree(tmp / incident.id)
        old = out_dir / f".{incident.id}{OLD_MARK}{tag}"
        if final.exists():
            os.rename(final, old)
        os.rename(tmp / incident.id, final)
        _fsync_dir(out_dir)
        shutil.rmtree(old, ignore_errors=True)
        return Outcome(
            folder=final,
            dossier=outcome.dossier,
            files=tuple(final / p.name for p in outcome.files),
            exit_code=outcome.exit_code,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def push_draft(outcome: Outcome, settings: Settings, *, missing_only: bool = False) -> Outcome:
    """Push a published draft to `output.push`, as `dossier collect` does: the remote ids are kept
    in `pushed.json`; a destination that fails leaves the draft as written and makes the exit code
    at least 1 (`Outcome.pushed` says which, and why). `missing_only`: only the destinations that
    `pushed.json` does not list yet (a job taken again after its draft was published)."""
    configs = list(settings.push)
    if missing_only and configs:
        try:
            done = push.read_state(outcome.folder)
        except push.PushError:
            done = {}  # push_all states the unreadable file on every destination
        configs = [c for c in configs if c.key not in done]
    if not configs:
        return outcome
    with tracer.start_as_current_span("push", attributes={"destinations": [c.key for c in configs]}):
        results = tuple(push.push_all(outcome.dossier, outcome.folder, configs))
    code = outcome.exit_code
    if any(not r.ok for r in results):
        code = max(code, ExitCode.PARTIAL)
    return dataclasses.replace(outcome, exit_code=ExitCode(code), pushed=results)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder of `root` to disk before it is renamed into place."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def draft(incident: Incident, evidence: Evidence, settings: CorrelateSettings, generated_at: datetime) -> Dossier:
    """`correlate.draft`, run the way jobs run it."""
    with archive.gc_paused(), tracer.start_as_current_span("correlate", attributes={"events": len(evidence.events)}):
        return correlate.draft(incident, evidence, settings, generated_at=generated_at)


def replay(folder: Path, settings: Settings | None = None) -> Outcome:
    """Correlate and export from the archive alone (`settings`: right after collecting, when the
    rules behind action items are replayed on their Prometheus; their results join the archive)."""
    stored = archive.read(folder)
    dossier = draft(stored.incident, stored.evidence, stored.settings, stored.generated_at)
    dossier = _with_action_items(dossier, folder, stored.settings, settings)
    with tracer.start_as_current_span("export", attributes={"formats": list(stored.formats)}):
        files = tuple(registry.load_exporter(fmt)().write(dossier, folder) for fmt in stored.formats)
    return Outcome(folder=folder, dossier=dossier, files=files, exit_code=exit_code_for(stored.evidence.sources))


def _with_action_items(dossier: Dossier, folder: Path, corr: CorrelateSettings, settings: Settings | None) -> Dossier:
    """correlate.actions, with the counterfactuals of collectors/prometheus/counterfactual.py."""
    if settings is not None:
        configs = {i: s.config for i, s in settings.collectors.items() if s.type == "prometheus"}
        replays = actions.plan(dossier, history=settings.correlate.replay_history)
        counterfactual.run(folder, replays, configs)  # type: ignore[arg-type]
    items = actions.build(dossier, counterfactual.read(folder), late_alert_after=corr.late_alert_after)
    return dataclasses.replace(dossier, action_items=items)


@dataclass(frozen=True, slots=True)
class Check:
    instance: str
    ok: bool
    message: str


def check_sources(settings: Settings) -> list[Check]:
    def one(spec: CollectorSpec) -> Check:
        try:
            return Check(spec.instance, True, build_collector(spec).check())
        except CollectorError as exc:
            return Check(spec.instance, False, str(exc))
        except Exception as exc:  # report, don't crash: this command exists to diagnose
            return Check(spec.instance, False, f"check crashed: {type(exc).__name__}: {exc}")

    specs = list(settings.collectors.values())
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(specs)))) as pool:
        return list(pool.map(one, specs))
