"""The `kubernetes` collector against the stand-in API server (tests/standins/kubernetes.py),
through the official client and a kubeconfig the tests write."""

from __future__ import annotations

import hashlib
import logging
import math
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.kubernetes import KubernetesCollector, KubernetesConfig
from correlate import draft
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import (
    CorrelateSettings,
    Event,
    Evidence,
    Incident,
    Series,
    ServiceInfo,
    SourceReport,
    stable_id,
)
from dossier.plugin import CollectContext, CollectRequest, CollectResult, Recorder
from tests.standins.kubernetes import (
    Kubeconfig,
    KubeStandIn,
    controllerrevision,
    daemonset,
    deployment,
    event,
    replicaset,
    set_progressing,
    statefulset,
    status,
)

INSTANCE = "kubernetes/test"
REGISTRY = "registry.example.com"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


INCIDENT = Incident(
    id="INC-2041",
    title="Checkout returns 500s",
    start=t("2026-11-20T10:00:00Z"),
    end=t("2026-11-20T12:00:00Z"),
    services=("checkout", "payments"),
)
SERVICES = (
    ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
    ServiceInfo("payments", aliases=("payments-api",), depends_on=("ledger",)),
)
REQUEST = CollectRequest(incident=INCIDENT, start=t("2026-11-20T08:00:00Z"), end=INCIDENT.end, services=SERVICES)


@dataclass
class Cluster:
    """The objects of the scenario, for the assertions."""

    payments: dict[str, Any]
    rs_old: dict[str, Any]  # revision 5, long ago
    rs_good: dict[str, Any]  # v2.13.2: revision 6, then reused by the rollback as revision 8
    rs_bad: dict[str, Any]  # v2.14.0: revision 7, in the window
    search_rs: dict[str, Any]  # search's new ReplicaSet


def name(obj: dict[str, Any]) -> str:
    return obj["metadata"]["name"]


