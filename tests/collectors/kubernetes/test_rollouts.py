"""The pure parts of the `kubernetes` collector: revisions -> rollouts, events -> workloads."""

from __future__ import annotations

from datetime import datetime

from collectors.kubernetes._events import EventIndex, Owner, parse_event
from collectors.kubernetes._rollouts import (
    RevisionObject,
    Timing,
    controllerrevision_object,
    deployment_timing,
    replicaset_object,
    rollouts,
    split_image,
    template_changes,
)
from collectors.kubernetes.collector import _selector
from tests.standins.kubernetes import controllerrevision, deployment, event, replicaset, statefulset


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def template(images: dict[str, str], annotations: dict[str, str] | None = None, env: str = "a") -> dict:
    return {
        "metadata": {"labels": {"app": "x"}, "annotations": annotations or {}},
        "spec": {
            "containers": [{"name": n, "image": i, "env": [{"name": "E", "value": env}]} for n, i in images.items()]
        },
    }


def obj(name: str, created: str, revisions: tuple[int, ...], images: dict[str, str], **kw) -> RevisionObject:
    return RevisionObject(name, t(created), revisions, template(images, kw.pop("annotations", None), **kw))


def test_reuse_without_revision_history_is_found_by_creation_time():
    # the history annotation is missing (edited away, or over its length limit): revision 3's
    # ReplicaSet was created before revision 2's, so it cannot have been made for revision 3
    a = obj("x-a", "2026-11-01T00:00:00Z", (3,), {"app": "app:1"})
    b = obj("x-b", "2026-11-20T09:00:00Z", (2,), {"app": "app:2"})
    found = {r.revision: r for r in rollouts([a, b])}
    assert found[2].kind == "deploy" and found[2].at == t("2026-11-20T09:00:00Z")
    assert found[2].short == "image 1 -> 2"  # the only older object is what revision 2 replaced
    rb = found[3]
    assert (rb.kind, rb.rolled_back_to, rb.at, rb.after, rb.before) == (
        "rollback",
        None,
        None,
        t("2026-11-20T09:00:00Z"),
        None,
    )
    assert rb.short == "rolled back to an earlier revision: image 2 -> 1"


def test_restart_time_going_back_means_a_rollback():
    a = obj(
        "x-a",
        "2026-11-20T09:00:00Z",
        (1,),
        {"app": "app:1"},
        annotations={"kubectl.kubernetes.io/restartedAt": "2026-11-20T09:00:00Z"},
    )
    b = obj(
        "x-b",
        "2026-11-20T10:00:00Z",
        (2,),
        {"app": "app:1"},
        annotations={"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"},
    )
    # revision 3 holds a template restarted at 09:00, older than revision 2's restart: a rollback
    # (the object was created at 10:30 here, as if its history had been lost entirely)
    c = obj(
        "x-c",
        "2026-11-20T10:30:00Z",
        (3,),
        {"app": "app:1"},
        annotations={"kubectl.kubernetes.io/restartedAt": "2026-11-20T09:00:00Z"},
    )
    found = {r.revision: r for r in rollouts([a, b, c])}
    assert found[2].kind == "deploy" and found[2].restart
    assert found[3].kind == "rollback"


def test_reuse_time_comes_from_scale_up_events_after_the_previous_revision():
    a = obj("x-a", "2026-11-19T00:00:00Z", (1, 3), {"app": "app:1"})
    b = obj("x-b", "2026-11-20T09:00:00Z", (2,), {"app": "app:2"})
    # an old scale-up of x-a (before revision 2) does not count, the one after it does
    timing = Timing(scale_ups={"x-a": [t("2026-11-19T00:00:05Z"), t("2026-11-20T09:30:00Z")]}, current=3)
    rb = rollouts([a, b], timing)[-1]
    assert (rb.kind, rb.rolled_back_to, rb.at, rb.time_source) == (
        "rollback",
        1,
        t("2026-11-20T09:30:00Z"),
        "ScalingReplicaSet event",
    )


