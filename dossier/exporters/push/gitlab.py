"""Push destination `gitlab`: the draft as a GitLab issue (REST API v4, gitlab.com or self-hosted).

Creates with `POST /api/v4/projects/:id/issues` (title, description, labels) and keeps the
issue's `iid`; a rerun updates it with `PUT /api/v4/projects/:id/issues/:iid`. The project is its
numeric id or its path (URL-encoded, as the API wants). A deleted issue (404) is created again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

from dossier.exporters.push._base import Destination, Draft, Http, PushError, UrlConfig, gone

DESCRIPTION_MAX = 1_048_576  # GitLab's limit on an issue description


class GitLabConfig(UrlConfig):
    type: Literal["gitlab"] = Field(description='Selects this destination: "gitlab".')
    url: str = Field(default="https://gitlab.com", description="The GitLab instance (without /api/v4).")
    project: str = Field(description="The project that receives the issue: its path (group/name) or numeric id.")
    token: SecretStr = Field(description="A token with the api scope (use ${env:GITLAB_TOKEN}).")
    labels: list[str] = Field(default_factory=lambda: ["postmortem"], description="Labels of the issue.")


class GitLabDestination(Destination):
    type: ClassVar[str] = "gitlab"
    Config = GitLabConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: GitLabConfig = self.config  # type: ignore[assignment]
        http = Http(
            f"{c.url}/api/v4",
            name=c.key,
            headers={"PRIVATE-TOKEN": c.token.get_secret_value()},
            timeout=c.timeout,
            verify=not c.insecure_skip_verify,
            secrets=c.secrets(),
        )
        project = quote(c.project, safe="")
        fields = {
            "title": draft.title,
            "description": draft.markdown[:DESCRIPTION_MAX],
            "labels": ",".join(c.labels),
        }
        try:
            note = None
            if state and state.get("iid"):
                try:
                    issue = http.json("PUT", f"/projects/{project}/issues/{state['iid']}", json=fields)
                    return {"id": issue["id"], "iid": issue["iid"], "url": issue.get("web_url")}
                except PushError as exc:
                    if not gone(exc):
                        raise
                    note = f"issue #{state['iid']} no longer exists: created anew"
            issue = http.json("POST", f"/projects/{project}/issues", json=fields)
            out = {"id": issue["id"], "iid": issue["iid"], "url": issue.get("web_url")}
            return {**out, "note": note} if note else out
        except (KeyError, TypeError) as exc:
            raise PushError(f"push {c.key}: the answer has no issue iid ({exc})") from exc
        finally:
            http.close()