def build(api: KubeStandIn, *, scaling_events: bool = True, progressing: bool = True) -> Cluster:
    """prod: payments (deploy v2.14.0 at 09:55, rolled back at 10:40), checkout (env change at
    09:30), checkout-api (restart at 11:00), search (unmapped, deploy at 09:45), batch (unrelated),
    ledger-db (StatefulSet, a dependency, postgres 15.4 -> 15.5 at 09:40), node-agent (DaemonSet,
    rolled back at 09:20 by reusing an old ControllerRevision)."""
    img = f"{REGISTRY}/payments"
    payments = deployment(
        "prod",
        "payments",
        created="2026-10-01T12:00:00Z",
        containers={"payments": f"{img}:v2.13.2"},
        revision=8,
        labels={"app.kubernetes.io/name": "payments-api", "app.kubernetes.io/part-of": "shop"},
    )
    rs_old = replicaset(payments, created="2026-11-10T09:00:00Z", containers={"payments": f"{img}:v2.13.1"}, revision=5)
    rs_good = replicaset(
        payments,
        created="2026-11-19T15:00:00Z",
        containers={"payments": f"{img}:v2.13.2"},
        revision=8,
        history=[6],
        change_cause="deploy v2.13.2 (ci run 4702)",
        replicas=3,
    )
    rs_bad = replicaset(
        payments,
        created="2026-11-20T09:55:00Z",
        containers={"payments": f"{img}:v2.14.0"},
        revision=7,
        change_cause="deploy v2.14.0 (ci run 4711)",
    )
    if progressing:
        set_progressing(payments, name(rs_good), "2026-11-20T10:41:30Z")
    api.add(payments, rs_old, rs_good, rs_bad)
    bad_pod = f"{name(rs_bad)}-xk2pq"
    if scaling_events:
        api.add(
            event("prod", kind="Deployment", name="payments", reason="ScalingReplicaSet", type="Normal",
                  component="deployment-controller", first="2026-11-20T09:55:01Z",
                  message=f"Scaled up replica set {name(rs_bad)} from 0 to 1"),
            event("prod", kind="Deployment", name="payments", reason="ScalingReplicaSet", type="Normal",
                  component="deployment-controller", first="2026-11-20T09:57:40Z",
                  message=f"Scaled down replica set {name(rs_good)} from 3 to 0"),
            event("prod", kind="Deployment", name="payments", reason="ScalingReplicaSet", type="Normal",
                  component="deployment-controller", first="2026-11-20T10:40:05Z",
                  message=f"Scaled up replica set {name(rs_good)} from 0 to 3"),
        )  # fmt: skip
    api.add(
        event("prod", kind="Pod", name=bad_pod, reason="BackOff", first="2026-11-20T09:58:10Z",
              last="2026-11-20T10:38:00Z", count=42,
              message=f"Back-off restarting failed container payments in pod {bad_pod}_prod(0c1d)"),
        event("prod", kind="Pod", name=bad_pod, reason="Unhealthy", first="2026-11-20T09:56:30Z",
              last="2026-11-20T10:38:00Z", count=120,
              message="Readiness probe failed: HTTP probe failed with statuscode: 503"),
        event("prod", kind="Pod", name=bad_pod, reason="Pulled", type="Normal", first="2026-11-20T09:55:20Z",
              message=f'Successfully pulled image "{img}:v2.14.0" in 1.2s'),
        event("prod", kind="HorizontalPodAutoscaler", name="payments", reason="SuccessfulRescale", type="Normal",
              component="horizontal-pod-autoscaler", first="2026-11-20T10:02:00Z",
              message="New size: 6; reason: cpu resource utilization (percentage of request) above target"),
        event("prod", kind="Pod", name=f"{name(rs_good)}-b7c9d", reason="Killing", type="Normal",
              first="2026-11-20T07:00:00Z", message="Stopping container payments"),
    )  # fmt: skip

    checkout = deployment(
        "prod",
        "checkout",
        created="2026-09-01T08:00:00Z",
        containers={"checkout": f"{REGISTRY}/checkout:v1.8.0"},
        env={"LOG_LEVEL": "debug"},
        revision=4,
        labels={"app": "checkout"},
    )
    api.add(
        checkout,
        replicaset(checkout, created="2026-11-18T10:00:00Z", containers={"checkout": f"{REGISTRY}/checkout:v1.8.0"},
                   env={"LOG_LEVEL": "info"}, revision=3),
        replicaset(checkout, created="2026-11-20T09:30:00Z", containers={"checkout": f"{REGISTRY}/checkout:v1.8.0"},
                   env={"LOG_LEVEL": "debug"}, revision=4, replicas=3),
    )  # fmt: skip

    web = deployment(
        "prod",
        "checkout-api",
        created="2026-09-01T08:00:00Z",
        containers={"web": f"{REGISTRY}/web:v5"},
        revision=2,
        labels={"app.kubernetes.io/name": "web"},
    )
    restarted = {"kubectl.kubernetes.io/restartedAt": "2026-11-20T11:00:00Z"}
    api.add(
        web,
        replicaset(web, created="2026-11-01T10:00:00Z", containers={"web": f"{REGISTRY}/web:v5"}, revision=1),
        replicaset(web, created="2026-11-20T11:00:01Z", containers={"web": f"{REGISTRY}/web:v5"}, revision=2,
                   template_annotations=restarted, replicas=2),
    )  # fmt: skip

    search = deployment(
        "prod", "search", created="2026-09-01T08:00:00Z", containers={"search": f"{REGISTRY}/search:v3.2"}, revision=2
    )
    search_new = replicaset(search, created="2026-11-20T09:45:00Z", containers={"search": f"{REGISTRY}/search:v3.2"},
                            revision=2, replicas=2)  # fmt: skip
    api.add(
        search,
        replicaset(search, created="2026-11-01T10:00:00Z", containers={"search": f"{REGISTRY}/search:v3.1"},
                   revision=1),
        search_new,
        event("prod", kind="Pod", name=f"{name(search_new)}-fgh2m", reason="Unhealthy", first="2026-11-20T09:47:00Z",
              message="Liveness probe failed: connection refused"),
    )  # fmt: skip

    batch = deployment(
        "prod", "batch", created="2026-09-01T08:00:00Z", containers={"batch": f"{REGISTRY}/batch:v1"}, revision=1
    )
    batch_rs = replicaset(batch, created="2026-09-01T08:00:00Z", containers={"batch": f"{REGISTRY}/batch:v1"},
                          revision=1, replicas=1)  # fmt: skip
    api.add(
        batch,
        batch_rs,
        event("prod", kind="Pod", name=f"{name(batch_rs)}-zzq5v", reason="BackOff", first="2026-11-20T10:05:00Z",
              message="Back-off restarting failed container batch"),
    )  # fmt: skip

    ledger = statefulset(
        "prod",
        "ledger-db",
        created="2026-08-01T08:00:00Z",
        containers={"postgres": "postgres:15.5"},
        labels={"app.kubernetes.io/name": "ledger"},
    )
    api.add(
        ledger,
        controllerrevision(ledger, created="2026-11-10T08:00:00Z", containers={"postgres": "postgres:15.4"},
                           revision=1),
        controllerrevision(ledger, created="2026-11-20T09:40:00Z", containers={"postgres": "postgres:15.5"},
                           revision=2),
        event("prod", kind="Pod", name="ledger-db-0", reason="Unhealthy", first="2026-11-20T09:50:00Z",
              message="Readiness probe failed: pg_isready: no response"),
    )  # fmt: skip

    agent = daemonset("prod", "node-agent", created="2026-08-01T08:00:00Z", containers={"agent": "agent:1.0"})
    api.add(
        agent,
        controllerrevision(agent, created="2026-11-01T08:00:00Z", containers={"agent": "agent:1.0"}, revision=3,
                           updated="2026-11-20T09:20:00Z"),
        controllerrevision(agent, created="2026-11-20T09:10:00Z", containers={"agent": "agent:1.1"}, revision=2),
    )  # fmt: skip
    return Cluster(payments, rs_old, rs_good, rs_bad, search_new)


