"""The `gitlab` collector: what was deployed to which environment, when, and how it went.

For each configured project, over the REST API v4 (GitLab.com or self-managed):

* **deployments** (`GET /api/v4/projects/:id/deployments?updated_after=&updated_before=
  &order_by=updated_at&sort=asc`, per environment when `environments` is set), from
  `rollback_lookback` before the window to its end, with each deployment's job (`deployable`), its
  pipeline and sha;
* optionally **pipelines** (`GET /api/v4/projects/:id/pipelines?updated_after=&updated_before=&ref=`):
  a pipeline counts as a deploy only when its ref is the project's `ref`, or its ref or source is
  one of the project's environments or matches `pipeline_pattern`; a pipeline that a deployment's
  job belongs to is not counted twice.

Each becomes a `deploy`, `rollback` or `config_change` event. Requests are made one at a time,
paced by the `RateLimit-*` headers through `collectors._http.HttpApi`, and every one is recorded.
Pages are followed by the `Link` header (rel next), else `X-Next-Page`. A project that cannot be
read becomes a problem naming it; the source fails as a whole only when no project could be read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from collectors._http import HttpApi, RestSource, next_link, token_from
from collectors.gitlab.config import GitLabConfig, GitLabProject
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, parse_time, rfc3339, stable_id
from dossier.plugin import CollectRequest, CollectResult

PER_PAGE = 100  # GitLab's maximum
CREDENTIAL = "`token`"
TOKEN_HINT = "the token needs the read_api scope, and its user at least the Reporter role in the project"

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
ROLLBACK_RE = re.compile(r"(?<![a-z])(?:roll(?:ed|ing)?[\s_-]?back|revert(?:ed|ing|s)?)(?![a-z])", re.IGNORECASE)
FINISHED = ("success", "failed", "canceled")
SUFFIX = {"failed": " failed", "canceled": " canceled", "running": " (running)", "created": " (created)"}
SUFFIX["blocked"] = " (waiting for approval)"


def http_status(exc: CollectorError) -> int | None:
    """The HTTP status of the answer that failed the request (`CollectorError.status`), if any."""
    return exc.status


def version_of(ref: str | None, sha: str) -> str:
    """What was deployed, for people: the tag or branch, or the short sha when the ref is a sha."""
    text = (ref or "").removeprefix("refs/tags/").removeprefix("refs/heads/")
    if not text or (SHA_RE.match(text.lower()) and sha.lower().startswith(text.lower())):
        return sha[:8]  # GitLab's short_id
    return text


def _or_all(names: list[str]) -> list[str | None]:
    """The names to ask for one at a time, or [None]: ask once, without the filter."""
    return [*names] if names else [None]


def _time(value: Any) -> datetime | None:
    return parse_time(str(value)) if value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class _Project:
    """A configured project, once its path is known."""

    config: GitLabProject
    id: str  # for URLs: the numeric id, or the URL-encoded path
    path: str  # path with namespace (as configured, or read from GitLab)
    name: str  # the last part of the path
    web_url: str
    service: str = ""
    mapped: bool = False


@dataclass(slots=True)
class _Deployment:
    """One deployment while its page is read."""

    id: int
    iid: int
    environment: str
    status: str
    sha: str
    ref: str
    created_at: datetime
    at: datetime
    request: str


@dataclass(slots=True)
class _Pending:
    """An event being built: whether it is a rollback is known once the earlier deployments are."""

    id: str
    at: datetime
    kind: str
    title: str
    service: str
    attrs: dict[str, str]
    link: str
    request: str

    def event(self, source: str) -> Event:
        return Event(
            id=self.id,
            at=self.at,
            kind=self.kind,
            source=source,
            title=self.title,
            service=self.service,
            attrs=self.attrs,
            link=self.link,
            request=self.request,
        )


class _Seen(NamedTuple):
    """All that is kept of a deployment once its page is read."""

    environment: str
    at: float  # epoch seconds
    id: int
    iid: int
    sha: str
    ref: str
    success: bool
    pending: _Pending | None  # its event, when it is in the window


@dataclass(slots=True)
class _Outcome:
    read: int = 0
    failures: list[CollectorError] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class _ProjectGone(Exception):
    """The project itself cannot be seen (404): nothing more to ask about it."""


class GitLabCollector(RestSource[GitLabConfig]):
    """Deployments and deploy pipelines from GitLab (see the module docstring)."""

    type = "gitlab"
    Config = GitLabConfig
    kinds = frozenset({"change"})

    def make_api(self) -> HttpApi:
        headers: dict[str, str] = {"Accept": "application/json"}
        token = token_from(self.config.token)
        if token:
            if self.config.token_type == "bearer":
                headers["Authorization"] = f"Bearer {token}"
            else:
                headers["PRIVATE-TOKEN"] = token
        return HttpApi(
            f"{self.config.url}/api/v4",
            instance=self.ctx.instance,
            recorder=self.ctx.recorder,
            settings=self.config.http,
            headers=headers,
            credential=CREDENTIAL,
        )

    def check(self) -> str:
        """GitLab's version, and whether each project is visible."""
        body, _, _ = self.api.get_json("/version")
        text = f"GitLab {body.get('version', '?')} (revision {body.get('revision', '?')}) at {self.config.url}"
        failed: list[tuple[str, CollectorError]] = []
        for p in self.config.projects:
            try:
                self.api.get_json(f"/projects/{_project_id(p.project)}")
            except SourceAuthError as exc:
                if http_status(exc) == 401:
                    raise
                failed.append((str(p.project), exc))
            except CollectorError as exc:
                failed.append((str(p.project), exc))
        if failed:
            readable = len(self.config.projects) - len(failed)
            detail = "; ".join(_project_reason(name, exc) for name, exc in failed)
            raise type(failed[0][1])(self.ctx.instance, f"{text}; {readable} projects readable; {detail}")
        return f"{text}; {len(self.config.projects)} projects readable"

    def collect(self, request: CollectRequest) -> CollectResult:
        return _Run(self, request).execute()


