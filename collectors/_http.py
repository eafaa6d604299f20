"""Plain-HTTP plumbing for REST sources without a client library (GitHub, GitLab, Argo CD, Jenkins).

    api = HttpApi(base_url, instance=ctx.instance, recorder=ctx.recorder, settings=config.http,
                  headers={"Authorization": f"Bearer {token}"}, credential="token")
    body, response = api.get_json("/repos/acme/shop/deployments", params={"per_page": 100})
    for page in api.pages("/repos/acme/shop/deployments", params={"per_page": 100}):
        ...                                    # one page at a time, following `Link: rel="next"`

What every request gets:

* an explicit timeout, TLS options, and provenance: each attempt is recorded with the
  collector's `Recorder` (URL, params, status, SHA-256 of the body, duration);
* retries with tenacity on connection errors, timeouts, 429 and 5xx, with exponential backoff
  and jitter, honouring `Retry-After` (seconds or an HTTP date) and rate-limit reset headers;
  4xx other than 408/429 are never retried;
* rate limits read from the server's headers (`X-RateLimit-Remaining`/`-Reset` as GitHub sends
  them, `RateLimit-Remaining`/`-Reset` as GitLab does): when the budget is spent, the next request
  waits for the reset if that is within `retry_max_delay`, and otherwise fails as
  `SourceUnavailable` saying when the limit resets, instead of hammering the server;
* errors mapped at this boundary (httpx never leaks out): 401/403 `SourceAuthError` naming the
  credential to check (and the missing scope where the server says which), other 4xx
  `SourceQueryError`, the rest `SourceUnavailable`; messages one line, bodies cut to 200 chars.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar, Generic, TypeVar

import httpx
import requests
import urllib3
from pydantic import Field, SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem
from dossier.plugin import Collector, CollectResult, Duration, PluginConfig, Recorder, RelPath

BODY_LIMIT = 200
DEFAULT_DEADLINE = 600.0  # a source's whole collection, retries included
DEFAULT_CONNECT_TIMEOUT = 10.0


class TlsConfig(PluginConfig):
    ca_file: RelPath | None = Field(default=None, description="CA bundle to verify the server with.")
    insecure_skip_verify: bool = Field(default=False, description="Do not verify the server's certificate.")


class HttpSettings(PluginConfig):
    """Connection settings shared by the HTTP sources."""

    timeout: Duration = Field(default=30.0, gt=0, description="Timeout of each request (each read of its answer).")
    connect_timeout: Duration = Field(
        default=DEFAULT_CONNECT_TIMEOUT, gt=0, description="Longest wait for a connection (at most timeout)."
    )
    deadline: Duration = Field(
        default=DEFAULT_DEADLINE,
        gt=0,
        description="Longest the whole collection from this source may take, retries and waits included.",
    )
    retries: int = Field(default=4, ge=1, le=10, description="Attempts per request (1: no retry).")
    retry_max_delay: Duration = Field(
        default=60.0, description="Longest total wait for retries and for a rate limit to reset."
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS options.")


def one_line(text: str, limit: int = BODY_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After`: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, as RFC 5322 says
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def next_link(response: httpx.Response) -> str | None:
    """The `rel="next"` URL of an RFC 8288 `Link` header (GitHub, GitLab pagination)."""
    return response.links.get("next", {}).get("url")


# ---- the policy every collector shares ------------------------------------------------------
#
# One set of retryable statuses, one retry schedule (tenacity), one total deadline per source,
# one reading of Retry-After and one classification of transport failures, whatever the client
# library underneath (httpx here, requests under prometheus-api-client and the log-store clients,
# urllib3 under the Kubernetes client).

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class DeadlinePassed(Exception):
    """The source's total deadline passed while a request was under way or about to start."""


class Deadline:
    """The total time budget of one source's collection (monotonic clock), shared by its threads.

    It starts at the first request after `restart()` (or construction), so building a collector
    costs nothing. `None` seconds: no deadline.
    """

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._start: float | None = None
        self._lock = threading.Lock()

    def restart(self) -> None:
        with self._lock:
            self._start = None

    def _started(self) -> float:
        with self._lock:
            if self._start is None:
                self._start = self._clock()
            return self._start

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds - (self._clock() - self._started())

    def expired(self) -> bool:
        return self.remaining() <= 0

    def timeout(self, limit: float) -> float:
        """`limit`, cut to what is left of the deadline (never below 1 ms)."""
        return max(0.001, min(limit, self.remaining()))

    def check(self, what: str) -> None:
        if self.expired():
            raise DeadlinePassed(f"{what}: the source's deadline of {self.seconds:g}s passed: raise deadline")