@pytest.fixture
def api() -> Iterator[KubeStandIn]:
    with KubeStandIn(token="t0ken") as standin:
        yield standin


def make(
    api_url: str,
    tmp_path: Path,
    *,
    token: str = "t0ken",
    environ: dict[str, str] | None = None,
    **options: Any,
) -> KubernetesCollector:
    (tmp_path / "kube.yaml").write_text(Kubeconfig(api_url, token=token).text())
    data = {"kubeconfig": "kube.yaml", "namespaces": ["prod"], "timeout": "5s", "retry_max_delay": "1s", **options}
    config = KubernetesConfig.model_validate(data, context={"base_dir": tmp_path})
    ctx = CollectContext(
        instance=INSTANCE, log=logging.LoggerAdapter(logging.getLogger("t"), {}), recorder=Recorder(INSTANCE)
    )
    return KubernetesCollector(config, ctx, environ=environ or {})


def collect(collector: KubernetesCollector, request: CollectRequest = REQUEST) -> CollectResult:
    try:
        return collector.collect(request)
    finally:
        collector.close()


def by_title(result: CollectResult) -> dict[str, Event]:
    return {e.title: e for e in result.events}


# ---- rollouts -----------------------------------------------------------------------------------


def test_rollout_with_image_change_at_its_revision_time(api: KubeStandIn, tmp_path: Path) -> None:
    c = build(api)
    collector = make(api.url, tmp_path)
    result = collect(collector)
    deploy = by_title(result)["payments: image v2.13.2 -> v2.14.0 (Deployment prod/payments revision 7)"]
    assert deploy.kind == "deploy"
    assert deploy.at == t("2026-11-20T09:55:00Z")  # the ReplicaSet's creationTimestamp
    assert deploy.service == "payments"  # app.kubernetes.io/name=payments-api is an alias
    assert deploy.id == stable_id(INSTANCE, "Deployment/prod/payments@7")
    assert deploy.link is None
    assert dict(deploy.attrs) == {
        "id": "Deployment/prod/payments@7",
        "workload": "Deployment/payments",
        "namespace": "prod",
        "service_mapped": "true",
        "raw_service": "payments-api",
        "revision": "7",
        "version": "7",
        "images": [f"{REGISTRY}/payments:v2.14.0"],
        "previous_images": [f"{REGISTRY}/payments:v2.13.2"],
        "previous_revision": "6",
        "change": f"image {REGISTRY}/payments:v2.13.2 -> {REGISTRY}/payments:v2.14.0",
        "change_cause": "deploy v2.14.0 (ci run 4711)",
        "replicaset": name(c.rs_bad),
        "time_source": "ReplicaSet creationTimestamp",
    }
    # the request that proves it: the ReplicaSet list with the Deployment's selector
    proof = next(r for r in collector.ctx.recorder.requests if r.id == deploy.request)
    assert proof.url.endswith("/apis/apps/v1/namespaces/prod/replicasets")
    assert proof.params["labelSelector"] == "app.kubernetes.io/name=payments-api,app.kubernetes.io/part-of=shop"
    # revisions before the window are not events
    assert not [e for e in result.events if e.attrs.get("revision") in ("5", "6")]


