"""Read the sync history of Argo CD applications: each sync in the window is a change.

For each application, `GET /api/v1/applications/{name}` returns the Application, whose
`status.history` (oldest first, capped by `spec.revisionHistoryLimit`, default 10) records every
successful sync: `id`, `revision` (or `revisions` for multi-source apps), `deployStartedAt`,
`deployedAt`, `source`/`sources` and `initiatedBy {username, automated}`. `status.operationState`
is the last (or running) operation, which is where a failed sync shows. Each entry deployed in
the window becomes a `deploy` event, or a `rollback` when the app went back to a revision it ran
before; a failed or running sync in the window becomes a `deploy` event with that status.

One application failing (forbidden, missing, unreachable) is a `Problem` and the others are
still read; only when every application fails does the collection raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from collectors._http import RestSource, TargetOutcome, merged, one_line, token_from
from collectors.argocd._api import USERINFO, VERSION, ArgoApi, detail_of, status_of, what_of
from collectors.argocd.config import ArgoCDConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError
from dossier.model import Event, Problem, parse_time, rfc3339, stable_id
from dossier.plugin import CollectRequest, CollectResult

CONCURRENCY = 4
"""Applications read at once."""

SERVICE_LABELS = ("dossier.io/service", "app.kubernetes.io/name")
"""Labels of an Application that name its service, strongest first (then the application name)."""

DEFAULT_HISTORY_LIMIT = 10  # spec.revisionHistoryLimit when unset
FAILED_PHASES = frozenset({"Failed", "Error"})
RUNNING_PHASES = frozenset({"Running", "Terminating"})
MESSAGE_LIMIT = 300
_SHA = re.compile(r"^[0-9a-f]{40}$")

_TOKEN_HINT = (
    "check `token`: an Argo CD API token of an account with the apiKey capability, or a project role "
    "token, that has not expired or been revoked"
)


@dataclass(frozen=True, slots=True)
class _Target:
    """One application to read, and the service it stands for."""

    name: str
    project: str | None  # as configured or listed; None when unknown
    raw_service: str  # the name the service was found under (config, label or application name)
    service: str  # the incident's name for it, or raw_service when it maps to none
    mapped: bool
    app: Mapping[str, Any] | None = None  # the Application, when the list already returned it
    request: str | None = None  # id of the request that returned `app`


_Outcome = TargetOutcome


class ArgoCDCollector(RestSource[ArgoCDConfig]):
    """Syncs and rollbacks of Argo CD applications."""

    type = "argocd"
    Config = ArgoCDConfig
    kinds = frozenset({"change"})

    concurrency = CONCURRENCY

    def make_api(self) -> ArgoApi:
        return ArgoApi(
            self.config.url,
            instance=self.ctx.instance,
            recorder=self.ctx.recorder,
            settings=self.config.http,
            headers={"Authorization": f"Bearer {token_from(self.config.token)}"},
            credential="`token`",
        )

    # ---- sources check -----------------------------------------------------------------------

    def check(self) -> str:
        try:
            version, _, _ = self.api.get_json(VERSION)
            info, _, _ = self.api.get_json(USERINFO)
        except CollectorError as exc:
            raise self._auth_error(exc) if status_of(exc) == 401 else exc from None
        text = f"Argo CD {(version or {}).get('Version') or 'of unknown version'}"
        if not isinstance(info, Mapping) or not info.get("loggedIn"):
            raise SourceAuthError(
                self.ctx.instance, f"GET {self.config.url}{USERINFO}: {text} does not accept the token: {_TOKEN_HINT}"
            )
        return f"{text}, logged in as {info.get('username') or 'an unnamed account'}"

    # ---- collection --------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        targets = self._targets(request)
        result = CollectResult()
        if not targets:
            return result
        outcomes = self.read_all(targets, lambda t: self._read(t, request))
        failed = [(t, o.error) for t, o in zip(targets, outcomes, strict=True) if o.error is not None]
        if len(failed) == len(targets):
            raise self._all_failed(failed)
        return merged(outcomes)

    def _targets(self, request: CollectRequest) -> list[_Target]:
        cfg = self.config
        if cfg.applications:
            targets = []
            for app in cfg.applications:
                raw = app.service or app.name
                mapped = request.canonical(raw)
                targets.append(_Target(app.name, app.project, raw, mapped or raw, mapped is not None))
            return targets
        # No list: every application that names an incident service (or a dependency of one).
        try:
            items, rid = self.api.applications(
                projects=cfg.projects, selector=cfg.selector, namespace=cfg.app_namespace
            )
        except CollectorError as exc:
            raise self._auth_error(exc) if status_of(exc) == 401 else exc from None
        found = []
        for item in items:
            meta = item.get("metadata") or {}
            name = meta.get("name")
            if not isinstance(name, str):
                continue
            labels = meta.get("labels") or {}
            for known_as in (*(labels.get(label) for label in SERVICE_LABELS), name):
                mapped = request.service_for(known_as) if isinstance(known_as, str) else None
                if mapped is not None and isinstance(known_as, str):
                    project = (item.get("spec") or {}).get("project") or "default"
                    found.append(_Target(name, project, known_as, mapped, True, item, rid))
                    break
        return sorted(found, key=lambda t: t.name)

    def _read(self, target: _Target, request: CollectRequest) -> _Outcome:
        app, rid = target.app, target.request
        if app is None:
            try:
                app, rid = self.api.application(
                    target.name, project=target.project, namespace=self.config.app_namespace
                )
            except CollectorError as exc:
                if status_of(exc) == 401:  # the token itself: nothing else will work either
                    raise self._auth_error(exc) from None
                return _Outcome(problems=[self._problem(target, exc)], error=exc)
        if not isinstance(app, Mapping) or not isinstance(app.get("metadata"), Mapping):  # every Application has one
            odd = SourceQueryError(self.ctx.instance, f"application {target.name!r}: the answer is not an Application")
            return _Outcome(problems=[self._problem(target, odd)], error=odd)
        return _History(self, target, app, rid or "", request).read()

    # ---- failures ----------------------------------------------------------------------------

    def _auth_error(self, exc: CollectorError) -> SourceAuthError:
        detail = detail_of(exc)
        why = f" ({detail})" if detail else ""
        return SourceAuthError(self.ctx.instance, f"{what_of(exc)}: not authenticated{why}: {_TOKEN_HINT}")

    def _problem(self, target: _Target, exc: CollectorError) -> Problem:
        return Problem(source=self.ctx.instance, reason=self._reason(target, exc), service=target.service)

    def _reason(self, target: _Target, exc: CollectorError) -> str:
        status = status_of(exc)
        detail = detail_of(exc)
        ns = self.config.app_namespace
        where = f"project {target.project!r}" if target.project else "Argo CD"
        if ns:
            where += f", namespace {ns!r}"
        if status == 403:
            obj = f"{target.project or '<project>'}/{ns + '/' if ns else ''}{target.name}"
            said = f" ({detail})" if detail and detail.lower() != "permission denied" else ""
            text = (
                f"application {target.name!r}: {what_of(exc)}: permission denied{said}: the token needs the RBAC "
                f"permission `applications, get, {obj}`, e.g. `p, role:dossier, applications, get, */*, allow`"
            )
            if not target.project:
                text += "; Argo CD also answers 403 for an application that does not exist: set its `project` to tell"
            return text
        if status == 404:
            return (
                f"application {target.name!r}: {what_of(exc)}: not found in {where}"
                + (f" ({detail})" if detail else "")
                + ": check the name and project in `applications`"
            )
        return f"application {target.name!r}: {exc}"

    def _all_failed(self, failed: Sequence[tuple[_Target, CollectorError]]) -> CollectorError:
        target, first = failed[0]
        more = f" (and {len(failed) - 1} more failed the same way or otherwise)" if len(failed) > 1 else ""
        message = f"every application failed: {self._reason(target, first)}{more}"
        cls = type(first) if all(type(e) is type(first) for _, e in failed) else CollectorError
        return cls(self.ctx.instance, message)


class _History:
    """One Application's history and last operation, as change events."""

    def __init__(
        self, collector: ArgoCDCollector, target: _Target, app: Mapping[str, Any], rid: str, request: CollectRequest
    ) -> None:
        self.c = collector
        self.target = target
        self.request = request
        self.rid = rid
        meta = app.get("metadata") or {}
        self.spec = app.get("spec") or {}
        self.status = app.get("status") or {}
        self.name: str = meta.get("name") or target.name
        self.namespace: str = meta.get("namespace") or collector.config.app_namespace or "argocd"
        self.project: str = self.spec.get("project") or target.project or "default"
        self.link = (
            f"{collector.config.url}/applications/{quote(self.namespace, safe='')}/{quote(self.name, safe='')}"
            "?view=tree&resource="
        )
        history = self.status.get("history") or []
        self.history: list[Mapping[str, Any]] = [h for h in history if isinstance(h, Mapping)]
        op = self.status.get("operationState")
        self.op: Mapping[str, Any] = op if isinstance(op, Mapping) else {}
        operation = self.op.get("operation") or {}
        self.op_sync: Mapping[str, Any] = operation.get("sync") or {}
        self.op_initiator: Mapping[str, Any] = operation.get("initiatedBy") or {}

    def read(self) -> _Outcome:
        out = _Outcome()
        revisions = [_revisions(h) for h in self.history]
        last = len(self.history) - 1
        oldest: datetime | None = None
        for i, entry in enumerate(self.history):
            try:
                at = parse_time(str(entry["deployedAt"]))
            except (KeyError, ValueError):
                out.problems.append(self._bad(entry, "has no readable deployedAt"))
                continue
            oldest = at if oldest is None or at < oldest else oldest
            if not self.request.start <= at <= self.request.end:
                continue
            back_to = _earlier_match(revisions, i)
            initiator = entry.get("initiatedBy") or {}
            rollback = back_to is not None or "rollback" in str(initiator.get("username") or "").lower()
            message = None
            if i == last and self.op.get("phase") == "Succeeded" and _op_revisions(self.op) in ((), revisions[i]):
                rollback = rollback or self._op_is_rollback(revisions[:i])
                message = self.op.get("message")
            if rollback and back_to is None:  # the rollback API may also go back to the running revision
                back_to = max((j for j in range(i) if revisions[j] == revisions[i]), default=None)
            out.events.append(
                self._event(
                    key=f"{self.name}#{entry.get('id')}",
                    at=at,
                    started=_time(entry.get("deployStartedAt")),
                    revs=revisions[i],
                    source=_sources(entry),
                    initiator=initiator,
                    status="succeeded",
                    rollback=rollback,
                    back_to=back_to,
                    undone=i - 1 if i > 0 else None,
                    message=message,
                )
            )
        op_event = self._operation_event(revisions)
        if op_event is not None:
            out.events.append(op_event)
        limit = self.spec.get("revisionHistoryLimit") or DEFAULT_HISTORY_LIMIT
        if oldest is not None and len(self.history) >= limit and oldest > self.request.start:
            out.problems.append(
                Problem(
                    source=self.c.ctx.instance,
                    reason=(
                        f"application {self.name!r}: Argo CD keeps only its last {limit} syncs "
                        f"(spec.revisionHistoryLimit), the oldest deployed at {rfc3339(oldest)}: syncs from "
                        f"{rfc3339(self.request.start)} until then are not known"
                    ),
                    service=self.target.service,
                    start=self.request.start,
                    end=min(oldest, self.request.end),
                    request=self.rid,
                )
            )
            out.truncate(out.problems[-1].reason)
        return out

    # -- the last operation

    def _op_is_rollback(self, earlier: Sequence[tuple[str, ...]]) -> bool:
        """The operation re-deployed an earlier revision, through the rollback API or a rollback user."""
        revs = _op_revisions(self.op)
        api = bool(self.op_sync.get("source") or self.op_sync.get("sources"))  # only Rollback sets a source
        user = "rollback" in str(self.op_initiator.get("username") or "").lower()
        return bool(revs) and revs in earlier and (api or user)

    def _operation_event(self, revisions: Sequence[tuple[str, ...]]) -> Event | None:
        phase = self.op.get("phase")
        if phase not in FAILED_PHASES and phase not in RUNNING_PHASES:
            return None
        started = _time(self.op.get("startedAt"))
        finished = _time(self.op.get("finishedAt"))
        at = started if phase in RUNNING_PHASES else (finished or started)
        if at is None or not self.request.start <= at <= self.request.end:
            return None
        revs = _op_revisions(self.op) or _sync_revisions(self.status)
        result = self.op.get("syncResult") or {}
        source = _sources(result) or _sources(self.op_sync) or _sources(self.spec)
        back_to = None
        if self._op_is_rollback(revisions):
            back_to = max((i for i, r in enumerate(revisions) if r == revs), default=None)
        return self._event(
            key=f"{self.name}#operation@{rfc3339(started) or 'unknown'}",
            at=at,
            started=started,
            revs=revs,
            source=source,
            initiator=self.op_initiator,
            status="failed" if phase in FAILED_PHASES else "running",
            rollback=back_to is not None,
            back_to=back_to,
            undone=len(self.history) - 1 if self.history else None,
            message=self.op.get("message"),
            phase=str(phase),
        )

    # -- output

    def _event(
        self,
        *,
        key: str,
        at: datetime,
        started: datetime | None,
        revs: tuple[str, ...],
        source: Sequence[Mapping[str, Any]],
        initiator: Mapping[str, Any],
        status: str,
        rollback: bool,
        back_to: int | None,
        undone: int | None = None,
        message: Any = None,
        phase: str | None = None,
    ) -> Event:
        target = self.target
        short = ", ".join(_short(r) for r in revs) or "an unknown revision"
        automated = bool(initiator.get("automated"))
        user = str(initiator.get("username") or "")
        who = "auto-sync" if automated else (user or "unknown")
        attrs: dict[str, Any] = {
            "id": key,
            "application": self.name,
            "project": self.project,
            "namespace": self.namespace,
            "revision": short,
            "version": short,
            "full_revision": ", ".join(revs),
            "repository": _joined(source, "repoURL"),
            "path": ", ".join(str(s.get("path") or s.get("chart") or "") for s in source if s),
            "target_revision": _joined(source, "targetRevision"),
            "initiated_by": who,
            "automated": "true" if automated else "false",
            "status": status,
            "service_mapped": "true" if target.mapped else "false",
            "raw_service": target.raw_service,
            "url": self.link,
        }
        images = _images(source)
        if images:
            attrs["images"] = images
        if started is not None:
            attrs["started_at"] = rfc3339(started)
        if phase is not None:
            attrs["phase"] = phase
        if message:
            attrs["message"] = one_line(str(message), MESSAGE_LIMIT)
        if rollback:
            target_revs = self._revs_at(back_to)
            attrs["rolled_back_to"] = ", ".join(_short(r) for r in target_revs) if target_revs else short
            if back_to is not None:
                attrs["rolled_back_to_id"] = f"{self.name}#{self.history[back_to].get('id')}"
            if undone is not None:  # the sync this one undid: what correlate's `reverts` names
                attrs["reverts"] = f"{self.name}#{self.history[undone].get('id')}"
        kind = "rollback" if rollback else "deploy"
        suffix = "auto-sync" if automated else (f"by {user}" if user else "")
        if status == "failed":
            title = f"{self.name} {'rollback' if rollback else 'sync'} to {short} failed"
        elif status == "running":
            title = f"{self.name} {'rolling back' if rollback else 'syncing'} to {short}"
        else:
            title = f"{self.name} {'rolled back' if rollback else 'synced'} to {short}"
        if suffix:
            title += f" ({suffix})"
        return Event(
            id=stable_id(self.c.ctx.instance, self.namespace, key),
            at=at,
            kind=kind,
            source=self.c.ctx.instance,
            title=title,
            service=target.service,
            attrs=attrs,
            link=self.link,
            request=self.rid or None,
        )

    def _revs_at(self, index: int | None) -> tuple[str, ...]:
        return _revisions(self.history[index]) if index is not None else ()

    def _bad(self, entry: Mapping[str, Any], why: str) -> Problem:
        return Problem(
            source=self.c.ctx.instance,
            reason=f"application {self.name!r}: history entry {entry.get('id')!r} {why}: skipped",
            service=self.target.service,
            request=self.rid or None,
        )


