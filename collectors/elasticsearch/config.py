"""Configuration of the `elasticsearch` collector (`collectors: elasticsearch/<name>: {...}`)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from collectors._logstore.config import TLS, BasicAuth, Fields, LogStoreConfig, check_http_url

__all__ = ["TLS", "BasicAuth", "ElasticsearchConfig", "Fields"]


class ElasticsearchConfig(LogStoreConfig):
    """Logs in Elasticsearch 8.x or 9.x (see the README for the keys shared with `opensearch`)."""

    api_key: SecretStr | None = Field(
        default=None,
        description='API key as "id:key" or in its encoded form (use ${env:VAR}); at most one of api_key, '
        "basic_auth and bearer_token.",
    )
    kibana_url: str | None = Field(
        default=None,
        description="Base URL of Kibana (with the space, e.g. https://kibana.example.com/s/ops) for links to "
        "Discover; null: no links.",
    )

    @field_validator("kibana_url")
    @classmethod
    def _kibana(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_http_url(value, need_port=False, example="https://kibana.example.com")

    @property
    def link_base(self) -> str | None:
        return self.kibana_url
