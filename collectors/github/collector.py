"""The `github` collector: what was deployed to which environment, when, and how it went.

For each configured repository, over the REST API (github.com or GitHub Enterprise Server):

* **deployments** (`GET /repos/{owner}/{repo}/deployments`, newest first, per environment when
  `environments` is set), read back to `rollback_lookback` before the window; for those in the window
  their statuses (`.../deployments/{id}/statuses`): the deploy's time is its first `success`, else
  the deployment's creation, and its status the last state that is not `inactive`;
* **workflow runs** (`GET .../actions/runs?created=<start>..<end>`, or per workflow
  `.../actions/workflows/{file}/runs`, per branch when `branches` is set): a run counts only when its
  workflow is configured or its name or file matches `deploy_workflow_pattern`; a run that a
  deployment already points at (its status' log or target URL) is not counted twice;
* optionally the size of each deployment (`.../compare/{previous sha}...{sha}`).

Each becomes a `deploy`, `rollback` or `config_change` event. Requests are made one at a time (GitHub
asks integrators not to make concurrent requests), paced by the `X-RateLimit-*` headers through
`collectors._http.HttpApi`, and every one is recorded. A repository that cannot be read becomes a
problem naming it; the source fails as a whole only when no repository could be read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

from collectors._http import HttpApi, RestSource, next_link, token_from
from collectors.github.config import GitHubConfig, GitHubRepository
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, from_epoch, parse_time, rfc3339, stable_id
from dossier.plugin import CollectRequest, CollectResult

PER_PAGE = 100  # GitHub's maximum
STATUS_PAGES = 3  # pages of statuses read per deployment (a deployment rarely has more than 100)
DEPLOY_DURATION_MAX = 3600.0
"""Statuses are read for deployments created up to this long before the window: a deployment
created just before it may have succeeded inside it."""
RUN_SEARCH_CAP = 1000  # GitHub returns at most 1,000 runs for a filtered list
API_VERSION = "2022-11-28"
CREDENTIAL = "`token`"
TOKEN_HINT = (
    "a classic token needs the repo scope (public_repo for public repositories); a fine-grained one "
    "Deployments, Actions and Metadata read access to the repository"
)

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
ROLLBACK_RE = re.compile(r"(?<![a-z])(?:roll(?:ed|ing)?[\s_-]?back|revert(?:ed|ing|s)?)(?![a-z])", re.IGNORECASE)
RUN_URL_RE = re.compile(r"/actions/runs/(\d+)")
TERMINAL = ("success", "failure", "error")
STATE_SUFFIX = {
    "failure": " failed",
    "error": " failed (error)",
    "in_progress": " (in progress)",
    "queued": " (queued)",
    "pending": " (pending)",
}
CONCLUSION_SUFFIX = {
    "failure": " failed",
    "cancelled": " cancelled",
    "timed_out": " timed out",
    "action_required": " (waiting for approval)",
    "startup_failure": " failed to start",
    "stale": " (stale)",
}


def http_status(exc: CollectorError) -> int | None:
    """The HTTP status of the answer that failed the request (`CollectorError.status`), if any."""
    return exc.status


def version_of(ref: str | None, sha: str) -> str:
    """What was deployed, for people: the tag or branch, or the short sha when the ref is a sha."""
    text = (ref or "").removeprefix("refs/tags/").removeprefix("refs/heads/")
    if not text or (SHA_RE.match(text.lower()) and sha.lower().startswith(text.lower())):
        return sha[:7]
    return text


def _or_all(names: list[str]) -> list[str | None]:
    """The names to ask for one at a time, or [None]: ask once, without the filter."""
    return [*names] if names else [None]


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


@dataclass(slots=True)
class _Deployment:
    """One deployment while its page is read, with what its statuses tell."""

    id: int
    environment: str
    sha: str
    ref: str
    task: str
    description: str
    author: str
    created_at: datetime
    request: str  # the list page it came from
    api_url: str
    first: dict[str, datetime] = field(default_factory=dict)  # state -> time of its first status
    state: str | None = None  # the last state that is not `inactive`
    log_url: str | None = None
    environment_url: str | None = None
    run_id: str | None = None
    status_error: str | None = None

    @property
    def at(self) -> datetime:
        return self.first.get("success", self.created_at)


class _Seen(NamedTuple):
    """All that is kept of a deployment once its page is read."""

    environment: str
    created: float  # epoch seconds
    id: int
    sha: str
    ref: str
    pending: _Pending | None  # its event, when it is in the window


@dataclass(slots=True)
class _Pending:
    """An event being built: its attrs can still gain the deployment's size."""

    id: str
    at: datetime
    kind: str
    title: str
    service: str
    attrs: dict[str, str]
    link: str | None
    request: str
    repo: GitHubRepository | None = None
    base: str | None = None  # previous sha in the environment, for compare

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