def retrying(
    *,
    attempts: int,
    max_delay: float,
    deadline: Deadline,
    retryable: Callable[[BaseException], bool],
    hinted_wait: Callable[[BaseException], float | None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
    backoff_max: float = 30.0,
) -> Retrying:
    """The one retry schedule: at most `attempts` tries, within `max_delay` of the first and the
    source's `deadline`; exponential backoff with jitter, or the wait the server asked for
    (`Retry-After`, a rate-limit reset). A wait that would end after the deadline is not waited:
    the last failure is raised at once."""
    step = max(0.01, min(1.0, max_delay / 8))  # a short retry_max_delay still leaves room for retries
    backoff = wait_exponential_jitter(multiplier=step, max=max(step, min(backoff_max, max_delay)), jitter=step)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = hinted_wait(exc) if exc is not None else None
        return float(hinted) if hinted is not None else float(backoff(state))

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        upcoming = state.upcoming_sleep
        return state.seconds_since_start + upcoming >= max_delay or upcoming >= deadline.remaining()

    return Retrying(stop=stop, wait=wait, retry=retry_if_exception(retryable), sleep=sleep, reraise=True)


_DNS_TEXTS = (
    "name or service not known",
    "nodename nor servname",
    "name resolution",
    "getaddrinfo failed",
    "no address associated",
    "failed to resolve",
    "name does not resolve",
)


_CUT_OFF = frozenset(
    {"IncompleteRead", "ProtocolError", "RemoteProtocolError", "ChunkedEncodingError", "ContentDecodingError"}
)


def _chain(exc: BaseException, depth: int = 0) -> list[BaseException]:
    """`exc` and what it wraps: the clients wrap the socket error a few levels down."""
    out = [exc]
    if depth < 5:
        inner: list[BaseException] = [e for e in getattr(exc, "errors", ()) or () if isinstance(e, BaseException)]
        inner += [a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(exc, "reason", None)
        if isinstance(reason, BaseException):
            inner.append(reason)
        inner += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        for e in inner:
            out += _chain(e, depth + 1)
    return out


def transport_failure(exc: BaseException, *, timeout: float, connect_timeout: float | None = None) -> tuple[str, str]:
    """(kind, reason) of a request that got no HTTP answer, whichever library raised it.

    kind: refused | dns | connect_timeout | timeout | tls | connection | cutoff | deadline
    """
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    low = " | ".join(str(e) for e in chain).lower()
    if any(isinstance(e, DeadlinePassed) for e in chain):
        limit = next(str(e) for e in chain if isinstance(e, DeadlinePassed))
        return "deadline", f"the answer was still arriving when {limit} passed"
    if "SSLError" in names or "SSLCertVerificationError" in names or "certificate verify failed" in low:
        detail = next((str(e) for e in chain if "SSL" in type(e).__name__), str(exc))
        return "tls", f"tls handshake failed: {one_line(detail, 160)}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in low:
        return "refused", "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(s in low for s in _DNS_TEXTS):
        return "dns", "cannot resolve the host name"
    if names & {"ConnectTimeout", "ConnectTimeoutError"} or "connect timeout" in low:
        return "connect_timeout", f"no connection within {connect_timeout or timeout:g}s (connect timeout)"
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutException", "Timeout", "TimeoutError", "ConnectionTimeout"}:
        return "timeout", f"no answer within {timeout:g}s (timeout)"
    if "timed out" in low or "timeout" in low:
        return "timeout", f"no answer within {timeout:g}s (timeout)"
    if names & {
        "IncompleteRead",
        "ProtocolError",
        "RemoteProtocolError",
        "ChunkedEncodingError",
        "ContentDecodingError",
    }:
        return "cutoff", f"the answer was cut off or garbled: {one_line(str(exc), 160)}"
    return "connection", f"connection failed: {one_line(str(exc), 160) or type(exc).__name__}"


TRANSPORT_RETRYABLE = frozenset({"refused", "dns", "connect_timeout", "timeout", "connection", "cutoff"})


UNREACHABLE = frozenset({"refused", "dns", "connect_timeout", "timeout", "connection", "tls", "deadline"})


@dataclass(eq=False)
class RequestFailure(Exception):
    """One request failed (after its retries), for the collectors built on a client library
    (prometheus-api-client, the log-store clients): what the collector decides from, before it
    maps the failure to a gap or to a `CollectorError`."""

    method: str
    url: str  # without query string or credentials
    reason: str  # "HTTP 503: <the server's error>" | "connection refused" | ...
    status: int | None = None
    kind: str = "http"  # http | product | protocol | aborted, or a transport_failure kind
    retry_after: float | None = None
    request_id: str | None = None
    attempts: int = 1

    def __str__(self) -> str:
        return self.reason

    @property
    def retryable(self) -> bool:
        if self.status is not None:
            return self.status in RETRY_STATUS
        return self.kind in TRANSPORT_RETRYABLE

    @property
    def auth(self) -> bool:
        return self.status in (401, 403)

    @property
    def unreachable(self) -> bool:
        return self.status is None and self.kind in UNREACHABLE

    @property
    def where(self) -> str:
        return f"{self.method} {self.url}"

    def detail(self) -> str:
        """The reason, with the attempts when there were retries."""
        return f"{self.reason} (after {self.attempts} attempts)" if self.attempts > 1 else self.reason


def failure_retrying(
    *, attempts: int, max_delay: float, deadline: Deadline, sleep: Callable[[float], None] = time.sleep
) -> Retrying:
    """`retrying` for `RequestFailure`s: retry what `retryable` says, wait what the server asked."""
    return retrying(
        attempts=attempts,
        max_delay=max_delay,
        deadline=deadline,
        retryable=lambda e: isinstance(e, RequestFailure) and e.retryable,
        hinted_wait=lambda e: e.retry_after if isinstance(e, RequestFailure) else None,
        sleep=sleep,
    )


def is_loopback(url: str) -> bool:
    """Whether `url` points at this machine (127.0.0.0/8, ::1, localhost)."""
    host = (httpx.URL(url).host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tune_session(session: requests.Session, url: str) -> None:
    """On loopback: no gzip (compressing costs more than it saves when nothing crosses a network)
    and no environment lookups per request (requests reads ~/.netrc for every request without
    auth, and the proxy variables, which never apply to loopback)."""
    if is_loopback(url):
        session.headers["Accept-Encoding"] = "identity"
        session.trust_env = False


def read_within(response: requests.Response, deadline: Deadline, what: str, budget: float | None = None) -> None:
    """Read a `requests` response body, failing once the source's deadline passes, or once the
    request has taken `budget` seconds in all when one is given.

    The read timeout bounds each socket read, not the whole body: a server that drips one byte
    a second would otherwise hold the collection for as long as it likes. Used from a response
    hook, which runs before `requests` reads the body itself.
    """
    if response._content_consumed or response.raw is None:
        return
    ends = time.monotonic() + max(0.0, budget - response.elapsed.total_seconds()) if budget is not None else None
    chunks: list[bytes] = []
    try:
        # read1: what has arrived (up to 64 KiB), not "64 KiB or the end", so a drip is seen
        while chunk := response.raw.read1(65536, decode_content=True):
            chunks.append(chunk)
            if deadline.expired() or (ends is not None and time.monotonic() > ends):
                response.close()
                limit = (
                    f"the source's deadline of {deadline.seconds:g}s"
                    if deadline.expired()
                    else f"the request's timeout of {budget:g}s"
                )
                raise requests.exceptions.ReadTimeout(
                    f"{what}: the answer was still arriving when {limit} passed"
                ) from DeadlinePassed(limit)
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True


class _DeadlineStream(httpx.SyncByteStream):
    """An httpx response stream that stops when the source's deadline passes (slow drips)."""

    def __init__(self, inner: httpx.SyncByteStream, deadline: Deadline, request: httpx.Request) -> None:
        self.inner, self.deadline, self.request = inner, deadline, request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            yield chunk
            if self.deadline.expired():
                raise httpx.ReadTimeout(
                    f"the answer was still arriving when the source's deadline of {self.deadline.seconds:g}s passed",
                    request=self.request,
                )

    def close(self) -> None:
        self.inner.close()


@dataclass(slots=True)
class RateLimit:
    """What the server last said about the request budget."""

    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds

    def update(self, headers: httpx.Headers) -> None:
        for prefix in ("x-ratelimit-", "ratelimit-"):
            remaining = headers.get(prefix + "remaining")
            if remaining is None:
                continue
            try:
                reported = int(float(remaining))
                reset = float(headers.get(prefix + "reset", "0"))
            except ValueError:
                return
            # GitHub and GitLab send an epoch time; the IETF draft sends seconds from now.
            reset_at = reset if reset > 1_000_000_000 else time.time() + reset
            same_window = self.reset_at is not None and abs(reset_at - self.reset_at) < 2
            # answers to concurrent requests arrive out of order: within one window, the budget
            # only goes down (requests already reserved locally are not given back)
            if same_window and self.remaining is not None:
                reported = min(reported, self.remaining)
            self.remaining, self.reset_at = reported, reset_at
            return


class _Retry(Exception):
    def __init__(self, error: CollectorError, wait: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class HttpApi:
    """One source's HTTP client: retries, rate limits, provenance, error mapping."""

    def __init__(
        self,
        base_url: str,
        *,
        instance: str,
        recorder: Recorder,
        settings: HttpSettings,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        credential: str = "the credentials",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.instance = instance
        self.recorder = recorder
        self.settings = settings
        self.credential = credential
        self.rate = RateLimit()
        self._lock = threading.Lock()
        self._sleep = sleep
        self.deadline = Deadline(settings.deadline)
        tls = settings.tls
        verify: bool | str = str(tls.ca_file) if tls.ca_file else not tls.insecure_skip_verify
        loopback = is_loopback(self.base_url)
        extra = {"Accept-Encoding": "identity"} if loopback else {}
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"User-Agent": "dossier", **extra, **(headers or {})},
            auth=auth,
            timeout=self._timeout(settings.timeout),
            verify=verify,
            transport=transport,
            follow_redirects=True,
            trust_env=not loopback,
        )

    def _timeout(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=min(self.settings.connect_timeout, read))

    def close(self) -> None:
        self.client.close()

    # -- requests

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Response, str]:
        """GET and decode JSON; returns (body, response, request id)."""
        response, rid = self.request("GET", path, params=params)
        try:
            return response.json(), response, rid
        except ValueError:
            raise SourceUnavailable(
                self.instance,
                f"GET {self._url(path)}: the answer is not JSON: {one_line(response.text)!r}",
                status=response.status_code,
                kind="protocol",
            ) from None

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, max_pages: int | None = None
    ) -> Iterator[tuple[Any, httpx.Response, str]]:
        """Each page in turn (never more than one in memory), following `Link: rel="next"`."""
        url: str | None = path
        query: Mapping[str, Any] | None = params
        n = 0
        while url is not None and (max_pages is None or n < max_pages):
            body, response, rid = self.get_json(url, query)
            yield body, response, rid
            url, query, n = next_link(response), None, n + 1

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, str]:
        started = time.monotonic()
        retrying_ = retrying(
            attempts=self.settings.retries,
            max_delay=self.settings.retry_max_delay,
            deadline=self.deadline,
            retryable=lambda e: isinstance(e, _Retry),
            hinted_wait=lambda e: e.wait if isinstance(e, _Retry) else None,
            sleep=self._sleep,
        )
        try:
            for attempt in retrying_:
                with attempt:
                    self._check_deadline(method, path)
                    self._respect_rate_limit(started + self.settings.retry_max_delay)
                    return self._once(method, path, **kwargs)
        except _Retry as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def _check_deadline(self, method: str, path: str) -> None:
        try:
            self.deadline.check(f"{method} {self._url(path)}")
        except DeadlinePassed as exc:
            raise SourceUnavailable(self.instance, str(exc), kind="deadline") from None

    def _respect_rate_limit(self, deadline: float) -> None:
        """Spend one request of the budget the server announced, or wait for its reset.

        The budget is taken under the lock, so threads sharing this client never overshoot it.
        """
        with self._lock:
            remaining, reset_at = self.rate.remaining, self.rate.reset_at
            if remaining is None or reset_at is None or remaining > 0 or reset_at <= time.time():
                if remaining:
                    self.rate.remaining = remaining - 1
                return
            wait = reset_at - time.time()
        if time.monotonic() + wait > deadline or wait >= self.deadline.remaining():
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset_at))
            raise SourceUnavailable(
                self.instance,
                f"{self.base_url}: rate limit spent, it resets at {when}: run again later or raise retry_max_delay",
            )
        self._sleep(wait + 0.5)

    def _once(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, str]:
        url = self._url(path)
        params = dict(kwargs.get("params") or {})
        started = time.time()
        t0 = time.monotonic()
        timeout = self.deadline.timeout(self.settings.timeout)
        try:
            request = self.client.build_request(method, path, timeout=self._timeout(timeout), **kwargs)
            response = self.client.send(request, stream=True)
            try:
                response.stream = _DeadlineStream(response.stream, self.deadline, request)  # type: ignore[arg-type]
                response.read()
            finally:
                response.close()
        except httpx.HTTPError as exc:
            kind, reason = transport_failure(
                exc, timeout=self.settings.timeout, connect_timeout=self.settings.connect_timeout
            )
            if isinstance(exc, httpx.ReadTimeout) and "deadline" in str(exc):
                kind, reason = "deadline", f"{exc}: raise deadline"
            elif kind == "timeout":
                reason = f"no answer within {self.settings.timeout:g}s"
            self._record(method, url, params, None, None, started, t0, reason)
            error = SourceUnavailable(self.instance, f"{method} {url}: {reason}", kind=kind)
            if kind == "tls":
                raise SourceUnavailable(
                    self.instance, f"{method} {url}: {reason}: check tls.ca_file", kind=kind
                ) from None
            if kind == "deadline":
                raise error from None
            raise _Retry(error, None) from exc
        with self._lock:
            self.rate.update(response.headers)
        status = response.status_code
        rid = self._record(
            method, str(response.url), params, status, response.content, started, t0, None if status < 400 else "error"
        )
        if status < 400:
            return response, rid
        raise self._error(method, url, response)

    def _record(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any],
        status: int | None,
        body: bytes | None,
        started: float,
        t0: float,
        error: str | None,
    ) -> str:
        return self.recorder.record(
            method=method,
            url=url.split("?")[0],
            params=params or dict(httpx.URL(url).params),
            status=status,
            body=body,
            started=started,
            duration=time.monotonic() - t0,
            error=error,
        )

    def _message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return one_line(response.text)
        if isinstance(body, Mapping):
            for key in ("message", "error", "error_description", "detail"):
                if isinstance(body.get(key), str):
                    return one_line(body[key])
        return one_line(json.dumps(body))

    def _error(self, method: str, url: str, response: httpx.Response) -> Exception:
        status = response.status_code
        what = f"{method} {url}: HTTP {status}"
        message = self._message(response)
        headers = response.headers
        limited = headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()
        if status == 429 or (status == 403 and limited):
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None and self.rate.reset_at is not None:
                wait = max(0.0, self.rate.reset_at - time.time())
            return _Retry(SourceUnavailable(self.instance, f"{what}: rate limited: {message}", status=status), wait)
        if status in RETRY_STATUS:
            return _Retry(
                SourceUnavailable(self.instance, f"{what}: {message or 'server error'}", status=status),
                parse_retry_after(headers.get("retry-after")),
            )
        if status == 401:
            return SourceAuthError(self.instance, f"{what}: not authenticated: check {self.credential}", status=status)
        if status == 403:
            needed = headers.get("x-accepted-oauth-scopes") or headers.get("x-accepted-github-permissions")
            have = headers.get("x-oauth-scopes")
            hint = f"the token needs {needed!r}" + (f" (it has {have!r})" if have is not None else "") if needed else ""
            return SourceAuthError(
                self.instance,
                f"{what}: forbidden: {message}: " + (hint or f"check the permissions of {self.credential}"),
                status=status,
            )
        return SourceQueryError(self.instance, f"{what}: {message or 'rejected'}", status=status)


