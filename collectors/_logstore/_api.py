"""The requests a log-store collector makes: retried, recorded, and mapped to `RequestFailure`.

The client library of each store (`elasticsearch`, `opensearch-py`) sends the requests through a
`Backend`; this module wraps every call the same way:

* the client's own retries are off (`max_retries=0`); the retry policy shared by every
  collector (`collectors._http.retrying`: 408, 429, 5xx, connection errors and timeouts, with
  exponential backoff and jitter, honouring `Retry-After`) allows at most `retries` attempts
  within `retry_max_delay`, and every request stops at the source's total deadline;
* both clients run on `requests` sessions, and a response hook (`Capture`) keeps the last HTTP
  response of the calling thread: its status, headers and the raw body bytes (as received,
  after any gzip decoding), which are hashed into the provenance;
* every attempt, failed or not, is recorded with `Recorder.record`: method, URL (no credentials,
  no query string), the JSON body (plus any query-string parameters) as params, status, SHA-256
  of the raw body, number of items and duration;
* library exceptions never leave: a failed call raises `RequestFailure`.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
from tenacity import Retrying

from collectors._http import (
    DEFAULT_DEADLINE,
    RETRY_STATUS,
    Deadline,
    DeadlinePassed,
    failure_retrying,
    parse_retry_after,
    read_within,
    transport_failure,
)
from collectors._http import RequestFailure as _RequestFailure
from collectors._logstore.config import LogStoreConfig
from collectors._logstore.parse import ErrorBody, error_body, missing_privilege, one_line
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.plugin import Recorder

T = TypeVar("T")

__all__ = ["RETRY_STATUS", "Backend", "Capture", "RequestFailure", "StoreAPI", "redact_url"]


def redact_url(url: str) -> str:
    """`url` without user:password@ and without the query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Capture:
    """The last HTTP response of each thread, as a `requests` response hook sees it."""

    def __init__(self) -> None:
        self._tl = threading.local()
        self.deadline = Deadline(None)  # the source's, set by `StoreAPI`
        self.budget: float | None = None  # each request's whole time, body included: `timeout`

    def install(self, session: requests.Session) -> None:
        session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._tl.response = response
        read_within(response, self.deadline, redact_url(response.url), self.budget)

    def reset(self) -> None:
        self._tl.response = None

    def take(self) -> requests.Response | None:
        response: requests.Response | None = getattr(self._tl, "response", None)
        self._tl.response = None
        return response


