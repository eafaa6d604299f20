"""Rollouts of Deployments, StatefulSets and DaemonSets, and the cluster events of the incident's
workloads, read from the Kubernetes API with the official client.

1. The workloads of each namespace (or of all namespaces, or the ones listed in `workloads`).
2. Their revisions: a Deployment's ReplicaSets (listed with the Deployment's selector, kept when
   owned by it), a StatefulSet's or DaemonSet's ControllerRevisions; a bounded pool of
   `concurrency` requests.
3. The cluster events of the namespaces that hold an incident workload (its service is an
   incident service or one they depend on, or it rolled out in the window), listed once per
   namespace and matched to the workloads and their pods by name (`_events`).
4. Each revision made in the window becomes a `deploy`, `config_change` or `rollback` event
   (`_rollouts` says which, and when); each matching cluster event a `note`.

A failed request is a problem, unless nothing could be read: then the source fails. 401 and an
unreachable server fail it at once; 403 fails it when no namespace could be read, naming every
permission that is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collectors.kubernetes._api import (
    CONTROLLERREVISIONS,
    EVENTS,
    REPLICASETS,
    WORKLOAD_RESOURCES,
    ApiFailure,
    KubeApi,
    Listing,
    Resource,
    one_line,
)
from collectors.kubernetes._events import ClusterEvent, EventIndex, Owner, parse_event
from collectors.kubernetes._rollouts import (
    RevisionObject,
    Rollout,
    Timing,
    controllerrevision_object,
    deployment_timing,
    owned_by,
    replicaset_object,
    rollouts,
)
from collectors.kubernetes.config import KubernetesConfig
from dossier.errors import SourceAuthError
from dossier.model import Event, Problem, rfc3339, stable_id
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult

TITLE_MESSAGE_LIMIT = 160
_FATAL = frozenset({"unreachable", "tls", "unauthorized", "deadline"})


@dataclass(slots=True)
class _Workload:
    kind: str  # Deployment | StatefulSet | DaemonSet
    namespace: str
    name: str
    obj: dict[str, Any]
    list_request: str | None
    service: str
    raw_service: str
    mapped: bool
    candidates: tuple[str, ...]  # the names it may go by: label values, its own name
    objects: list[RevisionObject] = field(default_factory=list)
    revisions_request: str | None = None
    revisions_read: bool = False
    replicasets: tuple[str, ...] = ()
    known: bool = False  # `service` is a configured service (in the request or not)

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def uid(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("uid")

    @property
    def resource(self) -> Resource:
        return WORKLOAD_RESOURCES[self.kind]


@dataclass(slots=True)
class _Failure:
    scope: str  # namespace, or "*" for all namespaces
    failure: ApiFailure
    what: str  # what could not be read, for the problem
    service: str | None = None
    rollouts: bool = True  # False: only cluster events were lost


class _Run:
    """The state of one collection: what was read, what failed."""

    def __init__(self, scopes: list[str]) -> None:
        self.scopes = scopes
        self.failures: list[_Failure] = []
        self.succeeded = 0
        self.missing: list[tuple[str, str | None]] = []  # listed workloads the cluster does not have

    def fail(self, failure: _Failure) -> None:
        if failure.failure.kind in _FATAL:
            raise failure.failure
        self.failures.append(failure)

    def scope_ok(self, scope: str) -> bool:
        return not any(f.rollouts and f.scope in (scope, "*") for f in self.failures)


class KubernetesCollector(Collector[KubernetesConfig]):
    """Rollouts and cluster events from the Kubernetes API."""

    type = "kubernetes"
    Config = KubernetesConfig
    kinds = frozenset({"change"})

    def __init__(self, config: KubernetesConfig, ctx: CollectContext, environ: Mapping[str, str] | None = None):
        super().__init__(config, ctx)
        self.api = KubeApi(config, instance=ctx.instance, recorder=ctx.recorder, environ=environ)

    def close(self) -> None:
        self.api.close()

    # ---- sources check -------------------------------------------------------------------------

    def check(self) -> str:
        try:
            version, _ = self.api.version()
            scope = self._scopes()[0]
            resource = WORKLOAD_RESOURCES[self._kinds_in(scope)[0]]
            self.api.list(resource, None if scope == "*" else scope)
        except ApiFailure as failure:
            raise failure.error(self.ctx.instance) from None
        where = "all namespaces" if self.config.all_namespaces else f"namespace {scope}"
        server = f"Kubernetes {version.get('gitVersion', '?')} at {self.api.host}"
        return f"{server}: can list {resource.qualified} in {where}"

    # ---- collection ----------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        try:
            return self._collect(request)
        except ApiFailure as failure:
            raise failure.error(self.ctx.instance) from None

    def _collect(self, request: CollectRequest) -> CollectResult:
        scopes = self._scopes()
        run = _Run(scopes)
        workloads = self._workloads(request, run)
        self._read_revisions(workloads, run)

        # The first pass, without events, says which workloads matter and where events are needed.
        found = {w.key: self._rollouts(w, []) for w in workloads}
        wanted = [w for w in workloads if self._wanted(w, found[w.key], request)]
        events: dict[str, list[tuple[ClusterEvent, str]]] = {}
        if self.config.events:
            unplaced = {w.namespace for w in workloads if self._unplaced(found[w.key], request)}
            namespaces = sorted({w.namespace for w in wanted} | unplaced)
            events = self._read_events(namespaces, run)

        result = CollectResult()
        by_key = {w.key: w for w in workloads}
        owned: dict[str, list[tuple[ClusterEvent, str]]] = {}
        for ns, listed in events.items():
            index = EventIndex(
                Owner(w.key, w.kind, w.namespace, w.name, w.replicasets) for w in workloads if w.namespace == ns
            )
            for ev, rid in listed:
                key = index.owner(ev)
                if key is not None:
                    owned.setdefault(key, []).append((ev, rid))

        for w in sorted(workloads, key=lambda w: w.key):
            if not w.revisions_read:
                continue
            for rollout in self._rollouts(w, owned.get(w.key, [])):
                self._emit_rollout(w, rollout, request, result)
        wanted_keys = {w.key for w in wanted}
        reasons = set(self.config.event_reasons)
        for key in sorted(owned):
            if key not in wanted_keys:
                continue
            w = by_key[key]
            for ev, rid in owned[key]:
                if ev.reason in reasons and ev.first <= request.end and ev.last >= request.start:
                    result.events.append(self._note(w, ev, rid))
        result.events.sort(key=lambda e: (e.at, e.id))
        result.problems.extend(self._problems(run))
        return result

    def _scopes(self) -> list[str]:
        if self.config.workloads is not None:
            return sorted({w.namespace for w in self.config.workloads})
        if self.config.all_namespaces:
            return ["*"]
        return list(self.config.namespaces)

    def _kinds_in(self, scope: str) -> list[str]:
        if self.config.workloads is None:
            return list(WORKLOAD_RESOURCES)
        kinds = {w.kind for w in self.config.workloads if w.namespace == scope}
        return [k for k in WORKLOAD_RESOURCES if k in kinds]

    # ---- reading -------------------------------------------------------------------------------

    def _workloads(self, request: CollectRequest, run: _Run) -> list[_Workload]:
        explicit = {w.key: w for w in self.config.workloads or []}
        out: list[_Workload] = []
        for scope in run.scopes:
            namespace = None if scope == "*" else scope
            for kind in self._kinds_in(scope):
                resource = WORKLOAD_RESOURCES[kind]
                try:
                    listing = self.api.list(resource, namespace)
                except ApiFailure as failure:
                    where = "all namespaces" if scope == "*" else f"namespace {scope}"
                    run.fail(_Failure(scope, failure, f"{where}: {resource.qualified} not read"))
                    continue
                run.succeeded += 1
                for item in listing.items:
                    meta = item.get("metadata") or {}
                    name, ns = meta.get("name"), meta.get("namespace") or namespace
                    if not name or not ns:
                        continue
                    key = f"{kind}/{ns}/{name}"
                    if explicit and key not in explicit:
                        continue
                    override = explicit[key].service if key in explicit else None
                    out.append(self._workload(kind, ns, name, item, listing, request, override))
        found = {w.key for w in out}
        for key, wanted in explicit.items():
            scope_read = not any(f.scope == wanted.namespace for f in run.failures)
            if key not in found and scope_read:
                service = request.canonical(wanted.service) or wanted.service
                run.missing.append((key, service))
        return out

    def _workload(
        self,
        kind: str,
        namespace: str,
        name: str,
        item: dict[str, Any],
        listing: Listing,
        request: CollectRequest,
        override: str | None,
    ) -> _Workload:
        labels = {
            **((((item.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}),
            **((item.get("metadata") or {}).get("labels") or {}),
        }
        if override:
            candidates: tuple[str, ...] = (override,)
        else:
            found = [labels.get(self.config.service_label), labels.get("app"), name]
            candidates = tuple(dict.fromkeys(str(c) for c in found if c))
        service, raw, mapped, known = candidates[0], candidates[0], False, False
        for c in candidates:
            m = request.service_for(c)  # a service the request is about: the workload is wanted
            if m is not None:
                service, raw, mapped, known = m, c, True, True
                break
        else:
            for c in candidates:
                m = request.canonical(c)  # another configured service: named as the config names it
                if m is not None:
                    service, raw, known = m, c, True
                    break
        return _Workload(kind, namespace, name, item, listing.request_id, service, raw, mapped, candidates, known=known)

    def _read_revisions(self, workloads: list[_Workload], run: _Run) -> None:
        def read(w: _Workload) -> tuple[_Workload, Listing | ApiFailure]:
            resource = REPLICASETS if w.kind == "Deployment" else CONTROLLERREVISIONS
            try:
                return w, self.api.list(resource, w.namespace, label_selector=_selector(w.obj))
            except ApiFailure as failure:
                return w, failure

        with ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="k8s") as pool:
            answers = list(pool.map(read, workloads))
        for w, answer in answers:
            if isinstance(answer, ApiFailure):
                scope = "*" if self.config.all_namespaces else w.namespace
                what = "ReplicaSets" if w.kind == "Deployment" else "ControllerRevisions"
                run.fail(_Failure(scope, answer, f"{w.key}: its {what} not read, so its rollouts", w.service))
                continue
            run.succeeded += 1
            w.revisions_request = answer.request_id
            w.revisions_read = True
            mine = [i for i in answer.items if owned_by(i, w.kind, w.name, w.uid)]
            if w.kind == "Deployment":
                w.replicasets = tuple(sorted((i.get("metadata") or {}).get("name", "") for i in mine))
                objects = [replicaset_object(i) for i in mine]
            else:
                objects = [controllerrevision_object(i) for i in mine]
            w.objects = [o for o in objects if o is not None]

    def _read_events(self, namespaces: list[str], run: _Run) -> dict[str, list[tuple[ClusterEvent, str]]]:
        def read(ns: str) -> tuple[str, Listing | ApiFailure]:
            try:
                return ns, self.api.list(EVENTS, ns)
            except ApiFailure as failure:
                return ns, failure

        out: dict[str, list[tuple[ClusterEvent, str]]] = {}
        with ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="k8s") as pool:
            answers = list(pool.map(read, namespaces))
        for ns, answer in answers:
            if isinstance(answer, ApiFailure):
                scope = "*" if self.config.all_namespaces else ns
                run.fail(_Failure(scope, answer, f"namespace {ns}: cluster events not read", rollouts=False))
                continue
            run.succeeded += 1
            seen: set[str] = set()
            listed: list[tuple[ClusterEvent, str]] = []
            # every page is one request; the events are proven by the first (the manifest has them all)
            rid = answer.request_id or ""
            for item in answer.items:
                ev = parse_event(item)
                if ev is not None and ev.key not in seen:
                    seen.add(ev.key)
                    listed.append((ev, rid))
            out[ns] = listed
        return out

    # ---- interpreting --------------------------------------------------------------------------

    def _rollouts(self, w: _Workload, events: list[tuple[ClusterEvent, str]]) -> list[Rollout]:
        if w.kind == "Deployment":
            scaling = [
                (ev.message, ev.first, ev.last)
                for ev, _ in events
                if ev.reason == "ScalingReplicaSet" and ev.object_kind == "Deployment"
            ]
            return rollouts(w.objects, deployment_timing(w.obj, scaling))
        return rollouts(w.objects, Timing())

    @staticmethod
    def _in_window(r: Rollout, request: CollectRequest) -> bool:
        return r.at is not None and request.start <= r.at <= request.end

    @staticmethod
    def _may_be_in_window(r: Rollout, request: CollectRequest) -> bool:
        """A rollout of unknown time whose bounds overlap the window."""
        return (
            r.at is None
            and (r.after is None or r.after <= request.end)
            and (r.before is None or r.before >= request.start)
        )

    def _unplaced(self, found: list[Rollout], request: CollectRequest) -> bool:
        return any(self._may_be_in_window(r, request) for r in found)

    def _wanted(self, w: _Workload, found: list[Rollout], request: CollectRequest) -> bool:
        """An incident workload: of a requested service (change sources are asked about dependencies too),
        or changed in the window."""
        if w.mapped:
            return True
        return any(self._in_window(r, request) or self._may_be_in_window(r, request) for r in found)

    # ---- output --------------------------------------------------------------------------------

    def _common_attrs(self, w: _Workload) -> dict[str, Any]:
        return {
            "workload": f"{w.kind}/{w.name}",
            "namespace": w.namespace,
            "service_mapped": "true" if w.known else "false",
            "raw_service": w.raw_service,
        }

    def _emit_rollout(self, w: _Workload, r: Rollout, request: CollectRequest, result: CollectResult) -> None:
        native = f"{w.kind}/{w.namespace}/{w.name}@{r.revision}"
        where = f"{w.kind} {w.namespace}/{w.name} revision {r.revision}"
        holder = "ReplicaSet" if w.kind == "Deployment" else "ControllerRevision"
        if r.at is None:
            if self._may_be_in_window(r, request):
                after = rfc3339(r.after) if r.after else "its first rollout"
                before = f" and before {rfc3339(r.before)}" if r.before else ""
                result.problems.append(
                    Problem(
                        source=self.ctx.instance,
                        reason=(
                            f"{where}: {r.change} ({holder} {r.obj.name} reused) at an "
                            f"unknown time after {after}{before}: its events have expired; "
                            f"kubectl rollout history {w.kind.lower()}/{w.name} -n {w.namespace} shows it"
                        ),
                        service=w.service,
                        request=w.revisions_request,
                    )
                )
            return
        if not self._in_window(r, request):
            return
        attrs: dict[str, Any] = {
            "id": native,
            **self._common_attrs(w),
            "revision": str(r.revision),
            "version": str(r.revision),
            "images": list(r.images),
            "previous_images": list(r.previous_images) if r.previous_images is not None else None,
            "previous_revision": str(r.previous_revision) if r.previous_revision is not None else None,
            "change": r.change,
            "change_cause": r.obj.change_cause,
            holder.lower(): r.obj.name,
            "time_source": f"{holder} creationTimestamp" if r.time_source == "creationTimestamp" else r.time_source,
        }
        if r.kind == "rollback":
            attrs["rolled_back_to"] = str(r.rolled_back_to) if r.rolled_back_to is not None else None
        if r.changed:
            attrs["changed"] = list(r.changed)
        if r.restart:
            attrs["restart"] = "true"
        result.events.append(
            Event(
                id=stable_id(self.ctx.instance, native),
                at=r.at,
                kind=r.kind,
                source=self.ctx.instance,
                title=f"{w.service}: {r.short} ({where})",
                service=w.service,
                attrs=attrs,
                link=self.config.link(
                    kind=w.kind,
                    resource=w.resource.plural,
                    namespace=w.namespace,
                    name=w.name,
                    revision=str(r.revision),
                ),
                request=w.revisions_request,
            )
        )

    def _note(self, w: _Workload, ev: ClusterEvent, rid: str) -> Event:
        obj = f"{ev.object_kind}/{ev.object_name}"
        message = one_line(ev.message, TITLE_MESSAGE_LIMIT)
        attrs: dict[str, Any] = {
            "reason": ev.reason,
            "type": ev.type,
            "count": ev.count,
            "object": obj,
            **self._common_attrs(w),
            "message": ev.message,
            "first_seen": rfc3339(ev.first),
            "last_seen": rfc3339(ev.last),
            "component": ev.component,
        }
        return Event(
            id=stable_id(self.ctx.instance, "event", ev.key),
            at=ev.first,
            end=ev.last if ev.last > ev.first else None,
            kind="note",
            source=self.ctx.instance,
            title=f"{w.service}: {ev.reason}: {message} ({ev.object_kind} {ev.namespace}/{ev.object_name})"
            + (f" x{ev.count}" if ev.count > 1 else ""),
            service=w.service,
            attrs=attrs,
            link=self.config.link(
                kind=w.kind, resource=w.resource.plural, namespace=w.namespace, name=w.name, revision=""
            ),
            request=rid,
        )

    def _problems(self, run: _Run) -> list[Problem]:
        missing = [
            Problem(
                source=self.ctx.instance,
                reason=f"{key}: not found in the cluster: check `workloads` (kubectl get {key.split('/')[0].lower()} "
                f"-n {key.split('/')[1]})",
                kind="blind_spot",  # the cluster answered: the workload is absent, its rollouts unknown
                service=service,
            )
            for key, service in run.missing
        ]
        if not run.failures:
            return missing
        forbidden = [f for f in run.failures if f.failure.kind == "forbidden"]
        if forbidden and not any(run.scope_ok(s) for s in run.scopes):
            first = forbidden[0].failure
            perms = list(dict.fromkeys(f.failure.permission or "" for f in forbidden if f.failure.permission))
            who = f"{first.user!r}" if first.user else "the user"
            what = first.message.split(": forbidden:", 1)[0]
            raise SourceAuthError(
                self.ctx.instance,
                f"{what}: forbidden: {who} may not {'; '.join(perms) or 'read the workloads'}: "
                "add these to its Role or ClusterRole (the collector's README lists the rules)",
            )
        if run.succeeded == 0:
            raise run.failures[0].failure
        return missing + [
            Problem(source=self.ctx.instance, reason=f"{f.what}: {f.failure.message}", service=f.service)
            for f in run.failures
        ]


def _selector(obj: Mapping[str, Any]) -> str | None:
    """The label selector of a workload's `spec.selector`, as a query parameter."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), sorted(expr.get("values") or [])
        if op == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            terms.append(str(key))
        elif op == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms) or None
