"""Configuration of the `elastic_apm` collector: the cluster (as the `elasticsearch` collector has
it), the APM indices, and the trace keys every trace collector has."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from collectors._logstore.config import TLS, BasicAuth, check_http_url
from collectors._traces.config import TraceSettings
from collectors.elasticsearch.config import ElasticsearchConfig
from dossier.plugin import Duration


class ElasticApmConfig(TraceSettings):
    """Elastic APM trace documents (transactions and spans) in Elasticsearch 8.x or 9.x."""

    hosts: list[str] = Field(
        min_length=1, description='Cluster nodes as URLs with scheme and port, e.g. ["http://127.0.0.1:9200"].'
    )
    index: list[str] = Field(
        default_factory=lambda: ["traces-apm*"],
        min_length=1,
        description='Indices or data streams of the APM transactions and spans (default "traces-apm*").',
    )
    api_key: SecretStr | None = Field(default=None, description='API key as "id:key" or encoded (use ${env:VAR}).')
    basic_auth: BasicAuth | None = Field(default=None, description="HTTP basic authentication: {username, password}.")
    bearer_token: SecretStr | None = Field(default=None, description="Bearer token, sent as Authorization: Bearer.")
    tls: TLS = Field(default_factory=TLS, description="TLS options: CA file, verification.")
    timeout: Duration = Field(default=30.0, description="Timeout of each request.")
    retries: int = Field(default=4, ge=1, le=20, description="Attempts per request (1 = no retry).")
    retry_max_delay: Duration = Field(default=60.0, description="Stop retrying a request after this long.")
    kibana_url: str | None = Field(
        default=None, description="Base URL of Kibana (with the space) for links to the APM app; null: no links."
    )
    sample_traces: int = Field(
        default=200,
        ge=0,
        le=5_000,
        description=(
            "Traces read whole for the call graph and the exemplars: the first failing ones of the incident "
            "window and the latest ones (half each); the series come from aggregations over every document."
        ),
    )

    @field_validator("hosts", mode="before")
    @classmethod
    def _one_host(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("index", mode="before")
    @classmethod
    def _index_list(cls, value: Any) -> Any:
        return [p.strip() for p in value.split(",")] if isinstance(value, str) else value

    @field_validator("kibana_url")
    @classmethod
    def _kibana(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value, need_port=False, example="https://kibana.example.com")

    def store(self) -> ElasticsearchConfig:
        """The `elasticsearch` collector's config for the same cluster: its client, retries and errors are used."""
        return ElasticsearchConfig.model_validate(
            {
                "hosts": self.hosts,
                "index": self.index,
                "api_key": self.api_key,
                "basic_auth": self.basic_auth,
                "bearer_token": self.bearer_token,
                "tls": self.tls,
                "timeout": self.timeout,
                "retries": self.retries,
                "retry_max_delay": self.retry_max_delay,
                "kibana_url": self.kibana_url,
            }
        )
