"""Configuration of the `pagerduty` collector (`collectors: pagerduty/<name>: {...}`)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig, RelPath

DEFAULT_URL = "https://api.pagerduty.com"
# Alertmanager's PagerDuty integration titles incidents "[FIRING:1] AlertName (label values)"
DEFAULT_ALERTNAME_PATTERN = r"^\[FIRING:\d+\]\s+(?P<alertname>[A-Za-z_:][A-Za-z0-9_:]*)"
PAGE = 100
"""Items per request (`limit`); PagerDuty answers at most 100."""


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


class PagerDutyConfig(PluginConfig):
    """PagerDuty incidents and their log entries: triggered, notified, acknowledged, escalated, resolved."""

    url: str = Field(
        default=DEFAULT_URL,
        description="Base URL of the REST API v2 (https://api.eu.pagerduty.com for the EU service region).",
    )
    token: SecretStr | None = Field(
        default=None,
        description="A REST API key, read-only is enough (use ${env:PAGERDUTY_TOKEN}); sent as "
        "`Authorization: Token token=...`. Not with `path`.",
    )
    path: RelPath | None = Field(
        default=None,
        description="Read an export instead of the API: a JSON file of log entries as GET /log_entries "
        "returns them ({log_entries: [...]}, a list of such pages or of entries) or JSON lines, one entry a "
        "line; a relative path is relative to the config file. Not with `token`.",
    )
    service_ids: list[str] = Field(
        default_factory=list,
        description="Only incidents of these PagerDuty services (ids such as PSVC123); default: every incident "
        "of the window whose service maps to a configured service.",
    )
    services: dict[str, str] = Field(
        default_factory=dict,
        description="PagerDuty service (name or id) -> the config's service, where the name is not already a "
        "service's name or alias, e.g. {'Payments API (prod)': payments}.",
    )
    names: bool = Field(
        default=False,
        description="Keep people's names in the draft; default: each person is 'responder N'.",
    )
    alertname_pattern: str = Field(
        default=DEFAULT_ALERTNAME_PATTERN,
        description="Regular expression with a group `alertname` that finds the alert's name in an "
        "incident's title, so the alert review can measure the notify delay of that alert.",
    )
    max_incidents: int = Field(
        default=500, ge=1, le=10_000, description="Most incidents read for one collection (newest left out)."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="Timeout, retries and TLS of the requests.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://api.pagerduty.com")
        return text.rstrip("/")

    @field_validator("alertname_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise _error(f"{value!r} is not a regular expression: {exc}") from None
        if "alertname" not in compiled.groupindex:
            raise _error(f"{value!r} has no group named alertname: write (?P<alertname>...)")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise _error("is empty: is the environment variable set? (token: ${env:PAGERDUTY_TOKEN})")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> PagerDutyConfig:
        if (self.token is None) == (self.path is None):
            raise _error("give either `token` (read the REST API) or `path` (read an export file), not both or none")
        if self.path is not None and self.service_ids:
            raise _error("`service_ids` selects incidents in the API: with `path`, the export file says which")
        return self
