"""The `jenkins` collector against the stand-in Jenkins (tests/standins/jenkins.py)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from collectors.jenkins import JenkinsCollector, JenkinsConfig
from collectors.jenkins._api import JenkinsApi
from correlate import draft
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import CorrelateSettings, Evidence, Incident, Series, ServiceInfo, SourceReport, stable_id
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.jenkins import DEFAULT_TOKEN, DEFAULT_USER, Jenkins, build

INSTANCE = "jenkins/ci"
SERVICES = (
    ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
    ServiceInfo("payments", aliases=("payments-prod", "pay")),
)
FIELDS = (
    "number,url,result,timestamp,duration,building,displayName,description,"
    "actions[parameters[name,value],causes[shortDescription,userId,userName]],"
    "changeSets[items[commitId,msg,author[fullName]]]"
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request(start: str = "2026-11-20T08:00:00Z", end: str = "2026-11-20T12:00:00Z") -> CollectRequest:
    incident = Incident(
        "INC-2041", "Checkout returns 500s", t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"), ("checkout",)
    )
    return CollectRequest(incident=incident, start=t(start), end=t(end), services=SERVICES)


_OPEN: list[JenkinsCollector] = []


@pytest.fixture
def ci() -> Iterator[Jenkins]:
    with Jenkins() as server:
        yield server
        while _OPEN:
            _OPEN.pop().close()


def make_collector(ci: Jenkins, jobs: list[Any], **config: Any) -> JenkinsCollector:
    data = {
        "url": ci.url,
        "username": DEFAULT_USER,
        "api_token": DEFAULT_TOKEN,
        "http": {"retries": 2, "timeout": "5s"},
        "jobs": jobs,
        **config,
    }
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    collector = JenkinsCollector(JenkinsConfig.model_validate(data), ctx)
    _OPEN.append(collector)
    return collector


def payments_builds() -> list[dict[str, Any]]:
    return [
        build(410, "2026-11-20T07:30:00Z", 80, parameters={"VERSION": "v2.13.1", "ENVIRONMENT": "prod"}),
        build(
            411,
            "2026-11-20T08:40:00Z",
            85,
            parameters={"VERSION": "v2.13.2", "ENVIRONMENT": "prod", "DRY_RUN": False},
            commits=[("a1b2c3d", "Bump client", "Alice")],
        ),
        build(
            412,
            "2026-11-20T09:53:00Z",
            95,
            parameters={"VERSION": "v2.14.0", "ENVIRONMENT": "prod", "ROLLBACK": False},
            commits=[("4f5e6d7", "Pool size 50 -> 5", "Bob"), ("8a9b0c1", "Retry on timeout", "Bob")],
        ),
        build(
            413,
            "2026-11-20T10:38:00Z",
            70,
            parameters={"VERSION": "v2.13.2", "ENVIRONMENT": "prod", "ROLLBACK": True},
            user="carol",
        ),
        build(414, "2026-11-20T11:59:00Z", building=True, parameters={"VERSION": "v2.14.1", "ENVIRONMENT": "prod"}),
    ]


# ---- what is collected ------------------------------------------------------------------------


def test_builds_in_the_window_become_change_events(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    collector = make_collector(ci, [{"job": "deploy/payments-prod", "parameters": ["VERSION", "ENVIRONMENT"]}])

    result = collector.collect(make_request())

    assert result.problems == [] and not result.truncated
    assert [(e.kind, e.title) for e in result.events] == [
        ("deploy", "payments-prod #411 SUCCESS (VERSION=v2.13.2)"),
        ("deploy", "payments-prod #412 SUCCESS (VERSION=v2.14.0)"),
        ("rollback", "payments-prod #413 SUCCESS (VERSION=v2.13.2)"),
        ("deploy", "payments-prod #414 BUILDING (VERSION=v2.14.1)"),
    ]
    first, deploy, rollback, running = result.events
    url = f"{ci.url}/job/deploy/job/payments-prod/412/"
    assert deploy.at == t("2026-11-20T09:54:35Z")  # timestamp + duration: when the deploy was done
    assert deploy.service == "payments"  # the job's own name is an alias of payments
    assert deploy.link == url
    assert deploy.id == stable_id(INSTANCE, "deploy/payments-prod#412")
    assert dict(deploy.attrs) == {
        "id": "deploy/payments-prod#412",
        "job": "deploy/payments-prod",
        "build": "412",
        "result": "SUCCESS",
        "status": "succeeded",
        "parameters": {"VERSION": "v2.14.0", "ENVIRONMENT": "prod"},  # only the configured ones
        "causes": ["Started by user Alice"],
        "commits": "2",
        "version": "v2.14.0",
        "started_at": "2026-11-20T09:53:00Z",
        "duration": "95",
        "service_mapped": "true",
        "raw_service": "payments-prod",
        "url": url,
    }
    assert first.attrs["commits"] == "1"
    # ROLLBACK=true: a rollback, to the version it deployed
    assert rollback.attrs["rolled_back_to"] == "v2.13.2"
    assert rollback.attrs["causes"] == ["Started by user Carol"]
    # still running: placed at its start
    assert running.at == t("2026-11-20T11:59:00Z")
    assert running.attrs["status"] == "building" and running.attrs["result"] == "BUILDING"
    assert "duration" not in running.attrs

    # one request, for the newest 100 builds; every event points at it
    (req,) = ci.requests
    assert req.path == "/job/deploy/job/payments-prod/api/json"
    assert req.param("tree") == f"builds[{FIELDS}]{{0,100}}"
    assert req.headers["authorization"].startswith("Basic ")
    (recorded,) = collector.ctx.recorder.requests
    assert {e.request for e in result.events} == {recorded.id}
    assert recorded.params == {"tree": f"builds[{FIELDS}]{{0,100}}"}


def test_job_options_kind_service_and_unmapped_jobs(ci: Jenkins) -> None:
    ci.add_job("ops/flags-prod", [build(7, "2026-11-20T09:00:00Z", 10, parameters={"IMAGE_TAG": "2026.11.20"})])
    ci.add_job("search-prod", [build(3, "2026-11-20T09:10:00Z", 30, parameters={"TAG": "r42"})])
    ci.add_job("deploy/web", [build(9, "2026-11-20T09:20:00Z", 30, parameters={"version": "1.2.3"})])
    collector = make_collector(
        ci,
        [
            {"job": "ops/flags-prod", "service": "checkout-api", "kind": "config_change"},
            "search-prod",
            {"job": "deploy/web", "service": "checkout"},
        ],
    )
    flags, search, web = collector.collect(make_request()).events

    assert flags.kind == "config_change" and flags.service == "checkout"
    assert flags.attrs["raw_service"] == "checkout-api" and flags.attrs["service_mapped"] == "true"
    assert flags.title == "flags-prod #7 SUCCESS (IMAGE_TAG=2026.11.20)" and flags.attrs["parameters"] == {}
    # a job for no known service is kept, under its own name
    assert search.service == "search-prod" and search.attrs["service_mapped"] == "false"
    assert search.attrs["version"] == "r42"
    assert web.attrs["version"] == "1.2.3"  # parameter names compared ignoring case
    assert "/job/search-prod/api/json" in {r.path for r in ci.requests}


def test_rollback_said_by_the_build_name_or_description(ci: Jenkins) -> None:
    ci.add_job(
        "deploy/payments-prod",
        [
            build(20, "2026-11-20T09:00:00Z", 10, display_name="Rollback to v2.13.2"),
            build(21, "2026-11-20T09:10:00Z", 10, description="roll-back after INC-2040"),
            build(22, "2026-11-20T09:20:00Z", 10, parameters={"ROLLBACK": "true"}),
            build(23, "2026-11-20T09:30:00Z", 10, parameters={"rollback": "no"}, description="Rolling out v2"),
        ],
    )
    events = make_collector(ci, ["deploy/payments-prod"]).collect(make_request()).events
    assert [e.kind for e in events] == ["rollback", "rollback", "rollback", "deploy"]
    assert events[0].attrs["display_name"] == "Rollback to v2.13.2"
    assert events[1].attrs["description"] == "roll-back after INC-2040"


def test_older_builds_are_paged_with_all_builds_ranges(ci: Jenkins) -> None:
    end = t("2026-11-20T12:00:00Z")
    builds = [build(n, end - timedelta(minutes=2 * (260 - n)), 30) for n in range(1, 261)]  # #260 at 12:00
    ci.add_job("deploy/payments-prod", builds)
    collector = make_collector(ci, ["deploy/payments-prod"])

    result = collector.collect(make_request(start="2026-11-20T04:00:00Z"))

    # the window reaches back to #20 (04:00:30 done): three pages, then a build started before the window
    numbers = [int(e.attrs["build"]) for e in result.events]
    assert numbers == list(range(20, 260))  # #260 finishes after the window
    assert ci.trees() == [
        f"builds[{FIELDS}]{{0,100}}",
        f"allBuilds[{FIELDS}]{{100,200}}",
        f"allBuilds[{FIELDS}]{{200,300}}",
    ]
    assert result.problems == [] and not result.truncated
    # each event points at the page it came from
    pages = [r.id for r in collector.ctx.recorder.requests]
    assert {e.request for e in result.events} == set(pages)

    ci.requests.clear()
    make_collector(ci, ["deploy/payments-prod"]).collect(make_request(start="2026-11-20T10:00:00Z"))
    assert len(ci.requests) == 1  # the newest 100 already go back before the window


def test_max_builds_cuts_the_paging_short_and_says_so(ci: Jenkins) -> None:
    end = t("2026-11-20T12:00:00Z")
    ci.add_job("deploy/payments-prod", [build(n, end - timedelta(minutes=260 - n), 1) for n in range(1, 261)])
    result = make_collector(ci, ["deploy/payments-prod"], max_builds=200).collect(make_request())

    assert len(ci.requests) == 2 and result.truncated
    (problem,) = result.problems
    assert (problem.start, problem.end) == (t("2026-11-20T08:00:00Z"), t("2026-11-20T08:41:00Z"))
    assert problem.reason == (
        "job 'deploy/payments-prod': stopped after 200 builds (max_builds), back to #61 started at "
        "2026-11-20T08:41:00Z: older builds in the window are not read: raise max_builds"
    )
    assert result.truncated_reason == problem.reason


def test_discarded_builds_are_reported(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", [build(n, f"2026-11-20T{n - 40:02d}:00:00Z", 60) for n in range(50, 52)])
    result = make_collector(ci, ["deploy/payments-prod"]).collect(make_request())

    assert [e.attrs["build"] for e in result.events] == ["50", "51"] and result.truncated
    (problem,) = result.problems
    assert problem.reason == (
        "job 'deploy/payments-prod': the oldest build Jenkins still keeps is #50, started at 2026-11-20T10:00:00Z: "
        "older builds were discarded (the job's build discarder), so builds from 2026-11-20T08:00:00Z until then "
        "are not known"
    )


# ---- failures ---------------------------------------------------------------------------------


def test_a_bad_api_token_fails_the_source_naming_both_credentials(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    collector = make_collector(ci, ["deploy/payments-prod"], api_token="not-the-token")
    with pytest.raises(SourceAuthError) as info:
        collector.collect(make_request())
    assert str(info.value) == (
        f"GET {ci.url}/job/deploy/job/payments-prod/api/json: HTTP 401: not authenticated (Invalid password/token "
        "for user: dossier): check `username` and `api_token`: the token must be an API token of that user (user "
        "menu > Security > API Token), not a password"
    )
    assert "not-the-token" not in str(info.value)


def test_a_user_without_overall_read_fails_the_source_naming_the_permissions(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    ci.add_job("deploy/checkout-prod", payments_builds())
    ci.no_overall_read.add(DEFAULT_USER)
    with pytest.raises(SourceAuthError) as info:
        make_collector(ci, ["deploy/payments-prod", "deploy/checkout-prod"]).collect(make_request())
    assert str(info.value) == (
        f"every job failed: job 'deploy/payments-prod': GET {ci.url}/job/deploy/job/payments-prod/api/json: "
        "HTTP 403: forbidden (dossier is missing the Overall/Read permission): the user needs the Overall/Read and "
        "Job/Read permissions (on Jenkins, or on the job's folder) (and 1 more failed the same way or otherwise)"
    )


def test_a_job_the_user_may_not_read_is_a_problem_naming_job_read(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    ci.add_job("deploy/billing-prod", payments_builds())
    ci.discover_only.add("deploy/billing-prod")
    result = make_collector(ci, ["deploy/payments-prod", "deploy/billing-prod"]).collect(make_request())

    assert len(result.events) == 4
    (problem,) = result.problems
    assert problem.service == "billing-prod"
    assert problem.reason == (
        f"job 'deploy/billing-prod': GET {ci.url}/job/deploy/job/billing-prod/api/json: HTTP 403: forbidden "
        "(dossier is missing the Job/Read permission): the user needs the Overall/Read and Job/Read permissions "
        "(on Jenkins, or on the job's folder)"
    )


def test_a_missing_job_is_a_problem_and_the_others_are_collected(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    ci.add_job("deploy/secret-prod", payments_builds())
    ci.hidden.add("deploy/secret-prod")  # no Job/Read, no Job/Discover: Jenkins says 404
    result = make_collector(ci, ["deploy/payments-prod", "deploy/gone", "deploy/secret-prod"]).collect(make_request())

    assert len(result.events) == 4
    gone, secret = result.problems
    assert gone.reason == (
        f"job 'deploy/gone': GET {ci.url}/job/deploy/job/gone/api/json: HTTP 404: not found: check its full name "
        "(folders as path segments, e.g. deploy/payments-prod); Jenkins also answers 404 for a job the user may "
        "not see (Job/Read)"
    )
    assert secret.reason.startswith("job 'deploy/secret-prod': GET ") and "HTTP 404: not found" in secret.reason


def test_a_timeout_is_a_problem_for_that_job(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    ci.add_job("deploy/slow", payments_builds())
    ci.inject(200, path="/job/deploy/job/slow/", delay=1.5)
    collector = make_collector(ci, ["deploy/payments-prod", "deploy/slow"], http={"timeout": "0.3s", "retries": 1})

    result = collector.collect(make_request())

    assert len(result.events) == 4
    (problem,) = result.problems
    assert problem.reason == f"job 'deploy/slow': GET {ci.url}/job/deploy/job/slow/api/json: no answer within 0.3s"


def test_503_is_retried_honouring_retry_after(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())
    ci.inject(503, count=2, headers={"Retry-After": "0"})
    collector = make_collector(ci, ["deploy/payments-prod"], http={"retries": 3})

    result = collector.collect(make_request())

    assert len(result.events) == 4 and result.problems == []
    assert [r.status for r in collector.ctx.recorder.requests] == [503, 503, 200]


def test_a_failing_later_page_keeps_what_was_read(ci: Jenkins) -> None:
    end = t("2026-11-20T12:00:00Z")
    ci.add_job("deploy/payments-prod", [build(n, end - timedelta(minutes=2 * (260 - n)), 30) for n in range(1, 261)])
    collector = make_collector(ci, ["deploy/payments-prod"], http={"retries": 1})
    original = collector.api.builds

    def flaky(job_path: str, *, first: int, count: int):  # type: ignore[no-untyped-def]
        if first == 100:  # the second page fails
            ci.inject(500, count=1)
        return original(job_path, first=first, count=count)

    collector.api.builds = flaky  # type: ignore[method-assign]
    result = collector.collect(make_request(start="2026-11-20T04:00:00Z"))

    assert [int(e.attrs["build"]) for e in result.events] == list(range(161, 260)) and result.truncated
    (problem,) = result.problems
    assert problem.reason.startswith(
        f"builds older than #161 could not be read: job 'deploy/payments-prod': GET {ci.url}/job/deploy/job/"
        "payments-prod/api/json: HTTP 500: "
    )
    assert (problem.start, problem.end) == (t("2026-11-20T04:00:00Z"), t("2026-11-20T08:42:00Z"))


def test_when_every_job_fails_the_source_fails(ci: Jenkins) -> None:
    ci.inject(503, count=4, headers={"Retry-After": "0"})
    with pytest.raises(SourceUnavailable, match=r"^every job failed: job 'a': GET .*HTTP 503: Starting Jenkins"):
        make_collector(ci, ["a", "b"]).collect(make_request())


# ---- sources check ----------------------------------------------------------------------------


def test_check_reports_the_version_from_x_jenkins(ci: Jenkins) -> None:
    collector = make_collector(ci, ["a"])
    assert collector.check() == "Jenkins 2.479.3 (mode NORMAL, the Jenkins controller's built-in node)"
    assert [(r.path, r.param("tree")) for r in ci.requests] == [("/api/json", "mode,nodeDescription")]

    with pytest.raises(SourceAuthError, match=r"HTTP 401: not authenticated \(Invalid password/token for user"):
        make_collector(ci, ["a"], api_token="wrong").check()
    ci.no_overall_read.add(DEFAULT_USER)
    with pytest.raises(SourceAuthError, match=r"forbidden \(dossier is missing the Overall/Read permission\)"):
        collector.check()


def test_check_refuses_a_server_that_is_not_jenkins(ci: Jenkins) -> None:
    collector = make_collector(ci, ["a"])
    collector._api = JenkinsApi(
        "https://not-jenkins.example.com",
        instance=INSTANCE,
        recorder=collector.ctx.recorder,
        settings=collector.config.http,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"mode": "NORMAL"})),
    )
    with pytest.raises(SourceQueryError, match=r"the answer has no X-Jenkins header: is `url` a Jenkins server\?"):
        collector.check()


# ---- the draft --------------------------------------------------------------------------------

ONSET = t("2026-11-20T10:00:00Z")


def _series(service: str, rise_at: datetime, seed: int) -> Series:
    rng = random.Random(seed)
    times, values = [], []
    at = t("2026-11-20T09:00:00Z")
    while at <= t("2026-11-20T11:00:00Z"):
        bad = rise_at <= at < rise_at + timedelta(minutes=30)
        times.append(at.timestamp())
        values.append((5.0 if bad else 1.0) + rng.gauss(0, 0.1))
        at += timedelta(seconds=15)
    return Series(
        id=stable_id("prom", service),
        source="prometheus/p",
        signal="error_rate",
        service=service,
        labels={},
        query=f'sum(rate(http_requests_total{{service="{service}",code=~"5.."}}[1m]))',
        times=tuple(times),
        values=tuple(values),
        step=15.0,
    )


def test_draft_ranks_the_culprit_build_first(ci: Jenkins) -> None:
    ci.add_job("deploy/payments-prod", payments_builds())  # #412 at 09:54:35 is the culprit
    ci.add_job("deploy/checkout-prod", [build(77, "2026-11-20T09:57:00Z", 60, parameters={"VERSION": "v5.0.1"})])
    ci.add_job("deploy/search-prod", [build(5, "2026-11-20T09:59:00Z", 30)])
    result = make_collector(
        ci, ["deploy/payments-prod", {"job": "deploy/checkout-prod", "service": "checkout"}, "deploy/search-prod"]
    ).collect(make_request())
    incident = Incident(
        "INC-2041",
        "Checkout returns 500s",
        t("2026-11-20T10:00:00Z"),
        t("2026-11-20T11:00:00Z"),
        ("checkout", "payments"),
    )
    evidence = Evidence(
        events=tuple(result.events),
        series=(_series("payments", ONSET, 1), _series("checkout", ONSET + timedelta(minutes=2), 2)),
        sources=(
            SourceReport("prometheus/p", "prometheus", "ok", None, 2, 0.1, kinds=("metric",)),
            SourceReport(INSTANCE, "jenkins", "ok", None, len(result.events), 0.1, kinds=("change",)),
        ),
    )

    d = draft(incident, evidence, CorrelateSettings(services=SERVICES), generated_at=t("2026-11-20T12:00:00Z"))

    by_id = {e.id: e for e in result.events}
    first = by_id[d.candidate_causes[0].evidence]
    assert first.title == "payments-prod #412 SUCCESS (VERSION=v2.14.0)"
    assert any("payments is where the telemetry went wrong first" in r for r in d.candidate_causes[0].reasons)
    ranked = {by_id[c.evidence].attrs["id"] for c in d.candidate_causes}
    assert "deploy/checkout-prod#77" in ranked and "deploy/search-prod#5" not in ranked
