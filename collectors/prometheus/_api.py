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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from urllib3.util.retry import Retry

from collectors._http import one_line, parse_retry_after
from collectors.prometheus._samples import Grid
from collectors.prometheus.config import PrometheusConfig
from dossier.errors import CollectorError, SourceAuthError, SourceUnavailable
from dossier.plugin import Recorder

T = TypeVar("T")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def redact_url(url: str) -> str:
    """`url` without user:password@ and without the query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(eq=False)
class RequestFailure(Exception):
    """One request failed (after its retries, once raised out of `PromAPI`)."""

    method: str
    url: str  # without query string
    reason: str  # "HTTP 400: <prometheus' error>" | "connection refused" | ...
    status: int | None = None
    kind: str = "http"  # http | refused | dns | timeout | tls | connection | protocol
    retry_after: float | None = None
    request_id: str | None = None
    attempts: int = 1

    def __str__(self) -> str:
        return self.reason

    @property
    def retryable(self) -> bool:
        if self.status is not None:
            return self.status in RETRY_STATUS
        return self.kind in ("refused", "dns", "timeout", "connection")

    @property
    def auth(self) -> bool:
        return self.status in (401, 403)

    @property
    def unreachable(self) -> bool:
        return self.status is None and self.kind in ("refused", "dns", "timeout", "connection", "tls")

    def detail(self) -> str:
        """The reason, with the attempts when there were retries."""
        return f"{self.reason} (after {self.attempts} attempts)" if self.attempts > 1 else self.reason


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


def _connection_failure(exc: requests.RequestException, timeout: float) -> tuple[str, str]:
    text = str(exc)
    low = text.lower()
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls", f"tls handshake failed: {one_line(text, 160)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", f"no connection within {timeout:g}s (timeout)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout", f"no answer within {timeout:g}s (timeout)"
    if "refused" in low:
        return "refused", "connection refused"
    if any(
        s in low
        for s in (
            "name or service not known",
            "nodename nor servname",
            "name resolution",
            "getaddrinfo failed",
            "no address associated",
        )
    ):
        return "dns", "cannot resolve the host name"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection", f"connection failed: {one_line(text, 160)}"
    return "protocol", f"request failed: {one_line(text, 160)}"


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
        self.session = session
        self.client = PrometheusConnect(
            url=self.base, session=session, retry=Retry(total=0), timeout=config.timeout, method=config.method
        )
        # PrometheusConnect mounts an adapter of its own on `url`: put ours back.
        session.mount(self.client.url, adapter)
        self._backoff = wait_exponential_jitter(max=max(1.0, min(30.0, config.retry_max_delay)), jitter=1)

    # ---- plumbing ------------------------------------------------------------------------

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._tl.response = response

    def close(self) -> None:
        self._stop.set()
        self.session.close()

    def reset(self) -> None:
        """Forget an abort of a previous collection."""
        self.abort_error = None
        self._stop.clear()

    def abort(self, error: CollectorError) -> None:
        """Fail every request from now on with `error` (and cut retry waits short)."""
        if self.abort_error is None:
            self.abort_error = error
        self._stop.set()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RequestFailure) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.config.retries) | stop_before_delay(self.config.retry_max_delay),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, RequestFailure) and e.retryable),
            sleep=self._sleep,
            reraise=True,
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
                kind, reason = _connection_failure(exc, self.config.timeout)
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
            response = self.session.get(self.base + path, params=params, timeout=self.config.timeout)
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
        if failure.auth:
            return SourceAuthError(self.instance, f"{where}: {failure.reason}: {self.credential_hint()}")
        hint = {
            "refused": f"is Prometheus running at {redact_url(self.base)}?",
            "dns": f"check the host name in url {redact_url(self.base)!r}",
            "timeout": "is the server overloaded or the network filtered? raise timeout if it is just slow",
            "tls": "check tls.ca_file / tls.cert_file (or the url's scheme)",
            "connection": f"is Prometheus reachable at {redact_url(self.base)}?",
        }.get(failure.kind)
        if hint is None:
            hint = (
                "server overloaded or down, retry later"
                if (failure.status or 0) >= 500 or failure.status == 429
                else "is url a Prometheus HTTP API?"
            )
        return SourceUnavailable(self.instance, f"{where}: {failure.detail()}: {hint}")

    def credential_hint(self) -> str:
        if self.config.basic_auth:
            return f"check basic_auth (username {self.config.basic_auth.username!r} and its password)"
        if self.config.headers:
            names = ", ".join(sorted(self.config.headers))
            return f"check the credential in headers ({names})"
        return "no credential configured: set headers (e.g. Authorization) or basic_auth"
