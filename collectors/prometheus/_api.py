"""HTTP plumbing of the `prometheus` collector: session, retries, provenance, error mapping.

prometheus-api-client does the querying, on a `requests.Session` built here:

* one `HTTPAdapter` (pool of `concurrency` connections, `Retry(total=0)`): tenacity owns retries;
* TLS, headers and basic auth set on the session, and an explicit timeout on every call;
* a response hook that stores the last response of the calling thread (the hook runs in the
  thread that made the request), because the client only reports a status inside an
  exception message. That response decides retry or not and is recorded as provenance.

Every attempt, failed or not, is recorded with `Recorder.record`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from tenacity import Retrying
from urllib3.util.retry import Retry

from collectors._http import (
    RETRY_STATUS,
    Deadline,
    DeadlinePassed,
    RequestFailure,
    failure_retrying,
    one_line,
    parse_retry_after,
    read_within,
    transport_failure,
    tune_session,
)
from collectors.prometheus._samples import Grid
from collectors.prometheus.config import PrometheusConfig
from dossier.errors import CollectorError, SourceAuthError, SourceUnavailable
from dossier.plugin import Recorder

T = TypeVar("T")

__all__ = ["RETRY_STATUS", "PromAPI", "RequestFailure", "redact_url"]


def redact_url(url: str) -> str:
    """`url` without user:password@ and without the query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _prometheus_error(body: bytes) -> str:
    """Prometheus' own `error` text from a JSON error body, else the (truncated) body."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and doc.get("error"):
        return one_line(str(doc["error"]))
    text = body.decode("utf-8", "replace") if body else ""
    return one_line(text) or "empty body"


class PromAPI:
    """The requests the collector makes, each retried, recorded and mapped to `RequestFailure`."""

    def __init__(self, config: PrometheusConfig, instance: str, recorder: Recorder) -> None:
        self.config = config
        self.instance = instance
        self.recorder = recorder
        self.base = config.url
        self._tl = threading.local()
        self._stop = threading.Event()
        self.abort_error: CollectorError | None = None
        self.deadline = Deadline(config.deadline)
        self.timeouts = (min(config.connect_timeout, config.timeout), config.timeout)

        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=config.concurrency, max_retries=Retry(total=0))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        tls = config.tls
        session.verify = str(tls.ca_file) if tls.ca_file else not tls.insecure_skip_verify
        if tls.cert_file:
            session.cert = (str(tls.cert_file), str(tls.key_file)) if tls.key_file else str(tls.cert_file)
        session.headers.update({k: v.get_secret_value() for k, v in config.headers.items()})
        if config.basic_auth:
            session.auth = (config.basic_auth.username, config.basic_auth.password.get_secret_value())
        session.hooks["response"].append(self._observe)
        tune_session(session, config.url)
        self.session = session
        self.client = PrometheusConnect(
            url=self.base, session=session, retry=Retry(total=0), timeout=self.timeouts, method=config.method
        )
        # PrometheusConnect mounts an adapter of its own on `url`: put ours back.
        session.mount(self.client.url, adapter)

    # ---- plumbing ------------------------------------------------------------------------

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._tl.response = response
        read_within(response, self.deadline, redact_url(response.url))

    def close(self) -> None:
        self._stop.set()
        self.session.close()

    def reset(self) -> None:
        """Forget an abort of a previous collection."""
        self.abort_error = None
        self._stop.clear()
        self.deadline.restart()

    def abort(self, error: CollectorError) -> None:
        """Fail every request from now on with `error` (and cut retry waits short)."""
        if self.abort_error is None:
            self.abort_error = error
        self._stop.set()

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _retrying(self) -> Retrying:
        return failure_retrying(
            attempts=self.config.retries,
            max_delay=self.config.retry_max_delay,
            deadline=self.deadline,
            sleep=self._sleep,
        )

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any],
        run: Callable[[], T],
        items: Callable[[T], int | None],
    ) -> tuple[T, str]:
        """Run `run` (one HTTP request) with retries; return its result and the request id."""
        url = self.base + path
        attempts = 0

        def attempt() -> tuple[T, str]:
            nonlocal attempts
            if self.abort_error is not None:
                raise type(self.abort_error)(self.instance, str(self.abort_error))
            try:
                self.deadline.check(f"{method} {redact_url(url)}")
            except DeadlinePassed as exc:
                raise RequestFailure(
                    method, redact_url(url), str(exc).split(": ", 1)[-1], kind="deadline", attempts=max(1, attempts)
                ) from None
            attempts += 1
            self._tl.response = None
            started, t0 = time.time(), time.perf_counter()
            failure: RequestFailure | None = None
            result: T | None = None
            cause: BaseException | None = None
            try:
                result = run()
            except PrometheusApiClientException as exc:  # non-200: the status is in the response
                cause = exc
                failure = RequestFailure(method, redact_url(url), "", kind="http")
            except requests.exceptions.JSONDecodeError as exc:
                cause = exc
                failure = RequestFailure(
                    method, redact_url(url), "answer is not JSON: not a Prometheus API?", kind="protocol"
                )
            except requests.RequestException as exc:
                cause = exc
                kind, reason = transport_failure(exc, timeout=self.config.timeout, connect_timeout=self.timeouts[0])
                failure = RequestFailure(method, redact_url(url), reason, kind=kind)
            except (KeyError, TypeError, ValueError) as exc:
                cause = exc
                failure = RequestFailure(
                    method, redact_url(url), "unexpected answer: not a Prometheus API?", kind="protocol"
                )
            duration = time.perf_counter() - t0
            response: requests.Response | None = self._tl.response
            self._tl.response = None
            rec_method, rec_url, rec_params = method, redact_url(url), dict(params)
            prepared = response.request if response is not None else getattr(cause, "request", None)
            if prepared is not None and prepared.url:
                rec_method = prepared.method or method
                rec_url = redact_url(prepared.url)
                rec_params = dict(parse_qsl(urlsplit(prepared.url).query, keep_blank_values=True)) or rec_params
            status = response.status_code if response is not None else None
            body = response.content if response is not None else None
            if failure is not None and response is not None and status != 200:
                failure.status = status
                failure.kind = "http"
                failure.reason = f"HTTP {status}: {_prometheus_error(body or b'')}"
                failure.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if failure is not None:
                failure.attempts = attempts
            rid = self.recorder.record(
                method=rec_method,
                url=rec_url,
                params=rec_params,
                status=status,
                body=body,
                items=None if failure is not None or result is None else items(result),
                started=started,
                duration=duration,
                error=failure.reason if failure is not None else None,
            )
            if failure is not None:
                failure.request_id = rid
                raise failure from None
            assert result is not None
            return result, rid

        return self._retrying()(attempt)

    def _timeouts(self) -> tuple[float, float]:
        connect, read = self.timeouts
        return self.deadline.timeout(connect), self.deadline.timeout(read)

    # ---- requests ------------------------------------------------------------------------

    def query_range(self, query: str, grid: Grid) -> tuple[list[dict], str]:
        start, end = datetime.fromtimestamp(grid.start, UTC), datetime.fromtimestamp(grid.end, UTC)
        step = f"{grid.step:g}s"
        params = {"query": query, "start": round(grid.start), "end": round(grid.end), "step": step}
        return self._call(
            self.config.method,
            "/api/v1/query_range",
            params,
            lambda: self.client.custom_query_range(query, start_time=start, end_time=end, step=step),
            len,
        )

    def query(self, query: str, at: float) -> tuple[list[dict], str]:
        params = {"query": query, "time": f"{at:.3f}"}
        return self._call(
            self.config.method,
            "/api/v1/query",
            params,
            lambda: self.client.custom_query(query, params={"time": f"{at:.3f}"}),
            len,
        )

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, items: Callable[[Any], int | None] = lambda _: None
    ) -> tuple[Any, str]:
        """GET an API path with no client method (rules, buildinfo) on the same session."""
        params = dict(params or {})

        def run() -> Any:
            response = self.session.get(self.base + path, params=params, timeout=self._timeouts())
            if response.status_code != 200:
                raise PrometheusApiClientException(f"HTTP Status Code {response.status_code}")
            doc = response.json()
            if not isinstance(doc, dict) or doc.get("status") != "success":
                raise ValueError("not a success envelope")
            return doc.get("data")

        return self._call("GET", path, params, run, items)

    # ---- whole-source failures -----------------------------------------------------------

    def source_error(self, failure: RequestFailure) -> CollectorError:
        """The `CollectorError` for a failure that means the whole source is unusable."""
        where = f"{failure.method} {failure.url}"
        known = {"status": failure.status, "kind": failure.kind}
        if failure.auth:
            return SourceAuthError(self.instance, f"{where}: {failure.reason}: {self.credential_hint()}", **known)
        hint = {
            "refused": f"is Prometheus running at {redact_url(self.base)}?",
            "dns": f"check the host name in url {redact_url(self.base)!r}",
            "connect_timeout": f"is {redact_url(self.base)} reachable from here (firewall, VPN)?",
            "timeout": "is the server overloaded or the network filtered? raise timeout if it is just slow",
            "deadline": "the source was too slow to answer everything in time",
            "cutoff": "the server or a proxy cut the answer short, retry later",
            "tls": "check tls.ca_file / tls.cert_file (or the url's scheme)",
            "connection": f"is Prometheus reachable at {redact_url(self.base)}?",
        }.get(failure.kind)
        if hint is None:
            hint = (
                "server overloaded or down, retry later"
                if (failure.status or 0) >= 500 or failure.status == 429
                else "is url a Prometheus HTTP API?"
            )
        return SourceUnavailable(self.instance, f"{where}: {failure.detail()}: {hint}", **known)

    def credential_hint(self) -> str:
        if self.config.basic_auth:
            return f"check basic_auth (username {self.config.basic_auth.username!r} and its password)"
        if self.config.headers:
            names = ", ".join(sorted(self.config.headers))
            return f"check the credential in headers ({names})"
        return "no credential configured: set headers (e.g. Authorization) or basic_auth"
