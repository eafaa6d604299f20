"""Configuration of the `opensearch` collector (`collectors: opensearch/<name>: {...}`)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from collectors._logstore.config import TLS, BasicAuth, Fields, LogStoreConfig, check_http_url

__all__ = ["TLS", "BasicAuth", "Fields", "OpenSearchConfig"]


class OpenSearchConfig(LogStoreConfig):
    """Logs in OpenSearch 2.x or 3.x (see the README for the keys shared with `elasticsearch`)."""

    api_key: SecretStr | None = Field(
        default=None,
        description="API key of OpenSearch 3.7+ (os_...), sent as Authorization: ApiKey (use ${env:VAR}); at most "
        "one of api_key, basic_auth and bearer_token.",
    )
    dashboards_url: str | None = Field(
        default=None,
        description="Base URL of OpenSearch Dashboards (e.g. https://dashboards.example.com) for links to "
        "Discover; null: no links.",
    )

    @field_validator("dashboards_url")
    @classmethod
    def _dashboards(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_http_url(value, need_port=False, example="https://dashboards.example.com")

    @property
    def link_base(self) -> str | None:
        return self.dashboards_url
