"""Configuration of the `argocd` collector (`collectors: argocd/<name>: {...}`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig

# Kubernetes object names (RFC 1123 subdomain): what Argo CD accepts as an application,
# project or namespace name.
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def _k8s_name(value: str, what: str) -> str:
    if not _K8S_NAME.match(value):
        raise _error(
            f"{value!r} is not a valid {what} name: lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return value


class Application(PluginConfig):
    """One Argo CD application to read the sync history of."""

    name: str = Field(description="The application's name, as in `argocd app list`.")
    service: str | None = Field(
        default=None,
        description="The service it deploys, by its name or an alias in `services:`; default the application name.",
    )
    project: str | None = Field(
        default=None,
        description="The application's Argo CD project; when set, Argo CD tells a missing application (404) "
        "from a forbidden one (403).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _k8s_name(value, "application")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        return None if value is None else _k8s_name(value, "project")

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise _error("must not be empty: leave it out to use the application name")
        return value


class ArgoCDConfig(PluginConfig):
    """An Argo CD API server whose applications' sync history are the changes."""

    url: str = Field(description="Base URL of the Argo CD API server (and UI), e.g. https://argocd.example.com.")
    token: SecretStr = Field(
        description="Argo CD API token, sent as `Authorization: Bearer` (use ${env:ARGOCD_AUTH_TOKEN}).",
    )
    http: HttpSettings = Field(
        default_factory=HttpSettings, description="Timeout, retries and TLS of the requests to Argo CD."
    )
    applications: list[Application] = Field(
        default_factory=list,
        description="The applications to read, as names or {name, service, project}; empty: every application "
        "whose name or app.kubernetes.io/name or dossier.io/service label names an incident service or a "
        "dependency of one.",
    )
    app_namespace: str | None = Field(
        default=None,
        description="Namespace of the Application resources when they are not in Argo CD's own namespace "
        "(apps in any namespace).",
    )
    projects: list[str] = Field(
        default_factory=list,
        description="Only when applications is empty: look for applications in these projects only.",
    )
    selector: str | None = Field(
        default=None,
        description="Only when applications is empty: a label selector the applications must match, "
        "e.g. team=payments.",
    )

    @field_validator("applications", mode="before")
    @classmethod
    def _names_as_applications(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://argocd.example.com")
        return text.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise _error("is empty: is the environment variable set? (token: ${env:ARGOCD_AUTH_TOKEN})")
        return value

    @field_validator("app_namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        return None if value is None else _k8s_name(value, "namespace")

    @field_validator("projects")
    @classmethod
    def _projects(cls, value: list[str]) -> list[str]:
        for p in value:
            _k8s_name(p, "project")
        return value

    @field_validator("applications")
    @classmethod
    def _unique(cls, value: list[Application]) -> list[Application]:
        seen: set[str] = set()
        for app in value:
            if app.name in seen:
                raise _error(f"application {app.name!r} is listed twice")
            seen.add(app.name)
        return value

    @model_validator(mode="after")
    def _discovery_only(self) -> ArgoCDConfig:
        if self.applications and (self.projects or self.selector):
            raise _error(
                "projects and selector narrow the search for applications, which only happens when "
                "applications is empty: give each application its project instead"
            )
        return self
