"""collectors._http: retries, Retry-After, rate limits, pagination, error mapping."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from collectors._http import HttpApi, HttpSettings
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.plugin import Recorder


def api(handler, *, retries=4, retry_max_delay=60.0, credential="token"):
    slept: list[float] = []
    a = HttpApi(
        "https://api.example.com",
        instance="github/test",
        recorder=Recorder("github/test"),
        settings=HttpSettings(retries=retries, retry_max_delay=retry_max_delay),
        credential=credential,
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
    )
    return a, slept


def test_503_then_ok_is_retried_and_every_attempt_recorded():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, json={"message": "busy"}) if len(calls) < 3 else httpx.Response(200, json=[1])

    a, slept = api(handler)
    body, _, rid = a.get_json("/x")
    assert body == [1] and len(calls) == 3 and len(slept) == 2
    statuses = [r.status for r in a.recorder.requests]
    assert statuses == [503, 503, 200]
    assert rid == a.recorder.requests[-1].id


def test_retry_after_is_honoured():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})
        return httpx.Response(200, json={})

    a, slept = api(handler)
    a.get_json("/x")
    assert slept == [7.0]


def test_400_is_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(422, json={"message": "Validation Failed"})

    a, _ = api(handler)
    with pytest.raises(SourceQueryError, match="HTTP 422: Validation Failed"):
        a.get_json("/x")
    assert len(calls) == 1


def test_spent_rate_limit_waits_for_the_reset_then_goes_on():
    reset = int(time.time()) + 5
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})

    a, slept = api(handler)
    a.get_json("/a")
    a.get_json("/b")
    assert len(calls) == 2 and len(slept) == 1 and 4 <= slept[0] <= 6.5


def test_rate_limit_resetting_too_late_fails_without_a_request():
    reset = int(time.time()) + 3600
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={}, headers={"RateLimit-Remaining": "0", "RateLimit-Reset": str(reset)})

    a, slept = api(handler, retry_max_delay=30)
    a.get_json("/a")
    with pytest.raises(SourceUnavailable, match="rate limit spent, it resets at"):
        a.get_json("/b")
    assert len(calls) == 1 and slept == []


def test_secondary_rate_limit_403_is_retried():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(
                403, headers={"Retry-After": "2"}, json={"message": "You have exceeded a secondary rate limit"}
            )
        return httpx.Response(200, json={})

    a, slept = api(handler)
    a.get_json("/x")
    assert slept == [2.0]


def test_401_names_the_credential_and_403_the_missing_scope():
    a, _ = api(lambda r: httpx.Response(401, json={"message": "Bad credentials"}), credential="token (GITHUB_TOKEN)")
    with pytest.raises(SourceAuthError, match=r"check token \(GITHUB_TOKEN\)"):
        a.get_json("/x")
    a, _ = api(
        lambda r: httpx.Response(
            403,
            json={"message": "Resource not accessible by integration"},
            headers={"X-Accepted-OAuth-Scopes": "repo", "X-OAuth-Scopes": "read:org"},
        )
    )
    with pytest.raises(SourceAuthError, match=r"the token needs 'repo' \(it has 'read:org'\)"):
        a.get_json("/x")


def test_pages_follow_the_link_header_one_at_a_time():
    def handler(request):
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page < 3:
            headers["Link"] = f'<https://api.example.com/items?page={page + 1}>; rel="next"'
        return httpx.Response(200, json=[page], headers=headers)

    a, _ = api(handler)
    assert [body for body, _, _ in a.pages("/items", {"page": 1})] == [[1], [2], [3]]


def test_connection_errors_become_source_unavailable():
    def handler(request):
        raise httpx.ConnectError("connection refused")

    a, slept = api(handler, retries=2)
    with pytest.raises(SourceUnavailable, match="connection refused"):
        a.get_json("/x")
    assert len(slept) == 1
    logging.getLogger(__name__).debug("done")


def test_threads_sharing_a_client_never_overshoot_the_budget():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    state = {"left": 5, "refused": 0}
    reset = int(time.time()) + 3600

    def handler(request):
        with lock:
            if state["left"] <= 0:
                state["refused"] += 1
                return httpx.Response(
                    403,
                    json={"message": "API rate limit exceeded"},
                    headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
                )
            state["left"] -= 1
            left = state["left"]
        time.sleep(0.01)
        return httpx.Response(
            200, json={}, headers={"X-RateLimit-Remaining": str(left), "X-RateLimit-Reset": str(reset)}
        )

    a, _ = api(handler, retry_max_delay=1)
    a.get_json("/first")  # learn the budget

    def one(i):
        try:
            a.get_json(f"/x{i}")
            return True
        except SourceUnavailable:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(20)))
    assert sum(results) == 4 and state["refused"] == 0
