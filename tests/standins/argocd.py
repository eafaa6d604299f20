"""A stand-in Argo CD API server (stdlib only) for the `argocd` collector's tests.

It answers the REST routes the collector uses the way Argo CD's gRPC gateway does
(`server/application/application.proto`, `assets/swagger.json` of argoproj/argo-cd):

    GET /api/version                        VersionMessage {Version, BuildDate, GitCommit, ...}
    GET /api/v1/session/userinfo            {loggedIn, username, iss, groups}
    GET /api/v1/applications                ApplicationList {metadata, items} (items null when none);
                                            ?projects= (or legacy ?project=), ?selector=, ?appNamespace=, ?name=
    GET /api/v1/applications/{name}         Application; ?projects= (at most one), ?appNamespace=

Errors are the gateway's `runtimeError` `{"error", "code", "message", "details"}` with the gRPC code
(16 Unauthenticated -> 401, 7 PermissionDenied -> 403, 5 NotFound -> 404, 3 InvalidArgument -> 400).
RBAC follows `getAppEnforceRBAC` (server/application/application.go): the list leaves out what the
token may not `get`; a Get without a project answers 403 "permission denied" both for a forbidden
and for a missing application, and with a project answers 404 for either. `detailed_denials=True`
answers like Argo CD releases before late 2022, which sent the enforcer's text ("permission denied: applications,
get, default/payments, sub: dossier, iat: ...").

    with ArgoCD() as argo:
        argo.add(application("payments", history=[history_entry(1, "3f2a1c9...", "2026-11-20T09:55:00Z")]))
        argo.inject(503, count=2)           # the next two requests answer 503
        ... argo.url, argo.token, argo.requests

Run it alone with `python tests/standins/argocd.py [--port 8080]` to serve a small demo.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TOKEN = "dossier-argocd-token"
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 501: 12, 503: 14, 504: 4}
DEFAULT_MESSAGES = {
    400: "invalid argument",
    401: "invalid session: token signature is invalid",
    403: "permission denied",
    404: "Not Found",
    429: "too many requests",
    500: "internal error",
    503: 'connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.7:8081: connect: '
    'connection refused"',
    504: "context deadline exceeded",
}


def rfc3339(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gateway_error(status: int, message: str | None = None) -> dict[str, Any]:
    """The body of an error as Argo CD's gRPC gateway sends it."""
    text = message if message is not None else DEFAULT_MESSAGES.get(status, "error")
    return {"error": text, "code": GRPC_CODES.get(status, 2), "message": text, "details": []}


# ---- building Applications ----------------------------------------------------------------