def test_an_earlier_rollback_is_bounded_by_the_next_revision():
    # 1 (a), 2 (b), 3 = rollback to a, 4 (c): revision 3 happened between 2 and 4
    a = obj("x-a", "2026-11-19T00:00:00Z", (1, 3), {"app": "app:1"})
    b = obj("x-b", "2026-11-20T09:00:00Z", (2,), {"app": "app:2"})
    c = obj("x-c", "2026-11-20T11:00:00Z", (4,), {"app": "app:3"})
    found = {
        r.revision: r for r in rollouts([a, b, c], Timing(progressing=("x-c", t("2026-11-20T11:05:00Z")), current=4))
    }
    assert (found[3].at, found[3].after, found[3].before) == (
        None,
        t("2026-11-20T09:00:00Z"),
        t("2026-11-20T11:00:00Z"),
    )
    assert found[4].previous is a and found[4].short == "image 1 -> 3"


def test_image_changes_of_several_containers():
    a = obj("x-a", "2026-11-19T00:00:00Z", (1,), {"app": "reg:5000/team/app:1.0", "proxy": "envoy:1.28"})
    b = obj("x-b", "2026-11-20T00:00:00Z", (2,), {"app": "reg:5000/team/app:1.1", "proxy": "envoy:1.29"})
    r = rollouts([a, b])[-1]
    assert r.change == "images reg:5000/team/app:1.0 -> reg:5000/team/app:1.1, envoy:1.28 -> envoy:1.29"
    assert r.short == "images app 1.0 -> 1.1, proxy 1.28 -> 1.29"
    c = obj("x-c", "2026-11-21T00:00:00Z", (3,), {"app": "reg:5000/team/app:1.1"})
    assert rollouts([b, c])[-1].short == "container proxy removed"


def test_split_image():
    assert split_image("registry.example.com:5000/payments:v2.14.0") == (
        "registry.example.com:5000/payments",
        "v2.14.0",
    )
    assert split_image("registry.example.com:5000/payments") == ("registry.example.com:5000/payments", "latest")
    assert split_image("app@sha256:abc") == ("app", "@sha256:abc")


def test_template_changes():
    old = template({"app": "app:1"}, {"checksum/config": "1"})
    new = template({"app": "app:1"}, {"checksum/config": "2"}, env="b")
    new["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "app-v2"}}]
    assert template_changes(old, new) == ("annotations.checksum/config", "containers.app.env", "volumes")


def test_objects_from_real_shapes():
    dep = deployment("prod", "p", created="2026-11-01T00:00:00Z", containers={"p": "p:1"}, revision=3)
    rs = replicaset(dep, created="2026-11-02T00:00:00Z", containers={"p": "p:1"}, revision=3, history=[1])
    o = replicaset_object(rs)
    assert o is not None and o.revisions == (1, 3) and o.images == ("p:1",)
    assert "pod-template-hash" not in o.template["metadata"]["labels"]
    rs["metadata"]["annotations"].pop("deployment.kubernetes.io/revision")
    assert replicaset_object(rs) is None  # not (yet) a revision of its Deployment
    sts = statefulset("prod", "db", created="2026-11-01T00:00:00Z", containers={"pg": "postgres:15"})
    cr = controllerrevision(sts, created="2026-11-02T00:00:00Z", containers={"pg": "postgres:15"}, revision=4)
    c = controllerrevision_object(cr)
    assert c is not None and c.revisions == (4,) and c.images == ("postgres:15",) and c.updated is None
    assert "$patch" not in c.template
    bumped = controllerrevision(
        sts,
        created="2026-11-02T00:00:00Z",
        containers={"pg": "postgres:15"},
        revision=6,
        updated="2026-11-20T09:00:00Z",
    )
    assert controllerrevision_object(bumped).updated == t("2026-11-20T09:00:00Z")


def test_deployment_timing():
    dep = deployment("prod", "p", created="2026-11-01T00:00:00Z", containers={"p": "p:1"}, revision=3)
    timing = deployment_timing(
        dep,
        [
            ("Scaled up replica set p-abc to 3", t("2026-11-20T09:00:00Z"), t("2026-11-20T09:00:00Z")),
            ("Scaled up replica set p-abc from 0 to 3", t("2026-11-19T09:00:00Z"), t("2026-11-20T10:00:00Z")),
            ("Scaled down replica set p-def from 3 to 0", t("2026-11-20T09:01:00Z"), t("2026-11-20T09:01:00Z")),
            (
                "(combined from similar events): Scaled up replica set p-xyz to 1",
                t("2026-11-20T09:02:00Z"),
                t("2026-11-20T09:02:00Z"),
            ),
        ],
    )
    assert timing.current == 3
    assert timing.scale_ups == {
        "p-abc": [t("2026-11-19T09:00:00Z"), t("2026-11-20T09:00:00Z"), t("2026-11-20T10:00:00Z")]
    }


def test_selector():
    spec = {"spec": {"selector": {"matchLabels": {"app": "p", "tier": "web"}, "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["prod", "canary"]},
        {"key": "legacy", "operator": "DoesNotExist"},
        {"key": "team", "operator": "Exists"},
        {"key": "zone", "operator": "NotIn", "values": ["b"]},
    ]}}}  # fmt: skip
    assert _selector(spec) == "app=p,tier=web,env in (canary,prod),!legacy,team,zone notin (b)"
    assert _selector({"spec": {}}) is None


