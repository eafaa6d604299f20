"""Push destination `notion`: the draft as a Notion page (API version 2022-06-28).

* `POST /v1/pages` `{parent: {database_id} | {page_id}, properties: {<title>: {title: [...]}},
  children: [blocks]}` creates the page with its first 100 blocks; the rest is appended with
  `PATCH /v1/blocks/{page_id}/children`, 100 blocks a request (the API's limit);
* a rerun renames the page (`PATCH /v1/pages/{id}`), deletes its blocks (`GET
  /v1/blocks/{id}/children`, paginated by `start_cursor`, then `DELETE /v1/blocks/{block_id}`)
  and appends the new ones; a page that no longer exists (404) is created again.

draft.md becomes blocks: headings (`#` to `###`), bulleted and numbered list items (in quotes too),
fenced code and tables as code blocks, paragraphs; `[text](url)` become links; text is cut into pieces of at most
2000 characters, as rich text must be. Headers: `Authorization: Bearer <token>` (an internal
integration's secret, shared with the parent page or database), `Notion-Version: 2022-06-28`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from dossier.exporters.push._base import Destination, Draft, Http, PushError, UrlConfig, gone

VERSION = "2022-06-28"
BLOCKS_PER_REQUEST = 100
TEXT_MAX = 2000
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")


class NotionConfig(UrlConfig):
    type: Literal["notion"] = Field(description='Selects this destination: "notion".')
    url: str = Field(default="https://api.notion.com", description="The API's base URL.")
    token: SecretStr = Field(description="The integration's secret (use ${env:NOTION_TOKEN}).")
    database_id: str | None = Field(default=None, description="The database that receives the page (or page_id).")
    page_id: str | None = Field(default=None, description="The page to create the draft under (or database_id).")
    title_property: str = Field(default="Name", description="The database's title property (with database_id).")

    @model_validator(mode="after")
    def _one_parent(self) -> NotionConfig:
        if (self.database_id is None) == (self.page_id is None):
            raise ValueError("give exactly one of database_id and page_id")
        return self


def rich_text(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pos = 0
    pieces: list[tuple[str, str | None]] = []
    for m in _LINK.finditer(text):
        if m.start() > pos:
            pieces.append((text[pos : m.start()], None))
        pieces.append((m.group(1), m.group(2)))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], None))
    for content, link in pieces:
        for i in range(0, len(content), TEXT_MAX):
            t: dict[str, Any] = {"content": content[i : i + TEXT_MAX]}
            if link:
                t["link"] = {"url": link}
            out.append({"type": "text", "text": t})
    return out


def _block(kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text), **extra}}


def blocks(markdown: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    para: list[str] = []
    code: list[str] | None = None
    table: list[str] = []

    def flush() -> None:
        if para:
            out.append(_block("paragraph", " ".join(para)))
            para.clear()
        if table:
            out.append(_block("code", "\n".join(table), language="plain text"))
            table.clear()

    for raw in markdown.splitlines():
        line = re.sub(r"^>\s?", "", raw) if code is None else raw  # a quote's lines read as any other
        if code is not None:
            if line.startswith("```"):
                out.append(_block("code", "\n".join(code), language="plain text"))
                code = None
            else:
                code.append(line)
            continue
        if line.startswith("```"):
            flush()
            code = []
            continue
        if line.startswith("|"):
            if para:
                out.append(_block("paragraph", " ".join(para)))
                para.clear()
            table.append(line)
            continue
        if table:
            flush()
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush()
            out.append(_block(f"heading_{min(3, len(m.group(1)))}", m.group(2)))
        elif re.match(r"^\s*[-*]\s+", line):
            flush()
            out.append(_block("bulleted_list_item", re.sub(r"^\s*[-*]\s+", "", line)))
        elif re.match(r"^\s*\d+\.\s+", line):
            flush()
            out.append(_block("numbered_list_item", re.sub(r"^\s*\d+\.\s+", "", line)))
        elif not line.strip():
            flush()
        else:
            para.append(line.strip())
    if code is not None:
        out.append(_block("code", "\n".join(code), language="plain text"))
    flush()
    return out


class NotionDestination(Destination):
    type: ClassVar[str] = "notion"
    Config = NotionConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: NotionConfig = self.config  # type: ignore[assignment]
        http = Http(
            f"{c.url}/v1",
            name=c.key,
            headers={"Authorization": f"Bearer {c.token.get_secret_value()}", "Notion-Version": VERSION},
            timeout=c.timeout,
            verify=not c.insecure_skip_verify,
            secrets=c.secrets(),
        )
        title_key = c.title_property if c.database_id else "title"
        properties = {title_key: {"title": rich_text(draft.title)}}
        content = blocks(draft.markdown)
        try:
            note = None
            if state and state.get("id"):
                try:
                    page = http.json("PATCH", f"/pages/{state['id']}", json={"properties": properties})
                    self._clear(http, str(state["id"]))
                    self._append(http, str(state["id"]), content)
                    return {"id": page["id"], "url": page.get("url")}
                except PushError as exc:
                    if not gone(exc):
                        raise
                    note = f"page {state['id']} no longer exists: created anew"
            parent = {"database_id": c.database_id} if c.database_id else {"page_id": c.page_id}
            page = http.json(
                "POST",
                "/pages",
                json={"parent": parent, "properties": properties, "children": content[:BLOCKS_PER_REQUEST]},
            )
            self._append(http, page["id"], content[BLOCKS_PER_REQUEST:])
            out = {"id": page["id"], "url": page.get("url")}
            return {**out, "note": note} if note else out
        except (KeyError, TypeError) as exc:
            raise PushError(f"push {c.key}: the answer has no page id ({exc})") from exc
        finally:
            http.close()

    @staticmethod
    def _clear(http: Http, page_id: str) -> None:
        cursor = None
        ids: list[str] = []
        while True:
            params = {"page_size": "100"} | ({"start_cursor": cursor} if cursor else {})
            answer = http.json("GET", f"/blocks/{page_id}/children", params=params)
            ids += [b["id"] for b in answer.get("results", [])]
            if not answer.get("has_more"):
                break
            cursor = answer.get("next_cursor")
        for block_id in ids:
            http.call("DELETE", f"/blocks/{block_id}")

    @staticmethod
    def _append(http: Http, page_id: str, content: list[dict[str, Any]]) -> None:
        for i in range(0, len(content), BLOCKS_PER_REQUEST):
            http.json("PATCH", f"/blocks/{page_id}/children", json={"children": content[i : i + BLOCKS_PER_REQUEST]})
