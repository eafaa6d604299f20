"""A stand-in for the GitHub REST API: the endpoints the `github` collector reads, shaped as documented.

    data = GitHubData()
    repo = data.repo("acme/payments")
    d = repo.deployment(environment="production", ref="v2.14.0", created_at="2026-11-20T09:50:00Z",
                        statuses=[("in_progress", "2026-11-20T09:50:10Z"), ("success", "2026-11-20T09:52:00Z")])
    repo.run(name="Deploy", head_branch="main", created_at="2026-11-20T09:40:00Z")
    with GitHubStandIn(data, token="ghp_test", rate_limit=300, rate_reset=2) as gh:
        ...  # gh.url, gh.requests, gh.inject(403, headers=..., body=...), gh.windows

Served (GET only), as the REST docs (API version 2022-11-28) show them:

* `/rate_limit` (not counted against the budget), `/repos/{o}/{r}`;
* `/repos/{o}/{r}/deployments` (filters environment, sha, ref, task; newest first),
  `/repos/{o}/{r}/deployments/{id}/statuses` (newest first);
* `/repos/{o}/{r}/actions/runs` and `/actions/workflows/{id|file}/runs` (filters created, branch,
  status, event, head_sha, actor; `{total_count, workflow_runs}`; at most 1,000 results per filtered list);
* `/repos/{o}/{r}/compare/{base}...{head}`.

Pagination by `per_page` (default 30, at most 100) and `page`, with `Link` rel next/last/first/prev.
Every counted response carries `X-RateLimit-Limit/-Remaining/-Used/-Reset/-Resource`; once the
budget of a window is spent the answer is 403 (or 429) "API rate limit exceeded" until the reset.
A wrong token gets 401 "Bad credentials"; no token reads public repositories only. `/api/v3` in front
of every path (GitHub Enterprise Server) is accepted too.

The generic server parts (`StandInServer`, injection, request log) are used by `tests/standins/gitlab.py`.

Standalone: `python tests/standins/github.py --port 8080 --load data.json [--token T] [--rate-limit N]`
where data.json is `GitHubData.to_json()`; `GET /_standin/stats` (not logged, not counted) tells the
requests seen, per status, per rate-limit window, and how many were refused for the rate limit.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

API = "__API__"  # replaced by the server's URL when a body is sent
WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"


def iso(value: str | datetime) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def parse_iso(text: str) -> datetime:
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def user(login: str, uid: int = 1) -> dict[str, Any]:
    return {
        "login": login,
        "id": uid,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "url": f"{API}/users/{login}",
        "html_url": f"{WEB}/{login}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


# ---- the data a test builds ------------------------------------------------------------------


class GitHubRepo:
    """One repository's data, built by the test."""

    def __init__(self, data: GitHubData, full_name: str, *, private: bool = False, repo_id: int = 1) -> None:
        self.data = data
        self.full_name = full_name
        owner, name = full_name.split("/", 1)
        self.info: dict[str, Any] = {
            "id": repo_id,
            "node_id": "MDEwOlJlcG9zaXRvcnkx",
            "name": name,
            "full_name": full_name,
            "private": private,
            "owner": user(owner),
            "html_url": f"{WEB}/{full_name}",
            "description": None,
            "fork": False,
            "url": f"{API}/repos/{full_name}",
            "deployments_url": f"{API}/repos/{full_name}/deployments",
            "default_branch": "main",
            "visibility": "private" if private else "public",
        }
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.runs: list[dict[str, Any]] = []
        self.compares: dict[str, dict[str, Any]] = {}
        self.workflows: dict[str, int] = {}  # file name -> workflow id

    def workflow(self, file: str) -> int:
        """Declare a workflow (`.github/workflows/<file>`), also one without runs; returns its id."""
        return self.workflows.setdefault(file, int(fake_sha(self.full_name, file)[:6], 16))

    @property
    def private(self) -> bool:
        return bool(self.info["private"])

    def deployment(
        self,
        *,
        created_at: str | datetime,
        environment: str = "production",
        ref: str = "main",
        sha: str | None = None,
        task: str = "deploy",
        description: str | None = None,
        creator: str = "octocat",
        statuses: Iterable[tuple[str, str | datetime] | tuple[str, str | datetime, dict[str, Any]]] = (),
        deployment_id: int | None = None,
    ) -> dict[str, Any]:
        """A deployment (shaped as `GET .../deployments` lists it) and its statuses, oldest first."""
        did = deployment_id if deployment_id is not None else next(self.data.ids)
        full = self.full_name
        item = {
            "url": f"{API}/repos/{full}/deployments/{did}",
            "id": did,
            "node_id": "MDEwOkRlcGxveW1lbnQx",
            "sha": sha or fake_sha(full, ref, did),
            "ref": ref,
            "task": task,
            "payload": {},
            "original_environment": environment,
            "environment": environment,
            "description": description,
            "creator": user(creator),
            "created_at": iso(created_at),
            "updated_at": iso(created_at),
            "statuses_url": f"{API}/repos/{full}/deployments/{did}/statuses",
            "repository_url": f"{API}/repos/{full}",
            "transient_environment": False,
            "production_environment": environment == "production",
        }
        self.deployments.append(item)
        self.statuses[did] = []
        for entry in statuses:
            state, at = entry[0], entry[1]
            extra = entry[2] if len(entry) > 2 else {}  # type: ignore[misc]
            self.status(did, state, at, **extra)
        if self.statuses[did]:
            item["updated_at"] = self.statuses[did][-1]["updated_at"]
        return item

    def status(self, deployment_id: int, state: str, at: str | datetime, **fields: Any) -> dict[str, Any]:
        sid = next(self.data.ids)
        full = self.full_name
        env = next(d["environment"] for d in self.deployments if d["id"] == deployment_id)
        item = {
            "url": f"{API}/repos/{full}/deployments/{deployment_id}/statuses/{sid}",
            "id": sid,
            "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
            "state": state,
            "creator": user("octocat"),
            "description": f"Deployment {state}",
            "environment": env,
            "target_url": "",
            "created_at": iso(at),
            "updated_at": iso(at),
            "deployment_url": f"{API}/repos/{full}/deployments/{deployment_id}",
            "repository_url": f"{API}/repos/{full}",
            "environment_url": "",
            "log_url": "",
        }
        item.update(fields)
        self.statuses[deployment_id].append(item)
        return item

    def run(
        self,
        *,
        created_at: str | datetime,
        name: str = "Deploy",
        path: str | None = None,
        head_branch: str = "main",
        head_sha: str | None = None,
        status: str = "completed",
        conclusion: str | None = "success",
        updated_at: str | datetime | None = None,
        run_started_at: str | datetime | None = None,
        actor: str = "octocat",
        event: str = "push",
        run_attempt: int = 1,
        run_id: int | None = None,
        workflow_id: int | None = None,
    ) -> dict[str, Any]:
        """A workflow run, shaped as `GET .../actions/runs` lists it."""
        rid = run_id if run_id is not None else next(self.data.ids)
        full = self.full_name
        path = path or f".github/workflows/{name.lower().replace(' ', '-')}.yml"
        wid = workflow_id if workflow_id is not None else self.workflow(path.rsplit("/", 1)[-1])
        number = sum(1 for r in self.runs if r["workflow_id"] == wid) + 1
        sha = head_sha or fake_sha(full, head_branch, rid)
        item = {
            "id": rid,
            "name": name,
            "node_id": "WFR_kwLOBB",
            "head_branch": head_branch,
            "head_sha": sha,
            "path": path,
            "display_title": f"Merge pull request #{rid % 1000} from acme/feature",
            "run_number": number,
            "event": event,
            "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "workflow_id": wid,
            "check_suite_id": rid + 1,
            "check_suite_node_id": "CS_kwDOBB",
            "url": f"{API}/repos/{full}/actions/runs/{rid}",
            "html_url": f"{WEB}/{full}/actions/runs/{rid}",
            "pull_requests": [],
            "created_at": iso(created_at),
            "updated_at": iso(updated_at or created_at),
            "actor": user(actor),
            "run_attempt": run_attempt,
            "referenced_workflows": [],
            "run_started_at": iso(run_started_at or created_at),
            "triggering_actor": user(actor),
            "jobs_url": f"{API}/repos/{full}/actions/runs/{rid}/jobs",
            "logs_url": f"{API}/repos/{full}/actions/runs/{rid}/logs",
            "check_suite_url": f"{API}/repos/{full}/check-suites/{rid + 1}",
            "artifacts_url": f"{API}/repos/{full}/actions/runs/{rid}/artifacts",
            "cancel_url": f"{API}/repos/{full}/actions/runs/{rid}/cancel",
            "rerun_url": f"{API}/repos/{full}/actions/runs/{rid}/rerun",
            "workflow_url": f"{API}/repos/{full}/actions/workflows/{wid}",
            "head_commit": {
                "id": sha,
                "tree_id": fake_sha("tree", sha),
                "message": "Merge pull request",
                "timestamp": iso(created_at),
                "author": {"name": actor, "email": f"{actor}@example.com"},
                "committer": {"name": "GitHub", "email": "noreply@github.com"},
            },
            "repository": {"id": self.info["id"], "name": self.info["name"], "full_name": full},
            "head_repository": {"id": self.info["id"], "name": self.info["name"], "full_name": full},
        }
        self.runs.append(item)
        return item

    def compare(
        self, base: str, head: str, *, commits: int = 1, files: Iterable[tuple[str, int, int]] = ()
    ) -> dict[str, Any]:
        """`GET .../compare/{base}...{head}`: `files` as (filename, additions, deletions)."""
        full = self.full_name
        file_items = [
            {
                "sha": fake_sha(name, head),
                "filename": name,
                "status": "modified",
                "additions": add,
                "deletions": dele,
                "changes": add + dele,
                "blob_url": f"{WEB}/{full}/blob/{head}/{name}",
                "raw_url": f"{WEB}/{full}/raw/{head}/{name}",
                "contents_url": f"{API}/repos/{full}/contents/{name}?ref={head}",
                "patch": "@@ -1 +1 @@",
            }
            for name, add, dele in files
        ]
        item = {
            "url": f"{API}/repos/{full}/compare/{base}...{head}",
            "html_url": f"{WEB}/{full}/compare/{base}...{head}",
            "permalink_url": f"{WEB}/{full}/compare/acme:{base[:7]}...acme:{head[:7]}",
            "diff_url": f"{WEB}/{full}/compare/{base}...{head}.diff",
            "patch_url": f"{WEB}/{full}/compare/{base}...{head}.patch",
            "base_commit": {"sha": base},
            "merge_base_commit": {"sha": base},
            "status": "ahead",
            "ahead_by": commits,
            "behind_by": 0,
            "total_commits": commits,
            "commits": [{"sha": fake_sha(base, head, i), "commit": {"message": f"change {i}"}} for i in range(commits)],
            "files": file_items,
        }
        self.compares[f"{base}...{head}"] = item
        return item