def test_rollback_reusing_an_old_replicaset_is_a_rollback_at_its_scale_up(api: KubeStandIn, tmp_path: Path) -> None:
    c = build(api)
    result = collect(make(api.url, tmp_path))
    rollback = next(e for e in result.events if e.attrs.get("id") == "Deployment/prod/payments@8")
    assert rollback.kind == "rollback"
    assert rollback.title == (
        "payments: rolled back to revision 6: image v2.14.0 -> v2.13.2 (Deployment prod/payments revision 8)"
    )
    # not the ReplicaSet's creationTimestamp (2026-11-19T15:00:00Z): the scale-up after revision 7
    assert rollback.at == t("2026-11-20T10:40:05Z")
    assert rollback.attrs["time_source"] == "ScalingReplicaSet event"
    assert rollback.attrs["rolled_back_to"] == "6"
    assert rollback.attrs["replicaset"] == name(c.rs_good)
    assert rollback.attrs["previous_images"] == [f"{REGISTRY}/payments:v2.14.0"]
    assert rollback.attrs["change_cause"] == "deploy v2.13.2 (ci run 4702)"


def test_rollback_time_from_the_progressing_condition_when_events_expired(api: KubeStandIn, tmp_path: Path) -> None:
    build(api, scaling_events=False)
    result = collect(make(api.url, tmp_path))
    rollback = next(e for e in result.events if e.kind == "rollback" and e.service == "payments")
    assert rollback.at == t("2026-11-20T10:41:30Z")
    assert rollback.attrs["time_source"] == "Progressing condition lastUpdateTime (the rollout's last progress)"
    assert not result.problems


def test_rollback_of_unknown_time_is_a_problem_not_a_guess(api: KubeStandIn, tmp_path: Path) -> None:
    c = build(api, scaling_events=False, progressing=False)
    result = collect(make(api.url, tmp_path))
    assert not [e for e in result.events if e.kind == "rollback" and e.service == "payments"]
    [problem] = [p for p in result.problems if p.service == "payments"]
    assert problem.reason == (
        "Deployment prod/payments revision 8: rolled back to revision 6: image "
        f"{REGISTRY}/payments:v2.14.0 -> {REGISTRY}/payments:v2.13.2 (ReplicaSet {name(c.rs_good)} reused) at an "
        "unknown time after 2026-11-20T09:55:00Z: its events have expired; "
        "kubectl rollout history deployment/payments -n prod shows it"
    )


