"""A stand-in for the Jira REST API v2 (Cloud and Data Center), for the `jira` push destination.

    POST /rest/api/2/issue         201 {id, key, self}; 400 {errorMessages, errors} for a bad field
    PUT  /rest/api/2/issue/{key}   204; 404 "Issue does not exist or you do not have permission to see it."
    GET  /rest/api/2/issue/{key}   200 {id, key, self, fields: {summary, description, issuetype, labels, issuelinks}}
    POST /rest/api/2/issueLink     201 (no body); 404 "No issue link type with name '...' found."

As documented: basic authentication with an e-mail and API token, or `Authorization: Bearer <PAT>`
(anything else: 401); `fields.project.key` must name a project and `fields.issuetype.name` one of
its issue types (else 400 with the field in `errors`); `summary` is required and at most 255
characters; a link needs both issues to exist.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.standins._rest import Answer, Req, RestStandin

NOT_FOUND = (
    404,
    {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}},
    {},
)


class Jira(RestStandin):
    unauthorized = (
        401,
        {
            "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
            "errors": {},
        },
        {},
    )

    def __init__(
        self,
        *,
        user: str | None = "sre@acme.example",
        token: str = "jira-standin-token",
        projects: dict[str, tuple[str, ...]] | None = None,
        link_types: tuple[str, ...] = ("Relates", "Blocks", "Cloners", "Duplicate"),
    ) -> None:
        super().__init__()
        self.user, self.token = user, token
        self.projects = projects or {"OPS": ("Task", "Bug", "Story", "Epic")}
        self.link_types = link_types
        self.issues: dict[str, dict[str, Any]] = {}
        self.links: list[tuple[str, str, str]] = []  # (type, inward, outward)
        self.next_id = 10000

    def authorized(self, req: Req) -> bool:
        auth = req.headers.get("Authorization", "")
        if self.user is not None and auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == f"{self.user}:{self.token}"
        return auth == f"Bearer {self.token}"

    def routes(self):
        api = "/rest/api/2"
        return [
            ("POST", api + "/issue", self.create),
            ("PUT", api + r"/issue/(?P<key>[A-Z][A-Z0-9]*-\d+)", self.update),
            ("GET", api + r"/issue/(?P<key>[A-Z][A-Z0-9]*-\d+)", self.get),
            ("POST", api + "/issueLink", self.link),
        ]

    def _bad(self, errors: dict[str, str]) -> Answer:
        return 400, {"errorMessages": [], "errors": errors}, {}

    def create(self, req: Req) -> Answer:
        fields = (req.json() or {}).get("fields") or {}
        project = (fields.get("project") or {}).get("key")
        if project not in self.projects:
            return self._bad({"project": "valid project is required"})
        kind = (fields.get("issuetype") or {}).get("name")
        if kind not in self.projects[project]:
            return self._bad({"issuetype": "Specify a valid issue type"})
        summary = fields.get("summary")
        if not summary:
            return self._bad({"summary": "You must specify a summary of the issue."})
        if len(summary) > 255:
            return self._bad({"summary": "Summary must be less than 255 characters."})
        self.next_id += 1
        key = f"{project}-{sum(1 for k in self.issues if k.startswith(project + '-')) + 1}"
        self.issues[key] = {
            "id": str(self.next_id),
            "key": key,
            "fields": {
                "summary": summary,
                "description": fields.get("description"),
                "issuetype": {"name": kind},
                "labels": fields.get("labels") or [],
            },
        }
        return 201, {"id": str(self.next_id), "key": key, "self": f"{self.url}/rest/api/2/issue/{self.next_id}"}, {}

    def update(self, req: Req) -> Answer:
        issue = self.issues.get(req.groups["key"])
        if issue is None:
            return NOT_FOUND
        fields = (req.json() or {}).get("fields") or {}
        if "summary" in fields and (not fields["summary"] or len(fields["summary"]) > 255):
            return self._bad({"summary": "Summary must be less than 255 characters."})
        issue["fields"].update({k: v for k, v in fields.items() if k in ("summary", "description", "labels")})
        return 204, None, {}

    def get(self, req: Req) -> Answer:
        issue = self.issues.get(req.groups["key"])
        if issue is None:
            return NOT_FOUND
        links = [
            {
                "type": {"name": t},
                "outwardIssue" if i == issue["key"] else "inwardIssue": {"key": o if i == issue["key"] else i},
            }
            for t, i, o in self.links
            if issue["key"] in (i, o)
        ]
        return (
            200,
            {
                **issue,
                "self": f"{self.url}/rest/api/2/issue/{issue['id']}",
                "fields": {**issue["fields"], "issuelinks": links},
            },
            {},
        )

    def link(self, req: Req) -> Answer:
        body = req.json() or {}
        kind = (body.get("type") or {}).get("name")
        if kind not in self.link_types:
            return 404, {"errorMessages": [f"No issue link type with name '{kind}' found."], "errors": {}}, {}
        inward, outward = (body.get("inwardIssue") or {}).get("key"), (body.get("outwardIssue") or {}).get("key")
        if inward not in self.issues or outward not in self.issues:
            return NOT_FOUND
        self.links.append((kind, inward, outward))
        return 201, None, {}

    def created(self) -> int:
        return len(self.issues)
