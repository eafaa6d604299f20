"""PrometheusConfig: defaults, the sample, and every refusal with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors.prometheus import PrometheusCollector, PrometheusConfig
from collectors.prometheus.config import TLS, BasicAuth, Signal

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "prometheus"
Q = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m]))'


def problems(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        PrometheusConfig.model_validate(data)
    return ["::".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in info.value.errors()]


def test_defaults():
    c = PrometheusConfig(url="http://127.0.0.1:9090/")
    assert c.url == "http://127.0.0.1:9090"
    assert c.link_base == "http://127.0.0.1:9090"
    assert (c.timeout, c.retries, c.retry_max_delay, c.concurrency) == (30.0, 4, 60.0, 4)
    assert (c.scrape_interval, c.step, c.effective_step, c.max_points) == (15.0, None, 15.0, 11000)
    assert (c.method, c.service_label, c.signals, c.alert_rules, c.alerts) == ("GET", "service", [], True, True)
    assert c.up_query == 'up{job="$service"}'
    assert c.headers == {} and c.basic_auth is None and c.tls == TLS()


def test_durations_and_secrets():
    c = PrometheusConfig.model_validate(
        {
            "url": "https://prom.example.com",
            "external_url": "https://grafana.example.com/prom/",
            "timeout": "5s",
            "retry_max_delay": "2m",
            "scrape_interval": "30s",
            "step": "1m",
            "headers": {"Authorization": "Bearer s3cret"},
            "basic_auth": {"username": "u", "password": "pw"},
            "signals": [{"name": "error_rate", "query": Q, "direction": "both", "unit": "req/s"}],
            "up_query": None,
            "method": "POST",
        }
    )
    assert (c.timeout, c.retry_max_delay, c.scrape_interval, c.step) == (5.0, 120.0, 30.0, 60.0)
    assert c.link_base == "https://grafana.example.com/prom"
    assert "s3cret" not in repr(c) and "pw" not in repr(c.basic_auth)
    assert c.headers["Authorization"].get_secret_value() == "Bearer s3cret"
    assert c.signals[0] == Signal(name="error_rate", query=Q, direction="both", unit="req/s")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, ["url: Field required"]),
        ({"url": "127.0.0.1:9090"}, ["url: '127.0.0.1:9090' is not an http(s) URL, e.g. http://127.0.0.1:9090"]),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": "sum(up)"}]},
            ['signals::0::query: query must contain $service (e.g. {service="$service"})'],
        ),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": "up{job=$service}"}]},
            ['signals::0::query: $service must be inside a quoted label value, e.g. {service="$service"}'],
        ),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": 'up{job="x"} # $service'}]},
            ['signals::0::query: query must contain $service (e.g. {service="$service"})'],
        ),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": Q}, {"name": "e", "query": Q}]},
            ["signals: signal name 'e' is used twice"],
        ),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": Q, "direction": "sideways"}]},
            ["signals::0::direction: Input should be 'up', 'down' or 'both'"],
        ),
        (
            {"url": "http://x", "signals": [{"name": "e", "query": Q, "querry": Q}]},
            ["signals::0::querry: Extra inputs are not permitted"],
        ),
        ({"url": "http://x", "step": "5s"}, ["step: step (5s) must not be below scrape_interval (15s)"]),
        (
            {"url": "http://x", "scrape_interval": "1.5s"},
            ["scrape_interval: scrape_interval must be a whole number of seconds, at least 1s"],
        ),
        ({"url": "http://x", "max_points": 11001}, ["max_points: Input should be less than or equal to 11000"]),
        ({"url": "http://x", "concurrency": 0}, ["concurrency: Input should be greater than or equal to 1"]),
        ({"url": "http://x", "retries": 0}, ["retries: Input should be greater than or equal to 1"]),
        ({"url": "http://x", "timeout": "0s"}, ["timeout: must be more than 0s"]),
        ({"url": "http://x", "method": "PUT"}, ["method: Input should be 'GET' or 'POST'"]),
        ({"url": "http://x", "service_label": "app-name"}, ["service_label: 'app-name' is not a label name"]),
        (
            {"url": "http://x", "up_query": 'sum(up{job="$service"})'},
            ['up_query: must be a plain series selector such as up{job="$service"}'],
        ),
        ({"url": "http://x", "up_query": "up"}, ['up_query: query must contain $service (e.g. {service="$service"})']),
        ({"url": "http://x", "tls": {"key_file": "k.pem"}}, ["tls: key_file needs cert_file"]),
        (
            {"url": "http://x", "tls": {"ca_file": "ca.pem", "insecure_skip_verify": True}},
            ["tls: ca_file and insecure_skip_verify exclude each other"],
        ),
        ({"url": "http://x", "basic_auth": {"username": "u"}}, ["basic_auth::password: Field required"]),
        ({"url": "http://x", "alerts_rules": True}, ["alerts_rules: Extra inputs are not permitted"]),
    ],
)
def test_refusals(data, expected):
    assert problems(data) == expected


def test_every_problem_is_reported_at_once():
    got = problems(
        {"url": "ftp://x", "step": "5s", "max_points": 1, "signals": [{"name": "a", "query": "up{job=$service}"}]}
    )
    assert got == [
        "url: 'ftp://x' is not an http(s) URL, e.g. http://127.0.0.1:9090",
        "step: step (5s) must not be below scrape_interval (15s)",
        "max_points: Input should be greater than or equal to 2",
        'signals::0::query: $service must be inside a quoted label value, e.g. {service="$service"}',
    ]


def test_config_is_frozen_and_strict():
    c = PrometheusConfig(url="http://x")
    with pytest.raises(ValidationError):
        c.url = "http://y"  # type: ignore[misc]
    for model in (PrometheusConfig, BasicAuth, TLS, Signal):
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"] is True


def test_tls_paths_are_relative_to_the_config_file():
    c = PrometheusConfig.model_validate(
        {"url": "https://x", "tls": {"ca_file": "ca.pem", "cert_file": "/abs/c.pem", "key_file": "k.pem"}},
        context={"base_dir": "/etc/dossier"},
    )
    assert c.tls.ca_file == Path("/etc/dossier/ca.pem")
    assert c.tls.cert_file == Path("/abs/c.pem")
    assert c.tls.key_file == Path("/etc/dossier/k.pem")


def test_every_config_field_is_described_and_in_the_readme():
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for model in (PrometheusConfig, BasicAuth, TLS, Signal):
        for name, field in model.model_fields.items():
            assert field.description, (model.__name__, name)
            assert field.description in readme, (model.__name__, name)
    for name in PrometheusConfig.model_fields:
        assert f"| `{name}` |" in readme, name
    for section in ("## What it collects", "## Prerequisites", "## Configuration", "## Example", "## Limits"):
        assert section in readme


def test_sample_validates_and_is_the_readme_example():
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == PrometheusCollector.type
    config = PrometheusConfig.model_validate(data)
    assert [s.name for s in config.signals] == ["error_rate", "latency_p99", "throughput"]


def test_plugin_declaration():
    assert PrometheusCollector.type == "prometheus"
    assert PrometheusCollector.Config is PrometheusConfig
    assert PrometheusCollector.kinds == frozenset({"metric", "alert"})
