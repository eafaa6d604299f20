"""`dossier serve`: the webhook receiver that starts a collection when an incident closes.

    app = create_app(settings, store, out_dir)        # a Starlette app; `run(...)` serves it with uvicorn

Endpoints:

    POST /webhooks/alertmanager   Alertmanager webhook v4 (bearer token); a resolved group closes its incident
    POST /webhooks/pagerduty      PagerDuty v3 (X-PagerDuty-Signature); incident.resolved closes its incident
    POST /webhooks/incident       the incident file's fields as JSON (bearer token), for any other tool
    GET  /healthz                 200 when the store answers, else 503
    GET  /metrics                 Prometheus exposition: jobs by state, durations, per-source errors, requests

Every refusal leaves no job: 401 without the right token or signature, 413 over `serve.max_body`,
400 with the reason for a body that is not what the endpoint takes, 409 for a PagerDuty
signature seen before (a replay). A job is committed to the store before the 202 that says so,
so a crash after it loses nothing. When the store is down or too busy the answer is 503 with
`Retry-After`, which senders retry (Alertmanager and PagerDuty do). `serve.on_repeat` decides what
a second notification of the same incident does: `skip` answers 200 with the job as it is,
`recollect` queues it again (202).

With `serve.alertmanager.notification_log: FILE`, every Alertmanager notification accepted (firing
or resolved) is appended to FILE with the time it was received, before it is answered: the log the
`alertmanager` collector reads (`notification_log:`) for when Alertmanager notified.

Worker threads in the same process (`--workers`, default 1) run the jobs; `dossier worker`
processes on other machines can share a PostgreSQL store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collectors.alertmanager.notification_log import append as notification_log_append
from dossier import jobs
from dossier.config import Settings
from dossier.errors import ConfigError
from dossier.incident import parse_incident
from dossier.model import Incident
from dossier.serve import webhooks
from dossier.store import STATES, JobStore, Replayed, StoreUnavailable, worker_name
from dossier.worker import JobMetrics, Worker, WorkerOptions

log = logging.getLogger(__name__)
tracer = trace.get_tracer("dossier")

__all__ = ["create_app", "run"]

MAX_IN_FLIGHT = 4  # store writes at once (more contend for the one writer); the rest wait up to QUEUE_WAIT, then 503
QUEUE_WAIT = 5.0


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class _StoreGauges(Collector):
    """Jobs in the store by state, read at each scrape."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Any:
        family = GaugeMetricFamily("dossier_jobs", "Jobs in the store, by state.", labels=["state"])
        try:
            counts = self.store.counts()
        except StoreUnavailable:
            return
        for state in STATES:
            family.add_metric([state], counts.get(state, 0))
        yield family