def source(
    repo: str = "https://github.com/acme/deploy.git",
    path: str | None = "apps/payments",
    target_revision: str = "HEAD",
    *,
    chart: str | None = None,
    kustomize_images: Sequence[str] = (),
    helm_parameters: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An ApplicationSource."""
    out: dict[str, Any] = {"repoURL": repo, "targetRevision": target_revision}
    if path is not None:
        out["path"] = path
    if chart is not None:
        out["chart"] = chart
    if kustomize_images:
        out["kustomize"] = {"images": list(kustomize_images)}
    if helm_parameters:
        out["helm"] = {"parameters": [{"name": k, "value": v} for k, v in helm_parameters.items()]}
    return out


def history_entry(
    id: int,
    revision: str | None,
    deployed_at: datetime | str,
    *,
    started_at: datetime | str | None = None,
    username: str | None = None,
    automated: bool = False,
    src: Mapping[str, Any] | None = None,
    revisions: Sequence[str] | None = None,
    sources: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A RevisionHistory: what `status.history[]` holds for one successful sync."""
    out: dict[str, Any] = {"id": id, "deployedAt": rfc3339(deployed_at)}
    if revision is not None:
        out["revision"] = revision
    if revisions is not None:
        out["revisions"] = list(revisions)
    if started_at is not None:
        out["deployStartedAt"] = rfc3339(started_at)
    if sources is not None:
        out["sources"] = [dict(s) for s in sources]
    else:
        out["source"] = dict(src) if src is not None else source()
    initiator: dict[str, Any] = {}
    if username:
        initiator["username"] = username
    if automated:
        initiator["automated"] = True
    out["initiatedBy"] = initiator
    return out


def operation_state(
    phase: str,
    *,
    revision: str,
    started_at: datetime | str,
    finished_at: datetime | str | None = None,
    message: str = "",
    username: str | None = None,
    automated: bool = False,
    rollback_source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An OperationState; `rollback_source` is the `sync.source` that the Rollback API sets."""
    sync: dict[str, Any] = {"revision": revision, "syncStrategy": {"hook": {}}}
    if rollback_source is not None:
        sync["source"] = dict(rollback_source)
        sync["syncStrategy"] = {"apply": {}}
    initiator: dict[str, Any] = {"username": username} if username else {}
    if automated:
        initiator["automated"] = True
    out: dict[str, Any] = {
        "operation": {"sync": sync, "initiatedBy": initiator, "retry": {}},
        "phase": phase,
        "message": message,
        "startedAt": rfc3339(started_at),
    }
    if finished_at is not None:
        out["finishedAt"] = rfc3339(finished_at)
    if phase != "Running":
        out["syncResult"] = {"resources": [], "revision": revision, "source": sync.get("source") or source()}
    return out


def application(
    name: str,
    *,
    project: str = "default",
    namespace: str = "argocd",
    labels: Mapping[str, str] | None = None,
    src: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    operation: Mapping[str, Any] | None = None,
    sync_revision: str | None = None,
    automated: bool = False,
    history_limit: int | None = None,
) -> dict[str, Any]:
    """A v1alpha1.Application as the API returns it."""
    spec: dict[str, Any] = {
        "project": project,
        "source": dict(src) if src is not None else source(path=f"apps/{name}"),
        "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}} if automated else {},
    }
    if history_limit is not None:
        spec["revisionHistoryLimit"] = history_limit
    last_revision = sync_revision or (history[-1].get("revision") if history else None) or ""
    status: dict[str, Any] = {
        "sync": {"status": "Synced", "revision": last_revision, "comparedTo": {"source": spec["source"]}},
        "health": {"status": "Healthy"},
        "history": [dict(h) for h in history],
        "reconciledAt": "2026-11-20T12:00:00Z",
        "sourceType": "Kustomize",
    }
    if operation is not None:
        status["operationState"] = dict(operation)
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
            "resourceVersion": "4242",
            "generation": 7,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": dict(labels or {}),
        },
        "spec": spec,
        "status": status,
    }


# ---- the server -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class _Injection:
    status: int
    count: int
    body: Any
    headers: dict[str, str]
    path: str | None
    delay: float


@dataclass(slots=True)
class ArgoCD:
    """The stand-in; a context manager that serves on 127.0.0.1 on a free port."""

    token: str = DEFAULT_TOKEN
    username: str = "dossier"
    version: str = "v2.13.3+a25c8a0"
    namespace: str = "argocd"  # Argo CD's own namespace: the default appNamespace
    detailed_denials: bool = False
    denied: set[str] = field(default_factory=set)  # applications the token may not `get`
    apps: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    _injections: list[_Injection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- data

    def add(self, *apps: Mapping[str, Any]) -> ArgoCD:
        for app in apps:
            meta = app["metadata"]
            self.apps[(meta.get("namespace") or self.namespace, meta["name"])] = dict(app)
        return self

    def deny(self, *names: str) -> ArgoCD:
        self.denied.update(names)
        return self

    def inject(
        self,
        status: int,
        count: int = 1,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        path: str | None = None,
        delay: float = 0.0,
    ) -> ArgoCD:
        """The next `count` requests (to paths starting with `path`, if given) answer `status` with `body`
        (default: the gateway's error body), after `delay` seconds (longer than the client's timeout
        makes a timeout)."""
        with self._lock:
            self._injections.append(_Injection(status, count, body, dict(headers or {}), path, delay))
        return self

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # -- lifecycle

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the stand-in first (use it as a context manager)"
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self, port: int = 0) -> ArgoCD:
        handler = type("Handler", (_Handler,), {"argo": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="argocd-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ArgoCD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering

    def _take_injection(self, path: str) -> _Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.count > 0 and (inj.path is None or path.startswith(inj.path)):
                    inj.count -= 1
                    return inj
        return None

    def answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple:
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers))
        inj = self._take_injection(path)
        if inj is not None:
            if inj.delay:
                time.sleep(inj.delay)
            body = inj.body if inj.body is not None else (gateway_error(inj.status) if inj.status >= 400 else {})
            return inj.status, inj.headers, body
        if method != "GET":
            return 501, {}, gateway_error(501, "Method Not Allowed")
        if path == "/api/version":
            return 200, {}, self._version(self._user(headers) is not None)
        if path == "/api/v1/session/userinfo":
            user = self._user(headers)
            info = {"loggedIn": True, "username": user, "iss": "argocd"} if user else {"loggedIn": False}
            return 200, {}, info
        if path == "/api/v1/applications" or path.startswith("/api/v1/applications/"):
            denial = self._authenticate(headers)
            if denial is not None:
                return denial
            if path == "/api/v1/applications":
                return self._list(query)
            name = unquote(path[len("/api/v1/applications/") :])
            if "/" in name:
                return 404, {}, gateway_error(404, "Not Found")
            return self._get(name, query)
        return 404, {}, gateway_error(404, "Not Found")

    def _user(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        return self.username if auth == f"Bearer {self.token}" else None

    def _authenticate(self, headers: Mapping[str, str]) -> tuple | None:
        auth = headers.get("authorization")
        if not auth:
            return 401, {}, gateway_error(401, "no session information")
        if auth != f"Bearer {self.token}":
            return 401, {}, gateway_error(401, "invalid session: token signature is invalid")
        return None

    def _version(self, authenticated: bool) -> dict[str, Any]:
        if not authenticated:
            return {"Version": self.version}
        return {
            "Version": self.version,
            "BuildDate": "2024-12-16T16:45:29Z",
            "GitCommit": "a25c8a0eef7830be0c2c9074c92dbea8ff23a962",
            "GitTreeState": "clean",
            "GoVersion": "go1.22.9",
            "Compiler": "gc",
            "Platform": "linux/amd64",
            "KustomizeVersion": "v5.4.3",
            "HelmVersion": "v3.15.4+gfa9efb0",
            "KubectlVersion": "v0.31.0",
            "JsonnetVersion": "v0.20.0",
        }

    def _denial(self, project: str, name: str) -> dict[str, Any]:
        if not self.detailed_denials:
            return gateway_error(403, "permission denied")
        claims = f"sub: {self.username}, iat: 2026-11-19T08:00:00Z"
        return gateway_error(403, f"permission denied: applications, get, {project}/{name}, {claims}")

    def _list(self, query: dict[str, list[str]]) -> tuple:
        projects = query.get("project") or query.get("projects") or []  # the legacy name wins, as in Argo CD
        try:
            matches = _selector(query.get("selector", [""])[0])
        except ValueError as exc:
            return 400, {}, gateway_error(400, f"error parsing the selector: {exc}")
        namespace = query.get("appNamespace", [None])[0]
        name = query.get("name", [None])[0]
        items = []
        for (ns, app_name), app in sorted(self.apps.items()):
            if app_name in self.denied:
                continue  # not an error: the list only shows what the caller may get
            if (namespace and ns != namespace) or (name and app_name != name):
                continue
            if projects and app["spec"].get("project", "default") not in projects:
                continue
            if not matches(app["metadata"].get("labels") or {}):
                continue
            items.append(app)
        return 200, {}, {"metadata": {"resourceVersion": "4242"}, "items": items or None}

    def _get(self, name: str, query: dict[str, list[str]]) -> tuple:
        projects = query.get("project") or query.get("projects") or []
        if len(projects) > 1:
            return (
                400,
                {},
                gateway_error(400, "multiple projects specified - the get endpoint accepts either zero or one project"),
            )
        project = projects[0] if projects else ""
        namespace = query.get("appNamespace", [None])[0] or self.namespace
        app = self.apps.get((namespace, name))
        not_found: tuple[int, dict[str, str], dict[str, Any]] = (
            404,
            {},
            gateway_error(404, f'applications.argoproj.io "{name}" not found'),
        )
        if app is None:  # older releases said so; newer ones hide which apps exist
            return not_found if project or self.detailed_denials else (403, {}, self._denial("default", name))
        actual = app["spec"].get("project") or "default"
        if name in self.denied:
            return not_found if project else (403, {}, self._denial(actual, name))
        if project and project != actual:
            return not_found
        return 200, {}, app


class _Handler(BaseHTTPRequestHandler):
    argo: ArgoCD
    server_version = "argocd-server"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.argo.answer(method, parts.path, query, headers)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status >= 400:
                self.send_header("Grpc-Metadata-Content-Type", "application/grpc")
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


# ---- label selectors (the subset of Kubernetes' syntax Argo CD passes through) ---------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.-]*)|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def _selector(text: str):  # type: ignore[no-untyped-def]
    """A predicate over labels for `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`."""
    requirements = []
    for part in _split(text):
        m = _REQUIREMENT.match(part)
        if m is None:
            raise ValueError(f"unable to parse requirement: {part!r}")
        requirements.append(m.groupdict())

    def matches(labels: Mapping[str, str]) -> bool:
        for r in requirements:
            key, present = r["key"], r["key"] in labels
            if r["op"] in ("=", "=="):
                ok = labels.get(key) == r["value"]
            elif r["op"] == "!=":
                ok = labels.get(key) != r["value"]
            elif r["set"]:
                values = {v.strip() for v in r["values"].split(",")}
                ok = (labels.get(key) in values) if r["set"] == "in" else (labels.get(key) not in values)
            else:
                ok = not present if r["not"] else present
            if not ok:
                return False
        return True

    return matches


def _split(text: str) -> Iterable[str]:
    """Split on the commas that are not inside `( )`."""
    depth, current = 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            if current.strip():
                yield current
            current = ""
        else:
            current += ch
    if current.strip():
        yield current


# ---- standalone -----------------------------------------------------------------------------


def demo() -> ArgoCD:
    sha = ["3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"]
    argo = ArgoCD()
    argo.add(
        application(
            "payments",
            labels={"app.kubernetes.io/name": "payments"},
            automated=True,
            history=[
                history_entry(1, sha[1], "2026-11-20T08:30:00Z", started_at="2026-11-20T08:29:40Z", automated=True),
                history_entry(2, sha[0], "2026-11-20T09:55:00Z", started_at="2026-11-20T09:54:31Z", automated=True),
            ],
        ),
        application(
            "checkout",
            history=[history_entry(5, sha[1], "2026-11-20T07:00:00Z", username="alice")],
            operation=operation_state(
                "Failed",
                revision=sha[0],
                started_at="2026-11-20T10:10:00Z",
                finished_at="2026-11-20T10:12:00Z",
                message="one or more objects failed to apply",
                username="bob",
            ),
        ),
    )
    return argo


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a stand-in Argo CD API with demo applications.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    args = parser.parse_args(argv)
    argo = demo().start(args.port)
    print(f"Argo CD stand-in at {argo.url} (token {argo.token!r}); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        argo.stop()


if __name__ == "__main__":
    main()