class GitHubData:
    """Repositories with their deployments, statuses, runs and compares."""

    def __init__(self) -> None:
        self.repos: dict[str, GitHubRepo] = {}
        self.ids = itertools.count(1000)

    def repo(self, full_name: str, *, private: bool = False) -> GitHubRepo:
        if full_name not in self.repos:
            self.repos[full_name] = GitHubRepo(self, full_name, private=private, repo_id=len(self.repos) + 1)
        return self.repos[full_name]

    def to_json(self) -> str:
        return json.dumps(
            {
                name: {
                    "info": r.info,
                    "deployments": r.deployments,
                    "statuses": {str(k): v for k, v in r.statuses.items()},
                    "runs": r.runs,
                    "compares": r.compares,
                    "workflows": r.workflows,
                }
                for name, r in self.repos.items()
            }
        )

    @classmethod
    def from_json(cls, text: str) -> GitHubData:
        data = cls()
        for name, value in json.loads(text).items():
            r = data.repo(name)
            r.info = value["info"]
            r.deployments = value["deployments"]
            r.statuses = {int(k): v for k, v in value["statuses"].items()}
            r.runs = value["runs"]
            r.compares = value["compares"]
            r.workflows = value.get("workflows", {})
        return data


# ---- the generic server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Logged:
    method: str
    path: str  # without the query, as sent (still URL-encoded)
    params: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int = 0


