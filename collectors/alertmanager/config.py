"""Configuration of the `alertmanager` collector (`collectors: alertmanager/<name>: {...}`)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig, RelPath


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


class AlertmanagerConfig(PluginConfig):
    """Alertmanager: when it notified (its notification log, as a webhook receiver got it) and the
    silences that kept alerts from notifying anyone (its API v2)."""

    url: str | None = Field(
        default=None,
        description="Base URL of Alertmanager (http://alertmanager:9093), for its API v2: status and silences.",
    )
    notification_log: RelPath | None = Field(
        default=None,
        description="The notification log a webhook receiver writes (`dossier serve`, or any receiver with "
        "collectors.alertmanager.notification_log.append): JSON lines {received_at, body}; relative to the "
        "config file.",
    )
    receiver: str | None = Field(
        default=None,
        description="Only notifications of this receiver (the webhook body's `receiver`); default: all.",
    )
    service_label: str = Field(default="service", description="The alert label that names the service.")
    names: bool = Field(
        default=False,
        description="Keep the names of who created a silence; default: each person is 'responder N'.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers, e.g. {Authorization: 'Bearer ${env:AM_TOKEN}'}."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="Timeout, retries and TLS of the requests.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. http://alertmanager:9093")
        return text.rstrip("/")

    @model_validator(mode="after")
    def _something(self) -> AlertmanagerConfig:
        if self.url is None and self.notification_log is None:
            raise _error("give `url` (the API: silences), `notification_log` (when it notified), or both")
        return self
