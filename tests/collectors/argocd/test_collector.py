"""The `argocd` collector against the stand-in Argo CD API server (tests/standins/argocd.py)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from collectors.argocd import ArgoCDCollector, ArgoCDConfig
from correlate import draft
from dossier.errors import CollectorError, SourceAuthError, SourceUnavailable
from dossier.model import CorrelateSettings, Evidence, Incident, Series, ServiceInfo, SourceReport, stable_id
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.argocd import ArgoCD, application, history_entry, operation_state, source

INSTANCE = "argocd/prod"
GOOD = "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"
BAD = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
NEXT = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f"
SERVICES = (
    ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
    ServiceInfo("payments", aliases=("payments-api", "pay")),
)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request(start: str = "2026-11-20T08:00:00Z", end: str = "2026-11-20T12:00:00Z") -> CollectRequest:
    incident = Incident(
        "INC-2041", "Checkout returns 500s", t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"), ("checkout",)
    )
    return CollectRequest(incident=incident, start=t(start), end=t(end), services=SERVICES)


_OPEN: list[ArgoCDCollector] = []


@pytest.fixture
def argo() -> Iterator[ArgoCD]:
    with ArgoCD() as server:
        yield server
        while _OPEN:
            _OPEN.pop().close()


def make_collector(argo: ArgoCD, **config: Any) -> ArgoCDCollector:
    data = {"url": argo.url, "token": argo.token, "http": {"retries": 2, "timeout": "5s"}, **config}
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    collector = ArgoCDCollector(ArgoCDConfig.model_validate(data), ctx)
    _OPEN.append(collector)
    return collector


def payments(**kw: Any) -> dict[str, Any]:
    """payments-api: a good deploy at 08:30, the bad one at 09:55 (auto-sync), rolled back by alice at 10:40."""
    images = source(path="apps/payments", kustomize_images=["acme/payments:v2.14.0"])
    return application(
        "payments-api",
        project="payments",
        labels={"app.kubernetes.io/name": "payments-api"},
        history=[
            history_entry(7, GOOD, "2026-11-20T08:30:00Z", started_at="2026-11-20T08:29:40Z", automated=True),
            history_entry(
                8, BAD, "2026-11-20T09:55:00Z", started_at="2026-11-20T09:54:31Z", automated=True, src=images
            ),
            history_entry(9, GOOD, "2026-11-20T10:40:00Z", started_at="2026-11-20T10:39:50Z", username="alice"),
        ],
        operation=operation_state(
            "Succeeded",
            revision=GOOD,
            started_at="2026-11-20T10:39:50Z",
            finished_at="2026-11-20T10:40:00Z",
            message="successfully synced (all tasks run)",
            username="alice",
            rollback_source=source(path="apps/payments"),
        ),
        **kw,
    )


# ---- what is collected ------------------------------------------------------------------------


def test_syncs_in_the_window_become_deploy_events_with_links_and_services(argo: ArgoCD) -> None:
    argo.add(payments())
    collector = make_collector(argo, applications=[{"name": "payments-api", "project": "payments"}])

    result = collector.collect(make_request())

    assert result.problems == [] and not result.truncated
    assert [(e.kind, e.title) for e in result.events] == [
        ("deploy", "payments-api synced to 9b8c7d6 (auto-sync)"),
        ("deploy", "payments-api synced to 3f2a1c9 (auto-sync)"),
        ("rollback", "payments-api rolled back to 9b8c7d6 (by alice)"),
    ]
    good, bad, rollback = result.events
    link = f"{argo.url}/applications/argocd/payments-api?view=tree&resource="
    assert bad.at == t("2026-11-20T09:55:00Z")  # deployedAt: when the sync completed
    assert bad.service == "payments"  # the application name is an alias of payments
    assert bad.source == INSTANCE
    assert bad.link == link
    assert bad.id == stable_id(INSTANCE, "argocd", "payments-api#8")
    assert dict(bad.attrs) == {
        "id": "payments-api#8",
        "application": "payments-api",
        "project": "payments",
        "namespace": "argocd",
        "revision": "3f2a1c9",
        "version": "3f2a1c9",
        "full_revision": BAD,
        "repository": "https://github.com/acme/deploy.git",
        "path": "apps/payments",
        "target_revision": "HEAD",
        "images": ["acme/payments:v2.14.0"],
        "initiated_by": "auto-sync",
        "automated": "true",
        "status": "succeeded",
        "started_at": "2026-11-20T09:54:31Z",
        "service_mapped": "true",
        "raw_service": "payments-api",
        "url": link,
    }
    assert good.attrs["initiated_by"] == "auto-sync" and "rolled_back_to" not in good.attrs

    # back to the revision it ran before the bad one: a rollback, naming what it undid
    assert rollback.attrs["rolled_back_to"] == "9b8c7d6"
    assert rollback.attrs["rolled_back_to_id"] == "payments-api#7"
    assert rollback.attrs["reverts"] == "payments-api#8"
    assert rollback.attrs["initiated_by"] == "alice" and rollback.attrs["automated"] == "false"
    assert rollback.attrs["message"] == "successfully synced (all tasks run)"

    # one GET per application, with its project; every event points at it
    (req,) = argo.requests
    assert req.path == "/api/v1/applications/payments-api"
    assert req.query == {"projects": ["payments"]}
    assert req.headers["authorization"] == f"Bearer {argo.token}"
    (recorded,) = collector.ctx.recorder.requests
    assert recorded.status == 200 and recorded.url == f"{argo.url}/api/v1/applications/payments-api"
    assert {e.request for e in result.events} == {recorded.id}


def test_the_window_bounds_the_syncs(argo: ArgoCD) -> None:
    argo.add(payments())
    collector = make_collector(argo, applications=["payments-api"])

    result = collector.collect(make_request(start="2026-11-20T09:00:00Z", end="2026-11-20T10:00:00Z"))

    assert [e.attrs["id"] for e in result.events] == ["payments-api#8"]
    assert argo.requests[0].query == {}  # no project configured: none sent


def test_unmapped_applications_are_kept_under_their_own_name(argo: ArgoCD) -> None:
    argo.add(
        application("search", history=[history_entry(3, NEXT, "2026-11-20T09:00:00Z", username="carol")]),
        application("web", history=[history_entry(4, NEXT, "2026-11-20T09:10:00Z", username="carol")]),
    )
    collector = make_collector(argo, applications=["search", {"name": "web", "service": "checkout-api"}])

    search, web = collector.collect(make_request()).events

    assert search.service == "search"
    assert search.attrs["service_mapped"] == "false" and search.attrs["raw_service"] == "search"
    assert search.title == "search synced to 5e6f7a8 (by carol)"
    # an explicit service is mapped too: checkout-api is an alias of checkout
    assert web.service == "checkout"
    assert web.attrs["service_mapped"] == "true" and web.attrs["raw_service"] == "checkout-api"


def test_discovery_by_name_and_labels_with_one_list_request(argo: ArgoCD) -> None:
    argo.add(
        payments(),  # app.kubernetes.io/name=payments-api: an alias
        application(
            "storefront",
            labels={"dossier.io/service": "checkout", "team": "shop"},
            history=[history_entry(1, NEXT, "2026-11-20T09:40:00Z", automated=True)],
        ),
        application("pay", labels={"team": "shop"}, history=[history_entry(2, NEXT, "2026-11-20T09:41:00Z")]),
        application("search", labels={"team": "shop"}, history=[history_entry(3, NEXT, "2026-11-20T09:42:00Z")]),
        application("intranet", labels={"team": "it"}, history=[history_entry(4, NEXT, "2026-11-20T09:43:00Z")]),
    )
    collector = make_collector(argo)

    result = collector.collect(make_request())

    by_app: dict[str, set[str]] = {}
    for e in result.events:
        by_app.setdefault(e.attrs["application"], set()).add(e.service or "")
    assert by_app == {"payments-api": {"payments"}, "storefront": {"checkout"}, "pay": {"payments"}}
    storefront = next(e for e in result.events if e.attrs["application"] == "storefront")
    assert storefront.attrs["raw_service"] == "checkout"  # the dossier.io/service label named it
    # the list holds whole Applications: nothing else is fetched
    assert [(r.path, r.query) for r in argo.requests] == [("/api/v1/applications", {})]

    argo.requests.clear()
    narrowed = make_collector(argo, projects=["default"], selector="team=shop")
    events = narrowed.collect(make_request()).events
    assert {e.attrs["application"] for e in events} == {"storefront", "pay"}
    assert argo.requests[0].query == {"projects": ["default"], "selector": ["team=shop"]}


def test_discovery_finds_a_dependency_of_an_incident_service(argo: ArgoCD) -> None:
    argo.add(application("ledger", history=[history_entry(1, NEXT, "2026-11-20T09:00:00Z")]))
    request = make_request()
    # as dossier.jobs asks change sources: the incident's services and what they depend on
    request = CollectRequest(
        request.incident,
        request.start,
        request.end,
        (ServiceInfo("checkout", depends_on=("ledger",)), ServiceInfo("ledger")),
    )

    (event,) = make_collector(argo).collect(request).events

    assert event.service == "ledger" and event.attrs["service_mapped"] == "true"


def test_rollback_through_the_rollback_api_to_the_running_revision(argo: ArgoCD) -> None:
    # alice rolled back to history 8 (same revision as the entry before): only the operation says so
    argo.add(
        application(
            "payments",
            history=[
                history_entry(7, GOOD, "2026-11-20T08:30:00Z", username="bob"),
                history_entry(8, BAD, "2026-11-20T09:55:00Z", username="bob"),
                history_entry(9, BAD, "2026-11-20T10:20:00Z", username="alice"),
            ],
            operation=operation_state(
                "Succeeded",
                revision=BAD,
                started_at="2026-11-20T10:19:40Z",
                finished_at="2026-11-20T10:20:00Z",
                username="alice",
                rollback_source=source(),
            ),
        )
    )
    events = make_collector(argo, applications=["payments"]).collect(make_request()).events
    assert [e.kind for e in events] == ["deploy", "deploy", "rollback"]
    assert events[-1].attrs["rolled_back_to"] == "3f2a1c9"
    assert events[-1].attrs["rolled_back_to_id"] == "payments#8"


def test_a_redeploy_of_the_same_revision_is_not_a_rollback(argo: ArgoCD) -> None:
    argo.add(
        application(
            "payments",
            history=[
                history_entry(1, GOOD, "2026-11-20T08:30:00Z", automated=True),
                history_entry(2, GOOD, "2026-11-20T09:00:00Z", automated=True),  # a plain re-sync
                history_entry(3, BAD, "2026-11-20T09:30:00Z", username="ci-rollback"),  # a rollback user
            ],
        )
    )
    events = make_collector(argo, applications=["payments"]).collect(make_request()).events
    assert [e.kind for e in events] == ["deploy", "deploy", "rollback"]
    assert events[-1].title == "payments rolled back to 3f2a1c9 (by ci-rollback)"


def test_multi_source_applications(argo: ArgoCD) -> None:
    chart = source("https://charts.example.com", None, "1.4.2", chart="payments", helm_parameters={"image.tag": "v9"})
    values = source("https://github.com/acme/values.git", "payments/prod", "main")
    argo.add(
        application(
            "payments",
            history=[
                history_entry(
                    4,
                    None,
                    "2026-11-20T09:55:00Z",
                    revisions=["1.4.2", BAD],
                    sources=[chart, values],
                    automated=True,
                )
            ],
        )
    )
    (event,) = make_collector(argo, applications=["payments"]).collect(make_request()).events
    assert event.title == "payments synced to 1.4.2, 3f2a1c9 (auto-sync)"
    assert event.attrs["full_revision"] == f"1.4.2, {BAD}"
    assert event.attrs["repository"] == "https://charts.example.com, https://github.com/acme/values.git"
    assert event.attrs["path"] == "payments, payments/prod"
    assert event.attrs["target_revision"] == "1.4.2, main"
    assert event.attrs["images"] == ["image.tag=v9"]


def test_a_failed_sync_in_the_window_is_a_failed_deploy(argo: ArgoCD) -> None:
    argo.add(
        application(
            "checkout",
            history=[history_entry(5, GOOD, "2026-11-20T07:00:00Z", username="alice")],
            operation=operation_state(
                "Failed",
                revision=BAD,
                started_at="2026-11-20T10:10:00Z",
                finished_at="2026-11-20T10:12:00Z",
                message='one or more objects failed to apply, reason: Deployment.apps "checkout" is invalid',
                username="bob",
            ),
        ),
        application(
            "payments",
            operation=operation_state("Running", revision=NEXT, started_at="2026-11-20T11:58:00Z", automated=True),
        ),
    )
    failed, running = make_collector(argo, applications=["checkout", "payments"]).collect(make_request()).events

    assert failed.kind == "deploy" and failed.service == "checkout"
    assert failed.at == t("2026-11-20T10:12:00Z")
    assert failed.title == "checkout sync to 3f2a1c9 failed (by bob)"
    assert failed.attrs["status"] == "failed" and failed.attrs["phase"] == "Failed"
    assert failed.attrs["id"] == "checkout#operation@2026-11-20T10:10:00Z"
    assert failed.attrs["message"].startswith("one or more objects failed to apply")
    assert running.at == t("2026-11-20T11:58:00Z")
    assert running.title == "payments syncing to 5e6f7a8 (auto-sync)" and running.attrs["status"] == "running"


def test_a_history_that_does_not_reach_back_to_the_window_start_is_reported(argo: ArgoCD) -> None:
    argo.add(payments(history_limit=3))
    result = make_collector(argo, applications=["payments-api"]).collect(make_request(start="2026-11-20T06:00:00Z"))

    assert len(result.events) == 3 and result.truncated
    (problem,) = result.problems
    assert problem.kind == "source_unavailable" and problem.service == "payments"
    assert result.truncated_reason == problem.reason  # why it is truncated, not just that it is
    assert "revisionHistoryLimit" in result.truncated_reason
    assert (problem.start, problem.end) == (t("2026-11-20T06:00:00Z"), t("2026-11-20T08:30:00Z"))
    assert problem.reason == (
        "application 'payments-api': Argo CD keeps only its last 3 syncs (spec.revisionHistoryLimit), the oldest "
        "deployed at 2026-11-20T08:30:00Z: syncs from 2026-11-20T06:00:00Z until then are not known"
    )


def test_app_namespace_is_sent_and_used_in_links(argo: ArgoCD) -> None:
    argo.add(application("payments", namespace="team-pay", history=[history_entry(1, GOOD, "2026-11-20T09:00:00Z")]))
    (event,) = make_collector(argo, applications=["payments"], app_namespace="team-pay").collect(make_request()).events
    assert argo.requests[0].query == {"appNamespace": ["team-pay"]}
    assert event.link == f"{argo.url}/applications/team-pay/payments?view=tree&resource="


# ---- failures ---------------------------------------------------------------------------------


def test_a_bad_token_fails_the_source_naming_token(argo: ArgoCD) -> None:
    argo.add(payments())
    collector = make_collector(argo, applications=["payments-api"], token="not-the-token")
    with pytest.raises(SourceAuthError) as info:
        collector.collect(make_request())
    assert str(info.value) == (
        f"GET {argo.url}/api/v1/applications/payments-api: HTTP 401: not authenticated (invalid session: token "
        "signature is invalid): check `token`: an Argo CD API token of an account with the apiKey capability, "
        "or a project role token, that has not expired or been revoked"
    )
    assert "not-the-token" not in str(info.value)  # never the secret


def test_a_forbidden_application_is_a_problem_naming_the_permission(argo: ArgoCD) -> None:
    argo.add(payments(), application("billing", history=[history_entry(1, GOOD, "2026-11-20T09:00:00Z")]))
    argo.deny("billing")
    result = make_collector(argo, applications=["payments-api", "billing"]).collect(make_request())

    assert len(result.events) == 3  # the others are collected
    (problem,) = result.problems
    assert problem.service == "billing" and problem.kind == "source_unavailable"
    assert problem.reason == (
        f"application 'billing': GET {argo.url}/api/v1/applications/billing: HTTP 403: permission denied: "
        "the token needs the RBAC permission `applications, get, <project>/billing`, e.g. "
        "`p, role:dossier, applications, get, */*, allow`; Argo CD also answers 403 for an application that does "
        "not exist: set its `project` to tell"
    )


def test_older_argo_cd_says_which_permission_is_missing(argo: ArgoCD) -> None:
    argo.detailed_denials = True
    argo.add(payments(), application("billing", project="finance"))
    argo.deny("billing")
    (problem,) = make_collector(argo, applications=["payments-api", "billing"]).collect(make_request()).problems
    assert "(permission denied: applications, get, finance/billing, sub: dossier, iat: " in problem.reason
    assert "`applications, get, <project>/billing`" in problem.reason


def test_a_missing_application_is_a_problem_and_the_others_are_collected(argo: ArgoCD) -> None:
    argo.add(payments())
    collector = make_collector(
        argo, applications=[{"name": "payments-api", "project": "payments"}, {"name": "gone", "project": "payments"}]
    )
    result = collector.collect(make_request())

    assert len(result.events) == 3
    (problem,) = result.problems
    assert problem.reason == (
        f"application 'gone': GET {argo.url}/api/v1/applications/gone: HTTP 404: not found in "
        "project 'payments' (applications.argoproj.io \"gone\" not found): check the name and project in "
        "`applications`"
    )


def test_a_timeout_is_a_problem_for_that_application(argo: ArgoCD) -> None:
    argo.add(payments(), application("slow", history=[history_entry(1, GOOD, "2026-11-20T09:00:00Z")]))
    argo.inject(200, count=1, path="/api/v1/applications/slow", delay=1.5)
    collector = make_collector(argo, applications=["payments-api", "slow"], http={"timeout": "0.3s", "retries": 1})

    result = collector.collect(make_request())

    assert len(result.events) == 3
    (problem,) = result.problems
    assert problem.service == "slow"
    assert problem.reason == (f"application 'slow': GET {argo.url}/api/v1/applications/slow: no answer within 0.3s")


def test_503_is_retried_honouring_retry_after(argo: ArgoCD) -> None:
    argo.add(payments())
    argo.inject(503, count=2, headers={"Retry-After": "0"})
    collector = make_collector(argo, applications=["payments-api"], http={"retries": 3})

    result = collector.collect(make_request())

    assert len(result.events) == 3 and result.problems == []
    assert [r.status for r in collector.ctx.recorder.requests] == [503, 503, 200]
    assert {e.request for e in result.events} == {collector.ctx.recorder.requests[-1].id}


def test_when_every_application_fails_the_source_fails(argo: ArgoCD) -> None:
    argo.inject(503, count=4, headers={"Retry-After": "0"})  # two applications, two attempts each
    collector = make_collector(argo, applications=["payments-api", "checkout"], http={"retries": 2})
    with pytest.raises(SourceUnavailable) as info:
        collector.collect(make_request())
    assert str(info.value).startswith("every application failed: application ")
    assert "HTTP 503" in str(info.value) and "(and 1 more failed the same way or otherwise)" in str(info.value)

    argo.deny("payments-api")
    argo.add(payments())
    with pytest.raises(SourceAuthError, match=r"^every application failed: .*applications, get, <project>/"):
        make_collector(argo, applications=["payments-api"]).collect(make_request())


def test_a_failed_list_fails_the_source(argo: ArgoCD) -> None:
    argo.inject(500, count=5, headers={"Retry-After": "0"})
    with pytest.raises(CollectorError, match=r"GET .*/api/v1/applications: HTTP 500: internal error"):
        make_collector(argo).collect(make_request())


def test_nothing_to_read_is_no_failure(argo: ArgoCD) -> None:
    argo.add(application("intranet", history=[history_entry(1, GOOD, "2026-11-20T09:00:00Z")]))
    result = make_collector(argo).collect(make_request())
    assert result.events == [] and result.problems == []


# ---- sources check ----------------------------------------------------------------------------


def test_check_reports_version_and_account(argo: ArgoCD) -> None:
    assert make_collector(argo).check() == "Argo CD v2.13.3+a25c8a0, logged in as dossier"
    assert [r.path for r in argo.requests] == ["/api/version", "/api/v1/session/userinfo"]
    with pytest.raises(SourceAuthError, match=r"does not accept the token: check `token`"):
        make_collector(argo, token="wrong").check()


# ---- the draft --------------------------------------------------------------------------------

ONSET = t("2026-11-20T10:05:00Z")


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


def test_draft_ranks_the_culprit_sync_first(argo: ArgoCD) -> None:
    argo.add(
        application(  # the culprit: payments, where the errors start, synced 10 minutes before
            "payments-api",
            history=[
                history_entry(1, GOOD, "2026-11-20T08:30:00Z", automated=True),
                history_entry(2, BAD, "2026-11-20T09:55:00Z", automated=True),
            ],
        ),
        application(  # closer in time, but checkout only suffered downstream
            "checkout", history=[history_entry(3, NEXT, "2026-11-20T10:02:00Z", username="bob")]
        ),
        application("search", history=[history_entry(4, NEXT, "2026-11-20T10:04:00Z")]),  # not in the blast radius
    )
    result = make_collector(argo, applications=["payments-api", "checkout", "search"]).collect(make_request())
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
            SourceReport(INSTANCE, "argocd", "ok", None, len(result.events), 0.1, kinds=("change",)),
        ),
    )
    settings = CorrelateSettings(services=SERVICES)

    d = draft(incident, evidence, settings, generated_at=t("2026-11-20T12:00:00Z"))

    by_id = {e.id: e for e in result.events}
    causes = [by_id[c.evidence] for c in d.candidate_causes]
    assert causes[0].attrs["id"] == "payments-api#2"
    assert causes[0].title == "payments-api synced to 3f2a1c9 (auto-sync)"
    assert {e.attrs["id"] for e in causes} == {"payments-api#2", "payments-api#1", "checkout#3"}
    assert any("payments is where the telemetry went wrong first" in r for r in d.candidate_causes[0].reasons)
