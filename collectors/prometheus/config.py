"""Configuration of the `prometheus` collector (`collectors: prometheus/<name>: {...}`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE
from collectors.prometheus._promql import is_label_name, is_plain_selector, placeholder_problem
from dossier.plugin import Duration, PluginConfig, RelPath

PROMETHEUS_MAX_POINTS = 11_000  # Prometheus refuses a query_range with more points per series


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def _whole_seconds(value: float, what: str) -> float:
    if value < 1 or value != int(value):
        raise _error(f"{what} must be a whole number of seconds, at least 1s")
    return value


class BasicAuth(PluginConfig):
    username: str = Field(description="User name for HTTP basic authentication.")
    password: SecretStr = Field(description="Password for HTTP basic authentication (use ${env:VAR}).")


class TLS(PluginConfig):
    ca_file: RelPath | None = Field(
        default=None, description="PEM file with the CA certificates that sign the server's certificate."
    )
    cert_file: RelPath | None = Field(
        default=None, description="PEM client certificate for mutual TLS (may also hold the key)."
    )
    key_file: RelPath | None = Field(default=None, description="PEM private key of cert_file.")
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the server's certificate (tests only)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TLS:
        if self.key_file is not None and self.cert_file is None:
            raise _error("key_file needs cert_file")
        if self.insecure_skip_verify and self.ca_file is not None:
            raise _error("ca_file and insecure_skip_verify exclude each other")
        return self


class Signal(PluginConfig):
    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="Name of the signal (e.g. error_rate); unique within the instance.",
    )
    query: str = Field(
        description="PromQL giving the signal of one service; $service (inside a quoted label value) "
        "is replaced by the service's name, escaped."
    )
    direction: Literal["up", "down", "both"] = Field(
        default="up", description="Which way is bad: up (errors, latency), down (throughput), or both."
    )
    unit: str | None = Field(default=None, description="Unit of the values, for people (e.g. req/s, s, %).")

    @field_validator("query")
    @classmethod
    def _placeholder(cls, query: str) -> str:
        problem = placeholder_problem(query)
        if problem:
            raise _error(problem)
        return query


class PrometheusConfig(PluginConfig):
    url: str = Field(description="Base URL of the Prometheus HTTP API (e.g. http://127.0.0.1:9090).")
    external_url: str | None = Field(
        default=None, description="Base URL for links in the dossier, when people reach it elsewhere; default url."
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='HTTP headers sent with every request, e.g. {Authorization: "Bearer ${env:PROM_TOKEN}"}.',
    )
    basic_auth: BasicAuth | None = Field(default=None, description="HTTP basic authentication.")
    tls: TLS = Field(default_factory=TLS, description="TLS options: CA file, client certificate, verification.")
    timeout: Duration = Field(default=30.0, description="Timeout of each request (connect and each read).")
    connect_timeout: Duration = Field(
        default=DEFAULT_CONNECT_TIMEOUT, gt=0, description="Longest wait for a connection (at most timeout)."
    )
    deadline: Duration = Field(
        default=DEFAULT_DEADLINE,
        gt=0,
        description="Longest the whole collection from this source may take, retries and waits included.",
    )
    retries: int = Field(
        default=4,
        ge=1,
        le=20,
        description="Attempts per request (1 = no retry); 429, 5xx, connection errors and timeouts are retried.",
    )
    retry_max_delay: Duration = Field(
        default=60.0, description="Stop retrying a request once this long has passed since its first attempt."
    )
    concurrency: int = Field(
        default=4, ge=1, le=64, description="Requests in flight at once (keep it gentle on a busy server)."
    )
    scrape_interval: Duration = Field(
        default=15.0, description="The servers' scrape interval: smallest step, and basis of gap detection."
    )
    step: Duration | None = Field(
        default=None, description="Step of the range queries; default scrape_interval (never below it)."
    )
    max_points: int = Field(
        default=PROMETHEUS_MAX_POINTS,
        ge=2,
        le=PROMETHEUS_MAX_POINTS,
        description="Most points per series in one range request; longer windows are split (at most 11000).",
    )
    method: Literal["GET", "POST"] = Field(default="GET", description="HTTP method for queries.")
    service_label: str = Field(
        default="service", description="Label that names the service on ALERTS, on rules and on series."
    )
    signals: list[Signal] = Field(default_factory=list, description="What to watch for each incident service.")
    alert_rules: bool = Field(
        default=True, description="Read /api/v1/rules and replay each relevant rule's expression over the window."
    )
    alerts: bool = Field(default=True, description="Read the alert history (ALERTS and ALERTS_FOR_STATE).")
    up_query: str | None = Field(
        default='up{job="$service"}',
        description="Series selector of a service's scrape targets, for scrape-gap detection; null disables.",
    )

    @field_validator("url", "external_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not text.startswith(("http://", "https://")) or len(text.split("://", 1)[1].strip("/")) == 0:
            raise _error(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:9090")
        return text.rstrip("/")

    @field_validator("timeout", "retry_max_delay")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _error("must be more than 0s")
        return value

    @field_validator("scrape_interval")
    @classmethod
    def _scrape_interval(cls, value: float) -> float:
        return _whole_seconds(value, "scrape_interval")

    @field_validator("step")
    @classmethod
    def _step(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        _whole_seconds(value, "step")
        scrape = info.data.get("scrape_interval")
        if scrape is not None and value < scrape:
            raise _error(f"step ({value:g}s) must not be below scrape_interval ({scrape:g}s)")
        return value

    @field_validator("service_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not is_label_name(value):
            raise _error(f"{value!r} is not a label name")
        return value

    @field_validator("up_query")
    @classmethod
    def _up_query(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = placeholder_problem(value)
        if problem:
            raise _error(problem)
        if not is_plain_selector(value):
            raise _error('must be a plain series selector such as up{job="$service"}')
        return value

    @field_validator("signals")
    @classmethod
    def _unique(cls, signals: list[Signal]) -> list[Signal]:
        seen: set[str] = set()
        for s in signals:
            if s.name in seen:
                raise _error(f"signal name {s.name!r} is used twice")
            seen.add(s.name)
        return signals

    @property
    def link_base(self) -> str:
        return self.external_url or self.url

    @property
    def effective_step(self) -> float:
        return self.step or self.scrape_interval
