"""Configuration of the `jenkins` collector (`collectors: jenkins/<name>: {...}`)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig

PAGE = 100
"""Builds per request; Jenkins' `builds` holds the newest 100, `allBuilds{M,N}` pages through the rest."""


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


class Job(PluginConfig):
    """One Jenkins job whose builds are deploys (or config changes)."""

    job: str = Field(
        description="The job's full name, folders as path segments, e.g. deploy/payments-prod "
        "(read from /job/deploy/job/payments-prod).",
    )
    service: str | None = Field(
        default=None,
        description="The service it changes, by its name or an alias in `services:`; default the job's own "
        "name (the last segment).",
    )
    kind: Literal["deploy", "config_change"] = Field(
        default="deploy",
        description="What a build of this job is: deploy or config_change (a build that says it is a rollback "
        "is a rollback either way).",
    )
    parameters: list[str] = Field(
        default_factory=list,
        description="Build parameters to keep with each build, by name, e.g. [VERSION, ENVIRONMENT].",
    )

    @field_validator("job")
    @classmethod
    def _full_name(cls, value: str) -> str:
        raw = value.strip()
        text = raw.strip("/")
        parts = text.split("/")
        # A job's URL path pasted as is (/job/deploy/job/payments-prod): keep the names only.
        if raw.startswith("/job/") and len(parts) % 2 == 0 and all(p == "job" for p in parts[::2]):
            parts = parts[1::2]
        if not text or any(not p.strip() for p in parts):
            raise _error(
                f"{value!r} is not a job's full name: write folders as path segments, e.g. deploy/payments-prod"
            )
        return "/".join(parts)

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip():
                raise _error("a parameter name is empty")
        if len(set(value)) != len(value):
            raise _error("a parameter is named twice")
        return value

    @property
    def name(self) -> str:
        """The job's own name: the last segment of its full name."""
        return self.job.rsplit("/", 1)[-1]

    @property
    def path(self) -> str:
        """`/job/deploy/job/payments-prod`: where the job lives under Jenkins' URL."""
        return "".join(f"/job/{quote(p, safe='')}" for p in self.job.split("/"))


class JenkinsConfig(PluginConfig):
    """A Jenkins server whose deploy jobs' builds are the changes."""

    url: str = Field(description="Base URL of Jenkins, with its context path if any, e.g. https://ci.example.com.")
    username: str = Field(description="The Jenkins user the API token belongs to.")
    api_token: SecretStr = Field(
        description="An API token of that user (use ${env:JENKINS_API_TOKEN}), sent with basic authentication.",
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="Timeout, retries and TLS of the requests to Jenkins."
    )
    jobs: list[Job] = Field(
        min_length=1,
        description="The jobs to read, as full names or {job, service, kind, parameters}.",
    )
    max_builds: int = Field(
        default=1000,
        ge=PAGE,
        le=100_000,
        description="Most builds read per job, newest first, while looking for the start of the window.",
    )

    @field_validator("jobs", mode="before")
    @classmethod
    def _names_as_jobs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"job": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://ci.example.com")
        return text.rstrip("/")

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not value.strip():
            raise _error("must not be empty")
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise _error("is empty: is the environment variable set? (api_token: ${env:JENKINS_API_TOKEN})")
        return value

    @field_validator("jobs")
    @classmethod
    def _unique(cls, value: list[Job]) -> list[Job]:
        seen: set[str] = set()
        for job in value:
            if job.job in seen:
                raise _error(f"job {job.job!r} is listed twice")
            seen.add(job.job)
        return value