class Backend(abc.ABC):
    """One store's client library: the calls the collectors make, and its exception types."""

    product: ClassVar[str]  # "Elasticsearch", "OpenSearch"
    # Exception types of the library, checked in this order.
    timeout_errors: ClassVar[tuple[type[BaseException], ...]]
    tls_errors: ClassVar[tuple[type[BaseException], ...]]
    connection_errors: ClassVar[tuple[type[BaseException], ...]]
    product_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    http_errors: ClassVar[tuple[type[BaseException], ...]]
    protocol_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    # (method, path) of each call, for the provenance of a request that got no response
    PIT_OPEN: ClassVar[tuple[str, str]]
    PIT_CLOSE: ClassVar[tuple[str, str]]
    pit_field: ClassVar[str]  # key of the PIT id in the open answer: "id" | "pit_id"

    def __init__(self, config: LogStoreConfig, capture: Capture) -> None:
        self.config = config
        self.capture = capture

    @abc.abstractmethod
    def info(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def count(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def open_pit(self, index: str, keep_alive: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def search_pit(self, body: dict[str, Any]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def close_pit(self, body: dict[str, Any]) -> dict[str, Any]: ...

    @staticmethod
    @abc.abstractmethod
    def close_pit_body(pit_id: str) -> dict[str, Any]:
        """The body that closes the point in time `pit_id`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""


@dataclass(eq=False)
class RequestFailure(_RequestFailure):
    """One request failed (after its retries, once raised out of `StoreAPI`); `error` is the
    store's own error body when it sent one."""

    error: ErrorBody | None = None

    @property
    def unavailable(self) -> bool:
        """The source as a whole cannot answer now (not this query's fault)."""
        return self.unreachable or self.retryable

    @property
    def index_not_found(self) -> bool:
        return self.status == 404 and self.error is not None and self.error.type == "index_not_found_exception"


def _exception_text(exc: BaseException, depth: int = 0) -> str:
    """The text of an exception and of what caused it: the clients wrap the socket error."""
    parts = [str(exc)]
    if depth < 4:
        inner: list[BaseException] = [e for e in getattr(exc, "errors", ()) or () if isinstance(e, BaseException)]
        inner += [a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]
        inner += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        parts += [_exception_text(e, depth + 1) for e in inner]
    return " | ".join(p for p in parts if p)


def _connection_reason(exc: BaseException, kind: str, timeout: float) -> tuple[str, str]:
    text = str(exc)
    low = _exception_text(exc).lower()
    if kind == "timeout":
        return "timeout", f"no answer within {timeout:g}s (timeout)"
    if kind == "tls":
        return "tls", f"tls handshake failed: {one_line(text, 160)}"
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
    if "timed out" in low or "timeout" in low:
        return "timeout", f"no answer within {timeout:g}s (timeout)"
    return "connection", f"connection failed: {one_line(text, 160)}"


class StoreAPI:
    """The calls of a collection, each retried, recorded and mapped to `RequestFailure`."""

    def __init__(self, config: LogStoreConfig, instance: str, recorder: Recorder, backend: Backend) -> None:
        self.config = config
        self.instance = instance
        self.recorder = recorder
        self.backend = backend
        self.capture = backend.capture
        self.base = redact_url(config.hosts[0])
        self.sleep: Callable[[float], None] = time.sleep
        self.deadline = Deadline(getattr(config, "deadline", DEFAULT_DEADLINE))
        self.capture.deadline = self.deadline
        self.capture.budget = config.timeout

    @property
    def product(self) -> str:
        return self.backend.product

    def close(self) -> None:
        self.backend.close()

    # ---- retries -----------------------------------------------------------------------------

    def _retrying(self) -> Retrying:
        return failure_retrying(
            attempts=self.config.retries,
            max_delay=self.config.retry_max_delay,
            deadline=self.deadline,
            sleep=lambda seconds: self.sleep(seconds),
        )

    # ---- one call ----------------------------------------------------------------------------

    def _classify(self, exc: BaseException) -> str | None:
        b = self.backend
        for kind, types in (
            ("timeout", b.timeout_errors),
            ("tls", b.tls_errors),
            ("connection", b.connection_errors),
            ("product", b.product_errors),
            ("http", b.http_errors),
            ("protocol", b.protocol_errors),
        ):
            if types and isinstance(exc, types):
                return kind
        return None

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        run: Callable[[], dict[str, Any]],
        items: Callable[[dict[str, Any]], int | None] = lambda _: None,
        *,
        retry: bool = True,
    ) -> tuple[dict[str, Any], str]:
        """Run `run` (one HTTP request through the client) with retries; its answer and request id."""
        fallback_url = self.base + path
        attempts = 0

        def attempt() -> tuple[dict[str, Any], str]:
            nonlocal attempts
            try:
                self.deadline.check(f"{method} {fallback_url}")
            except DeadlinePassed as exc:
                raise RequestFailure(
                    method, fallback_url, str(exc).split(": ", 1)[-1], kind="deadline", attempts=max(1, attempts)
                ) from None
            attempts += 1
            self.capture.reset()
            started, t0 = time.time(), time.perf_counter()
            result: dict[str, Any] | None = None
            kind: str | None = None
            cause: BaseException | None = None
            try:
                result = run()
            except Exception as exc:  # narrowed right below: only the library's own types are handled
                kind = self._classify(exc)
                if kind is None and not isinstance(exc, KeyError | TypeError | ValueError):
                    raise
                cause = exc
                kind = kind or "protocol"
            duration = time.perf_counter() - t0
            response = self.capture.take()
            rec_method, rec_url, params = method, fallback_url, dict(body or {})
            if response is not None and response.request is not None and response.request.url:
                rec_method = response.request.method or method
                rec_url = redact_url(response.request.url)
                query = dict(parse_qsl(urlsplit(response.request.url).query, keep_blank_values=True))
                params = {**query, **params}
            status = response.status_code if response is not None else None
            raw = response.content if response is not None else None
            failure: RequestFailure | None = None
            if kind is not None:
                failure = RequestFailure(rec_method, rec_url, "", kind=kind, attempts=attempts)
                if response is not None and status is not None and not 200 <= status < 300:
                    failure.kind = "http"
                    failure.status = status
                    failure.error = error_body(raw)
                    failure.reason = f"HTTP {status}: {failure.error}"
                    failure.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                elif kind == "product":
                    failure.reason = f"the server is not {self.product} (no 'X-Elastic-Product: Elasticsearch' header)"
                elif kind == "protocol":
                    failure.reason = f"unexpected answer: not {self.product}? ({type(cause).__name__})"
                elif kind == "http":
                    failure.reason = f"request failed: {one_line(str(cause), 160)}"
                else:
                    failure.kind, failure.reason = _connection_reason(cause or Exception(), kind, self.config.timeout)
                    shared_kind, shared_reason = transport_failure(cause or Exception(), timeout=self.config.timeout)
                    if shared_kind in ("deadline", "cutoff", "connect_timeout"):
                        failure.kind, failure.reason = shared_kind, shared_reason
            rid = self.recorder.record(
                method=rec_method,
                url=rec_url,
                params=params,
                status=status,
                body=raw,
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

        return self._retrying()(attempt) if retry else attempt()

    # ---- the requests ------------------------------------------------------------------------

    def _index_path(self, suffix: str) -> str:
        return "/" + quote(self.config.index_expr, safe=",*") + suffix

    def info(self) -> tuple[dict[str, Any], str]:
        return self.call("GET", "/", None, self.backend.info)

    def count(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        index = self.config.index_expr
        return self.call(
            "POST", self._index_path("/_count"), body, lambda: self.backend.count(index, body), lambda r: r.get("count")
        )

    def search(self, body: dict[str, Any], items: Callable[[dict[str, Any]], int | None]) -> tuple[dict[str, Any], str]:
        index = self.config.index_expr
        return self.call("POST", self._index_path("/_search"), body, lambda: self.backend.search(index, body), items)

    def open_pit(self, keep_alive: str) -> tuple[str, str]:
        method, suffix = self.backend.PIT_OPEN
        index = self.config.index_expr
        path = self._index_path(suffix)
        answer, rid = self.call(method, path, None, lambda: self.backend.open_pit(index, keep_alive))
        pit_id = answer.get(self.backend.pit_field)
        if not isinstance(pit_id, str) or not pit_id:
            raise RequestFailure(method, self.base + path, f"no point in time id in the answer: not {self.product}?")
        return pit_id, rid

    def search_pit(
        self, body: dict[str, Any], items: Callable[[dict[str, Any]], int | None]
    ) -> tuple[dict[str, Any], str]:
        return self.call("POST", "/_search", body, lambda: self.backend.search_pit(body), items)

    def close_pit(self, pit_id: str) -> str:
        method, path = self.backend.PIT_CLOSE
        # one attempt: a point in time left open expires after its keep_alive anyway
        body = self.backend.close_pit_body(pit_id)
        _, rid = self.call(method, path, body, lambda: self.backend.close_pit(body), retry=False)
        return rid

    # ---- whole-source failures ---------------------------------------------------------------

    def credential_hint(self) -> str:
        cfg = self.config
        if cfg.api_key is not None:
            return "check api_key (valid, not expired or invalidated, for this cluster?)"
        if cfg.basic_auth is not None:
            return f"check basic_auth.username {cfg.basic_auth.username!r} and basic_auth.password"
        if cfg.bearer_token is not None:
            return "check bearer_token (valid, not expired, for this cluster?)"
        return "no credential configured: set api_key, basic_auth or bearer_token"

    def privilege_hint(self, failure: RequestFailure) -> str:
        who = self.config.credential or "the anonymous user"
        missing = missing_privilege(failure.error.reason if failure.error else None)
        if missing:
            return f"the role of {who} lacks the {missing}"
        return f"grant {who} the index privileges read and view_index_metadata on {self.config.index_expr!r}"

    def source_error(self, failure: RequestFailure) -> CollectorError:
        """The `CollectorError` that says why the whole source is unusable."""
        where = failure.where
        known = {"status": failure.status, "kind": failure.kind}
        if failure.status == 401:
            return SourceAuthError(self.instance, f"{where}: {failure.reason}: {self.credential_hint()}", **known)
        if failure.status == 403:
            return SourceAuthError(self.instance, f"{where}: {failure.reason}: {self.privilege_hint(failure)}", **known)
        host = self.base
        hint = {
            "refused": f"is {self.product} running at {host}?",
            "dns": f"check the host name in hosts ({host})",
            "timeout": "is the cluster overloaded or the network filtered? raise timeout if it is just slow",
            "connect_timeout": f"is {host} reachable from here (firewall, VPN)?",
            "deadline": "the cluster was too slow to answer everything in time",
            "cutoff": "the cluster or a proxy cut the answer short, retry later",
            "tls": "check tls.ca_file (or the scheme in hosts)",
            "connection": f"is {self.product} reachable at {host}?",
            "product": "for OpenSearch use the opensearch collector",
            "protocol": f"is {host} an {self.product} cluster?",
        }.get(failure.kind)
        if hint is None:
            if failure.status == 429:
                hint = "the cluster is rejecting requests (queue full or rate limited): retry later or lower page_size"
            elif failure.status is not None and failure.status >= 500:
                hint = "the cluster is overloaded or unhealthy, retry later"
            elif failure.status == 406 and "vnd.elasticsearch" in str(failure.error):
                hint = (
                    "the server does not accept Elasticsearch's media type: for OpenSearch use the opensearch collector"
                )
            elif failure.error and failure.error.type == "media_type_header_exception":
                hint = f"this {self.product} version does not accept the client's API version (see the README)"
            else:
                hint = "the cluster rejected the request"
        if failure.unavailable:
            return SourceUnavailable(self.instance, f"{where}: {failure.detail()}: {hint}", **known)
        return SourceQueryError(self.instance, f"{where}: {failure.detail()}: {hint}", **known)
