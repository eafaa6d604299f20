"""Push destination `confluence`: the draft as a Confluence page (REST content API).

* `POST /rest/api/content` `{type: page, title, space: {key}, ancestors: [{id: parent_id}],
  body: {storage: {value, representation: storage}}}` creates the page; it answers `{id, version:
  {number}, _links: {base, webui}}`;
* a rerun reads the page's version (`GET /rest/api/content/{id}?expand=version`) and replaces it
  with `PUT /rest/api/content/{id}` carrying `version: {number: <current + 1>}`, as the API
  requires; a page deleted since (404) is created again.

The body is draft.md rendered to XHTML (Confluence's storage format) by markdown-it-py. `url` is
the site's base as the API sees it: `https://acme.atlassian.net/wiki` for Confluence Cloud,
`https://confluence.example.com` for Data Center. Authentication: with `user`, basic
authentication (Cloud: e-mail and API token); without, `Authorization: Bearer <token>` (a Data
Center personal access token).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from markdown_it import MarkdownIt
from pydantic import Field, SecretStr

from dossier.exporters.push._base import Destination, Draft, Http, PushError, UrlConfig, gone


class ConfluenceConfig(UrlConfig):
    type: Literal["confluence"] = Field(description='Selects this destination: "confluence".')
    url: str = Field(description="The site's API base: https://acme.atlassian.net/wiki (Cloud) or the server's URL.")
    space: str = Field(description="Key of the space that receives the page, e.g. OPS.")
    token: SecretStr = Field(description="API token (Cloud, with user) or personal access token (use ${env:VAR}).")
    user: str | None = Field(default=None, description="The account's e-mail for basic authentication (Cloud).")
    parent_id: str | None = Field(default=None, description="Id of the page to put the draft under.")


def storage(markdown: str) -> str:
    """draft.md as Confluence storage format (XHTML: void elements closed, tables kept)."""
    md = MarkdownIt("commonmark", {"xhtmlOut": True, "html": False}).enable("table").enable("strikethrough")
    return md.render(markdown)


class ConfluenceDestination(Destination):
    type: ClassVar[str] = "confluence"
    Config = ConfluenceConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: ConfluenceConfig = self.config  # type: ignore[assignment]
        token = c.token.get_secret_value()
        http = Http(
            f"{c.url}/rest/api",
            name=c.key,
            headers={"Accept": "application/json"} | ({} if c.user else {"Authorization": f"Bearer {token}"}),
            auth=httpx.BasicAuth(c.user, token) if c.user else None,
            timeout=c.timeout,
            verify=not c.insecure_skip_verify,
            secrets=c.secrets(),
        )
        page = {
            "type": "page",
            "title": draft.title,
            "body": {"storage": {"value": storage(draft.markdown), "representation": "storage"}},
        }
        try:
            note = None
            if state and state.get("id"):
                try:
                    current = http.json("GET", f"/content/{state['id']}", params={"expand": "version"})
                    version = int(current["version"]["number"]) + 1
                    answer = http.json(
                        "PUT",
                        f"/content/{state['id']}",
                        json={**page, "id": str(state["id"]), "version": {"number": version}},
                    )
                    return self._state(c, answer)
                except PushError as exc:
                    if not gone(exc):
                        raise
                    note = f"page {state['id']} no longer exists: created anew"
            body: dict[str, Any] = {**page, "space": {"key": c.space}}
            if c.parent_id:
                body["ancestors"] = [{"id": c.parent_id}]
            out = self._state(c, http.json("POST", "/content", json=body))
            return {**out, "note": note} if note else out
        except (KeyError, TypeError, ValueError) as exc:
            raise PushError(f"push {c.key}: the answer has no page id or version ({exc})") from exc
        finally:
            http.close()

    @staticmethod
    def _state(c: ConfluenceConfig, answer: Mapping[str, Any]) -> dict[str, Any]:
        links = answer.get("_links") or {}
        url = f"{links.get('base', c.url)}{links['webui']}" if links.get("webui") else None
        return {"id": str(answer["id"]), "version": int(answer["version"]["number"]), "url": url}