def test_config_only_change(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    change = by_title(result)[
        "checkout: env/config changed (containers.checkout.env) (Deployment prod/checkout revision 4)"
    ]
    assert change.kind == "config_change"
    assert change.at == t("2026-11-20T09:30:00Z")
    assert change.attrs["changed"] == ["containers.checkout.env"]
    assert change.attrs["images"] == change.attrs["previous_images"] == [f"{REGISTRY}/checkout:v1.8.0"]
    assert change.attrs["raw_service"] == "checkout"  # from the `app` label: no app.kubernetes.io/name


def test_restart_is_a_deploy_mapped_by_workload_name(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    restart = by_title(result)[
        "checkout: restarted (kubectl rollout restart) (Deployment prod/checkout-api revision 2)"
    ]
    assert restart.kind == "deploy"
    assert restart.attrs["restart"] == "true"
    # app.kubernetes.io/name=web names no service; the workload name checkout-api is an alias
    assert (restart.service, restart.attrs["raw_service"], restart.attrs["service_mapped"]) == (
        "checkout",
        "checkout-api",
        "true",
    )


def test_statefulset_controllerrevision(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    sts = by_title(result)["ledger: image 15.4 -> 15.5 (StatefulSet prod/ledger-db revision 2)"]
    assert sts.kind == "deploy"
    assert sts.at == t("2026-11-20T09:40:00Z")
    assert sts.attrs["images"] == ["postgres:15.5"] and sts.attrs["previous_images"] == ["postgres:15.4"]
    assert sts.attrs["controllerrevision"].startswith("ledger-db-")
    assert sts.attrs["service_mapped"] == "false"  # a dependency, not an incident service: kept as named


def test_daemonset_rollback_reusing_a_controllerrevision(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    [rollback] = [
        e for e in result.events if e.attrs.get("workload") == "DaemonSet/node-agent" and e.attrs["revision"] == "3"
    ]
    assert rollback.kind == "rollback"
    # the revision 3 ControllerRevision was created on 2026-11-01, before revision 2's: it was reused
    assert rollback.at == t("2026-11-20T09:20:00Z")
    assert rollback.attrs["time_source"] == "ControllerRevision last update (managedFields)"
    assert rollback.attrs["rolled_back_to"] is None  # a ControllerRevision keeps no history of its numbers
    assert rollback.title == (
        "node-agent: rolled back to an earlier revision: image 1.1 -> 1.0 (DaemonSet prod/node-agent revision 3)"
    )


def test_unmapped_workloads_are_kept(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    search = by_title(result)["search: image v3.1 -> v3.2 (Deployment prod/search revision 2)"]
    assert (search.service, search.attrs["service_mapped"], search.attrs["raw_service"]) == (
        "search",
        "false",
        "search",
    )


# ---- cluster events -----------------------------------------------------------------------------


def notes(result: CollectResult) -> list[tuple[str, str, str]]:
    return [(e.service or "", e.attrs["reason"], e.attrs["object"]) for e in result.events if e.kind == "note"]


def test_warning_events_of_the_incident_workloads_and_their_pods(api: KubeStandIn, tmp_path: Path) -> None:
    c = build(api)
    collector = make(api.url, tmp_path)
    result = collect(collector)
    bad_pod = f"Pod/{name(c.rs_bad)}-xk2pq"
    assert sorted(notes(result)) == sorted(
        [
            ("payments", "ScalingReplicaSet", "Deployment/payments"),
            ("payments", "ScalingReplicaSet", "Deployment/payments"),
            ("payments", "ScalingReplicaSet", "Deployment/payments"),
            ("payments", "Unhealthy", bad_pod),
            ("payments", "BackOff", bad_pod),
            ("payments", "SuccessfulRescale", "HorizontalPodAutoscaler/payments"),
            ("ledger", "Unhealthy", "Pod/ledger-db-0"),  # payments depends on ledger
            ("search", "Unhealthy", f"Pod/{name(c.search_rs)}-fgh2m"),  # search changed in the window
        ]
    )
    # not: Pulled (a reason not asked for), the Killing at 07:00 (before the window), batch's BackOff
    # (batch is no incident service, no dependency, and did not change)
    backoff = next(e for e in result.events if e.kind == "note" and e.attrs["reason"] == "BackOff")
    assert backoff.at == t("2026-11-20T09:58:10Z") and backoff.end == t("2026-11-20T10:38:00Z")
    assert backoff.title == (
        f"payments: BackOff: Back-off restarting failed container payments in pod {name(c.rs_bad)}-xk2pq_prod(0c1d) "
        f"(Pod prod/{name(c.rs_bad)}-xk2pq) x42"
    )
    assert {k: backoff.attrs[k] for k in ("reason", "type", "count", "object", "namespace")} == {
        "reason": "BackOff",
        "type": "Warning",
        "count": 42,
        "object": f"Pod/{name(c.rs_bad)}-xk2pq",
        "namespace": "prod",
    }
    assert backoff.attrs["workload"] == "Deployment/payments"
    events_request = next(r for r in collector.ctx.recorder.requests if r.id == backoff.request)
    assert events_request.url.endswith("/api/v1/namespaces/prod/events")


def test_events_can_be_turned_off(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path, events=False))
    assert notes(result) == []
    assert not [r for r in api.requests if r.path.endswith("/events")]


def test_dashboard_link(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    url = "https://dash.example.com/#/{resource}/{namespace}/{name}?rev={revision}"
    result = collect(make(api.url, tmp_path, dashboard_url=url))
    deploy = next(e for e in result.events if e.attrs.get("id") == "Deployment/prod/payments@7")
    assert deploy.link == "https://dash.example.com/#/deployments/prod/payments?rev=7"


# ---- requests -----------------------------------------------------------------------------------


def test_pagination_follows_continue(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    whole = collect(make(api.url, tmp_path))
    api.requests.clear()
    paged = collect(make(api.url, tmp_path, page_size=2))
    assert [(e.id, e.at, e.title) for e in paged.events] == [(e.id, e.at, e.title) for e in whole.events]
    deployments = [r for r in api.requests if r.path == "/apis/apps/v1/namespaces/prod/deployments"]
    assert len(deployments) == 3  # 5 Deployments, 2 a page
    assert "continue" not in deployments[0].params
    assert all(r.params["limit"] == "2" and r.params["continue"] for r in deployments[1:])
    events = [r for r in api.requests if r.path == "/api/v1/namespaces/prod/events"]
    assert len(events) > 2 and all("continue" in r.params for r in events[1:])


def test_every_request_is_recorded_with_the_hash_of_its_raw_body(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    collector = make(api.url, tmp_path)
    collect(collector)
    recorded = collector.ctx.recorder.requests
    assert len(recorded) == len(api.responses)
    bodies = {(req.path, tuple(sorted(req.params.items()))): raw for req, _, raw in api.responses}
    for r in recorded:
        path = r.url.removeprefix(api.url)
        params = tuple(sorted((k, str(v)) for k, v in r.params.items()))
        raw = bodies[(path, params)]
        assert (r.method, r.status, r.sha256, r.bytes) == ("GET", 200, hashlib.sha256(raw).hexdigest(), len(raw))
    lists = [r for r in recorded if r.url.endswith("/deployments")]
    assert lists[0].items == 5
    # the bearer token from the kubeconfig went along with each request
    assert {r.headers.get("authorization") for r in api.requests} == {"Bearer t0ken"}


def test_explicit_workloads(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    workloads = [
        {"kind": "Deployment", "namespace": "prod", "name": "search", "service": "payments"},
        {"kind": "StatefulSet", "namespace": "prod", "name": "gone"},
    ]
    result = collect(make(api.url, tmp_path, namespaces=[], workloads=workloads))
    changes = [e for e in result.events if e.kind != "note"]
    assert [(e.attrs["id"], e.service, e.attrs["raw_service"]) for e in changes] == [
        ("Deployment/prod/search@2", "payments", "payments")
    ]
    assert [p.reason for p in result.problems] == [
        "StatefulSet/prod/gone: not found in the cluster: check `workloads` (kubectl get statefulset -n prod)"
    ]
    assert not [r for r in api.requests if r.path.endswith("/daemonsets")]  # no DaemonSet was asked for


def test_all_namespaces_lists_cluster_wide(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path, namespaces=[], all_namespaces=True))
    assert "payments: image v2.13.2 -> v2.14.0 (Deployment prod/payments revision 7)" in by_title(result)
    paths = {r.path for r in api.requests}
    assert {"/apis/apps/v1/deployments", "/apis/apps/v1/statefulsets", "/apis/apps/v1/daemonsets"} <= paths
    assert "/api/v1/namespaces/prod/events" in paths  # events only where the incident's workloads are


# ---- failures -----------------------------------------------------------------------------------


def test_forbidden_names_the_missing_permission(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    api.inject(403, resource="replicasets", namespace="prod")
    with pytest.raises(SourceAuthError) as info:
        collect(make(api.url, tmp_path))
    assert str(info.value) == (
        f"GET {api.url}/apis/apps/v1/namespaces/prod/replicasets: HTTP 403: forbidden: "
        "'system:serviceaccount:dossier:dossier' may not list replicasets.apps in namespace prod: "
        "add these to its Role or ClusterRole (the collector's README lists the rules)"
    )


def test_a_forbidden_namespace_while_others_work_is_a_problem(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    api.inject(403, resource="deployments", namespace="staging")
    api.inject(403, resource="statefulsets", namespace="staging")
    api.inject(403, resource="daemonsets", namespace="staging")
    result = collect(make(api.url, tmp_path, namespaces=["prod", "staging"]))
    assert "payments: image v2.13.2 -> v2.14.0 (Deployment prod/payments revision 7)" in by_title(result)
    assert [p.reason for p in result.problems] == [
        f"namespace staging: {r}.apps not read: GET {api.url}/apis/apps/v1/namespaces/staging/{r}: "
        "HTTP 403: forbidden: grant "
        f"'system:serviceaccount:dossier:dossier' list {r}.apps in namespace staging "
        "(the collector's README lists the Role rules)"
        for r in ("deployments", "statefulsets", "daemonsets")
    ]


def test_forbidden_events_only_lose_the_events(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    api.inject(403, resource="events", namespace="prod")
    result = collect(make(api.url, tmp_path))
    assert notes(result) == []
    assert any(e.kind == "deploy" for e in result.events)
    [problem] = [p for p in result.problems if "events" in p.reason]
    assert problem.reason.startswith("namespace prod: cluster events not read: GET ")
    assert "list events in namespace prod" in problem.reason


def test_a_failed_revision_list_is_a_problem_of_that_workload(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    api.inject(503, resource="controllerrevisions", when=lambda p: "ledger" in p.get("labelSelector", ""))
    result = collect(make(api.url, tmp_path))
    [problem] = result.problems
    assert problem.service == "ledger"
    assert problem.reason.startswith("StatefulSet/prod/ledger-db: its ControllerRevisions not read, so its rollouts: ")
    assert "HTTP 503: injected 503" in problem.reason
    assert not [e for e in result.events if e.attrs.get("workload") == "StatefulSet/ledger-db" and e.kind != "note"]


def test_unauthorized(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    with pytest.raises(SourceAuthError) as info:
        collect(make(api.url, tmp_path, token="wrong"))
    assert str(info.value) == (
        f"GET {api.url}/apis/apps/v1/namespaces/prod/deployments: HTTP 401: not authenticated: "
        "check the kubeconfig user's credentials"
    )


def test_unreachable_api_server(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    collector = make(f"http://127.0.0.1:{port}", tmp_path, retries=2, retry_max_delay="1s")
    with pytest.raises(SourceUnavailable) as info:
        collect(collector)
    assert str(info.value) == (
        f"GET http://127.0.0.1:{port}/apis/apps/v1/namespaces/prod/deployments: cannot connect: "
        "[Errno 111] Connection refused: check that the API server is up and that `server` in the kubeconfig "
        "points at it (after 2 attempts)"
    )
    assert info.value.kind == "unreachable" and info.value.status is None
    assert info.value.retriable
    first, second = collector.ctx.recorder.requests  # every attempt is recorded
    assert first.status is None and second.status is None
    assert second.error == str(info.value).removesuffix(" (after 2 attempts)")


def test_tls_failure_is_unavailable(tmp_path: Path) -> None:
    with KubeStandIn() as plain:  # an http server, spoken to with https
        collector = make(plain.url.replace("http://", "https://"), tmp_path)
        with pytest.raises(SourceUnavailable, match=r"TLS handshake failed: .*certificate-authority in the kubeconfig"):
            collect(collector)


def test_missing_kubeconfig(tmp_path: Path) -> None:
    config = KubernetesConfig.model_validate(
        {"kubeconfig": "nope.yaml", "namespaces": ["prod"]}, context={"base_dir": tmp_path}
    )
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    with pytest.raises(SourceQueryError) as info:
        KubernetesCollector(config, ctx, environ={}).collect(REQUEST)
    assert str(info.value) == (
        f"kubeconfig '{tmp_path / 'nope.yaml'}': file not found: check `kubeconfig` "
        "(a relative path is relative to the config file)"
    )


def test_unknown_context(api: KubeStandIn, tmp_path: Path) -> None:
    with pytest.raises(
        SourceQueryError, match=r"kubeconfig '.*kube.yaml': .*staging.*: check `kubeconfig` and `context`"
    ):
        collect(make(api.url, tmp_path, context="staging"))


def test_in_cluster_credentials_are_used_when_the_service_host_is_set(tmp_path: Path) -> None:
    config = KubernetesConfig.model_validate({"namespaces": ["prod"]})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    collector = KubernetesCollector(config, ctx, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert collector.api.in_cluster
    with pytest.raises(SourceQueryError, match=r"^in-cluster credentials: .*: run Dossier in a pod with a service"):
        collector.collect(REQUEST)  # this test does not run in a pod: no service account token


def test_check(api: KubeStandIn, tmp_path: Path) -> None:
    collector = make(api.url, tmp_path)
    try:
        assert collector.check() == f"Kubernetes v1.29.2 at {api.url}: can list deployments.apps in namespace prod"
    finally:
        collector.close()
    api.inject(403, resource="deployments", namespace="prod")
    collector = make(api.url, tmp_path)
    with pytest.raises(SourceAuthError, match=r"list deployments\.apps in namespace prod"):
        collector.check()


# ---- the draft ----------------------------------------------------------------------------------


def test_draft_ranks_the_culprit_rollout_first(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    result = collect(make(api.url, tmp_path))
    onset, recovered = t("2026-11-20T10:00:00Z"), t("2026-11-20T10:45:00Z")

    def series(service: str, rise: datetime, fall: datetime) -> Series:
        times, values = [], []
        at = onset - timedelta(hours=1)
        while at <= INCIDENT.end:
            bad = rise <= at < fall
            times.append(at.timestamp())
            values.append((6.0 if bad else 1.0) + 0.1 * math.sin(at.timestamp() / 60))
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

    evidence = Evidence(
        events=tuple(result.events),
        series=(
            series("payments", onset, recovered),
            series("checkout", onset + timedelta(minutes=2), recovered + timedelta(minutes=1)),
        ),
        sources=(
            SourceReport("prometheus/p", "prometheus", "ok", None, 2, 0.1, kinds=("metric",)),
            SourceReport(INSTANCE, "kubernetes", "ok", None, len(result.events), 0.1, kinds=("change",)),
        ),
    )
    settings = CorrelateSettings(services=SERVICES)
    d = draft(INCIDENT, evidence, settings, generated_at=INCIDENT.end)
    by_id = {e.id: e for e in result.events}
    top = by_id[d.candidate_causes[0].evidence]
    assert top.attrs["id"] == "Deployment/prod/payments@7"
    assert top.title == "payments: image v2.13.2 -> v2.14.0 (Deployment prod/payments revision 7)"
    assert any("rolled back" in r for r in d.candidate_causes[0].reasons)
    assert datetime(2026, 11, 20, tzinfo=UTC) < top.at < onset


def test_an_expired_continue_token_restarts_the_list_once(api: KubeStandIn, tmp_path: Path) -> None:
    build(api)
    expired = status(410, "Expired", "The provided continue parameter is too old to display a consistent list result.")
    api.inject(410, expired, resource="deployments", when=lambda p: "continue" in p, times=1)
    result = collect(make(api.url, tmp_path, page_size=2))
    assert "payments: image v2.13.2 -> v2.14.0 (Deployment prod/payments revision 7)" in by_title(result)
    assert not result.problems
    pages = [r for r in api.requests if r.path == "/apis/apps/v1/namespaces/prod/deployments"]
    assert ["continue" in r.params for r in pages] == [False, True, False, True, True]
