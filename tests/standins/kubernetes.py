"""A stand-in Kubernetes API server for tests: the list endpoints the `kubernetes` collector uses.

    with KubeStandIn(token="t0ken") as api:
        api.add(deployment("prod", "payments", ...))
        api.inject(403, resource="replicasets", namespace="prod")   # RBAC says no
        ... kubeconfig with `server: {api.url}`, user token t0ken ...
        api.requests  # [Req(method, path, params, headers)], in order

What it speaks, as a real API server does (checked against apiserver's JSON):

* `GET /version`;
* `GET /apis/apps/v1/namespaces/{ns}/{deployments|replicasets|statefulsets|daemonsets|controllerrevisions}`,
  `GET /api/v1/namespaces/{ns}/events` and their all-namespaces forms (`/apis/apps/v1/deployments`);
* lists as `{"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion",
  "continue", "remainingItemCount"}, "items": [...]}`, items in key order (namespace, name), without
  their own kind/apiVersion;
* `labelSelector` (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and
  `fieldSelector` (`metadata.name`, `metadata.namespace`, and for events `involvedObject.*`, `reason`,
  `type`; `=`, `==`, `!=`); an unsupported field is a 400, as the API server answers;
* `limit` and `continue` (an opaque base64 token; a bad one is a 400, an expired one can be injected);
* errors as `Status` objects: 401 without the bearer token, 403 as RBAC words it, 404 for unknown paths.

The builders below (`deployment`, `replicaset`, ...) make objects with the fields a real cluster
fills in (uid, resourceVersion, generation, managedFields, ownerReferences, status conditions).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APPS = {"deployments": "Deployment", "replicasets": "ReplicaSet", "statefulsets": "StatefulSet"}
APPS |= {"daemonsets": "DaemonSet", "controllerrevisions": "ControllerRevision"}
GROUPS = {**dict.fromkeys(APPS, "apps"), "events": ""}
KINDS = {**APPS, "events": "Event"}
EVENT_FIELDS = {
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.fieldPath",
    "involvedObject.resourceVersion",
    "reason",
    "reportingComponent",
    "source",
    "type",
}


@dataclass(frozen=True, slots=True)
class Req:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names in lowercase


@dataclass(slots=True)
class _Injection:
    status: int
    body: dict[str, Any] | None
    match: Callable[[str, str | None, dict[str, str]], bool]
    times: int | None  # None: every time
    raw: bytes | None = None


def status(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` object, as the API server sends with every error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = dict(details)
    return body


def forbidden(
    resource: str,
    namespace: str | None,
    *,
    user: str = "system:serviceaccount:dossier:dossier",
    verb: str = "list",
) -> dict[str, Any]:
    group = GROUPS.get(resource, "")
    qualified = f"{resource}.{group}" if group else resource
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return status(
        403,
        "Forbidden",
        f'{qualified} is forbidden: User "{user}" cannot {verb} resource "{resource}" in API group "{group}"{where}',
        {"group": group, "kind": resource} if group else {"kind": resource},
    )


class KubeStandIn:
    def __init__(self, *, token: str | None = "t0ken", git_version: str = "v1.29.2") -> None:
        self.token = token
        self.git_version = git_version
        self.objects: dict[str, list[dict[str, Any]]] = {r: [] for r in KINDS}
        self.requests: list[Req] = []
        self.responses: list[tuple[Req, int, bytes]] = []  # every answer, with its exact bytes
        self._injections: list[_Injection] = []
        self._lock = threading.Lock()
        self._rv = itertools.count(100_000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- data

    def add(self, *objects: dict[str, Any]) -> KubeStandIn:
        """Store objects; the resource is told by their `kind` (which lists then leave out)."""
        plural = {v: k for k, v in KINDS.items()}
        for obj in objects:
            resource = plural[obj["kind"]]
            meta = obj.setdefault("metadata", {})
            meta.setdefault("uid", _uid(resource, meta.get("namespace", ""), meta["name"]))
            meta.setdefault("resourceVersion", str(next(self._rv)))
            with self._lock:
                self.objects[resource].append(obj)
        return self

    def inject(
        self,
        status_code: int,
        body: dict[str, Any] | None = None,
        *,
        resource: str | None = None,
        namespace: str | None = None,
        when: Callable[[dict[str, str]], bool] | None = None,
        times: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Answer matching requests with an error instead (`times`: only so often)."""

        def match(res: str, ns: str | None, params: dict[str, str]) -> bool:
            return (
                (resource is None or res == resource)
                and (namespace is None or ns == namespace)
                and (when is None or when(params))
            )

        if body is None and raw is None:
            if status_code == 403 and resource is not None:
                body = forbidden(resource, namespace)
            else:
                body = status(status_code, _REASONS.get(status_code, "InternalError"), f"injected {status_code}")
        self._injections.append(_Injection(status_code, body, match, times, raw))

    # -- server

    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first (use it as a context manager)"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> KubeStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet tests
                pass

            def do_GET(self) -> None:
                code, body = standin._handle(self)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                with standin._lock:
                    standin.responses.append((standin.requests[-1], code, raw))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- requests

    def _handle(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        split = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        with self._lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.requests.append(Req("GET", split.path, params, headers))
        if self.token is not None and handler.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, status(401, "Unauthorized", "Unauthorized")
        if split.path in ("/version", "/version/"):
            return 200, {
                "major": "1",
                "minor": self.git_version.split(".")[1],
                "gitVersion": self.git_version,
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2024-02-14T10:32:40Z",
                "goVersion": "go1.21.7",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        m = re.fullmatch(r"/(?:apis/apps/v1|api/v1)(?:/namespaces/([^/]+))?/([a-z]+)", split.path)
        if m is None or m[2] not in KINDS or (m[2] == "events") != split.path.startswith("/api/v1"):
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        namespace, resource = m[1], m[2]
        for inj in self._injections:
            if inj.times != 0 and inj.match(resource, namespace, params):
                if inj.times is not None:
                    inj.times -= 1
                return inj.status, inj.raw if inj.raw is not None else inj.body
        return self._list(resource, namespace, params)

    def _list(self, resource: str, namespace: str | None, params: dict[str, str]) -> tuple[int, Any]:
        try:
            labels = _label_selector(params.get("labelSelector", ""))
            fields = _field_selector(params.get("fieldSelector", ""), resource)
        except ValueError as exc:
            return 400, status(400, "BadRequest", str(exc))
        with self._lock:
            items = [o for o in self.objects[resource] if namespace in (None, o["metadata"].get("namespace"))]
        items = [o for o in items if labels(o["metadata"].get("labels") or {}) and fields(o)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        start = 0
        rv = "123456"
        if params.get("continue"):
            try:
                token = json.loads(base64.b64decode(params["continue"]))
                start, rv = int(token["start"]), str(token["rv"])
            except (ValueError, KeyError, TypeError):
                return 400, status(400, "BadRequest", "continue key is not valid: invalid continue token")
        limit = int(params["limit"]) if params.get("limit", "").isdigit() and int(params["limit"]) > 0 else None
        page = items[start : start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": rv}
        rest = len(items) - start - len(page)
        if rest > 0:
            token = {"v": "meta.k8s.io/v1", "rv": int(rv), "start": start + len(page)}
            meta["continue"] = base64.b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = rest
        group = GROUPS[resource]
        out = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
        return 200, {
            "kind": f"{KINDS[resource]}List",
            "apiVersion": f"{group}/v1" if group else "v1",
            "metadata": meta,
            "items": out,
        }


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 410: "Expired"}
_REASONS |= {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}


def _uid(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# ---- selectors -------------------------------------------------------------------------------


def _split_terms(text: str) -> Iterator[str]:
    depth, term = 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            yield term.strip()
            term = ""
        else:
            term += ch
    if term.strip():
        yield term.strip()


def _label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    tests: list[Callable[[Mapping[str, str]], bool]] = []
    for term in _split_terms(text):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", term):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",") if v.strip()}
            if op == "in":
                tests.append(lambda ls, k=key, vs=values: ls.get(k) in vs)
            else:
                tests.append(lambda ls, k=key, vs=values: ls.get(k) not in vs)
        elif m := re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", term):
            key, op, value = m[1], m[2], m[3]
            if op == "!=":
                tests.append(lambda ls, k=key, v=value: ls.get(k) != v)
            else:
                tests.append(lambda ls, k=key, v=value: ls.get(k) == v)
        elif m := re.fullmatch(r"!(\S+)", term):
            tests.append(lambda ls, k=m[1]: k not in ls)
        elif re.fullmatch(r"[^=!\s(),]+", term):
            tests.append(lambda ls, k=term: k in ls)
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return lambda labels: all(t(labels) for t in tests)


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component") or "")
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def _field_selector(text: str, resource: str) -> Callable[[Mapping[str, Any]], bool]:
    tests: list[Callable[[Mapping[str, Any]], bool]] = []
    allowed = {"metadata.name", "metadata.namespace"} | (EVENT_FIELDS if resource == "events" else set())
    for term in _split_terms(text):
        m = re.fullmatch(r"([^=!]+)(==|=|!=)(.*)", term)
        if m is None:
            raise ValueError(f"invalid selector: {text!r}; can't understand {term!r}")
        path, op, value = m[1], m[2], m[3]
        if path not in allowed:
            raise ValueError(f'field label not supported: {path}"')
        if op == "!=":
            tests.append(lambda o, p=path, v=value: _field_value(o, p) != v)
        else:
            tests.append(lambda o, p=path, v=value: _field_value(o, p) == v)
    return lambda obj: all(t(obj) for t in tests)


# ---- object builders ---------------------------------------------------------------------------


def _meta(namespace: str, name: str, created: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "creationTimestamp": created}
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta


def _template(
    labels: Mapping[str, str],
    containers: Mapping[str, str] | list[tuple[str, str]],
    *,
    env: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    hash_label: tuple[str, str] | None = None,
) -> dict[str, Any]:
    pairs = list(containers.items()) if isinstance(containers, Mapping) else list(containers)
    all_labels = dict(labels)
    if hash_label is not None:
        all_labels[hash_label[0]] = hash_label[1]
    meta: dict[str, Any] = {"creationTimestamp": None, "labels": all_labels}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "metadata": meta,
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    **({"env": [{"name": k, "value": v} for k, v in env.items()]} if env else {}),
                    "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
                for name, image in pairs
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


def template_hash(template: Mapping[str, Any]) -> str:
    """A stand-in for the controller's hash of a template (10 characters of the safe alphabet)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def _managed(manager: str, time: str, fields: Mapping[str, Any], subresource: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": dict(fields),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def deployment(
    namespace: str,
    name: str,
    *,
    created: str,
    containers: Mapping[str, str],
    revision: int,
    labels: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    template_annotations: Mapping[str, str] | None = None,
    current_replicaset: str | None = None,
    progressed_at: str | None = None,
    change_cause: str | None = None,
    replicas: int = 3,
) -> dict[str, Any]:
    labels = dict(labels or {"app.kubernetes.io/name": name})
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if change_cause:
        annotations["kubernetes.io/change-cause"] = change_cause
    conditions = [
        {
            "type": "Available",
            "status": "True",
            "lastUpdateTime": created,
            "lastTransitionTime": created,
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
        }
    ]
    if current_replicaset is not None:
        conditions.append(
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": progressed_at or created,
                "lastTransitionTime": created,
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{current_replicaset}" has successfully progressed.',
            }
        )
    return {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": _meta(
            namespace,
            name,
            created,
            generation=revision,
            labels=labels,
            annotations=annotations,
            managedFields=[
                _managed("kubectl-client-side-apply", created, {"f:spec": {"f:template": {}}}),
                _managed("kube-controller-manager", progressed_at or created, {"f:status": {}}, "status"),
            ],
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": _template(labels, containers, env=env, annotations=template_annotations),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {
            "observedGeneration": revision,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": conditions,
        },
    }


def set_progressing(deployment: dict[str, Any], replicaset_name: str, at: str) -> None:
    """Set the Deployment's `Progressing` condition as the controller leaves it after a rollout."""
    conditions = [c for c in deployment["status"]["conditions"] if c["type"] != "Progressing"]
    conditions.append(
        {
            "type": "Progressing",
            "status": "True",
            "lastUpdateTime": at,
            "lastTransitionTime": deployment["metadata"]["creationTimestamp"],
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{replicaset_name}" has successfully progressed.',
        }
    )
    deployment["status"]["conditions"] = conditions


def replicaset(
    owner: Mapping[str, Any],
    *,
    created: str,
    containers: Mapping[str, str],
    revision: int,
    history: list[int] | None = None,
    env: Mapping[str, str] | None = None,
    template_annotations: Mapping[str, str] | None = None,
    change_cause: str | None = None,
    replicas: int = 0,
    name: str | None = None,
) -> dict[str, Any]:
    """A ReplicaSet owned by the Deployment `owner` (as `deployment()` built it)."""
    meta = owner["metadata"]
    labels = dict(owner["spec"]["selector"]["matchLabels"])
    template = _template(labels, containers, env=env, annotations=template_annotations)
    pod_hash = template_hash(template)
    template["metadata"]["labels"]["pod-template-hash"] = pod_hash
    annotations = {
        "deployment.kubernetes.io/desired-replicas": str(owner["spec"]["replicas"]),
        "deployment.kubernetes.io/max-replicas": str(owner["spec"]["replicas"] + 1),
        "deployment.kubernetes.io/revision": str(revision),
    }
    if history:
        annotations["deployment.kubernetes.io/revision-history"] = ",".join(str(h) for h in history)
    if change_cause:
        annotations["kubernetes.io/change-cause"] = change_cause
    uid = meta.get("uid") or _uid("deployments", meta["namespace"], meta["name"])
    meta["uid"] = uid
    return {
        "kind": "ReplicaSet",
        "apiVersion": "apps/v1",
        "metadata": _meta(
            meta["namespace"],
            name or f"{meta['name']}-{pod_hash}",
            created,
            generation=1,
            labels={**labels, "pod-template-hash": pod_hash},
            annotations=annotations,
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            managedFields=[
                _managed("kube-controller-manager", created, {"f:metadata": {}, "f:spec": {}}),
                _managed("kube-controller-manager", created, {"f:status": {}}, "status"),
            ],
        ),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {**labels, "pod-template-hash": pod_hash}},
            "template": template,
        },
        "status": {"replicas": replicas, "observedGeneration": 1},
    }


def statefulset(
    namespace: str,
    name: str,
    *,
    created: str,
    containers: Mapping[str, str],
    labels: Mapping[str, str] | None = None,
    kind: str = "StatefulSet",
) -> dict[str, Any]:
    labels = dict(labels or {"app.kubernetes.io/name": name})
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(labels)},
        "template": _template(labels, containers),
        "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate"},
    }
    if kind == "StatefulSet":
        spec |= {"replicas": 3, "serviceName": name, "podManagementPolicy": "OrderedReady"}
    return {
        "kind": kind,
        "apiVersion": "apps/v1",
        "metadata": _meta(namespace, name, created, generation=1, labels=labels),
        "spec": spec,
        "status": {"observedGeneration": 1},
    }


