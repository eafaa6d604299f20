"""Push destination `github`: the draft as a GitHub issue (REST API, version 2022-11-28).

Creates with `POST /repos/{owner}/{repo}/issues` (title, body, labels) and keeps the issue's
`number`; a rerun updates it with `PATCH /repos/{owner}/{repo}/issues/{number}`. An issue deleted
or transferred since (404 or 410) is created again, and the message says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from dossier.exporters.push._base import Destination, Draft, Http, PushError, UrlConfig, gone

BODY_MAX = 65536  # GitHub refuses longer issue bodies


class GitHubConfig(UrlConfig):
    type: Literal["github"] = Field(description='Selects this destination: "github".')
    url: str = Field(
        default="https://api.github.com", description="API base URL (GitHub Enterprise: https://HOST/api/v3)."
    )
    repo: str = Field(description="The repository that receives the issue, as owner/name.")
    token: SecretStr = Field(description="A token allowed to write issues (use ${env:GITHUB_TOKEN}).")
    labels: list[str] = Field(default_factory=lambda: ["postmortem"], description="Labels of the issue.")

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if value.count("/") != 1 or not all(value.split("/")):
            raise ValueError(f"{value!r} is not owner/name")
        return value


def body(draft: Draft) -> str:
    text = draft.markdown
    if len(text) > BODY_MAX:
        note = "\n\n*(cut: the whole draft is draft.md in the output folder)*"
        text = text[: BODY_MAX - len(note)] + note
    return text


class GitHubDestination(Destination):
    type: ClassVar[str] = "github"
    Config = GitHubConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: GitHubConfig = self.config  # type: ignore[assignment]
        http = Http(
            c.url,
            name=c.key,
            headers={
                "Authorization": f"Bearer {c.token.get_secret_value()}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=c.timeout,
            verify=not c.insecure_skip_verify,
            secrets=c.secrets(),
        )
        try:
            fields = {"title": draft.title, "body": body(draft), "labels": c.labels}
            note = None
            if state and state.get("number"):
                try:
                    issue = http.json("PATCH", f"/repos/{c.repo}/issues/{state['number']}", json=fields)
                    return {"id": issue["number"], "number": issue["number"], "url": issue.get("html_url")}
                except PushError as exc:
                    if not gone(exc):
                        raise
                    note = f"issue #{state['number']} no longer exists: created anew"
            issue = http.json("POST", f"/repos/{c.repo}/issues", json=fields)
            out = {"id": issue["number"], "number": issue["number"], "url": issue.get("html_url")}
            return {**out, "note": note} if note else out
        except (KeyError, TypeError) as exc:
            raise PushError(f"push {c.key}: the answer has no issue number ({exc})") from exc
        finally:
            http.close()


__all__ = ["GitHubConfig", "GitHubDestination"]