def test_events_are_matched_to_workloads_by_their_pods_names():
    long_rs = "a-very-long-deployment-name-that-goes-on-and-on-and-on-7d9f8c6b5"
    index = EventIndex(
        [
            Owner("Deployment/prod/payments", "Deployment", "prod", "payments", ("payments-7d9f8c6b5",)),
            Owner(
                "Deployment/prod/payments-worker", "Deployment", "prod", "payments-worker", ("payments-worker-5c6d",)
            ),
            Owner("Deployment/prod/long", "Deployment", "prod", "long", (long_rs,)),
            Owner("StatefulSet/prod/db", "StatefulSet", "prod", "db"),
            Owner("DaemonSet/prod/agent", "DaemonSet", "prod", "agent"),
        ]
    )

    def owner(kind: str, name: str) -> str | None:
        item = event("prod", kind=kind, name=name, reason="BackOff", message="m", first="2026-11-20T10:00:00Z")
        ev = parse_event(item)
        assert ev is not None
        return index.owner(ev)

    assert owner("Pod", "payments-7d9f8c6b5-xk2pq") == "Deployment/prod/payments"
    assert owner("Pod", "payments-worker-5c6d-xk2pq") == "Deployment/prod/payments-worker"
    assert owner("Pod", (long_rs + "-")[:58] + "b7c9d") == "Deployment/prod/long"
    assert owner("Pod", "db-0") == owner("Pod", "db-12") == "StatefulSet/prod/db"
    assert owner("Pod", "db-01") is None
    assert owner("Pod", "agent-x2v4z") == "DaemonSet/prod/agent"
    assert owner("ReplicaSet", "payments-7d9f8c6b5") == "Deployment/prod/payments"
    assert owner("HorizontalPodAutoscaler", "payments") == "Deployment/prod/payments"
    assert owner("Pod", "other-7d9f8c6b5-xk2pq") is None
    assert owner("Node", "node-1") is None


def test_new_style_events_with_series():
    item = {
        "metadata": {"name": "p.1", "namespace": "prod", "uid": "u1"},
        "involvedObject": {"kind": "Pod", "name": "p-0"},
        "reason": "BackOff",
        "type": "Warning",
        "message": "Back-off",
        "eventTime": "2026-11-20T10:00:00.123456Z",
        "series": {"count": 17, "lastObservedTime": "2026-11-20T10:20:00.000000Z"},
        "reportingComponent": "kubelet",
        "firstTimestamp": None,
        "lastTimestamp": None,
    }
    ev = parse_event(item)
    assert ev is not None
    assert (ev.first, ev.last, ev.count, ev.component) == (
        t("2026-11-20T10:00:00.123456Z"),
        t("2026-11-20T10:20:00Z"),
        17,
        "kubelet",
    )