@dataclass(slots=True)
class _RepoOutcome:
    read: int = 0  # lists read
    failures: list[CollectorError] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    pending: list[_Pending] = field(default_factory=list)


class _RepositoryGone(Exception):
    """The repository itself cannot be seen (404): nothing more to ask about it."""


class GitHubCollector(RestSource[GitHubConfig]):
    """Deployments and deploy workflow runs from GitHub (see the module docstring)."""

    type = "github"
    Config = GitHubConfig
    kinds = frozenset({"change"})

    def make_api(self) -> HttpApi:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        token = token_from(self.config.token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return HttpApi(
            self.config.url,
            instance=self.ctx.instance,
            recorder=self.ctx.recorder,
            settings=self.config.http,
            headers=headers,
            credential=CREDENTIAL,
        )

    def check(self) -> str:
        """The remaining request budget, the token's scopes, and whether each repository is visible."""
        api = self.api
        try:
            body, response, _ = api.get_json("/rate_limit")
        except SourceQueryError as exc:
            if http_status(exc) != 404:
                raise
            text = f"GitHub API at {api.base_url} (rate limiting is not enabled)"
        else:
            core = (body.get("resources") or {}).get("core") or body.get("rate") or {}
            reset = core.get("reset")
            when = rfc3339(from_epoch(float(reset))) if reset else "unknown"
            text = (
                f"GitHub API at {api.base_url}: {core.get('remaining', '?')} of {core.get('limit', '?')} "
                f"requests left until {when}"
            )
            scopes = response.headers.get("x-oauth-scopes")
            if scopes is not None:
                text += f"; token scopes: {scopes or 'none'}"
            if self.config.token is None:
                text += "; no token: public repositories only"
        failed: list[tuple[str, CollectorError]] = []
        for repo in self.config.repositories:
            try:
                api.get_json(f"/repos/{quote(repo.owner)}/{quote(repo.name)}")
            except SourceAuthError as exc:
                if http_status(exc) == 401:
                    raise
                failed.append((repo.repo, exc))
            except CollectorError as exc:
                failed.append((repo.repo, exc))
        if failed:
            detail = "; ".join(_repo_reason(name, exc) for name, exc in failed)
            readable = len(self.config.repositories) - len(failed)
            cls = type(failed[0][1])
            raise cls(self.ctx.instance, f"{text}; {readable} repositories readable; {detail}")
        return f"{text}; {len(self.config.repositories)} repositories readable"

    def collect(self, request: CollectRequest) -> CollectResult:
        return _Run(self, request).execute()


def _not_found(repo: str) -> str:
    return (
        f"repository {repo!r} not found, or the token cannot see it (HTTP 404): check the name, "
        f"and that {CREDENTIAL} has access to it"
    )


def _explain(exc: CollectorError) -> str:
    """The error's text, with what the token needs when GitHub did not say it."""
    if isinstance(exc, SourceAuthError) and "the token needs" not in str(exc):
        return f"{exc} ({TOKEN_HINT})"
    return str(exc)


def _repo_reason(repo: str, exc: CollectorError) -> str:
    return _not_found(repo) if http_status(exc) == 404 else f"{repo}: {_explain(exc)}"


class _Run:
    """One `collect` call."""

    def __init__(self, collector: GitHubCollector, request: CollectRequest) -> None:
        self.config = collector.config
        self.instance = collector.ctx.instance
        self.api = collector.api
        self.request = request
        self.start = request.start
        self.end = request.end
        self.web = self.config.link_base
        self.deploy_re = re.compile(self.config.deploy_workflow_pattern)
        self.config_re = re.compile(self.config.config_change_pattern)
        self.result = CollectResult()

    # ---- the run -----------------------------------------------------------------------------

    def execute(self) -> CollectResult:
        outcomes: list[tuple[GitHubRepository, _RepoOutcome]] = []
        for repo in self.config.repositories:
            outcomes.append((repo, self._repository(repo)))
        failed = [(repo, o) for repo, o in outcomes if o.read == 0 and o.failures]
        if len(failed) == len(outcomes):
            raise self._total_failure(failed)
        pending = [p for _, o in outcomes for p in o.pending]
        self._compare(pending)
        pending.sort(key=lambda p: (p.at, p.id))
        self.result.events.extend(p.event(self.instance) for p in pending)
        for _, o in outcomes:
            self.result.problems.extend(o.problems)
        return self.result

    def _total_failure(self, failed: list[tuple[GitHubRepository, _RepoOutcome]]) -> CollectorError:
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
        return cls(self.instance, f"every repository failed ({len(failed)}): {reason}; and {len(failed) - 1} more")

    def _repository(self, repo: GitHubRepository) -> _RepoOutcome:
        outcome = _RepoOutcome()
        service, mapped = self._service(repo)
        linked_runs: set[str] = set()
        try:
            if self.config.deployments:
                seen: list[_Seen] = []
                for env in _or_all(repo.environments):
                    what = f"deployments to {env!r}" if env else "deployments"
                    got = self._guard(
                        repo,
                        what,
                        outcome,
                        lambda env=env: self._deployments(repo, env, (service, mapped), linked_runs, outcome),
                    )
                    if got is not None:
                        seen.extend(got)
                outcome.pending.extend(self._relate(seen))
            if self.config.workflow_runs:
                for workflow in _or_all(repo.workflows):
                    for branch in _or_all(repo.branches):
                        what = "workflow runs" + (f" of {workflow!r}" if workflow else "")
                        what += f" on branch {branch!r}" if branch else ""
                        got_runs = self._guard(
                            repo,
                            what,
                            outcome,
                            lambda w=workflow, b=branch: self._runs(repo, w, b, linked_runs, service, mapped, outcome),
                        )
                        if got_runs is not None:
                            outcome.pending.extend(got_runs)
        except _RepositoryGone:
            pass
        return outcome

    def _guard(self, repo: GitHubRepository, what: str, outcome: _RepoOutcome, fn: Any) -> Any:
        """Run one list read; its failure becomes a problem (a 401 stops the whole source)."""
        try:
            value = fn()
        except CollectorError as exc:
            status = http_status(exc)
            if isinstance(exc, SourceAuthError) and status == 401:
                raise
            outcome.failures.append(exc)
            service = self._service(repo)[0]
            workflow_missing = status == 404 and "/actions/workflows/" in str(exc)
            if status == 404 and not workflow_missing:
                outcome.problems.append(Problem(self.instance, _repo_reason(repo.repo, exc), service=service))
                raise _RepositoryGone() from None
            reason = (
                f"{repo.repo}: {what}: workflow not found (HTTP 404): check `workflows` (a file name such as "
                "deploy.yml, or the workflow's id)"
                if workflow_missing
                else f"{repo.repo}: {what}: {_explain(exc)}"
            )
            outcome.problems.append(Problem(self.instance, reason, service=service, start=self.start, end=self.end))
            return None
        outcome.read += 1
        return value

    def _service(self, repo: GitHubRepository) -> tuple[str, bool]:
        if repo.service:
            return self.request.canonical(repo.service) or repo.service, True
        mapped = self.request.canonical(repo.name) or self.request.canonical(repo.repo)
        return (mapped, True) if mapped else (repo.name, False)

    # ---- deployments -------------------------------------------------------------------------

    def _deployments(
        self,
        repo: GitHubRepository,
        env: str | None,
        service: tuple[str, bool],
        linked_runs: set[str],
        outcome: _RepoOutcome,
    ) -> list[_Seen]:
        """The deployments from `rollback_lookback` before the window to its end, read newest first.

        Those in the window become events at once; of every deployment only its environment, time,
        id, sha and ref are kept (for rollbacks), so no page outlives its reading."""
        path = f"/repos/{quote(repo.owner)}/{quote(repo.name)}/deployments"
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if env:
            params["environment"] = env
        history_start = self.start - timedelta(seconds=self.config.rollback_lookback)
        status_from = self.start - timedelta(seconds=DEPLOY_DURATION_MAX)
        kept: list[_Seen] = []
        status_errors: list[str] = []
        pages, oldest, more = 0, None, False
        for body, response, rid in self.api.pages(path, params, max_pages=self.config.max_pages):
            pages += 1
            if not isinstance(body, list):
                raise SourceUnavailable(self.instance, f"GET {path}: expected a list of deployments")
            for item in body:
                d = self._deployment(item, rid)
                oldest = d.created_at if oldest is None else min(oldest, d.created_at)
                if d.created_at > self.end or d.created_at < history_start:
                    continue
                pending = None
                if d.created_at >= status_from:
                    self._statuses(repo, d, status_errors)
                    if d.run_id:
                        linked_runs.add(d.run_id)
                    if self.start <= d.at <= self.end:
                        pending = self._deployment_event(repo, d, *service)
                kept.append(_Seen(d.environment, d.created_at.timestamp(), d.id, d.sha, d.ref, pending))
            more = next_link(response) is not None
            if oldest is not None and oldest < history_start:
                more = False
                break
        if more and (oldest is None or oldest >= self.start):
            where = f" to {env!r}" if env else ""
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{repo.repo}: deployments{where}: stopped after {pages} pages (max_pages) before reaching the "
                    f"window's start; deployments before {rfc3339(oldest)} were not read: raise max_pages",
                    service=self._service(repo)[0],
                    start=self.start,
                    end=oldest,
                )
            )
            self.result.truncate(outcome.problems[-1].reason)
        if status_errors:
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{repo.repo}: the statuses of {len(status_errors)} deployments could not be read "
                    f"({status_errors[0]}): their time is when they were created and their status unknown",
                    service=self._service(repo)[0],
                )
            )
        return kept

    def _deployment(self, item: dict[str, Any], rid: str) -> _Deployment:
        return _Deployment(
            id=int(item["id"]),
            environment=sys.intern(str(item.get("environment") or item.get("original_environment") or "")),
            sha=str(item.get("sha") or ""),
            ref=str(item.get("ref") or ""),
            task=str(item.get("task") or "deploy"),
            description=str(item.get("description") or ""),
            author=_login(item.get("creator")),
            created_at=parse_time(str(item["created_at"])),
            request=rid,
            api_url=str(item.get("url") or ""),
        )

    def _statuses(self, repo: GitHubRepository, d: _Deployment, errors: list[str]) -> None:
        path = f"/repos/{quote(repo.owner)}/{quote(repo.name)}/deployments/{d.id}/statuses"
        statuses: list[tuple[datetime, int, dict[str, Any]]] = []
        try:
            for body, _, _ in self.api.pages(path, {"per_page": PER_PAGE}, max_pages=STATUS_PAGES):
                for s in body if isinstance(body, list) else []:
                    statuses.append((parse_time(str(s["created_at"])), int(s.get("id") or 0), s))
        except CollectorError as exc:
            if isinstance(exc, SourceAuthError) and http_status(exc) == 401:
                raise
            d.status_error = str(exc)
            errors.append(str(exc))
            return
        statuses.sort(key=lambda x: (x[0], x[1]))
        for at, _, s in statuses:
            state = str(s.get("state") or "")
            d.first.setdefault(state, at)
            if state != "inactive":
                d.state = state
            d.log_url = s.get("log_url") or s.get("target_url") or d.log_url
            d.environment_url = s.get("environment_url") or d.environment_url
            for url in (s.get("log_url"), s.get("target_url")):
                match = RUN_URL_RE.search(str(url or ""))
                if match:
                    d.run_id = match.group(1)

    def _relate(self, seen: list[_Seen]) -> Iterator[_Pending]:
        """Each deployment in the window next to the one before it in its environment; a deployment of
        an sha deployed earlier, after another sha, is a rollback."""
        by_env: dict[str, list[_Seen]] = {}
        for d in seen:
            by_env.setdefault(d.environment, []).append(d)
        for env_deployments in by_env.values():
            env_deployments.sort(key=lambda d: (d.created, d.id))
            shas: dict[str, _Seen] = {}  # sha -> the latest earlier deployment of it
            previous: _Seen | None = None
            for d in env_deployments:
                if d.pending is not None:
                    earlier = shas.get(d.sha) if previous is not None and previous.sha != d.sha else None
                    self._finish(d.pending, previous, earlier)
                    yield d.pending
                if d.sha:
                    shas[d.sha] = d
                previous = d

    def _deployment_event(self, repo: GitHubRepository, d: _Deployment, service: str, mapped: bool) -> _Pending:
        """The event of a deployment, but for what the deployments before it tell (`_finish`)."""
        version = version_of(d.ref, d.sha)
        state = d.state or ("unknown" if d.status_error else "pending")
        link = d.log_url or (f"{self.web}/{repo.repo}/commit/{d.sha}" if d.sha else f"{self.web}/{repo.repo}")
        attrs = {
            "record": "deployment",
            "id": str(d.id),
            "repository": repo.repo,
            "environment": d.environment,
            "sha": d.sha,
            "ref": d.ref,
            "version": version,
            "author": d.author,
            "status": state,
            "task": d.task,
            "url": link,
            "api_url": d.api_url,
            "created_at": rfc3339(d.created_at) or "",
            "service_mapped": "true" if mapped else "false",
            "raw_service": repo.name,
        }
        if d.description:
            attrs["description"] = d.description
        for s in ("in_progress", "success", "failure", "error", "inactive"):
            if s in d.first:
                attrs[f"{s}_at"] = rfc3339(d.first[s]) or ""
        if d.environment_url:
            attrs["environment_url"] = d.environment_url
        if d.run_id:
            attrs["workflow_run"] = d.run_id
        suffix = STATE_SUFFIX.get(state, "")
        if self.config_re.search(d.task) and d.task != "deploy":
            kind = "config_change"
            title = f"{service} config change {version} to {d.environment}{suffix} (deploy #{d.id})"
        else:
            kind = "deploy"
            title = f"{service} {version} to {d.environment}{suffix} (deploy #{d.id})"
        pending = _Pending(
            id=stable_id(self.instance, repo.repo, "deployment", str(d.id)),
            at=d.at,
            kind=kind,
            title=title,
            service=service,
            attrs=attrs,
            link=link,
            request=d.request,
            repo=repo,
        )
        if ROLLBACK_RE.search(d.description) or ROLLBACK_RE.search(d.ref):
            self._rollback(pending, version)
        return pending

    def _finish(self, p: _Pending, previous: _Seen | None, earlier: _Seen | None) -> None:
        if previous is not None:
            p.attrs["previous_sha"] = previous.sha
            p.attrs["previous_version"] = version_of(previous.ref, previous.sha)
            if previous.sha and previous.sha != p.attrs["sha"]:
                p.base = previous.sha
        if earlier is not None:
            p.attrs["rolled_back_to_deployment"] = str(earlier.id)
            self._rollback(p, version_of(earlier.ref, earlier.sha))
        if p.kind == "rollback" and previous is not None:
            p.attrs["rolled_back_from"] = version_of(previous.ref, previous.sha)

    def _rollback(self, p: _Pending, to: str) -> None:
        a = p.attrs
        suffix = STATE_SUFFIX.get(a["status"], "")
        p.kind = "rollback"
        a["rolled_back_to"] = to
        p.title = f"{p.service} rolled back to {to} in {a['environment']}{suffix} (deploy #{a['id']})"

    # ---- workflow runs -----------------------------------------------------------------------

    def _runs(
        self,
        repo: GitHubRepository,
        workflow: str | None,
        branch: str | None,
        linked: set[str],
        service: str,
        mapped: bool,
        outcome: _RepoOutcome,
    ) -> list[_Pending]:
        base = f"/repos/{quote(repo.owner)}/{quote(repo.name)}/actions"
        path = f"{base}/workflows/{quote(workflow, safe='')}/runs" if workflow else f"{base}/runs"
        params: dict[str, Any] = {
            "created": f"{rfc3339(self.start)}..{rfc3339(self.end)}",
            "exclude_pull_requests": "true",
            "per_page": PER_PAGE,
        }
        if branch:
            params["branch"] = branch
        events: list[_Pending] = []
        seen = total = 0
        more = False
        for body, response, rid in self.api.pages(path, params, max_pages=self.config.max_pages):
            if not isinstance(body, dict) or not isinstance(body.get("workflow_runs"), list):
                raise SourceUnavailable(self.instance, f"GET {path}: expected {{total_count, workflow_runs}}")
            total = int(body.get("total_count") or 0)
            for run in body["workflow_runs"]:
                seen += 1
                pending = self._run_event(repo, run, workflow is not None, linked, service, mapped, rid)
                if pending is not None:
                    events.append(pending)
            more = next_link(response) is not None
        if more or (seen >= RUN_SEARCH_CAP and total >= RUN_SEARCH_CAP):
            cap = "max_pages" if more else f"GitHub lists at most {RUN_SEARCH_CAP} runs per filtered list"
            outcome.problems.append(
                Problem(
                    self.instance,
                    f"{repo.repo}: workflow runs: read {seen} of {total} runs in the window ({cap}): "
                    "name the deploy `workflows` or `branches` to narrow the list",
                    service=service,
                    start=self.start,
                    end=self.end,
                )
            )
            self.result.truncate(outcome.problems[-1].reason)
        return events

    def _run_event(
        self,
        repo: GitHubRepository,
        run: dict[str, Any],
        configured: bool,
        linked: set[str],
        service: str,
        mapped: bool,
        rid: str,
    ) -> _Pending | None:
        run_id = str(run.get("id"))
        name = str(run.get("name") or "")
        path = str(run.get("path") or "")
        file = path.rsplit("/", 1)[-1]
        if not configured and not (self.deploy_re.search(name) or (file and self.deploy_re.search(file))):
            return None  # not a deploy workflow
        conclusion = run.get("conclusion")
        status = str(run.get("status") or "")
        if conclusion == "skipped" or run_id in linked:
            return None  # nothing ran, or a deployment already stands for it
        completed = status == "completed"
        when = run.get("updated_at") if completed else run.get("run_started_at") or run.get("created_at")
        at = parse_time(str(when or run["created_at"]))
        if not self.start <= at <= self.end:
            return None
        sha = str(run.get("head_sha") or "")
        ref = str(run.get("head_branch") or "")
        version = version_of(ref, sha)
        number = run.get("run_number") or run_id
        link = str(run.get("html_url") or f"{self.web}/{repo.repo}/actions/runs/{run_id}")
        attrs = {
            "record": "workflow_run",
            "id": run_id,
            "repository": repo.repo,
            "sha": sha,
            "ref": ref,
            "version": version,
            "author": _login(run.get("actor")),
            "status": status,
            "conclusion": str(conclusion or ""),
            "workflow": name,
            "workflow_path": path,
            "event": str(run.get("event") or ""),
            "run_number": str(number),
            "run_attempt": str(run.get("run_attempt") or 1),
            "url": link,
            "created_at": str(run.get("created_at") or ""),
            "service_mapped": "true" if mapped else "false",
            "raw_service": repo.name,
        }
        if run.get("run_started_at"):
            attrs["started_at"] = str(run["run_started_at"])
        if completed:
            attrs["completed_at"] = str(run.get("updated_at") or "")
        suffix = CONCLUSION_SUFFIX.get(str(conclusion), "") if completed else " (in progress)"
        if ROLLBACK_RE.search(name) or ROLLBACK_RE.search(ref):
            kind = "rollback"
            attrs["rolled_back_to"] = version
            title = f"{service} rolled back to {version} via {name}{suffix} (run #{number})"
        elif self.config_re.search(name):
            kind = "config_change"
            title = f"{service} config change {version} via {name}{suffix} (run #{number})"
        else:
            kind = "deploy"
            title = f"{service} {version} via {name}{suffix} (run #{number})"
        return _Pending(
            id=stable_id(self.instance, repo.repo, "workflow_run", run_id),
            at=at,
            kind=kind,
            title=title,
            service=service,
            attrs=attrs,
            link=link,
            request=rid,
        )

    # ---- size of a deployment ----------------------------------------------------------------

    def _compare(self, pending: list[_Pending]) -> None:
        """Commits, files and lines between each deployment and the previous one (closest first, capped)."""
        if not self.config.compare:
            return
        anchor = self.request.incident.start
        candidates = sorted(
            (p for p in pending if p.base and p.repo is not None),
            key=lambda p: (abs((p.at - anchor).total_seconds()), p.id),
        )
        failures: dict[str, list[str]] = {}
        for p in candidates[: self.config.max_compares]:
            assert p.repo is not None and p.base is not None
            repo = p.repo
            path = f"/repos/{quote(repo.owner)}/{quote(repo.name)}/compare/{p.base}...{p.attrs['sha']}"
            try:
                body, _, _ = self.api.get_json(path)
            except CollectorError as exc:
                failures.setdefault(repo.repo, []).append(str(exc))
                continue
            files = body.get("files") or []
            p.attrs["commits"] = str(int(body.get("total_commits") or 0))
            p.attrs["changed_files"] = str(len(files))
            p.attrs["additions"] = str(sum(int(f.get("additions") or 0) for f in files))
            p.attrs["deletions"] = str(sum(int(f.get("deletions") or 0) for f in files))
            if len(files) >= 300:
                p.attrs["files_truncated"] = "true"  # GitHub lists at most 300 files
            if body.get("html_url"):
                p.attrs["compare_url"] = str(body["html_url"])
        for repo_name, errors in failures.items():
            self.result.problems.append(
                Problem(
                    self.instance,
                    f"{repo_name}: the size of {len(errors)} deployments could not be read ({errors[0]})",
                )
            )
