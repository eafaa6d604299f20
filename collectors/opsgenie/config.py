"""Configuration of the `opsgenie` collector (`collectors: opsgenie/<name>: {...}`)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig

DEFAULT_URL = "https://api.opsgenie.com"
DEFAULT_ALERTNAME_PATTERN = r"^\[FIRING:\d+\]\s+(?P<alertname>[A-Za-z_:][A-Za-z0-9_:]*)"
PAGE = 100
"""Alerts or log lines per request: Opsgenie answers at most 100."""
MAX_OFFSET = 20_000
"""Opsgenie lists alerts only up to offset + limit = 20,000."""


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


class OpsgenieConfig(PluginConfig):
    """Opsgenie alerts and their activity log: opened, notified, acknowledged, escalated, closed."""

    url: str = Field(
        default=DEFAULT_URL, description="Base URL of the API (https://api.eu.opsgenie.com for the EU instance)."
    )
    api_key: SecretStr = Field(
        description="An API key of an API integration with read access (use ${env:OPSGENIE_API_KEY}), sent as "
        "`Authorization: GenieKey ...`.",
    )
    query: str | None = Field(
        default=None,
        description="More of Opsgenie's alert search syntax, ANDed with the window, e.g. 'teams:payments'.",
    )
    services: dict[str, str] = Field(
        default_factory=dict,
        description="An alert tag or entity -> the config's service, where it is not already a service's name or "
        "alias (an alert's service is the first of its tags, then its entity, that maps).",
    )
    names: bool = Field(
        default=False, description="Keep people's names in the draft; default: each person is 'responder N'."
    )
    alertname_pattern: str = Field(
        default=DEFAULT_ALERTNAME_PATTERN,
        description="Regular expression with a group `alertname` that finds the Prometheus alert's name in an "
        "Opsgenie alert's message, so the alert review can measure its notify delay.",
    )
    max_alerts: int = Field(default=500, ge=1, le=MAX_OFFSET, description="Most alerts read for one collection.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="Timeout, retries and TLS of the requests.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://api.opsgenie.com")
        return text.rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise _error("is empty: is the environment variable set? (api_key: ${env:OPSGENIE_API_KEY})")
        return value

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