def create_app(
    settings: Settings,
    store: JobStore,
    out_dir: Path,
    *,
    workers: int = 1,
    options: WorkerOptions | None = None,
    max_attempts: int = 3,
) -> Starlette:
    cfg = settings.serve
    if cfg.token is None:
        raise ConfigError(
            str(settings.file) if settings.file else None,
            ["serve::token: required by dossier serve (e.g. token: ${env:DOSSIER_WEBHOOK_TOKEN})"],
        )
    token = cfg.token.get_secret_value()
    pd_secret = cfg.pagerduty_secret.get_secret_value() if cfg.pagerduty_secret else None
    out_dir = out_dir.absolute()
    notification_log = cfg.alertmanager.notification_log
    if notification_log is not None:
        notification_log.parent.mkdir(parents=True, exist_ok=True)
    metrics = JobMetrics()
    metrics.registry.register(_StoreGauges(store))
    requests_total = Counter(
        "dossier_webhook_requests",
        "Webhook requests, by endpoint and answer.",
        ["endpoint", "status"],
        registry=metrics.registry,
    )
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    stop = threading.Event()
    options = options or WorkerOptions()
    limits = jobs.SourceLimits(options.per_source)
    pool = [
        Worker(settings, store, name=worker_name(f"serve-{n}"), options=options, limits=limits, metrics=metrics)
        for n in range(workers)
    ]
    threads: list[threading.Thread] = []

    def authorized(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise _Refused(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    async def body_of(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cfg.max_body:
            raise _Refused(413, f"the body is {length} bytes; at most {cfg.max_body} (serve.max_body)")
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > cfg.max_body:
                raise _Refused(413, f"the body is over {cfg.max_body} bytes (serve.max_body)")
        return bytes(chunks)

    def parsed(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Refused(400, f"the body is not JSON: {exc}") from None

    async def store_job(incident: Incident, source: str, seen_key: str | None = None) -> Response:
        run_after = incident.end.timestamp() if incident.end.timestamp() > time.time() else None
        try:
            await asyncio.wait_for(in_flight.acquire(), QUEUE_WAIT)
        except TimeoutError:
            raise _Refused(503, "too many requests in flight; retry", {"Retry-After": "1"}) from None
        try:
            job, created = await run_in_threadpool(
                store.enqueue,
                incident,
                out_dir=out_dir,
                source=source,
                on_repeat=cfg.on_repeat,
                max_attempts=max_attempts,
                run_after=run_after,
                seen_key=seen_key,
            )
        except Replayed as exc:
            raise _Refused(409, str(exc)) from None
        except StoreUnavailable as exc:
            log.warning("store unavailable: %s", exc)
            raise _Refused(503, "the job store is unavailable; retry", {"Retry-After": "5"}) from None
        finally:
            in_flight.release()
        trace.get_current_span().set_attribute("incident.id", job.id)
        answer = {"job": job.id, "state": job.state, "created": created}
        if not created and cfg.on_repeat == "skip":
            return JSONResponse({**answer, "repeat": "skipped"}, status_code=200)
        if not created:
            answer["repeat"] = "recollect"
        return JSONResponse(answer, status_code=202)

    def endpoint(name: str, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Any]:
        async def wrapped(request: Request) -> Response:
            # a SERVER span per webhook request (the job it queued, if any, as `incident.id`: the
            # trace of that job is `job <id>`)
            attributes = {"http.request.method": request.method, "url.path": request.url.path}
            with tracer.start_as_current_span(
                f"{request.method} {request.url.path}", kind=trace.SpanKind.SERVER, attributes=attributes
            ) as span:
                try:
                    response = await handler(request)
                except _Refused as exc:
                    response = JSONResponse({"error": exc.reason}, status_code=exc.status, headers=exc.headers)
                    span.set_attribute("dossier.refused", exc.reason[:200])
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, f"HTTP {response.status_code}"))
            requests_total.labels(name, str(response.status_code)).inc()
            return response

        return wrapped

    async def alertmanager(request: Request) -> Response:
        received_at = datetime.now(UTC)
        authorized(request)
        body = parsed(await body_of(request))
        try:
            incident = webhooks.alertmanager(
                body,
                service_label=cfg.alertmanager.service_label,
                padding=cfg.alertmanager.padding,
                canonical=settings.canonical,
            )
        except (webhooks.BadRequest, ValueError) as exc:
            raise _Refused(400, str(exc)) from None
        if notification_log is not None:
            # every accepted notification, firing or resolved, as the alertmanager collector reads
            # them back (`notification` events: when Alertmanager notified); a write that fails
            # answers 503, so Alertmanager sends it again
            try:
                await run_in_threadpool(notification_log_append, notification_log, body, received_at=received_at)
            except OSError as exc:
                log.warning("cannot append to %s: %s", notification_log, exc)
                raise _Refused(503, "the notification log cannot be written; retry", {"Retry-After": "5"}) from None
        if incident is None:
            return JSONResponse({"status": "ignored", "reason": "firing: the incident is not closed yet"})
        return await store_job(incident, "alertmanager")

    async def pagerduty(request: Request) -> Response:
        if pd_secret is None:
            raise _Refused(404, "PagerDuty webhooks are off: set serve.pagerduty_secret")
        signature = request.headers.get("x-pagerduty-signature")
        if not signature:
            raise _Refused(401, "missing X-PagerDuty-Signature")
        raw = await body_of(request)
        if not webhooks.verify_pagerduty(raw, signature, pd_secret):
            raise _Refused(401, "X-PagerDuty-Signature does not match the body")
        body = parsed(raw)
        try:
            incident = webhooks.pagerduty(body, padding=cfg.pagerduty.padding, canonical=settings.canonical)
        except (webhooks.BadRequest, ValueError) as exc:
            raise _Refused(400, str(exc)) from None
        if incident is None:
            return JSONResponse({"status": "ignored", "reason": "not an incident.resolved event"})
        key = "pagerduty:" + ",".join(sorted(p.strip() for p in signature.split(",")))
        return await store_job(incident, "pagerduty", seen_key=key)

    async def incident(request: Request) -> Response:
        authorized(request)
        body = parsed(await body_of(request))
        try:
            inc = parse_incident(body, file="request body")
        except ConfigError as exc:
            raise _Refused(400, "; ".join(exc.lines())) from None
        return await store_job(settings.canonical_incident(inc), "incident")

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "store": store.dialect, "workers": sum(t.is_alive() for t in threads)})

    async def metrics_endpoint(request: Request) -> Response:
        data = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for w in pool:
            t = threading.Thread(target=w.run, args=(stop,), name=w.name, daemon=True)
            t.start()
            threads.append(t)
        try:
            yield
        finally:
            stop.set()
            for t in threads:
                await run_in_threadpool(t.join)

    routes = [
        Route("/webhooks/alertmanager", endpoint("alertmanager", alertmanager), methods=["POST"]),
        Route("/webhooks/pagerduty", endpoint("pagerduty", pagerduty), methods=["POST"]),
        Route("/webhooks/incident", endpoint("incident", incident), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def run(app: Starlette, host: str, port: int) -> None:
    """Serve `app` with uvicorn until SIGTERM or Ctrl-C (uvicorn finishes the requests in flight,
    the worker threads the jobs they hold).

    After a graceful stop uvicorn raises the signal it caught again, for the handler that was there
    before it: SIGTERM's default would end the process at once, before the command flushes its
    telemetry and closes the store. The handler installed here makes it a normal exit instead
    (status 0), through the callers' `finally` blocks."""
    import signal

    import uvicorn

    def stopped(signum: int, frame: object) -> None:
        raise SystemExit(0)

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stopped) if in_main else None
    try:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
        uvicorn.Server(config).run()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
