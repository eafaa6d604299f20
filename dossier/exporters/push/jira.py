"""Push destination `jira`: the draft as a Jira issue, each action item an issue linked to it.

Jira REST API v2 (Jira Cloud and Data Center alike; v2 takes the description as wiki markup):

* `POST /rest/api/2/issue` `{fields: {project: {key}, summary, description, issuetype: {name}, labels}}`
  creates the draft's issue and each action item's (`action_item_type`, default Task); it answers
  `{id, key, self}`;
* `POST /rest/api/2/issueLink` `{type: {name: link_type}, inwardIssue: {key: <item>}, outwardIssue:
  {key: <draft>}}` links each action item to the draft's issue (default link type "Relates");
* a rerun updates every issue it created with `PUT /rest/api/2/issue/{key}` `{fields: {summary,
  description}}` (204), creates and links only the action items that are new, and leaves alone
  the issues of items the draft no longer has (people may have worked on them). An issue deleted
  since (404) is created again.

Authentication: with `user`, basic authentication with the user's e-mail and an API token (Jira
Cloud); without, `Authorization: Bearer <token>` (a Data Center personal access token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr

from dossier.exporters.push._base import Destination, Draft, Http, PushError, UrlConfig, gone, item_text

SUMMARY_MAX = 255
DESCRIPTION_MAX = 32767  # Jira's limit on a text field


class JiraConfig(UrlConfig):
    type: Literal["jira"] = Field(description='Selects this destination: "jira".')
    url: str = Field(description="The Jira site, e.g. https://acme.atlassian.net.")
    project: str = Field(description="Key of the project that receives the issues, e.g. OPS.")
    token: SecretStr = Field(description="API token (Cloud, with user) or personal access token (use ${env:VAR}).")
    user: str | None = Field(default=None, description="The account's e-mail for basic authentication (Jira Cloud).")
    issue_type: str = Field(default="Task", description="Issue type of the draft's issue.")
    action_item_type: str = Field(default="Task", description="Issue type of each action item's issue.")
    link_type: str = Field(default="Relates", description="Name of the link between an action item and the draft.")
    labels: list[str] = Field(default_factory=lambda: ["postmortem"], description="Labels of every issue.")


def wiki(markdown: str) -> str:
    """Markdown to Jira wiki markup: headings, bullets, bold, code, links, tables' header rows."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            out.append("{code}")
            fenced = not fenced
            continue
        if fenced:
            out.append(line)
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            line = f"h{len(m.group(1))}. {m.group(2)}"
        elif re.match(r"^\s*[-*]\s+", line):
            depth = (len(line) - len(line.lstrip())) // 2 + 1
            line = "*" * depth + " " + re.sub(r"^\s*[-*]\s+", "", line)
        elif re.match(r"^\|(\s*:?-+:?\s*\|)+\s*$", line):
            if out and out[-1].startswith("|") and not out[-1].startswith("||"):
                out[-1] = "||" + out[-1].strip("|").replace("|", "||") + "||"
            continue
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        line = re.sub(r"`([^`]+)`", r"{{\1}}", line)
        line = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"[\1|\2]", line)
        out.append(line)
    return "\n".join(out)


class JiraDestination(Destination):
    type: ClassVar[str] = "jira"
    Config = JiraConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: JiraConfig = self.config  # type: ignore[assignment]
        token = c.token.get_secret_value()
        auth = httpx.BasicAuth(c.user, token) if c.user else None
        headers = {"Accept": "application/json"} | ({} if c.user else {"Authorization": f"Bearer {token}"})
        http = Http(
            f"{c.url}/rest/api/2",
            name=c.key,
            headers=headers,
            auth=auth,
            timeout=c.timeout,
            verify=not c.insecure_skip_verify,
            secrets=c.secrets(),
        )
        try:
            return self._push(http, c, draft, state or {})
        except (KeyError, TypeError) as exc:
            raise PushError(f"push {c.key}: the answer has no issue key ({exc})") from exc
        finally:
            http.close()

    def _upsert(
        self, http: Http, c: JiraConfig, before: Mapping[str, Any], fields: dict[str, Any], kind: str
    ) -> dict[str, str]:
        """Update the issue of `before` (an earlier push's {id, key}) while it exists, else create one."""
        if before.get("key"):
            try:
                http.call("PUT", f"/issue/{before['key']}", json={"fields": fields})
                return {"id": str(before.get("id")), "key": str(before["key"])}
            except PushError as exc:
                if not gone(exc):
                    raise
        body = {"fields": {**fields, "project": {"key": c.project}, "issuetype": {"name": kind}, "labels": c.labels}}
        issue = http.json("POST", "/issue", json=body)
        return {"id": str(issue["id"]), "key": str(issue["key"])}

    def _push(self, http: Http, c: JiraConfig, draft: Draft, state: Mapping[str, Any]) -> dict[str, Any]:
        fields = {"summary": draft.title[:SUMMARY_MAX], "description": wiki(draft.markdown)[:DESCRIPTION_MAX]}
        main = self._upsert(http, c, state, fields, c.issue_type)
        relinked = main["key"] != state.get("key")  # a new draft issue: every item is linked again
        known: Mapping[str, Any] = state.get("items") or {}
        items: dict[str, Any] = {}
        for item in draft.items:
            before = known.get(item.id) or {}
            f = {"summary": item.title[:SUMMARY_MAX], "description": wiki(item_text(item))[:DESCRIPTION_MAX]}
            issue = self._upsert(http, c, before, f, c.action_item_type)
            if relinked or issue["key"] != before.get("key"):
                http.call(
                    "POST",
                    "/issueLink",
                    json={
                        "type": {"name": c.link_type},
                        "inwardIssue": {"key": issue["key"]},
                        "outwardIssue": {"key": main["key"]},
                    },
                )
            items[item.id] = issue
        # issues of items this draft no longer has are kept, not touched
        for item_id, value in known.items():
            items.setdefault(item_id, value)
        return {**main, "url": f"{c.url}/browse/{main['key']}", "items": items}
