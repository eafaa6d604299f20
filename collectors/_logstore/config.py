"""Configuration shared by the `elasticsearch` and `opensearch` collectors.

`LogStoreConfig` holds every key both collectors have; each collector's config adds the URL of
its UI (`kibana_url`, `dashboards_url`) for the links in the dossier.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dossier.plugin import Duration, PluginConfig, RelPath

DEFAULT_ERROR_LEVELS: tuple[str, ...] = ("error", "fatal", "critical", "crit", "alert", "emerg", "panic", "severe")
MAX_BUCKETS = 2_000  # most date_histogram buckets per count series


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def check_http_url(value: str, *, need_port: bool, example: str) -> str:
    """`value` without trailing slash, or a dossier error when it is not an http(s) URL."""
    text = value.strip()
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(f"{value!r} is not an http(s) URL, e.g. {example}")
    if need_port and port is None:
        raise _error(f"{value!r} has no port: write scheme, host and port, e.g. {example}")
    return text.rstrip("/")


class BasicAuth(PluginConfig):
    username: str = Field(min_length=1, description="User name for HTTP basic authentication.")
    password: SecretStr = Field(description="Password for HTTP basic authentication (use ${env:VAR}).")


class TLS(PluginConfig):
    ca_file: RelPath | None = Field(
        default=None, description="PEM file with the CA certificates that sign the cluster's certificate."
    )
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the cluster's certificate (tests only)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TLS:
        if self.insecure_skip_verify and self.ca_file is not None:
            raise _error("ca_file and insecure_skip_verify exclude each other")
        return self


class Fields(PluginConfig):
    """Where each piece of a log document is; Elastic Common Schema names by default."""

    timestamp: str = Field(default="@timestamp", min_length=1, description="Date field of the event time.")
    service: str = Field(
        default="service.name",
        min_length=1,
        description="Keyword field naming the service (matched with the service's name and aliases).",
    )
    level: str = Field(default="log.level", min_length=1, description="Keyword field with the log level.")
    message: str = Field(default="message", min_length=1, description="Field with the log message text.")
    error_type: str | None = Field(
        default="error.type", description="Keyword field with the error type or exception class; null if none."
    )
    trace_id: str | None = Field(
        default="trace.id", description="Field with the trace id, kept on exemplars; null if none."
    )

    @field_validator("*")
    @classmethod
    def _no_blank(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip()):
            raise _error(f"{value!r} is not a field name")
        return value


_INDEX_FORBIDDEN = re.compile(r'[\s\\/?"<>|#]')


class LogStoreConfig(PluginConfig):
    """Keys shared by the `elasticsearch` and `opensearch` collectors."""

    hosts: list[str] = Field(
        min_length=1,
        description='Cluster nodes as URLs with scheme and port, e.g. ["http://127.0.0.1:9200"].',
    )
    index: list[str] = Field(
        min_length=1,
        description='Index patterns, aliases or data streams to search, e.g. "logs-*" or ["logs-*", "-logs-debug-*"].',
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key (use ${env:VAR}), sent as Authorization: ApiKey; at most one of api_key, basic_auth "
        "and bearer_token.",
    )
    basic_auth: BasicAuth | None = Field(default=None, description="HTTP basic authentication: {username, password}.")
    bearer_token: SecretStr | None = Field(
        default=None, description="Bearer token (OAuth2 / JWT / service account token), sent as Authorization: Bearer."
    )
    tls: TLS = Field(default_factory=TLS, description="TLS options: CA file, verification.")
    timeout: Duration = Field(default=30.0, description="Timeout of each request (connect and read).")
    retries: int = Field(
        default=4,
        ge=1,
        le=20,
        description="Attempts per request (1 = no retry); 429, 502, 503, 504, connection errors and timeouts "
        "are retried.",
    )
    retry_max_delay: Duration = Field(
        default=60.0, description="Stop retrying a request once this long has passed since its first attempt."
    )
    fields: Fields = Field(
        default_factory=Fields, description="Names of the document fields read (Elastic Common Schema by default)."
    )
    message_keyword: str | None = Field(
        default=None,
        description="Aggregatable keyword field holding the message (e.g. message.keyword): distinct messages are "
        "then counted by the cluster; without it, error documents are read and counted here.",
    )
    error_levels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ERROR_LEVELS),
        min_length=1,
        description="Log levels that count as errors (matched lower-case, upper-case and capitalized).",
    )
    interval: Duration | None = Field(
        default=None,
        description=f"Bucket of the log counts; default 1m for collection windows up to a day, "
        f"larger to keep at most {MAX_BUCKETS:,} buckets.",
    )
    max_messages: int = Field(
        default=2_000, ge=1, le=100_000, description="Most distinct error messages kept per service."
    )
    max_exemplars: int = Field(
        default=200, ge=0, le=10_000, description="Most error documents kept as exemplars overall (0: none)."
    )
    page_size: int = Field(default=500, ge=1, le=10_000, description="Documents or aggregation buckets per request.")
    scan_limit: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Most error documents (without message_keyword) or distinct messages (with it) read per "
        "service to count distinct messages.",
    )

    @field_validator("hosts", mode="before")
    @classmethod
    def _one_host(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("hosts")
    @classmethod
    def _host_urls(cls, hosts: list[str]) -> list[str]:
        return [check_http_url(h, need_port=True, example="http://127.0.0.1:9200") for h in hosts]

    @field_validator("index", mode="before")
    @classmethod
    def _index_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",")]
        return value

    @field_validator("index")
    @classmethod
    def _index_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or _INDEX_FORBIDDEN.search(name) or name.startswith(("_", "+")) or "," in name:
                raise _error(f"{name!r} is not an index pattern, e.g. logs-*")
        if all(n.startswith("-") for n in names):
            raise _error("only exclusions (-pattern): name the indices to search, e.g. logs-*")
        return names

    @field_validator("message_keyword")
    @classmethod
    def _keyword_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or value != value.strip()):
            raise _error(f"{value!r} is not a field name")
        return value

    @field_validator("error_levels")
    @classmethod
    def _levels(cls, levels: list[str]) -> list[str]:
        out: list[str] = []
        for level in levels:
            low = level.strip().lower()
            if not low:
                raise _error("a level cannot be empty")
            if low not in out:
                out.append(low)
        return out

    @field_validator("timeout", "retry_max_delay")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _error("must be more than 0s")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float | None) -> float | None:
        if value is not None and (value < 1 or value != int(value)):
            raise _error("interval must be a whole number of seconds, at least 1s")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> LogStoreConfig:
        given = [n for n in ("api_key", "basic_auth", "bearer_token") if getattr(self, n) is not None]
        if len(given) > 1:
            names = ", ".join(given[:-1]) + " and " + given[-1]
            raise _error(f"{names} are set: use only one of api_key, basic_auth and bearer_token")
        return self

    # ---- derived ---------------------------------------------------------------------------

    @property
    def index_expr(self) -> str:
        """The index pattern(s) as they go in a request path."""
        return ",".join(self.index)

    @property
    def link_base(self) -> str | None:
        """Base URL of the UI (Kibana, OpenSearch Dashboards) for links; None without one."""
        return None

    @property
    def credential(self) -> str | None:
        """The configured credential's key, for hints: api_key, basic_auth or bearer_token."""
        for name in ("api_key", "basic_auth", "bearer_token"):
            if getattr(self, name) is not None:
                return name
        return None
