"""Configuration of the `github` collector (`collectors: github/<name>: {...}`)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import Duration, PluginConfig

DEFAULT_URL = "https://api.github.com"
DEFAULT_DEPLOY_WORKFLOW_PATTERN = r"(?i)deploy|release|rollout|rollback"
DEFAULT_CONFIG_CHANGE_PATTERN = r"(?i)config|terraform"
REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise _error(f"{value!r} is not a regular expression: {exc}") from None
    return value


def _names(value: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for name in value:
        if not name.strip():
            raise _error(f"an empty {what} name")
        if name in seen:
            raise _error(f"{what} {name!r} is listed twice")
        seen.add(name)
    return value


class GitHubRepository(PluginConfig):
    """One repository whose deployments and deploy workflow runs are read."""

    repo: str = Field(pattern=REPO_PATTERN, description="The repository, as owner/name (e.g. acme/payments).")
    service: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The service this repository deploys; default: the service whose name or alias is the "
            "repository's name (payments for acme/payments), else the repository's name as it is."
        ),
    )
    environments: list[str] = Field(
        default_factory=list,
        description="Only deployments to these environments (e.g. [production]); default: every environment.",
    )
    workflows: list[str] = Field(
        default_factory=list,
        description=(
            "Workflows whose runs are deploys, by file name or id (e.g. [deploy.yml]); default: the runs of "
            "every workflow whose name or file matches deploy_workflow_pattern."
        ),
    )
    branches: list[str] = Field(
        default_factory=list, description="Only workflow runs on these branches (e.g. [main]); default: every branch."
    )

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        return _names(value, "environment")

    @field_validator("workflows")
    @classmethod
    def _workflows(cls, value: list[str]) -> list[str]:
        for name in value:
            if "/" in name:
                raise _error(f"workflow {name!r}: give the file name (deploy.yml) or the id, not a path")
        return _names(value, "workflow")

    @field_validator("branches")
    @classmethod
    def _branches(cls, value: list[str]) -> list[str]:
        return _names(value, "branch")

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]


class GitHubConfig(PluginConfig):
    """Deployments and deploy workflow runs of GitHub (or GitHub Enterprise Server) repositories."""

    url: str = Field(
        default=DEFAULT_URL,
        description="Base URL of the REST API: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise.",
    )
    web_url: str | None = Field(
        default=None,
        description="Base URL for links in the dossier; default: derived from url (https://github.com, https://HOST).",
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Access token, e.g. ${env:GITHUB_TOKEN}: classic with the repo (or public_repo) scope, or fine-grained "
            "with Deployments, Actions and Metadata read; without one only public repositories, 60 requests/h."
        ),
    )
    repositories: list[GitHubRepository] = Field(
        min_length=1, description="The repositories to read: {repo, service, environments, workflows, branches}."
    )
    deployments: bool = Field(default=True, description="Read the deployments and their statuses.")
    workflow_runs: bool = Field(default=True, description="Read the GitHub Actions runs of deploy workflows.")
    deploy_workflow_pattern: str = Field(
        default=DEFAULT_DEPLOY_WORKFLOW_PATTERN,
        description=(
            "Regular expression (Python) on a run's workflow name and file: without `workflows`, only matching "
            "runs count as changes, the others are skipped."
        ),
    )
    config_change_pattern: str = Field(
        default=DEFAULT_CONFIG_CHANGE_PATTERN,
        description=(
            "Regular expression on a deployment's task and a run's workflow name: a match makes the change a "
            "config_change instead of a deploy."
        ),
    )
    compare: bool = Field(
        default=False,
        description=(
            "Read the size of each deployment (commits, changed files, additions, deletions) by comparing its "
            "sha with the previous deployment's in the same environment: one more request per deployment."
        ),
    )
    max_compares: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="Most compare requests per collection, spent on the deployments closest to the incident's start.",
    )
    rollback_lookback: Duration = Field(
        default=7 * 86400.0,
        description=(
            "How far before the window the deployment list is read (without statuses) to recognise a "
            "deployment of an earlier sha as a rollback."
        ),
    )
    max_pages: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most pages (of 100) read per list: deployments of one environment, runs of one workflow/branch.",
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="Timeout, retries, retry_max_delay and TLS of the requests."
    )

    @field_validator("url", "web_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://api.github.com")
        return text

    @field_validator("deploy_workflow_pattern", "config_change_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        return _regex(value)

    @field_validator("repositories")
    @classmethod
    def _unique(cls, value: list[GitHubRepository]) -> list[GitHubRepository]:
        seen: set[str] = set()
        for r in value:
            key = r.repo.lower()
            if key in seen:
                raise _error(f"repository {r.repo!r} is listed twice")
            seen.add(key)
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> GitHubConfig:
        if not self.deployments and not self.workflow_runs:
            raise _error("deployments and workflow_runs are both off: enable at least one")
        return self

    @property
    def link_base(self) -> str:
        """Where people open repositories: web_url, else derived from the API's URL."""
        if self.web_url:
            return self.web_url
        parts = urlsplit(self.url)
        if parts.netloc == "api.github.com":
            return "https://github.com"
        if parts.path.rstrip("/").endswith("/api/v3"):
            return self.url[: -len("/api/v3")]
        return self.url