def daemonset(namespace: str, name: str, **kwargs: Any) -> dict[str, Any]:
    return statefulset(namespace, name, kind="DaemonSet", **kwargs)


def controllerrevision(
    owner: Mapping[str, Any],
    *,
    created: str,
    containers: Mapping[str, str],
    revision: int,
    updated: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ControllerRevision of the StatefulSet or DaemonSet `owner`; `updated`: when its revision
    number was last bumped (a rollback to it), as managedFields records it."""
    meta = owner["metadata"]
    labels = dict(owner["spec"]["selector"]["matchLabels"])
    template = _template(labels, containers, env=env)
    rev_hash = template_hash(template)
    uid = meta.get("uid") or _uid(owner["kind"].lower() + "s", meta["namespace"], meta["name"])
    meta["uid"] = uid
    managed = [_managed("kube-controller-manager", created, {"f:data": {}, "f:metadata": {}, "f:revision": {}})]
    if updated:
        managed[0]["time"] = updated  # the same manager's entry, updated by the bump
    return {
        "kind": "ControllerRevision",
        "apiVersion": "apps/v1",
        "metadata": _meta(
            meta["namespace"],
            f"{meta['name']}-{rev_hash}",
            created,
            labels={**labels, "controller-revision-hash": rev_hash},
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": owner["kind"],
                    "name": meta["name"],
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            managedFields=managed,
        ),
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        "revision": revision,
    }


def event(
    namespace: str,
    *,
    kind: str,
    name: str,
    reason: str,
    message: str,
    first: str,
    last: str | None = None,
    count: int = 1,
    type: str = "Warning",
    component: str = "kubelet",
) -> dict[str, Any]:
    """A `core/v1` Event as the (old-style) recorder writes it: first/lastTimestamp and count."""
    suffix = hashlib.sha256(f"{name}{reason}{first}".encode()).hexdigest()[:16]
    return {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": _meta(namespace, f"{name}.{suffix}", first),
        "involvedObject": {
            "kind": kind,
            "namespace": namespace,
            "name": name,
            "uid": _uid(kind, namespace, name),
            "apiVersion": "v1" if kind == "Pod" else "apps/v1",
            "resourceVersion": "4242",
            **({"fieldPath": "spec.containers{app}"} if kind == "Pod" else {}),
        },
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": "node-1"} if component == "kubelet" else {})},
        "firstTimestamp": first,
        "lastTimestamp": last or first,
        "count": count,
        "type": type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "node-1" if component == "kubelet" else "",
    }


@dataclass(slots=True)
class Kubeconfig:
    """Writes a kubeconfig for the stand-in (token user, plain http)."""

    server: str
    token: str = "t0ken"
    context: str = "standin"
    extra_contexts: list[str] = field(default_factory=list)

    def text(self) -> str:
        contexts = [self.context, *self.extra_contexts]
        lines = [
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: standin",
            "  cluster:",
            f"    server: {self.server}",
            "users:",
            "- name: dossier",
            "  user:",
            f"    token: {self.token}",
            "contexts:",
        ]
        for c in contexts:
            lines += [f"- name: {c}", "  context:", "    cluster: standin", "    user: dossier"]
        lines.append(f"current-context: {self.context}")
        return "\n".join(lines) + "\n"
