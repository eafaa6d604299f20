"""A stand-in for GitHub's issues API (REST, version 2022-11-28), for the `github` push destination.

    POST  /repos/{owner}/{repo}/issues            201 the issue: id, number, title, body, labels, html_url
    PATCH /repos/{owner}/{repo}/issues/{number}   200 the issue; 404 when there is none
    GET   /repos/{owner}/{repo}/issues/{number}   200 / 404

As documented: `Authorization: Bearer <token>` (a wrong one: 401 "Bad credentials"); a repository
that does not exist (or that the token may not see) is 404 "Not Found"; a missing title, or a body
over 65536 characters, is 422 "Validation Failed" with its `errors`; labels are created as needed
and answered as objects. `/api/v3` before a path (GitHub Enterprise Server) is accepted too.
"""

from __future__ import annotations

from typing import Any

from tests.standins._rest import Answer, Req, RestStandin

DOCS = "https://docs.github.com/rest/issues/issues"


class GitHubIssues(RestStandin):
    unauthorized = (401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, {})

    def __init__(self, *, token: str = "ghp_standin", repos: tuple[str, ...] = ("acme/postmortems",)) -> None:
        super().__init__()
        self.token = token
        self.issues: dict[str, dict[int, dict[str, Any]]] = {r: {} for r in repos}
        self.next_id = 1000

    def authorized(self, req: Req) -> bool:
        return req.headers.get("Authorization") == f"Bearer {self.token}"

    def routes(self):
        repo = r"(?:/api/v3)?/repos/(?P<repo>[^/]+/[^/]+)/issues"
        return [
            ("POST", repo, self.create),
            ("PATCH", repo + r"/(?P<number>\d+)", self.update),
            ("GET", repo + r"/(?P<number>\d+)", self.get),
        ]

    def _invalid(self, fields: dict[str, Any], creating: bool) -> Answer | None:
        if creating and not fields.get("title"):
            return (
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    "documentation_url": DOCS,
                },
                {},
            )
        if len(fields.get("body") or "") > 65536:
            error = {
                "resource": "Issue",
                "code": "custom",
                "field": "body",
                "message": "body is too long (maximum is 65536 characters)",
            }
            return 422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}, {}
        return None

    def _view(self, repo: str, issue: dict[str, Any]) -> dict[str, Any]:
        return {
            **issue,
            "labels": [{"name": n} for n in issue["labels"]],
            "html_url": f"https://github.com/{repo}/issues/{issue['number']}",
        }

    def create(self, req: Req) -> Answer:
        repo, fields = req.groups["repo"], req.json()
        if repo not in self.issues:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        bad = self._invalid(fields, True)
        if bad:
            return bad
        number = len(self.issues[repo]) + 1
        self.next_id += 1
        issue = {
            "id": self.next_id,
            "number": number,
            "title": fields["title"],
            "body": fields.get("body"),
            "labels": list(fields.get("labels") or []),
            "state": "open",
        }
        self.issues[repo][number] = issue
        return 201, self._view(repo, issue), {}

    def update(self, req: Req) -> Answer:
        repo, number, fields = req.groups["repo"], int(req.groups["number"]), req.json()
        issue = self.issues.get(repo, {}).get(number)
        if issue is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        bad = self._invalid(fields, False)
        if bad:
            return bad
        issue.update({k: v for k, v in fields.items() if k in ("title", "body", "labels", "state")})
        return 200, self._view(repo, issue), {}

    def get(self, req: Req) -> Answer:
        issue = self.issues.get(req.groups["repo"], {}).get(int(req.groups["number"]))
        if issue is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        return 200, self._view(req.groups["repo"], issue), {}

    def created(self) -> int:
        return sum(len(v) for v in self.issues.values())
