"""The Kubernetes API through the official client: list requests, provenance, error mapping.

    api = KubeApi(config, instance=ctx.instance, recorder=ctx.recorder)
    page = api.list(DEPLOYMENTS, "prod")             # every page, following `continue`
    page.items, page.request_ids

Each call goes through the generated client (`AppsV1Api.list_namespaced_replica_set`, ...), so
the kubeconfig's authentication (tokens, client certificates, exec plugins, in-cluster token
refresh) applies, but with `_preload_content=False`: the client hands back the raw response, whose
bytes are hashed for the manifest and decoded with `json.loads`. That also skips the client's own
deserialisation into model objects, which is slow on large lists and which we do not need.

urllib3's own retries are off (`retries=False`): each request is retried by the policy every
collector shares (`collectors._http.retrying`: 408, 429, 5xx, connection failures and timeouts,
honouring `Retry-After`, at most `retries` attempts within `retry_max_delay`), each has an
explicit `_request_timeout` (connect, read), and its body is read within the source's total
`deadline`, after which every request fails at once. Errors are mapped at this boundary: `ApiFailure` carries what went
wrong with one request (the collector decides whether that is a problem or fails the source);
`CollectorError` subclasses come out of `failure.error()`.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import load_incluster_config
from kubernetes.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION, load_kube_config

from collectors._http import (
    RETRY_STATUS,
    Deadline,
    DeadlinePassed,
    one_line,
    parse_retry_after,
    retrying,
)
from collectors.kubernetes.config import KubernetesConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.plugin import Recorder


@dataclass(frozen=True, slots=True)
class Resource:
    """A listable resource and the generated client's methods for it."""

    plural: str
    group: str  # "" for the core group
    version: str
    api: str  # "apps" | "core"
    namespaced: str  # method name, e.g. list_namespaced_replica_set
    everywhere: str  # method name, e.g. list_replica_set_for_all_namespaces

    @property
    def qualified(self) -> str:
        """`replicasets.apps`, `events`: as RBAC and the API server's messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}" if namespace else f"{prefix}/{self.plural}"


DEPLOYMENTS = Resource(
    "deployments", "apps", "v1", "apps", "list_namespaced_deployment", "list_deployment_for_all_namespaces"
)
REPLICASETS = Resource(
    "replicasets", "apps", "v1", "apps", "list_namespaced_replica_set", "list_replica_set_for_all_namespaces"
)
STATEFULSETS = Resource(
    "statefulsets", "apps", "v1", "apps", "list_namespaced_stateful_set", "list_stateful_set_for_all_namespaces"
)
DAEMONSETS = Resource(
    "daemonsets", "apps", "v1", "apps", "list_namespaced_daemon_set", "list_daemon_set_for_all_namespaces"
)
CONTROLLERREVISIONS = Resource(
    "controllerrevisions",
    "apps",
    "v1",
    "apps",
    "list_namespaced_controller_revision",
    "list_controller_revision_for_all_namespaces",
)
EVENTS = Resource("events", "", "v1", "core", "list_namespaced_event", "list_event_for_all_namespaces")

WORKLOAD_RESOURCES: Mapping[str, Resource] = {
    "Deployment": DEPLOYMENTS,
    "StatefulSet": STATEFULSETS,
    "DaemonSet": DAEMONSETS,
}

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)"| at the cluster scope)?'
)


class ApiFailure(Exception):
    """One request that failed: `kind` says how, `message` is one line ("what: why: hint")."""

    def __init__(
        self,
        kind: str,  # "unreachable" | "tls" | "timeout" | "cutoff" | "deadline" | "unauthorized" | "forbidden"
        # | "http" | "invalid"
        message: str,
        status: int | None = None,
        *,
        permission: str | None = None,  # forbidden: "list replicasets.apps in namespace prod"
        user: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.permission = permission
        self.user = user
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        if self.kind == "http":
            return self.status in RETRY_STATUS
        return self.kind in ("unreachable", "timeout", "cutoff")

    def error(self, instance: str) -> CollectorError:
        known = {"status": self.status, "kind": None if self.status else self.kind}
        if self.kind in ("unauthorized", "forbidden"):
            return SourceAuthError(instance, self.message, **known)
        if self.kind == "http" and self.status is not None and self.status < 500 and self.status not in (408, 429):
            return SourceQueryError(instance, self.message, **known)
        return SourceUnavailable(instance, self.message, **known)


@dataclass(slots=True)
class Listing:
    """Every item of one list, over all its pages, and the requests that read it."""

    items: list[dict[str, Any]] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)

    @property
    def request_id(self) -> str | None:
        return self.request_ids[0] if self.request_ids else None


def permission(resource: Resource, namespace: str | None, verb: str = "list") -> str:
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    return f"{verb} {resource.qualified} {where}"


class KubeApi:
    """The cluster, reached with a kubeconfig or in-cluster credentials; lists with provenance."""

    def __init__(
        self,
        config: KubernetesConfig,
        *,
        instance: str,
        recorder: Recorder,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.instance = instance
        self.recorder = recorder
        self.environ = os.environ if environ is None else environ
        self._lock = threading.Lock()
        self._client: k8s.ApiClient | None = None
        self.host = ""
        self.credential = "the kubeconfig user's credentials"
        self.deadline = Deadline(config.deadline)
        self.sleep = time.sleep

    # -- connection

    @property
    def in_cluster(self) -> bool:
        if self.config.in_cluster is not None:
            return self.config.in_cluster
        return self.config.kubeconfig is None and bool(self.environ.get("KUBERNETES_SERVICE_HOST"))

    def client(self) -> k8s.ApiClient:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> k8s.ApiClient:
        configuration = k8s.Configuration()
        if self.in_cluster:
            self.credential = "the service account token of the pod"
            try:
                load_incluster_config(client_configuration=configuration)
            except ConfigException as exc:
                raise SourceQueryError(
                    self.instance,
                    f"in-cluster credentials: {one_line(str(exc))}: run Dossier in a pod with a service account, "
                    "or set kubeconfig",
                ) from None
        else:
            path = self.config.kubeconfig
            shown = str(path) if path is not None else self.environ.get("KUBECONFIG") or KUBE_CONFIG_DEFAULT_LOCATION
            if path is not None and not path.is_file():
                why = "is a directory" if path.is_dir() else "file not found"
                raise SourceQueryError(
                    self.instance,
                    f"kubeconfig {shown!r}: {why}: check `kubeconfig` (a relative path is relative to the config file)",
                )
            try:
                load_kube_config(
                    config_file=str(path) if path is not None else None,
                    context=self.config.context,
                    client_configuration=configuration,
                    persist_config=False,  # never write to the user's kubeconfig
                )
            except ConfigException as exc:
                raise SourceQueryError(
                    self.instance,
                    f"kubeconfig {shown!r}: {one_line(str(exc))}: check `kubeconfig` and `context` "
                    "(kubectl config get-contexts lists them)",
                ) from None
            except (OSError, ValueError) as exc:  # unreadable file, broken YAML, exec plugin failure
                raise SourceQueryError(
                    self.instance, f"kubeconfig {shown!r}: {one_line(str(exc)) or type(exc).__name__}"
                ) from None
        configuration.retries = False  # one attempt per request: the job runner owns retries
        configuration.connection_pool_maxsize = max(self.config.concurrency, 1)
        self.host = configuration.host.rstrip("/")
        return k8s.ApiClient(configuration)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- requests

    def version(self) -> tuple[dict[str, Any], str]:
        api = k8s.VersionApi(self.client())
        body, rid = self._call("/version", {}, lambda: api.get_code(**self._options()))
        return body, rid

    def list(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Listing:
        """Every item, following `metadata.continue` page after page (`limit` = page_size).

        A continue token that expired meanwhile (410) restarts the list once from the beginning.
        """
        client = self.client()
        api = k8s.AppsV1Api(client) if resource.api == "apps" else k8s.CoreV1Api(client)
        method = getattr(api, resource.namespaced if namespace else resource.everywhere)
        path = resource.path(namespace)
        listing = Listing()
        token: str | None = None
        restarted = False
        while True:
            params: dict[str, Any] = {}
            kwargs: dict[str, Any] = {"limit": self.config.page_size}
            if label_selector:
                params["labelSelector"] = kwargs["label_selector"] = label_selector
            if field_selector:
                params["fieldSelector"] = kwargs["field_selector"] = field_selector
            params["limit"] = self.config.page_size
            if token:
                params["continue"] = kwargs["_continue"] = token
            args: tuple[str, ...] = (namespace,) if namespace else ()
            kwargs.update(self._options())

            def send(a: tuple[str, ...] = args, k: dict[str, Any] = kwargs) -> Any:
                return method(*a, **k)

            try:
                body, rid = self._call(path, params, send, resource, namespace)
            except ApiFailure as failure:
                if failure.status == 410 and token and not restarted:
                    listing = Listing(request_ids=listing.request_ids)
                    token, restarted = None, True
                    continue
                raise
            listing.request_ids.append(rid)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ApiFailure("invalid", f"GET {self.host}{path}: the answer is not a list: no `items`")
            listing.items.extend(i for i in items if isinstance(i, dict))
            self.recorder.set_items(rid, len(items))
            token = (body.get("metadata") or {}).get("continue") or None
            if not token:
                return listing

    def _options(self) -> dict[str, Any]:
        connect = min(self.config.connect_timeout, self.config.timeout)
        timeout = (self.deadline.timeout(connect), self.deadline.timeout(self.config.timeout))
        return {"_preload_content": False, "_request_timeout": timeout}

    def _read(self, response: Any, what: str) -> bytes:
        """The whole body, read within the source's deadline (a slow drip stops there)."""
        chunks: list[bytes] = []
        # read1: what has arrived (up to 64 KiB), so a drip is seen between reads
        while chunk := response.read1(65536, decode_content=True):
            chunks.append(chunk)
            if self.deadline.expired():
                raise ApiFailure(
                    "deadline",
                    f"{what}: the answer was still arriving when the source's deadline of "
                    f"{self.config.deadline:g}s passed: raise deadline",
                )
        return b"".join(chunks)

    def _call(
        self,
        path: str,
        params: Mapping[str, Any],
        send: Callable[[], Any],
        resource: Resource | None = None,
        namespace: str | None = None,
    ) -> tuple[Any, str]:
        """One request, retried as every collector retries, within the source's deadline."""
        attempts = 0

        def attempt() -> tuple[Any, str]:
            nonlocal attempts
            try:
                self.deadline.check(f"GET {self.host}{path}")
            except DeadlinePassed as exc:
                raise ApiFailure("deadline", str(exc)) from None
            attempts += 1
            return self._call_once(path, params, send, resource, namespace)

        try:
            return retrying(
                attempts=self.config.retries,
                max_delay=self.config.retry_max_delay,
                deadline=self.deadline,
                retryable=lambda e: isinstance(e, ApiFailure) and e.retryable,
                hinted_wait=lambda e: e.retry_after if isinstance(e, ApiFailure) else None,
                sleep=self.sleep,
            )(attempt)
        except ApiFailure as failure:
            if attempts > 1 and failure.retryable:
                failure.message = f"{failure.message} (after {attempts} attempts)"
                failure.args = (failure.message,)
            raise

    def _call_once(
        self,
        path: str,
        params: Mapping[str, Any],
        send: Callable[[], Any],
        resource: Resource | None = None,
        namespace: str | None = None,
    ) -> tuple[Any, str]:
        url = f"{self.host}{path}"
        what = f"GET {url}"
        started, t0 = time.time(), time.monotonic()

        def record(status: int | None, body: bytes | None, error: str | None) -> str:
            return self.recorder.record(
                method="GET",
                url=url,
                params=params,
                status=status,
                body=body,
                started=started,
                duration=time.monotonic() - t0,
                error=error,
            )

        try:
            response = send()
            try:
                raw: bytes = self._read(response, what)
            except ApiFailure as failure:
                record(response.status, None, failure.message)
                raise
            finally:
                response.release_conn()
        except k8s.ApiException as exc:
            if not exc.status:  # the client wraps TLS failures as status 0
                reason = one_line(str(exc.reason or "").replace("\n", ": "))
                failure = ApiFailure(
                    "tls",
                    f"{what}: TLS handshake failed: {reason}: check the server address and certificate-authority "
                    "in the kubeconfig",
                )
                record(None, None, failure.message)
                raise failure from None
            body = exc.body.encode() if isinstance(exc.body, str) else None
            failure = self._http_failure(what, exc.status, exc.body or "", resource, namespace)
            failure.retry_after = parse_retry_after((exc.headers or {}).get("Retry-After"))
            record(exc.status, body, failure.message)
            raise failure from None
        except urllib3.exceptions.HTTPError as exc:
            failure = self._transport_failure(what, exc)
            record(None, None, failure.message)
            raise failure from None
        rid = record(response.status, raw, None)
        try:
            return json.loads(raw), rid
        except ValueError:
            raise ApiFailure(
                "invalid", f"{what}: the answer is not JSON: {one_line(raw.decode('utf-8', 'replace'))!r}"
            ) from None

    def _transport_failure(self, what: str, exc: urllib3.exceptions.HTTPError) -> ApiFailure:
        cause: BaseException = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            cause = exc.reason
        if isinstance(cause, urllib3.exceptions.ProtocolError | urllib3.exceptions.DecodeError):
            return ApiFailure("cutoff", f"{what}: the answer was cut off: {one_line(str(cause))}: retry later")
        if isinstance(cause, urllib3.exceptions.SSLError):
            return ApiFailure(
                "tls",
                f"{what}: TLS handshake failed: {one_line(str(cause))}: check the server address and "
                "certificate-authority in the kubeconfig",
            )
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            why = one_line(str(cause).rsplit(": ", 1)[-1])
            return ApiFailure(
                "unreachable",
                f"{what}: cannot connect: {why}: check that the API server is up and that `server` in the "
                "kubeconfig points at it",
            )
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
            connect = min(self.config.connect_timeout, self.config.timeout)
            return ApiFailure(
                "unreachable",
                f"{what}: cannot connect within {connect:g}s: check that the API server is up and "
                "reachable from here (firewall, VPN) and that `server` in the kubeconfig points at it",
            )
        if isinstance(cause, urllib3.exceptions.TimeoutError):
            return ApiFailure("timeout", f"{what}: no answer within {self.config.timeout:g}s: raise `timeout`")
        return ApiFailure("unreachable", f"{what}: {one_line(str(cause)) or type(cause).__name__}")

    def _http_failure(
        self, what: str, status: int, text: str, resource: Resource | None, namespace: str | None
    ) -> ApiFailure:
        message = _status_message(text)
        where = f"{what}: HTTP {status}"
        if status == 401:
            return ApiFailure("unauthorized", f"{where}: not authenticated: check {self.credential}", status)
        if status == 403:
            perm, user = forbidden_permission(message, resource, namespace)
            who = f"{user!r}" if user else "the user"
            hint = f"grant {who} {perm}" if perm else f"check the RBAC permissions of {who}"
            return ApiFailure(
                "forbidden",
                f"{where}: forbidden: {hint} (the collector's README lists the Role rules)",
                status,
                permission=perm,
                user=user,
            )
        if status == 410:
            return ApiFailure("http", f"{where}: the list changed too much while paging: {message}", status)
        return ApiFailure("http", f"{where}: {message or 'rejected'}", status)


def _status_message(text: str) -> str:
    """The `message` of a `Status` object, else the body cut to one line."""
    try:
        body = json.loads(text)
    except ValueError:
        return one_line(text)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return one_line(body["message"])
    return one_line(text)


def forbidden_permission(
    message: str, resource: Resource | None, namespace: str | None
) -> tuple[str | None, str | None]:
    """The missing permission ("list replicasets.apps in namespace prod") and the user, from the
    API server's Forbidden message; from the request itself when the message does not say."""
    m = _FORBIDDEN.search(message)
    if m:
        qualified = f"{m['resource']}.{m['group']}" if m["group"] else m["resource"]
        where = f"in namespace {m['namespace']}" if m["namespace"] else "cluster-wide"
        return f"{m['verb']} {qualified} {where}", m["user"]
    if resource is not None:
        return permission(resource, namespace), None
    return None, None