def _project_id(project: str | int) -> str:
    return str(project) if isinstance(project, int) else quote(project, safe="")


def _not_found(project: str) -> str:
    return (
        f"project {project!r} not found, or the token cannot see it (HTTP 404): check the path or id, "
        f"and that {CREDENTIAL} has access to it"
    )


def _explain(exc: CollectorError) -> str:
    if isinstance(exc, SourceAuthError) and http_status(exc) == 403:
        return f"{exc} ({TOKEN_HINT})"
    return str(exc)


def _project_reason(project: str, exc: CollectorError) -> str:
    return _not_found(project) if http_status(exc) == 404 else f"{project}: {_explain(exc)}"


class _Run:
    """One `collect` call."""

    def __init__(self, collector: GitLabCollector, request: CollectRequest) -> None:
        self.config = collector.config
        self.instance = collector.ctx.instance
        self.api = collector.api
        self.request = request
        self.start = request.start
        self.end = request.end
        self.pipeline_re = re.compile(self.config.pipeline_pattern)
        self.config_re = re.compile(self.config.config_change_pattern)
        self.result = CollectResult()

    def execute(self) -> CollectResult:
        outcomes = [(p, self._project(p)) for p in self.config.projects]
        failed = [(p, o) for p, o in outcomes if o.read == 0 and o.failures]
        if len(failed) == len(outcomes):
            raise self._total_failure(failed)
        events = [e for _, o in outcomes for e in o.events]
        events.sort(key=lambda e: (e.at, e.id))
        self.result.events.extend(events)
        for _, o in outcomes:
            self.result.problems.extend(o.problems)
        return self.result

    def _total_failure(self, failed: list[tuple[GitLabProject, _Outcome]]) -> CollectorError:
        errors = [e for _, o in failed for e in o.failures]
        if all(isinstance(e, SourceAuthError) for e in errors):
            cls: type[CollectorError] = SourceAuthError
        elif any(isinstance(e, SourceUnavailable) for e in errors):
            cls = SourceUnavailable
        else:
            cls = SourceQueryError
        reason = failed[0][1].problems[0].reason
        if len(failed) == 1:
            return cls(self.instance, reason)
        return cls(self.instance, f"every project failed ({len(failed)}): {reason}; and {len(failed) - 1} more")

    # ---- one project -------------------------------------------------------------------------

    def _project(self, cfg: GitLabProject) -> _Outcome:
        outcome = _Outcome()
        try:
            project = self._guard(cfg, None, "project", outcome, lambda: self._resolve(cfg))
            if project is None:
                return outcome
            linked: set[str] = set()
            if self.config.deployments:
                for env in _or_all(cfg.environments):
                    what = f"deployments to {env!r}" if env else "deployments"
                    got = self._guard(
                        cfg, project, what, outcome, lambda env=env: self._deployments(project, env, outcome)
                    )
                    if got is not None:
                        outcome.events.extend(got[0])
                        linked |= got[1]
            if self.config.pipelines:
                got_p = self._guard(
                    cfg, project, "pipelines", outcome, lambda: self._pipelines(project, linked, outcome)
                )
                if got_p is not None:
                    outcome.events.extend(got_p)
        except _ProjectGone:
            pass
        return outcome

    def _guard(self, cfg: GitLabProject, project: _Project | None, what: str, outcome: _Outcome, fn: Any) -> Any:
        """Run one read; its failure becomes a problem (a 401 stops the whole source)."""
        try:
            value = fn()
        except CollectorError as exc:
            status = http_status(exc)
            if isinstance(exc, SourceAuthError) and status == 401:
                raise
            outcome.failures.append(exc)
            service = project.service if project is not None else self._service(cfg, _name_of(cfg))[0]
            if status == 404:
                outcome.problems.append(Problem(self.instance, _not_found(str(cfg.project)), service=service))
                raise _ProjectGone() from None
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{cfg.project}: {what}: {_explain(exc)}",
                    service=service,
                    start=self.start,
                    end=self.end,
                )
            )
            return None
        if project is not None:
            outcome.read += 1
        return value

    def _resolve(self, cfg: GitLabProject) -> _Project:
        """The project's path and web URL: read from GitLab only when it is given by id."""
        if isinstance(cfg.project, int):
            body, _, _ = self.api.get_json(f"/projects/{cfg.project}")
            path = str(body.get("path_with_namespace") or cfg.project)
            web = str(body.get("web_url") or f"{self.config.url}/{path}")
        else:
            path = cfg.project
            web = f"{self.config.url}/{path}"
        name = path.rsplit("/", 1)[-1]
        project = _Project(cfg, _project_id(cfg.project), path, name, web)
        project.service, project.mapped = self._service(cfg, name, path)
        return project

    def _service(self, cfg: GitLabProject, name: str, path: str | None = None) -> tuple[str, bool]:
        if cfg.service:
            return self.request.canonical(cfg.service) or cfg.service, True
        mapped = self.request.canonical(name) or (self.request.canonical(path) if path else None)
        return (mapped, True) if mapped else (name, False)

    def _pages(self, path: str, params: dict[str, Any], cut: list[bool]) -> Iterator[tuple[Any, httpx.Response, str]]:
        """Each page in turn: `Link: rel="next"`, else `X-Next-Page`; at most `max_pages` (then `cut[0]`)."""
        url: str | None = path
        query: dict[str, Any] | None = params
        for _ in range(self.config.max_pages):
            assert url is not None
            body, response, rid = self.api.get_json(url, query)
            yield body, response, rid
            following = next_link(response)
            if following is not None:
                url, query = following, None
                continue
            next_page = (response.headers.get("x-next-page") or "").strip()
            if not next_page or query is None:
                return
            query = {**query, "page": next_page}
        cut[0] = True

    # ---- deployments -------------------------------------------------------------------------

    def _deployments(self, project: _Project, env: str | None, outcome: _Outcome) -> tuple[list[Event], set[str]]:
        """Deployments from `rollback_lookback` before the window to its end, oldest first; those in
        the window become events, of the others only what rollbacks need is kept."""
        history_start = self.start - timedelta(seconds=self.config.rollback_lookback)
        params: dict[str, Any] = {
            "updated_after": rfc3339(history_start),
            "updated_before": rfc3339(self.end),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": PER_PAGE,
        }
        if env:
            params["environment"] = env
        if len(self.config.statuses) == 1:
            params["status"] = self.config.statuses[0]
        seen: list[_Seen] = []
        linked: set[str] = set()
        cut = [False]
        last: datetime | None = None
        for body, _, rid in self._pages(f"/projects/{project.id}/deployments", params, cut):
            if not isinstance(body, list):
                raise SourceUnavailable(self.instance, f"GET /projects/{project.id}/deployments: expected a list")
            for item in body:
                d = self._deployment(item, rid)
                last = _time(item.get("updated_at")) or last
                wanted = d.status in self.config.statuses
                if not wanted and d.status != "success":
                    continue
                pending = None
                if wanted and self.start <= d.at <= self.end:
                    pending = self._deployment_event(project, d, item)
                    pipeline = _dict(_dict(item.get("deployable")).get("pipeline")).get("id")
                    if pipeline is not None:
                        linked.add(str(pipeline))
                success = d.status == "success"
                seen.append(_Seen(d.environment, d.at.timestamp(), d.id, d.iid, d.sha, d.ref, success, pending))
        if cut[0]:
            where = f" to {env!r}" if env else ""
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{project.path}: deployments{where}: stopped after {self.config.max_pages} pages (max_pages); "
                    f"deployments updated after {rfc3339(last)} were not read: raise max_pages",
                    service=project.service,
                    start=last,
                    end=self.end,
                )
            )
            self.result.truncate(outcome.problems[-1].reason)
        return [p.event(self.instance) for p in self._relate(project, seen)], linked

    def _deployment(self, item: dict[str, Any], rid: str) -> _Deployment:
        status = str(item.get("status") or "")
        job = _dict(item.get("deployable"))
        created = parse_time(str(item["created_at"]))
        if status in FINISHED:
            at = _time(item.get("finished_at")) or _time(job.get("finished_at")) or _time(item.get("updated_at"))
        else:
            at = _time(job.get("started_at"))
        return _Deployment(
            id=int(item["id"]),
            iid=int(item.get("iid") or item["id"]),
            environment=sys.intern(str(_dict(item.get("environment")).get("name") or "")),
            status=status,
            sha=str(item.get("sha") or ""),
            ref=str(item.get("ref") or ""),
            created_at=created,
            at=at or created,
            request=rid,
        )

    def _relate(self, project: _Project, seen: list[_Seen]) -> Iterator[_Pending]:
        """Each deployment in the window next to the successful one before it in its environment; a
        deployment of an sha an earlier success deployed, after another sha, is a rollback."""
        by_env: dict[str, list[_Seen]] = {}
        for d in seen:
            by_env.setdefault(d.environment, []).append(d)
        for env_deployments in by_env.values():
            env_deployments.sort(key=lambda d: (d.at, d.id))
            shas: dict[str, _Seen] = {}  # sha -> its latest earlier successful deployment
            previous: _Seen | None = None  # the latest earlier successful deployment
            for d in env_deployments:
                if d.pending is not None:
                    p = d.pending
                    if previous is not None:
                        p.attrs["previous_sha"] = previous.sha
                        p.attrs["previous_version"] = version_of(previous.ref, previous.sha)
                    earlier = shas.get(d.sha) if previous is not None and previous.sha != d.sha else None
                    if earlier is not None:
                        p.attrs["rolled_back_to_deployment"] = str(earlier.iid)
                        self._rollback(project, p, version_of(earlier.ref, earlier.sha))
                    if p.kind == "rollback" and previous is not None:
                        p.attrs["rolled_back_from"] = version_of(previous.ref, previous.sha)
                    yield p
                if d.success:
                    if d.sha:
                        shas[d.sha] = d
                    previous = d

    def _rollback(self, project: _Project, p: _Pending, to: str) -> None:
        a = p.attrs
        p.kind = "rollback"
        a["rolled_back_to"] = to
        suffix = SUFFIX.get(a["status"], "")
        p.title = f"{project.service} rolled back to {to} in {a['environment']}{suffix} (deploy #{a['iid']})"

    def _deployment_event(self, project: _Project, d: _Deployment, item: dict[str, Any]) -> _Pending:
        """The event of a deployment, but for what the deployments before it tell (`_relate`)."""
        job = _dict(item.get("deployable"))
        pipeline = _dict(job.get("pipeline"))
        environment = _dict(item.get("environment"))
        version = version_of(d.ref, d.sha)
        link = str(
            job.get("web_url")
            or pipeline.get("web_url")
            or (f"{project.web_url}/-/commit/{d.sha}" if d.sha else project.web_url)
        )
        attrs = {
            "record": "deployment",
            "id": str(d.id),
            "iid": str(d.iid),
            "project": project.path,
            "environment": d.environment,
            "sha": d.sha,
            "ref": d.ref,
            "version": version,
            "author": str(_dict(item.get("user")).get("username") or ""),
            "status": d.status,
            "url": link,
            "created_at": rfc3339(d.created_at) or "",
            "service_mapped": "true" if project.mapped else "false",
            "raw_service": project.name,
        }
        for key, value in (
            ("updated_at", item.get("updated_at")),
            ("finished_at", item.get("finished_at") or job.get("finished_at")),
            ("started_at", job.get("started_at")),
            ("job", job.get("name")),
            ("job_id", job.get("id")),
            ("stage", job.get("stage")),
            ("pipeline_id", pipeline.get("id")),
            ("pipeline_url", pipeline.get("web_url")),
            ("environment_url", environment.get("external_url")),
        ):
            if value not in (None, ""):
                attrs[key] = str(value)
        job_name = str(job.get("name") or "")
        suffix = SUFFIX.get(d.status, "")
        if job_name and self.config_re.search(job_name):
            kind = "config_change"
            title = f"{project.service} config change {version} to {d.environment}{suffix} (deploy #{d.iid})"
        else:
            kind = "deploy"
            title = f"{project.service} {version} to {d.environment}{suffix} (deploy #{d.iid})"
        pending = _Pending(
            id=stable_id(self.instance, project.path, "deployment", str(d.id)),
            at=d.at,
            kind=kind,
            title=title,
            service=project.service,
            attrs=attrs,
            link=link,
            request=d.request,
        )
        if ROLLBACK_RE.search(job_name) or ROLLBACK_RE.search(d.ref):
            self._rollback(project, pending, version)
        return pending

    # ---- pipelines ---------------------------------------------------------------------------

    def _pipelines(self, project: _Project, linked: set[str], outcome: _Outcome) -> list[Event]:
        cfg = project.config
        params: dict[str, Any] = {
            "updated_after": rfc3339(self.start),
            "updated_before": rfc3339(self.end),
            "order_by": "updated_at",
            "sort": "asc",
            "per_page": PER_PAGE,
        }
        if cfg.ref:
            params["ref"] = cfg.ref
        events: list[Event] = []
        cut = [False]
        for body, _, rid in self._pages(f"/projects/{project.id}/pipelines", params, cut):
            if not isinstance(body, list):
                raise SourceUnavailable(self.instance, f"GET /projects/{project.id}/pipelines: expected a list")
            for item in body:
                event = self._pipeline_event(project, item, linked, rid)
                if event is not None:
                    events.append(event)
        if cut[0]:
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{project.path}: pipelines: stopped after {self.config.max_pages} pages (max_pages): "
                    "set the project's ref to narrow the list, or raise max_pages",
                    service=project.service,
                    start=self.start,
                    end=self.end,
                )
            )
            self.result.truncate(outcome.problems[-1].reason)
        return events

    def _is_deploy_pipeline(self, cfg: GitLabProject, ref: str, source: str) -> bool:
        if cfg.ref and ref == cfg.ref:
            return True
        if ref in cfg.environments or source in cfg.environments:
            return True
        return bool(self.pipeline_re.search(ref) or self.pipeline_re.search(source))

    def _pipeline_event(self, project: _Project, item: dict[str, Any], linked: set[str], rid: str) -> Event | None:
        pid = str(item.get("id"))
        status = str(item.get("status") or "")
        ref = str(item.get("ref") or "")
        source = str(item.get("source") or "")
        if pid in linked or status not in self.config.statuses:
            return None
        if not self._is_deploy_pipeline(project.config, ref, source):
            return None  # an ordinary CI pipeline
        when = item.get("updated_at") if status in FINISHED else item.get("created_at")
        at = parse_time(str(when or item["created_at"]))
        if not self.start <= at <= self.end:
            return None
        sha = str(item.get("sha") or "")
        version = version_of(ref, sha)
        number = item.get("iid") or pid
        link = str(item.get("web_url") or f"{project.web_url}/-/pipelines/{pid}")
        attrs = {
            "record": "pipeline",
            "id": pid,
            "iid": str(number),
            "project": project.path,
            "sha": sha,
            "ref": ref,
            "version": version,
            "author": str(_dict(item.get("user")).get("username") or ""),
            "status": status,
            "source": source,
            "url": link,
            "created_at": str(item.get("created_at") or ""),
            "updated_at": str(item.get("updated_at") or ""),
            "service_mapped": "true" if project.mapped else "false",
            "raw_service": project.name,
        }
        suffix = SUFFIX.get(status, "")
        if ROLLBACK_RE.search(ref):
            kind = "rollback"
            attrs["rolled_back_to"] = version
            title = f"{project.service} rolled back to {version} by pipeline #{number}{suffix}"
        else:
            kind = "deploy"
            title = f"{project.service} {version} by pipeline #{number} ({source}){suffix}"
        return Event(
            id=stable_id(self.instance, project.path, "pipeline", pid),
            at=at,
            kind=kind,
            source=self.instance,
            title=title,
            service=project.service,
            attrs=attrs,
            link=link,
            request=rid,
        )


def _name_of(cfg: GitLabProject) -> str:
    return str(cfg.project).rsplit("/", 1)[-1]