@dataclass(slots=True)
class Injection:
    status: int | None  # None: the normal answer, after `delay`
    count: int
    headers: dict[str, str]
    body: Any
    match: str | None
    delay: float


@dataclass(slots=True)
class Reply:
    status: int
    body: Any  # JSON value, or bytes/str sent as it is
    headers: dict[str, str] = field(default_factory=dict)


class StandInServer:
    """A ThreadingHTTPServer on 127.0.0.1:0 with a request log and injectable answers."""

    prefix = ""  # path prefix of the API (GitHub Enterprise: /api/v3)

    def __init__(self) -> None:
        self.requests: list[Logged] = []
        self._injections: list[Injection] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle

    def start(self, port: int = 0) -> StandInServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK stalls
            wbufsize = -1

            def do_GET(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandInServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + self.prefix

    # -- test controls

    def inject(
        self,
        status: int | None,
        count: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        match: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `count` requests (whose path contains `match`, if given) with this status.

        `body` None gives the API's own error body for the status; `status` None keeps the normal
        answer and only waits `delay` seconds first (a slow server, for timeouts)."""
        with self._lock:
            self._injections.append(Injection(status, count, dict(headers or {}), body, match, delay))

    def paths(self) -> list[str]:
        return [unquote(r.path) for r in self.requests]

    # -- for subclasses

    def route(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        return {"message": f"HTTP {status}"}

    def placeholders(self) -> dict[str, str]:
        """Text in the data replaced when a body is sent (URLs that depend on the port)."""
        return {API: self.url}

    def before(self, path: str, headers: Mapping[str, str]) -> tuple[Reply | None, dict[str, str]]:
        """Rate limiting and authentication: (a reply that ends the request, headers for every reply)."""
        return None, {}

    # -- internals

    def stats(self) -> dict[str, Any]:
        """What the server saw: served at `/_standin/stats` (not logged, not counted), for benchmarks."""
        with self._lock:
            statuses: dict[str, int] = {}
            for r in self.requests:
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
            return {"requests": len(self.requests), "statuses": statuses}

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = parts.path
        if path == "/_standin/stats":
            self._send(handler, Reply(200, self.stats()), {})
            return
        injection = self._take(path)
        if injection is not None and injection.delay:
            time.sleep(injection.delay)
        extra: dict[str, str] = {}
        reply: Reply | None
        if injection is not None and injection.status is not None:
            _, extra = self.before(path, headers)
            body = injection.body if injection.body is not None else self.error_body(injection.status)
            reply = Reply(injection.status, body, dict(injection.headers))
        else:
            reply, extra = self.before(path, headers)
            if reply is None:
                api_path = path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path
                reply = self.route(api_path, params, headers)
        with self._lock:
            self.requests.append(Logged("GET", path, params, headers, time.time(), reply.status))
        self._send(handler, reply, {**extra, **reply.headers})

    def _take(self, path: str) -> Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.count > 0 and (inj.match is None or inj.match in unquote(path)):
                    inj.count -= 1
                    return inj
        return None

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply, headers: Mapping[str, str]) -> None:
        if isinstance(reply.body, bytes):
            payload, ctype = reply.body, "application/octet-stream"
        elif isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/plain"
        else:
            text = json.dumps(reply.body)
            for placeholder, value in self.placeholders().items():
                text = text.replace(placeholder, value)
            payload, ctype = text.encode(), "application/json; charset=utf-8"
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    # -- helpers for subclasses

    def page_of(
        self, path: str, params: dict[str, str], items: list[Any], *, default: int, cap: int | None = None
    ) -> tuple[list[Any], dict[str, str], dict[str, int]]:
        """One page of `items` and its `Link` header (absolute URLs, rel next/last/first/prev)."""
        try:
            per_page = max(1, min(100, int(params.get("per_page", default))))
            page = max(1, int(params.get("page", 1)))
        except ValueError:
            per_page, page = default, 1
        reachable = len(items) if cap is None else min(len(items), cap)
        pages = max(1, math.ceil(reachable / per_page))
        first = (page - 1) * per_page
        chunk = items[first : min(first + per_page, reachable)] if first < reachable else []

        def link(n: int) -> str:
            return f"<{self.url}{path}?{urlencode({**params, 'page': n})}>"

        rels = []
        if page < pages:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(pages)}; rel="last"']
        if page > 1:
            rels += [f'{link(1)}; rel="first"', f'{link(page - 1)}; rel="prev"']
        headers = {"Link": ", ".join(rels)} if rels else {}
        return chunk, headers, {"page": page, "per_page": per_page, "pages": pages, "total": len(items)}


class RateWindows:
    """A request budget per window: `limit` requests, the window resetting `period` seconds after it opens."""

    def __init__(self, limit: int | None, period: float, *, whole_seconds: bool = True) -> None:
        self.limit = limit
        self.period = period
        self.whole_seconds = whole_seconds
        self.reset_at = 0.0
        self.used = 0
        self.windows: list[int] = []  # requests received in each window (limited ones included)
        self.limited = 0  # requests refused because the budget was spent

    def take(self, now: float) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining, reset epoch)."""
        if now >= self.reset_at:
            end = now + self.period
            self.reset_at = float(math.ceil(end)) if self.whole_seconds else end
            self.used = 0
            self.windows.append(0)
        self.windows[-1] += 1
        if self.limit is not None and self.used >= self.limit:
            self.limited += 1
            return False, 0, self.reset_at
        self.used += 1
        remaining = (self.limit - self.used) if self.limit is not None else 1_000_000
        return True, remaining, self.reset_at


# ---- GitHub ----------------------------------------------------------------------------------


def _in_created(created: str, value: str) -> bool:
    """GitHub's `created` qualifier: `a..b`, `>=a`, `>a`, `<=b`, `<b`, or a date."""
    at = parse_iso(value)
    spec = created.strip()
    if ".." in spec:
        a, b = spec.split("..", 1)
        return (a in ("", "*") or at >= _bound(a, False)) and (b in ("", "*") or at <= _bound(b, True))
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            t = _bound(spec[len(op) :], op.startswith("<"))
            return {">=": at >= t, "<=": at <= t, ">": at > t, "<": at < t}[op]
    return _bound(spec, False) <= at <= _bound(spec, True)


def _bound(text: str, upper: bool) -> datetime:
    if "T" in text:
        return parse_iso(text)
    day = parse_iso(text + "T00:00:00Z")
    return day.replace(hour=23, minute=59, second=59) if upper else day


class GitHubStandIn(StandInServer):
    """GitHub's REST API over `GitHubData` (see the module docstring)."""

    def __init__(
        self,
        data: GitHubData,
        *,
        token: str | None = "ghp_test",
        rate_limit: int | None = 5000,
        rate_reset: float = 3600.0,
        limited_status: int = 403,
        enterprise: bool = False,
    ) -> None:
        super().__init__()
        self.data = data
        self.token = token
        self.rate = RateWindows(rate_limit, rate_reset)
        self.limited_status = limited_status
        self.prefix = "/api/v3" if enterprise else ""
        self.route_hook: Callable[[str, dict[str, str]], Reply | None] | None = None

    @property
    def windows(self) -> list[int]:
        return self.rate.windows

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        with self._lock:
            out.update(windows=list(self.rate.windows), limited=self.rate.limited, budget=self.rate.limit)
        return out

    def error_body(self, status: int) -> Any:
        messages = {
            401: "Bad credentials",
            403: "Resource not accessible by personal access token",
            404: "Not Found",
            422: "Validation Failed",
            500: "Server Error",
            502: "Server Error",
            503: "Service Unavailable",
        }
        return {"message": messages.get(status, "Error"), "documentation_url": DOCS, "status": str(status)}

    def _authenticated(self, headers: Mapping[str, str]) -> bool | None:
        """True with the right token, False without one, None with a wrong one."""
        auth = headers.get("authorization", "")
        if not auth:
            return False
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return True if self.token is None or value == self.token else None

    def before(self, path: str, headers: Mapping[str, str]) -> tuple[Reply | None, dict[str, str]]:
        auth = self._authenticated(headers)
        common = {"X-GitHub-Media-Type": "github.v3; format=json", "X-GitHub-Request-Id": "0000:0000"}
        if auth is None:
            return Reply(401, self.error_body(401)), common
        if auth:
            common["X-OAuth-Scopes"] = "repo"
        if path.endswith("/rate_limit"):
            return None, common
        with self._lock:
            allowed, remaining, reset = self.rate.take(time.time())
            used = self.rate.used
        limit = self.rate.limit if self.rate.limit is not None else 1_000_000
        common.update(
            {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Used": str(used),
                "X-RateLimit-Reset": str(int(reset)) if self.rate.whole_seconds else f"{reset:.3f}",
                "X-RateLimit-Resource": "core",
            }
        )
        if not allowed:
            body = {
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
                "please include the request ID 0000:0000.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": str(self.limited_status),
            }
            return Reply(self.limited_status, body), common
        return None, common

    def route(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Reply:
        if self.route_hook is not None:
            hooked = self.route_hook(path, params)
            if hooked is not None:
                return hooked
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts == ["rate_limit"]:
            return self._rate_limit()
        if len(parts) < 3 or parts[0] != "repos":
            return Reply(404, self.error_body(404))
        repo = self.data.repos.get(f"{parts[1]}/{parts[2]}")
        if repo is None or (repo.private and not self._authenticated(headers)):
            return Reply(404, self.error_body(404))
        rest = parts[3:]
        if not rest:
            return Reply(200, repo.info)
        if rest == ["deployments"]:
            return self._deployments(path, params, repo)
        if len(rest) == 3 and rest[0] == "deployments" and rest[2] == "statuses":
            statuses = repo.statuses.get(int(rest[1])) if rest[1].isdigit() else None
            if statuses is None:
                return Reply(404, self.error_body(404))
            items = sorted(statuses, key=lambda s: s["id"], reverse=True)
            chunk, link, _ = self.page_of(path, params, items, default=30)
            return Reply(200, chunk, link)
        if rest == ["actions", "runs"]:
            return self._runs(path, params, repo.runs)
        if len(rest) == 4 and rest[:2] == ["actions", "workflows"] and rest[3] == "runs":
            wf = rest[2]
            if wf not in repo.workflows and not any(str(i) == wf for i in repo.workflows.values()):
                return Reply(404, self.error_body(404))
            runs = [r for r in repo.runs if str(r["workflow_id"]) == wf or r["path"].rsplit("/", 1)[-1] == wf]
            return self._runs(path, params, runs)
        if len(rest) == 2 and rest[0] == "compare":
            found = repo.compares.get(rest[1])
            return Reply(200, found) if found is not None else Reply(404, self.error_body(404))
        return Reply(404, self.error_body(404))

    def _rate_limit(self) -> Reply:
        with self._lock:
            limit = self.rate.limit if self.rate.limit is not None else 1_000_000
            used = self.rate.used if time.time() < self.rate.reset_at else 0
            reset = int(self.rate.reset_at or time.time() + self.rate.period)
        core = {"limit": limit, "used": used, "remaining": limit - used, "reset": reset}
        other = {"limit": 30, "used": 0, "remaining": 30, "reset": reset}
        return Reply(200, {"resources": {"core": core, "search": other, "graphql": core}, "rate": core})

    def _deployments(self, path: str, params: dict[str, str], repo: GitHubRepo) -> Reply:
        items = repo.deployments
        for key in ("environment", "sha", "ref", "task"):
            if params.get(key):
                items = [d for d in items if d[key] == params[key]]
        items = sorted(items, key=lambda d: d["id"], reverse=True)
        chunk, link, _ = self.page_of(path, params, items, default=30)
        return Reply(200, chunk, link)

    def _runs(self, path: str, params: dict[str, str], runs: list[dict[str, Any]]) -> Reply:
        items = runs
        filtered = False
        if params.get("created"):
            items = [r for r in items if _in_created(params["created"], r["created_at"])]
            filtered = True
        for key, field_name in (("branch", "head_branch"), ("event", "event"), ("head_sha", "head_sha")):
            if params.get(key):
                items = [r for r in items if r[field_name] == params[key]]
                filtered = True
        if params.get("actor"):
            items = [r for r in items if r["actor"]["login"] == params["actor"]]
            filtered = True
        if params.get("status"):
            s = params["status"]
            items = [r for r in items if r["status"] == s or r["conclusion"] == s]
            filtered = True
        items = sorted(items, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        cap = 1000 if filtered else None
        chunk, link, _ = self.page_of(path, params, items, default=30, cap=cap)
        if params.get("exclude_pull_requests") == "true":
            chunk = [{**r, "pull_requests": []} for r in chunk]
        return Reply(200, {"total_count": len(items), "workflow_runs": chunk}, link)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--load", required=True, help="JSON written by GitHubData.to_json()")
    parser.add_argument("--token", default=None, help="the token to accept (default: any)")
    parser.add_argument("--rate-limit", type=int, default=5000)
    parser.add_argument("--rate-reset", type=float, default=3600.0)
    parser.add_argument("--enterprise", action="store_true", help="serve under /api/v3")
    args = parser.parse_args(argv)
    with open(args.load, encoding="utf-8") as f:
        data = GitHubData.from_json(f.read())
    server = GitHubStandIn(
        data, token=args.token, rate_limit=args.rate_limit, rate_reset=args.rate_reset, enterprise=args.enterprise
    )
    server.start(args.port)
    print(f"GitHub stand-in at {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