def token_from(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


# ---- the skeleton of the REST change sources (github, gitlab, argocd, jenkins) ----------------

ConfigT = TypeVar("ConfigT", bound=PluginConfig)
TargetT = TypeVar("TargetT")
OutcomeT = TypeVar("OutcomeT")


@dataclass
class TargetOutcome:
    """What one target (an application, a job) gave: its events and problems, or the error that
    kept it from being read at all, and why its result is incomplete."""

    events: list[Event] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    error: CollectorError | None = None  # the target could not be read at all
    truncated: bool = False
    truncated_reasons: list[str] = field(default_factory=list)  # why, when `truncated`

    def truncate(self, reason: str) -> None:
        self.truncated = True
        self.truncated_reasons.append(reason)


def merged(outcomes: Sequence[TargetOutcome]) -> CollectResult:
    """The targets' outcomes as one result, events in time order."""
    result = CollectResult()
    for outcome in outcomes:
        result.events.extend(outcome.events)
        result.problems.extend(outcome.problems)
        for reason in outcome.truncated_reasons:
            result.truncate(reason)
    result.events.sort(key=lambda e: (e.at, e.id))
    return result


class RestSource(Collector[ConfigT], Generic[ConfigT]):
    """What the REST change sources share: one `HttpApi` (made on first use, closed with the
    collector, so every request of the source goes through the same retries, rate limit and
    deadline) and their targets read on a bounded pool. A subclass says how to make its API."""

    concurrency: ClassVar[int] = 4  # targets read at once
    _api: Any = None

    def make_api(self) -> HttpApi:
        raise NotImplementedError

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self.make_api()
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def read_all(self, targets: Sequence[TargetT], read: Callable[[TargetT], OutcomeT]) -> list[OutcomeT]:
        """`read` of each target, in order, `concurrency` at a time; the first exception (a 401:
        nothing else will work either) cancels the rest."""
        if len(targets) == 1:
            return [read(targets[0])]
        _ = self.api  # made once, before the threads share it
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(targets)))) as pool:
            futures = [pool.submit(read, t) for t in targets]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
