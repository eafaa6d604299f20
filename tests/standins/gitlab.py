"""A stand-in for the GitLab REST API v4: the endpoints the `gitlab` collector reads, shaped as documented.

    data = GitLabData()
    project = data.project("acme/payments")
    project.deployment(environment="production", ref="v2.14.0", status="success",
                       created_at="2026-11-20T09:50:00Z", finished_at="2026-11-20T09:52:00Z")
    project.pipeline(ref="main", status="success", created_at=..., updated_at=...)
    with GitLabStandIn(data, token="glpat-test", rate_limit=300, rate_reset=2) as gl:
        ...  # gl.url, gl.requests, gl.inject(...), gl.windows

Served (GET only) under `/api/v4`, as docs.gitlab.com/api shows them:

* `/version`, `/projects/:id` (numeric id or URL-encoded path);
* `/projects/:id/deployments` (filters updated_after, updated_before, environment, status; order_by
  id, iid, created_at, updated_at, ref; sort asc/desc), with `deployable` (the job, its pipeline and
  commit), `environment` and `user`;
* `/projects/:id/pipelines` (filters updated_after, updated_before, ref, status, source; order_by
  id, status, ref, updated_at, user_id).

Offset pagination (`page`, `per_page` default 20, at most 100) with `x-page`, `x-per-page`,
`x-next-page`, `x-prev-page`, `x-total`, `x-total-pages` and `Link` (rel prev/next/first/last).
`RateLimit-Limit/-Observed/-Remaining/-Reset/-ResetTime` on every answer; once the budget is spent,
429 "Retry later" (text) with `Retry-After` until the reset. A wrong token: 401 `{"message":"401
Unauthorized"}`; an unknown or invisible project: 404 `{"message":"404 Project Not Found"}`. The
token is accepted as `PRIVATE-TOKEN` or `Authorization: Bearer`.

Standalone: `python tests/standins/gitlab.py --port 8080 --load data.json [--token T] [--rate-limit N]`.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import json
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

try:
    from tests.standins.github import RateWindows, Reply, StandInServer, fake_sha, iso, parse_iso
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.standins.github import RateWindows, Reply, StandInServer, fake_sha, iso, parse_iso

WEB = "__WEB__"  # replaced by the server's root URL when a body is sent


def user(username: str, uid: int = 1) -> dict[str, Any]:
    return {
        "id": uid,
        "username": username,
        "name": username.title(),
        "state": "active",
        "avatar_url": f"https://www.gravatar.com/avatar/{fake_sha(username)[:32]}?s=80&d=identicon",
        "web_url": f"{WEB}/{username}",
    }


class GitLabProjectData:
    def __init__(self, data: GitLabData, path: str, *, project_id: int, private: bool = True) -> None:
        self.data = data
        namespace, _, name = path.rpartition("/")
        self.info: dict[str, Any] = {
            "id": project_id,
            "description": None,
            "name": name,
            "name_with_namespace": " / ".join(path.split("/")),
            "path": name,
            "path_with_namespace": path,
            "created_at": "2020-01-01T00:00:00.000Z",
            "default_branch": "main",
            "web_url": f"{WEB}/{path}",
            "visibility": "private" if private else "public",
            "namespace": {"id": 1, "name": namespace, "path": namespace, "kind": "group", "full_path": namespace},
        }
        self.deployments: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = []

    @property
    def id(self) -> int:
        return int(self.info["id"])

    @property
    def path(self) -> str:
        return str(self.info["path_with_namespace"])

    def pipeline(
        self,
        *,
        created_at: str | datetime,
        updated_at: str | datetime | None = None,
        ref: str = "main",
        sha: str | None = None,
        status: str = "success",
        source: str = "push",
        username: str = "root",
        pipeline_id: int | None = None,
    ) -> dict[str, Any]:
        pid = pipeline_id if pipeline_id is not None else next(self.data.ids)
        iid = sum(1 for _ in self.pipelines) + 1
        item = {
            "id": pid,
            "iid": iid,
            "project_id": self.id,
            "sha": sha or fake_sha(self.path, ref, pid),
            "ref": ref,
            "status": status,
            "source": source,
            "created_at": _ms(created_at),
            "updated_at": _ms(updated_at or created_at),
            "web_url": f"{WEB}/{self.path}/-/pipelines/{pid}",
            "name": None,
            "user": user(username),
        }
        self.pipelines.append(item)
        return item

    def deployment(
        self,
        *,
        created_at: str | datetime,
        finished_at: str | datetime | None = None,
        updated_at: str | datetime | None = None,
        environment: str = "production",
        ref: str = "main",
        sha: str | None = None,
        status: str = "success",
        job_name: str = "deploy",
        username: str = "root",
        tag: bool | None = None,
        deployment_id: int | None = None,
        with_job: bool = True,
    ) -> dict[str, Any]:
        """A deployment as `GET /projects/:id/deployments` lists it, with its job and the job's pipeline."""
        did = deployment_id if deployment_id is not None else next(self.data.ids)
        iid = sum(1 for _ in self.deployments) + 1
        sha = sha or fake_sha(self.path, ref, did)
        env_id = 1 + sorted({d["environment"]["name"] for d in self.deployments} | {environment}).index(environment)
        finished = _ms(finished_at) if finished_at else None
        updated = _ms(updated_at or finished_at or created_at)
        job = None
        if with_job:
            job_id = next(self.data.ids)
            pipeline = self.pipeline(created_at=created_at, updated_at=updated, ref=ref, sha=sha, status=status)
            job = {
                "id": job_id,
                "status": status,
                "stage": "deploy",
                "name": job_name,
                "ref": ref,
                "tag": tag if tag is not None else ref.startswith("v"),
                "coverage": None,
                "allow_failure": False,
                "created_at": _ms(created_at),
                "started_at": _ms(created_at),
                "finished_at": finished,
                "duration": None,
                "queued_duration": 0.5,
                "web_url": f"{WEB}/{self.path}/-/jobs/{job_id}",
                "project": {"ci_job_token_scope_enabled": False},
                "user": {**user(username), "created_at": "2015-12-21T13:14:24.077Z", "bio": None},
                "commit": {
                    "id": sha,
                    "short_id": sha[:8],
                    "created_at": _ms(created_at),
                    "parent_ids": [fake_sha(sha, "parent")],
                    "title": f"Merge branch '{ref}' into 'main'",
                    "message": f"Merge branch '{ref}' into 'main'",
                    "author_name": username.title(),
                    "author_email": f"{username}@example.com",
                    "authored_date": _ms(created_at),
                    "committer_name": username.title(),
                    "committer_email": f"{username}@example.com",
                    "committed_date": _ms(created_at),
                },
                "pipeline": {
                    "id": pipeline["id"],
                    "iid": pipeline["iid"],
                    "project_id": self.id,
                    "sha": sha,
                    "ref": ref,
                    "status": status,
                    "source": "push",
                    "created_at": pipeline["created_at"],
                    "updated_at": pipeline["updated_at"],
                    "web_url": pipeline["web_url"],
                },
                "runner": None,
                "artifacts_file": {"filename": None, "size": None},
                "artifacts": [],
                "artifacts_expire_at": None,
                "tag_list": [],
            }
        item = {
            "id": did,
            "iid": iid,
            "ref": ref,
            "sha": sha,
            "created_at": _ms(created_at),
            "updated_at": updated,
            "status": status,
            "user": user(username),
            "environment": {
                "id": env_id,
                "name": environment,
                "external_url": f"https://{environment}.example.com",
            },
            "deployable": job,
        }
        self.deployments.append(item)
        return item


