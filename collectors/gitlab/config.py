"""Configuration of the `gitlab` collector (`collectors: gitlab/<name>: {...}`)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import Duration, PluginConfig

DEFAULT_URL = "https://gitlab.com"
DEFAULT_PIPELINE_PATTERN = r"(?i)^(v?\d+\.\d+\S*|release\S*|deploy\S*|production)$"
DEFAULT_CONFIG_CHANGE_PATTERN = r"(?i)config|terraform"
PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$")

Status = Literal["success", "failed", "canceled", "running", "created", "blocked"]
DEFAULT_STATUSES: tuple[Status, ...] = ("success", "failed", "canceled", "running")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def _names(value: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for name in value:
        if not name.strip():
            raise _error(f"an empty {what} name")
        if name in seen:
            raise _error(f"{what} {name!r} is listed twice")
        seen.add(name)
    return value


class GitLabProject(PluginConfig):
    """One project whose deployments (and deploy pipelines) are read."""

    project: str | int = Field(
        description="The project, by its path with namespace (acme/payments, acme/platform/payments) or numeric id."
    )
    service: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The service this project deploys; default: the service whose name or alias is the project's "
            "name (payments for acme/payments), else the project's name as it is."
        ),
    )
    environments: list[str] = Field(
        default_factory=list,
        description="Only deployments to these environments (e.g. [production]); default: every environment.",
    )
    ref: str | None = Field(
        default=None,
        min_length=1,
        description="Only pipelines of this branch or tag (e.g. main), and those count as deploys (with pipelines).",
    )

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | int) -> str | int:
        if isinstance(value, int) or value.isdigit():
            number = int(value)
            if number < 1:
                raise _error("a project id is a positive number")
            return number
        text = value.strip().strip("/")
        if not PROJECT_PATH.match(text):
            raise _error(f"{value!r} is not a project path (group/project) or numeric id")
        return text

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        return _names(value, "environment")


class GitLabConfig(PluginConfig):
    """Deployments (and optionally deploy pipelines) of GitLab.com or self-managed GitLab projects."""

    url: str = Field(default=DEFAULT_URL, description="Base URL of GitLab (https://gitlab.com, or your own).")
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Access token with the read_api scope (personal, group or project token), e.g. ${env:GITLAB_TOKEN}; "
            "without one only public projects."
        ),
    )
    token_type: Literal["private_token", "bearer"] = Field(
        default="private_token",
        description="How the token is sent: private_token (PRIVATE-TOKEN header) or bearer (Authorization: Bearer).",
    )
    projects: list[GitLabProject] = Field(
        min_length=1, description="The projects to read: {project, service, environments, ref}."
    )
    deployments: bool = Field(default=True, description="Read the deployments.")
    statuses: list[Status] = Field(
        default_factory=lambda: list(DEFAULT_STATUSES),
        min_length=1,
        description=(
            "The deployment (and pipeline) statuses kept; one status alone is asked of GitLab (status=), "
            "several are filtered here."
        ),
    )
    pipelines: bool = Field(
        default=False,
        description="Also read pipelines (a pipeline counts only as described under pipeline_pattern).",
    )
    pipeline_pattern: str = Field(
        default=DEFAULT_PIPELINE_PATTERN,
        description=(
            "Regular expression (Python) on a pipeline's ref and source: a pipeline is a deploy when it matches, "
            "when its ref or source is one of the project's environments, or when its ref is the project's ref."
        ),
    )
    config_change_pattern: str = Field(
        default=DEFAULT_CONFIG_CHANGE_PATTERN,
        description="Regular expression on a deployment's job name: a match makes the change a config_change.",
    )
    rollback_lookback: Duration = Field(
        default=7 * 86400.0,
        description=(
            "How far before the window deployments are read to recognise a deployment of an earlier sha as a rollback."
        ),
    )
    max_pages: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most pages (of 100) read per list: deployments of one environment, pipelines of one project.",
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="Timeout, retries, retry_max_delay and TLS of the requests."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://gitlab.com")
        if parts.path.rstrip("/").endswith("/api/v4"):
            raise _error(f"{value!r}: give GitLab's own URL, without /api/v4")
        return text

    @field_validator("pipeline_pattern", "config_change_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise _error(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        return _names(value, "status")

    @field_validator("projects")
    @classmethod
    def _unique(cls, value: list[GitLabProject]) -> list[GitLabProject]:
        seen: set[str] = set()
        for p in value:
            key = str(p.project).lower()
            if key in seen:
                raise _error(f"project {p.project!r} is listed twice")
            seen.add(key)
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> GitLabConfig:
        if not self.deployments and not self.pipelines:
            raise _error("deployments and pipelines are both off: enable at least one")
        return self
