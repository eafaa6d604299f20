"""A stand-in for GitLab's issues API (REST v4), for the `gitlab` push destination.

    POST /api/v4/projects/:id/issues        201 the issue: id, iid, project_id, title, description, labels, web_url
    PUT  /api/v4/projects/:id/issues/:iid   200 the issue; 404 {"message": "404 Issue Not Found"}
    GET  /api/v4/projects/:id/issues/:iid   200 / 404

As documented: `:id` is the numeric id or the URL-encoded path (`acme%2Fpostmortems`); a
`PRIVATE-TOKEN` header (a wrong one: 401 {"message": "401 Unauthorized"}); an unknown project is 404
{"message": "404 Project Not Found"}; a missing title is 400 {"error": "title is missing"};
`labels` is a comma-separated string, answered as a list.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.standins._rest import Answer, Req, RestStandin


class GitLabIssues(RestStandin):
    unauthorized = (401, {"message": "401 Unauthorized"}, {})

    def __init__(self, *, token: str = "glpat-standin", projects: dict[str, int] | None = None) -> None:
        super().__init__()
        self.token = token
        self.projects = projects or {"acme/postmortems": 42}
        self.issues: dict[int, dict[int, dict[str, Any]]] = {pid: {} for pid in self.projects.values()}
        self.next_id = 5000

    def authorized(self, req: Req) -> bool:
        return req.headers.get("Private-Token", req.headers.get("PRIVATE-TOKEN")) == self.token

    def routes(self):
        base = r"/api/v4/projects/(?P<project>[^/]+)/issues"
        return [
            ("POST", base, self.create),
            ("PUT", base + r"/(?P<iid>\d+)", self.update),
            ("GET", base + r"/(?P<iid>\d+)", self.get),
        ]

    def _project(self, raw: str) -> int | None:
        name = unquote(raw)
        if name.isdigit():
            return int(name) if int(name) in self.issues else None
        return self.projects.get(name)

    def _view(self, pid: int, issue: dict[str, Any]) -> dict[str, Any]:
        path = next(p for p, i in self.projects.items() if i == pid)
        return {**issue, "project_id": pid, "web_url": f"https://gitlab.example.com/{path}/-/issues/{issue['iid']}"}

    def _fields(self, req: Req) -> dict[str, Any]:
        fields = req.json() or {}
        if isinstance(fields.get("labels"), str):
            fields["labels"] = [s for s in fields["labels"].split(",") if s]
        return fields

    def create(self, req: Req) -> Answer:
        pid = self._project(req.groups["project"])
        if pid is None:
            return 404, {"message": "404 Project Not Found"}, {}
        fields = self._fields(req)
        if not fields.get("title"):
            return 400, {"error": "title is missing"}, {}
        self.next_id += 1
        iid = len(self.issues[pid]) + 1
        issue = {
            "id": self.next_id,
            "iid": iid,
            "title": fields["title"],
            "description": fields.get("description"),
            "labels": fields.get("labels", []),
            "state": "opened",
        }
        self.issues[pid][iid] = issue
        return 201, self._view(pid, issue), {}

    def update(self, req: Req) -> Answer:
        pid = self._project(req.groups["project"])
        issue = self.issues.get(pid, {}).get(int(req.groups["iid"])) if pid is not None else None
        if issue is None:
            return 404, {"message": "404 Issue Not Found"}, {}
        issue.update({k: v for k, v in self._fields(req).items() if k in ("title", "description", "labels")})
        return 200, self._view(pid, issue), {}  # type: ignore[arg-type]

    def get(self, req: Req) -> Answer:
        pid = self._project(req.groups["project"])
        issue = self.issues.get(pid, {}).get(int(req.groups["iid"])) if pid is not None else None
        if issue is None:
            return 404, {"message": "404 Issue Not Found"}, {}
        return 200, self._view(pid, issue), {}  # type: ignore[arg-type]

    def created(self) -> int:
        return sum(len(v) for v in self.issues.values())