class GitLabData:
    def __init__(self) -> None:
        self.projects: dict[str, GitLabProjectData] = {}
        self.ids = itertools.count(100)

    def project(self, path: str, *, project_id: int | None = None, private: bool = True) -> GitLabProjectData:
        if path not in self.projects:
            pid = project_id if project_id is not None else 10 + len(self.projects)
            self.projects[path] = GitLabProjectData(self, path, project_id=pid, private=private)
        return self.projects[path]

    def find(self, key: str) -> GitLabProjectData | None:
        if key.isdigit():
            return next((p for p in self.projects.values() if p.id == int(key)), None)
        return self.projects.get(key)

    def to_json(self) -> str:
        return json.dumps(
            {
                path: {"info": p.info, "deployments": p.deployments, "pipelines": p.pipelines}
                for path, p in self.projects.items()
            }
        )

    @classmethod
    def from_json(cls, text: str) -> GitLabData:
        data = cls()
        for path, value in json.loads(text).items():
            p = data.project(path, project_id=int(value["info"]["id"]))
            p.info, p.deployments, p.pipelines = value["info"], value["deployments"], value["pipelines"]
        return data


def _ms(value: str | datetime) -> str:
    """GitLab's times: milliseconds and Z (`2016-08-11T07:36:40.222Z`)."""
    text = iso(value)
    dt = parse_iso(text)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class GitLabStandIn(StandInServer):
    """GitLab's REST API v4 over `GitLabData` (see the module docstring)."""

    prefix = "/api/v4"

    def __init__(
        self,
        data: GitLabData,
        *,
        token: str | None = "glpat-test",
        rate_limit: int | None = 2000,
        rate_reset: float = 60.0,
        version: str = "16.11.1-ee",
    ) -> None:
        super().__init__()
        self.data = data
        self.token = token
        self.rate = RateWindows(rate_limit, rate_reset)
        self.version = version

    @property
    def windows(self) -> list[int]:
        return self.rate.windows

    def error_body(self, status: int) -> Any:
        messages = {
            400: "400 Bad request",
            401: "401 Unauthorized",
            403: "403 Forbidden",
            404: "404 Not Found",
            500: "500 Internal Server Error",
            502: "502 Bad Gateway",
            503: "503 Service Unavailable",
        }
        if status == 429:
            return "Retry later\n"
        return {"message": messages.get(status, f"{status} Error")}

    def _authenticated(self, headers: Mapping[str, str]) -> bool | None:
        token = headers.get("private-token")
        if token is None:
            auth = headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            token = value if scheme.lower() == "bearer" else None
        if token is None:
            return False
        return True if self.token is None or token == self.token else None

    def before(self, path: str, headers: Mapping[str, str]) -> tuple[Reply | None, dict[str, str]]:
        with self._lock:
            allowed, remaining, reset = self.rate.take(time.time())
            observed = self.rate.windows[-1]
        limit = self.rate.limit if self.rate.limit is not None else 1_000_000
        common = {
            "RateLimit-Limit": str(limit),
            "RateLimit-Observed": str(observed),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(reset)),
            "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
        }
        if not allowed:
            wait = max(1, int(reset - time.time() + 0.999))
            return Reply(429, "Retry later\n", {"Retry-After": str(wait)}), common
        if self._authenticated(headers) is None:
            return Reply(401, self.error_body(401)), common
        return None, common

    def placeholders(self) -> dict[str, str]:
        return {WEB: self.root}

    def route(self, path: str, params: dict[str, str], headers: Mapping[str, str]) -> Reply:
        parts = path.strip("/").split("/")
        if parts == ["version"]:
            if not self._authenticated(headers):
                return Reply(401, self.error_body(401))
            return Reply(200, {"version": self.version, "revision": "a1b2c3d4e5f", "kas": {"enabled": False}})
        if len(parts) < 2 or parts[0] != "projects":
            return Reply(404, {"message": "404 Not Found"})
        project = self.data.find(unquote(parts[1]))
        visible = project is not None and (project.info["visibility"] == "public" or self._authenticated(headers))
        if project is None or not visible:
            return Reply(404, {"message": "404 Project Not Found"})
        rest = parts[2:]
        if not rest:
            return Reply(200, project.info)
        if rest == ["deployments"]:
            items = self._filtered(project.deployments, params, ("environment", "status"))
            if params.get("environment"):
                items = [d for d in items if d["environment"]["name"] == params["environment"]]
            return self._paged(path, params, items)
        if rest == ["pipelines"]:
            items = self._filtered(project.pipelines, params, ("ref", "status", "source"))
            return self._paged(path, params, items)
        return Reply(404, {"message": "404 Not Found"})

    def _filtered(self, items: list[dict[str, Any]], params: dict[str, str], keys: tuple[str, ...]) -> list[Any]:
        out = items
        if params.get("updated_after"):
            after = parse_iso(params["updated_after"])
            out = [i for i in out if parse_iso(i["updated_at"]) >= after]
        if params.get("updated_before"):
            before = parse_iso(params["updated_before"])
            out = [i for i in out if parse_iso(i["updated_at"]) <= before]
        for key in keys:
            if key != "environment" and params.get(key):
                out = [i for i in out if i.get(key) == params[key]]
        order = params.get("order_by", "id")
        out = sorted(out, key=lambda i: (i.get(order) or "", i["id"]), reverse=params.get("sort") == "desc")
        return out

    def _paged(self, path: str, params: dict[str, str], items: list[Any]) -> Reply:
        chunk, link, info = self.page_of(path, params, items, default=20)
        page, pages = info["page"], info["pages"]
        headers = {
            **link,
            "X-Page": str(page),
            "X-Per-Page": str(info["per_page"]),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(info["total"]),
            "X-Total-Pages": str(pages),
        }
        return Reply(200, chunk, headers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--load", required=True, help="JSON written by GitLabData.to_json()")
    parser.add_argument("--token", default=None, help="the token to accept (default: any)")
    parser.add_argument("--rate-limit", type=int, default=2000)
    parser.add_argument("--rate-reset", type=float, default=60.0)
    args = parser.parse_args(argv)
    with open(args.load, encoding="utf-8") as f:
        data = GitLabData.from_json(f.read())
    server = GitLabStandIn(data, token=args.token, rate_limit=args.rate_limit, rate_reset=args.rate_reset)
    server.start(args.port)
    print(f"GitLab stand-in at {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
