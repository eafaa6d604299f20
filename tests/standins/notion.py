"""A stand-in for the Notion API (version 2022-06-28), for the `notion` push destination.

    POST   /v1/pages                     200 the page {object: page, id, url, parent, properties, archived}
    PATCH  /v1/pages/{id}                200 the page (properties updated); 404 object_not_found
    GET    /v1/blocks/{id}/children      200 {object: list, results, has_more, next_cursor} (page_size <= 100)
    PATCH  /v1/blocks/{id}/children      200 {object: list, results}: the appended blocks
    DELETE /v1/blocks/{id}               200 the block, archived

As documented: `Authorization: Bearer <secret>` (401 unauthorized), the `Notion-Version` header
(400 missing_version without it); a parent database or page must be shared with the integration
(404 object_not_found); a page under a database has its title in the database's title property (400
validation_error "<name> is not a property that exists."), under a page only `title`; at most 100
children a request and 2000 characters a rich-text text (400 validation_error).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.standins._rest import Answer, Req, RestStandin


def _err(status: int, code: str, message: str) -> Answer:
    return status, {"object": "error", "status": status, "code": code, "message": message}, {}


class Notion(RestStandin):
    unauthorized = _err(401, "unauthorized", "API token is invalid.")

    def __init__(
        self, *, token: str = "secret_standin", databases: dict[str, str] | None = None, pages: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self.token = token
        self.databases = databases or {"0f4a6a0e-0000-4000-8000-00000000d001": "Name"}  # id -> title property
        self.parent_pages = set(pages)
        self.pages: dict[str, dict[str, Any]] = {}
        self.children: dict[str, list[dict[str, Any]]] = {}

    def authorized(self, req: Req) -> bool:
        return req.headers.get("Authorization") == f"Bearer {self.token}"

    def handle(self, req: Req) -> Answer:
        if req.path.startswith("/v1/") and "Notion-Version" not in req.headers and self.authorized(req):
            self.requests.append(req)
            return _err(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",  # noqa: E501
            )
        return super().handle(req)

    def routes(self):
        return [
            ("POST", "/v1/pages", self.create),
            ("PATCH", r"/v1/pages/(?P<id>[0-9a-f-]+)", self.update),
            ("GET", r"/v1/blocks/(?P<id>[0-9a-f-]+)/children", self.list_children),
            ("PATCH", r"/v1/blocks/(?P<id>[0-9a-f-]+)/children", self.append),
            ("DELETE", r"/v1/blocks/(?P<id>[0-9a-f-]+)", self.delete),
        ]

    def _validate_blocks(self, blocks: list[dict[str, Any]]) -> Answer | None:
        if len(blocks) > 100:
            return _err(
                400,
                "validation_error",
                f"body failed validation: body.children.length should be ≤ `100`, instead was `{len(blocks)}`.",
            )
        for b in blocks:
            kind = b.get("type")
            for t in (b.get(kind) or {}).get("rich_text", []):
                if len(t.get("text", {}).get("content", "")) > 2000:
                    return _err(
                        400,
                        "validation_error",
                        "body failed validation: body.children[0].paragraph.rich_text[0].text.content.length should be ≤ `2000`.",  # noqa: E501
                    )
        return None

    def _title_ok(self, parent: dict[str, Any], properties: dict[str, Any]) -> Answer | None:
        allowed = self.databases[parent["database_id"]] if "database_id" in parent else "title"
        for name in properties:
            if name != allowed:
                return _err(400, "validation_error", f"{name} is not a property that exists.")
        return None

    def _view(self, page: dict[str, Any]) -> dict[str, Any]:
        return {**page, "url": f"https://www.notion.so/{page['id'].replace('-', '')}"}

    def create(self, req: Req) -> Answer:
        body = req.json() or {}
        parent = body.get("parent") or {}
        if "database_id" in parent and parent["database_id"] not in self.databases:
            return _err(
                404,
                "object_not_found",
                f"Could not find database with ID: {parent['database_id']}. Make sure the relevant pages and databases are shared with your integration.",  # noqa: E501
            )
        if "page_id" in parent and parent["page_id"] not in self.parent_pages:
            return _err(
                404,
                "object_not_found",
                f"Could not find page with ID: {parent['page_id']}. Make sure the relevant pages and databases are shared with your integration.",  # noqa: E501
            )
        bad = self._title_ok(parent, body.get("properties") or {}) or self._validate_blocks(body.get("children") or [])
        if bad:
            return bad
        page = {
            "object": "page",
            "id": str(uuid.uuid4()),
            "parent": parent,
            "properties": body.get("properties"),
            "archived": False,
        }
        self.pages[page["id"]] = page
        self.children[page["id"]] = [self._stored(b) for b in body.get("children") or []]
        return 200, self._view(page), {}

    def _stored(self, block: dict[str, Any]) -> dict[str, Any]:
        return {**block, "id": str(uuid.uuid4()), "archived": False}

    def update(self, req: Req) -> Answer:
        page = self.pages.get(req.groups["id"])
        if page is None or page["archived"]:
            return _err(404, "object_not_found", f"Could not find page with ID: {req.groups['id']}.")
        body = req.json() or {}
        bad = self._title_ok(page["parent"], body.get("properties") or {})
        if bad:
            return bad
        page["properties"] = body.get("properties", page["properties"])
        return 200, self._view(page), {}

    def list_children(self, req: Req) -> Answer:
        blocks = [b for b in self.children.get(req.groups["id"], []) if not b["archived"]]
        size = min(100, int(req.query.get("page_size", 100)))
        start = int(req.query.get("start_cursor", 0))
        chunk = blocks[start : start + size]
        more = start + size < len(blocks)
        return (
            200,
            {"object": "list", "results": chunk, "has_more": more, "next_cursor": str(start + size) if more else None},
            {},
        )

    def append(self, req: Req) -> Answer:
        if req.groups["id"] not in self.children:
            return _err(404, "object_not_found", f"Could not find block with ID: {req.groups['id']}.")
        blocks = (req.json() or {}).get("children") or []
        bad = self._validate_blocks(blocks)
        if bad:
            return bad
        stored = [self._stored(b) for b in blocks]
        self.children[req.groups["id"]] += stored
        return 200, {"object": "list", "results": stored}, {}

    def delete(self, req: Req) -> Answer:
        for blocks in self.children.values():
            for b in blocks:
                if b["id"] == req.groups["id"]:
                    b["archived"] = True
                    return 200, b, {}
        return _err(404, "object_not_found", f"Could not find block with ID: {req.groups['id']}.")

    def created(self) -> int:
        return len(self.pages)

    def live_blocks(self, page_id: str) -> list[dict[str, Any]]:
        return [b for b in self.children.get(page_id, []) if not b["archived"]]
