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
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx
from pydantic import Field, SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.plugin import Duration, PluginConfig, Recorder, RelPath

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
BODY_LIMIT = 200


class TlsConfig(PluginConfig):
    ca_file: RelPath | None = Field(default=None, description="CA bundle to verify the server with.")
    insecure_skip_verify: bool = Field(default=False, description="Do not verify the server's certificate.")


class HttpSettings(PluginConfig):
    """Connection settings shared by the HTTP sources."""

    timeout: Duration = Field(default=30.0, gt=0, description="Timeout of each request.")
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
        tls = settings.tls
        verify: bool | str = str(tls.ca_file) if tls.ca_file else not tls.insecure_skip_verify
        self.client = httpx.Client(
            base_url=self.base_url,
            headers={"User-Agent": "dossier", **(headers or {})},
            auth=auth,
            timeout=settings.timeout,
            verify=verify,
            transport=transport,
            follow_redirects=True,
        )

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
                self.instance, f"GET {self._url(path)}: the answer is not JSON: {one_line(response.text)!r}"
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
        deadline = time.monotonic() + self.settings.retry_max_delay

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hinted = exc.wait if isinstance(exc, _Retry) else None
            backoff = wait_exponential_jitter(max=30, jitter=1)(state)
            return max(hinted or 0.0, backoff if hinted is None else 0.0)

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries) | stop_before_delay(self.settings.retry_max_delay),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Retry)),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._respect_rate_limit(deadline)
                    return self._once(method, path, **kwargs)
        except _Retry as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

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
        if time.monotonic() + wait > deadline:
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
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            self._record(method, url, params, None, None, started, t0, f"timeout: {exc}")
            raise _Retry(
                SourceUnavailable(self.instance, f"{method} {url}: no answer within {self.settings.timeout:g}s"), None
            ) from exc
        except httpx.HTTPError as exc:
            self._record(method, url, params, None, None, started, t0, str(exc))
            raise _Retry(
                SourceUnavailable(self.instance, f"{method} {url}: {one_line(str(exc)) or type(exc).__name__}"), None
            ) from exc
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
            return _Retry(SourceUnavailable(self.instance, f"{what}: rate limited: {message}"), wait)
        if status in RETRY_STATUS:
            return _Retry(
                SourceUnavailable(self.instance, f"{what}: {message or 'server error'}"),
                parse_retry_after(headers.get("retry-after")),
            )
        if status == 401:
            return SourceAuthError(self.instance, f"{what}: not authenticated: check {self.credential}")
        if status == 403:
            needed = headers.get("x-accepted-oauth-scopes") or headers.get("x-accepted-github-permissions")
            have = headers.get("x-oauth-scopes")
            hint = f"the token needs {needed!r}" + (f" (it has {have!r})" if have is not None else "") if needed else ""
            return SourceAuthError(
                self.instance,
                f"{what}: forbidden: {message}: " + (hint or f"check the permissions of {self.credential}"),
            )
        return SourceQueryError(self.instance, f"{what}: {message or 'rejected'}")


def token_from(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
