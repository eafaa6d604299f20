"""Configuration of the `slack` collector (`collectors: slack/<name>: {...}`)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import HttpSettings
from dossier.plugin import PluginConfig, RelPath

DEFAULT_URL = "https://slack.com/api"
PAGE = 200
"""Messages per request: Slack recommends no more than 200."""

# What a message says, tried in this order (the first that matches wins): a message that says it
# rolled back and that the errors are gone is about the rollback.
DEFAULT_INTENTS: dict[str, str] = {
    "rollback": r"(?i)\broll(?:ing|ed|s)?[\s-]?back|\brevert(?:ing|ed|s)?\b",
    "mitigate": (
        r"(?i)\bmitigat(?:ed|ion)\b|\bfail(?:ed|ing)?[\s-]?over\b|\bworkaround\b"
        r"|\bimpact (?:has )?(?:stopped|ended)\b"
    ),
    "resolve": r"(?i)\bresolved?\b|\ball[\s-]clear\b|\bclosing (?:the |this )?incident\b",
    "declare": r"(?i)\bdeclar(?:e|ed|ing)\b|\bsev[\s-]?[0-4]\b|\bincident (?:opened|started)\b",
}


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


class Intents(PluginConfig):
    """Regular expressions that tell what a message says (Python syntax, `(?i)` for any case)."""

    rollback: str = Field(default=DEFAULT_INTENTS["rollback"], description="A message that rolls back or reverts.")
    mitigate: str = Field(
        default=DEFAULT_INTENTS["mitigate"], description="A message that says the trouble is mitigated."
    )
    resolve: str = Field(default=DEFAULT_INTENTS["resolve"], description="A message that resolves the incident.")
    declare: str = Field(default=DEFAULT_INTENTS["declare"], description="A message that declares the incident.")

    @field_validator("rollback", "mitigate", "resolve", "declare")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise _error(f"{value!r} is not a regular expression: {exc}") from None
        return value

    def compiled(self) -> list[tuple[str, re.Pattern[str]]]:
        return [(name, re.compile(getattr(self, name))) for name in ("rollback", "mitigate", "resolve", "declare")]


class SlackConfig(PluginConfig):
    """The incident's Slack channel: its pinned messages and those that declare, mitigate, roll back
    or resolve."""

    token: SecretStr | None = Field(
        default=None,
        description="A bot or user token (use ${env:SLACK_TOKEN}) with channels:history (groups:history for "
        "a private channel), channels:read to find a channel by name, users:read for names. Not with `path`.",
    )
    url: str = Field(default=DEFAULT_URL, description="Base URL of the Web API.")
    path: RelPath | None = Field(
        default=None,
        description="Read a workspace export instead of the API: the unzipped folder (channels.json, "
        "users.json, <channel>/<YYYY-MM-DD>.json); relative to the config file. Not with `token`.",
    )
    channel: str = Field(
        description="The channel: its id (C0123ABCD) or its name (inc-2041 or #inc-2041); `$incident_id` "
        "stands for the incident's id in lower case (e.g. inc-$incident_id).",
    )
    workspace_url: str | None = Field(
        default=None,
        description="The workspace's address (https://acme.slack.com) for links to messages; with the API, "
        "default: what auth.test says.",
    )
    names: bool = Field(
        default=False, description="Keep people's names in the draft; default: each person is 'participant N'."
    )
    threads: bool = Field(default=True, description="Also read the replies in threads (conversations.replies).")
    bots: bool = Field(
        default=False,
        description="Also keep messages of bots and integrations (an alert bot's posts are not people's).",
    )
    intents: Intents = Field(default_factory=Intents, description="What a message says, by regular expression.")
    max_messages: int = Field(
        default=20_000, ge=PAGE, le=1_000_000, description="Most messages read from the channel (then truncated)."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="Timeout, retries and TLS of the requests.")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        text = value.strip().removeprefix("#")
        if not text or " " in text:
            raise _error(f"{value!r} is not a channel: give its id (C0123ABCD) or its name (inc-2041)")
        return text

    @field_validator("url", "workspace_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not text.startswith(("http://", "https://")) or not text.split("://", 1)[1].strip("/"):
            raise _error(f"{value!r} is not an http(s) URL, e.g. https://slack.com/api")
        return text.rstrip("/")

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise _error("is empty: is the environment variable set? (token: ${env:SLACK_TOKEN})")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SlackConfig:
        if (self.token is None) == (self.path is None):
            raise _error("give either `token` (read the Web API) or `path` (read a workspace export), not both or none")
        return self

    def channel_for(self, incident_id: str) -> str:
        return self.channel.replace("$incident_id", incident_id.lower())
