"""A stand-in for the Confluence REST content API, for the `confluence` push destination.

    POST /rest/api/content              200 the page {id, type, title, space, version: {number: 1}, body, _links}
    GET  /rest/api/content/{id}         200 the page (?expand=version,body.storage); 404
    PUT  /rest/api/content/{id}         200 the page, its version + 1; 409 unless version.number is current + 1

As documented: basic authentication (e-mail and API token) or `Authorization: Bearer <PAT>`;
`space.key` must exist (404 "No space with key : X"); a second page with the same title in a space
is refused (400 "A page with this title already exists ..."), which is why an update must not be a
create; `body.storage.value` must be well-formed XHTML (400 "Error parsing xhtml"); an ancestor
must be a page of that space. `url` of the stand-in plays the site's base (`.../wiki` on Cloud).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

from tests.standins._rest import Answer, Req, RestStandin


def _xhtml_ok(value: str) -> bool:
    try:
        ET.fromstring(f"<root>{value}</root>")
    except ET.ParseError:
        return False
    return True


class Confluence(RestStandin):
    unauthorized = (401, {"statusCode": 401, "message": "Unauthorized; scope does not match"}, {})

    def __init__(
        self,
        *,
        user: str | None = "sre@acme.example",
        token: str = "conf-standin-token",
        spaces: tuple[str, ...] = ("OPS",),
    ) -> None:
        super().__init__()
        self.user, self.token, self.spaces = user, token, spaces
        self.pages: dict[str, dict[str, Any]] = {}
        self.next_id = 65000

    def authorized(self, req: Req) -> bool:
        auth = req.headers.get("Authorization", "")
        if self.user is not None and auth.startswith("Basic "):
            return base64.b64decode(auth[6:]).decode() == f"{self.user}:{self.token}"
        return auth == f"Bearer {self.token}"

    def routes(self):
        return [
            ("POST", "/rest/api/content", self.create),
            ("GET", r"/rest/api/content/(?P<id>\d+)", self.get),
            ("PUT", r"/rest/api/content/(?P<id>\d+)", self.update),
        ]

    def _err(self, status: int, message: str) -> Answer:
        return status, {"statusCode": status, "data": {"authorized": True, "valid": False}, "message": message}, {}

    def _view(self, page: dict[str, Any]) -> dict[str, Any]:
        return {
            **page,
            "_links": {
                "base": self.url,
                "webui": f"/spaces/{page['space']['key']}/pages/{page['id']}",
                "self": f"{self.url}/rest/api/content/{page['id']}",
            },
        }

    def _check(self, body: dict[str, Any], space: str, exclude: str | None = None) -> Answer | None:
        value = ((body.get("body") or {}).get("storage") or {}).get("value", "")
        if not _xhtml_ok(value):
            return self._err(400, "Error parsing xhtml: Unexpected close tag")
        title = body.get("title")
        if not title:
            return self._err(400, "Page title must be specified")
        if any(p["title"] == title and p["space"]["key"] == space and p["id"] != exclude for p in self.pages.values()):
            return self._err(
                400,
                f"A page with this title already exists: A page already exists with the title {title} in the space with key {space}",  # noqa: E501
            )
        return None

    def create(self, req: Req) -> Answer:
        body = req.json() or {}
        space = (body.get("space") or {}).get("key")
        if space not in self.spaces:
            return self._err(404, f"No space with key : {space}")
        for a in body.get("ancestors") or []:
            if str(a.get("id")) not in self.pages:
                return self._err(404, f"No parent page with id {a.get('id')}")
        bad = self._check(body, space)
        if bad:
            return bad
        self.next_id += 1
        page = {
            "id": str(self.next_id),
            "type": "page",
            "status": "current",
            "title": body["title"],
            "space": {"key": space},
            "version": {"number": 1},
            "body": body["body"],
            "ancestors": body.get("ancestors") or [],
        }
        self.pages[page["id"]] = page
        return 200, self._view(page), {}

    def get(self, req: Req) -> Answer:
        page = self.pages.get(req.groups["id"])
        if page is None:
            return self._err(404, f"No content found with id: ContentId{{id={req.groups['id']}}}")
        return 200, self._view(page), {}

    def update(self, req: Req) -> Answer:
        page = self.pages.get(req.groups["id"])
        if page is None:
            return self._err(404, f"No content found with id: ContentId{{id={req.groups['id']}}}")
        body = req.json() or {}
        version = (body.get("version") or {}).get("number")
        if version != page["version"]["number"] + 1:
            return self._err(
                409, f"Version must be incremented on update. Current version is: {page['version']['number']}"
            )
        bad = self._check(body, page["space"]["key"], exclude=page["id"])
        if bad:
            return bad
        page.update({"title": body["title"], "body": body["body"], "version": {"number": version}})
        return 200, self._view(page), {}

    def created(self) -> int:
        return len(self.pages)