# ---- the shapes of Argo CD's values --------------------------------------------------------


def _revisions(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """`revisions` of a multi-source entry, else its `revision`."""
    many = entry.get("revisions")
    if isinstance(many, list) and many:
        return tuple(str(r) for r in many)
    one = entry.get("revision")
    return (str(one),) if one else ()


def _op_revisions(op: Mapping[str, Any]) -> tuple[str, ...]:
    """The revision(s) an operation synced to: its result's, else what it asked for."""
    result = op.get("syncResult")
    revs = _revisions(result) if isinstance(result, Mapping) else ()
    sync = (op.get("operation") or {}).get("sync")
    return revs or (_revisions(sync) if isinstance(sync, Mapping) else ())


def _sync_revisions(status: Mapping[str, Any]) -> tuple[str, ...]:
    sync = status.get("sync")
    return _revisions(sync) if isinstance(sync, Mapping) else ()


def _earlier_match(revisions: Sequence[tuple[str, ...]], i: int) -> int | None:
    """Index of the latest entry before the previous one that ran revision(s) `revisions[i]`, when
    the app moved to them from something else: it went back to a revision it ran before."""
    revs = revisions[i]
    if not revs or i == 0 or revisions[i - 1] == revs:
        return None
    return max((j for j in range(i - 1) if revisions[j] == revs), default=None)


def _sources(holder: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    many = holder.get("sources")
    if isinstance(many, list) and many:
        return [s for s in many if isinstance(s, Mapping)]
    one = holder.get("source")
    return [one] if isinstance(one, Mapping) and one else []


def _joined(sources: Sequence[Mapping[str, Any]], key: str) -> str:
    return ", ".join(str(s.get(key) or "") for s in sources)


def _images(sources: Sequence[Mapping[str, Any]]) -> list[str]:
    """Image overrides of the sources: kustomize `images`, and helm parameters that set an image."""
    images: list[str] = []
    for s in sources:
        kustomize = s.get("kustomize") or {}
        images.extend(str(i) for i in kustomize.get("images") or [])
        helm = s.get("helm") or {}
        for p in helm.get("parameters") or []:
            name = str(p.get("name") or "")
            if "image" in name.lower():
                images.append(f"{name}={p.get('value', '')}")
    return images


def _short(revision: str) -> str:
    return revision[:7] if _SHA.match(revision) else revision


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(str(value))
    except ValueError:
        return None
