"""ElasticsearchConfig / OpenSearchConfig: defaults, the samples, and every refusal with its exact text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors._logstore.config import TLS, BasicAuth, Fields
from collectors.elasticsearch import ElasticsearchCollector, ElasticsearchConfig
from collectors.opensearch import OpenSearchCollector, OpenSearchConfig

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = [
    pytest.param(ElasticsearchCollector, ElasticsearchConfig, "kibana_url", id="elasticsearch"),
    pytest.param(OpenSearchCollector, OpenSearchConfig, "dashboards_url", id="opensearch"),
]
BASE = {"hosts": ["http://127.0.0.1:9200"], "index": "logs-*"}


def problems(model, data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return ["::".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in info.value.errors()]


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_defaults(cls, model, ui):
    c = model.model_validate(BASE)
    assert c.hosts == ["http://127.0.0.1:9200"] and c.index == ["logs-*"] and c.index_expr == "logs-*"
    assert (c.api_key, c.basic_auth, c.bearer_token, c.credential) == (None, None, None, None)
    assert c.tls == TLS() and (c.timeout, c.retries, c.retry_max_delay) == (30.0, 4, 60.0)
    assert c.fields == Fields(
        timestamp="@timestamp",
        service="service.name",
        level="log.level",
        message="message",
        error_type="error.type",
        trace_id="trace.id",
    )
    assert c.message_keyword is None
    assert c.error_levels == ["error", "fatal", "critical", "crit", "alert", "emerg", "panic", "severe"]
    assert (c.interval, c.max_messages, c.max_exemplars, c.page_size, c.scan_limit) == (None, 2000, 200, 500, 50000)
    assert getattr(c, ui) is None and c.link_base is None


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_values_and_secrets(cls, model, ui):
    c = model.model_validate(
        {
            "hosts": "https://es.example.com:9243/",
            "index": "logs-*, -logs-debug-*",
            "basic_auth": {"username": "dossier", "password": "s3cret"},
            "timeout": "5s",
            "retry_max_delay": "2m",
            "interval": "30s",
            "error_levels": ["ERROR", "Fatal", "error"],
            "fields": {"service": "service.name.keyword", "error_type": None},
            "message_keyword": "message.keyword",
            ui: "https://ui.example.com/s/ops/",
        }
    )
    assert c.hosts == ["https://es.example.com:9243"] and c.index == ["logs-*", "-logs-debug-*"]
    assert c.index_expr == "logs-*,-logs-debug-*"
    assert (c.timeout, c.retry_max_delay, c.interval) == (5.0, 120.0, 30.0)
    assert c.error_levels == ["error", "fatal"]
    assert c.fields.service == "service.name.keyword" and c.fields.error_type is None and c.fields.level == "log.level"
    assert c.link_base == "https://ui.example.com/s/ops" and c.credential == "basic_auth"
    assert "s3cret" not in repr(c) and "s3cret" not in str(c.model_dump())
    key = model.model_validate({**BASE, "api_key": "id:k3y"})
    assert key.credential == "api_key" and "k3y" not in repr(key)


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, ["hosts: Field required", "index: Field required"]),
        ({"hosts": [], "index": "x"}, ["hosts: List should have at least 1 item after validation, not 0"]),
        (
            {"hosts": ["localhost:9200"], "index": "x"},
            ["hosts: 'localhost:9200' is not an http(s) URL, e.g. http://127.0.0.1:9200"],
        ),
        (
            {"hosts": ["http://localhost"], "index": "x"},
            ["hosts: 'http://localhost' has no port: write scheme, host and port, e.g. http://127.0.0.1:9200"],
        ),
        ({**BASE, "index": "logs *"}, ["index: 'logs *' is not an index pattern, e.g. logs-*"]),
        ({**BASE, "index": "_all"}, ["index: '_all' is not an index pattern, e.g. logs-*"]),
        (
            {**BASE, "index": ["-logs-debug-*"]},
            ["index: only exclusions (-pattern): name the indices to search, e.g. logs-*"],
        ),
        (
            {**BASE, "api_key": "a:b", "basic_auth": {"username": "u", "password": "p"}},
            [": api_key and basic_auth are set: use only one of api_key, basic_auth and bearer_token"],
        ),
        (
            {**BASE, "api_key": "a:b", "bearer_token": "t", "basic_auth": {"username": "u", "password": "p"}},
            [": api_key, basic_auth and bearer_token are set: use only one of api_key, basic_auth and bearer_token"],
        ),
        ({**BASE, "basic_auth": {"username": "u"}}, ["basic_auth::password: Field required"]),
        (
            {**BASE, "basic_auth": {"username": "", "password": "p"}},
            ["basic_auth::username: String should have at least 1 character"],
        ),
        (
            {**BASE, "tls": {"ca_file": "ca.pem", "insecure_skip_verify": True}},
            ["tls: ca_file and insecure_skip_verify exclude each other"],
        ),
        ({**BASE, "timeout": "0s"}, ["timeout: must be more than 0s"]),
        ({**BASE, "timeout": "soon"}, ["timeout: Value error, 'soon' is not a duration: use e.g. 30s, 5m, 1h30m"]),
        ({**BASE, "retries": 0}, ["retries: Input should be greater than or equal to 1"]),
        ({**BASE, "interval": "1.5s"}, ["interval: interval must be a whole number of seconds, at least 1s"]),
        ({**BASE, "max_messages": 0}, ["max_messages: Input should be greater than or equal to 1"]),
        ({**BASE, "max_exemplars": -1}, ["max_exemplars: Input should be greater than or equal to 0"]),
        ({**BASE, "page_size": 10001}, ["page_size: Input should be less than or equal to 10000"]),
        ({**BASE, "error_levels": []}, ["error_levels: List should have at least 1 item after validation, not 0"]),
        ({**BASE, "error_levels": ["error", " "]}, ["error_levels: a level cannot be empty"]),
        ({**BASE, "fields": {"level": " log.level"}}, ["fields::level: ' log.level' is not a field name"]),
        ({**BASE, "fields": {"service": ""}}, ["fields::service: String should have at least 1 character"]),
        ({**BASE, "fields": {"host": "host.name"}}, ["fields::host: Extra inputs are not permitted"]),
        ({**BASE, "message_keyword": ""}, ["message_keyword: '' is not a field name"]),
        ({**BASE, "url": "http://x:9200"}, ["url: Extra inputs are not permitted"]),
    ],
)
def test_refusals(cls, model, ui, data, expected):
    assert problems(model, data) == expected


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_the_ui_url_is_checked(cls, model, ui):
    example = "https://kibana.example.com" if ui == "kibana_url" else "https://dashboards.example.com"
    assert problems(model, {**BASE, ui: "kibana:5601"}) == [
        f"{ui}: 'kibana:5601' is not an http(s) URL, e.g. {example}"
    ]
    other = "dashboards_url" if ui == "kibana_url" else "kibana_url"
    assert problems(model, {**BASE, other: "https://x"}) == [f"{other}: Extra inputs are not permitted"]


def test_every_problem_is_reported_at_once():
    got = problems(ElasticsearchConfig, {"hosts": ["ftp://x:1"], "index": "a b", "page_size": 0, "tls": {"x": 1}})
    assert got == [
        "hosts: 'ftp://x:1' is not an http(s) URL, e.g. http://127.0.0.1:9200",
        "index: 'a b' is not an index pattern, e.g. logs-*",
        "tls::x: Extra inputs are not permitted",
        "page_size: Input should be greater than or equal to 1",
    ]


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_config_is_frozen_strict_and_tls_paths_are_relative(cls, model, ui):
    c = model.model_validate({**BASE, "tls": {"ca_file": "certs/ca.pem"}}, context={"base_dir": "/etc/dossier"})
    assert c.tls.ca_file == Path("/etc/dossier/certs/ca.pem")
    with pytest.raises(ValidationError):
        c.index = ["x"]  # type: ignore[misc]
    for m in (model, BasicAuth, TLS, Fields):
        assert m.model_config["extra"] == "forbid" and m.model_config["frozen"] is True


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_every_field_is_described_and_in_the_readme(cls, model, ui):
    readme = (ROOT / "collectors" / cls.type / "README.md").read_text(encoding="utf-8")
    for m, prefix in ((model, ""), (BasicAuth, "basic_auth."), (TLS, "tls."), (Fields, "fields.")):
        for name, field in m.model_fields.items():
            assert field.description, (m.__name__, name)
            assert field.description in readme, (m.__name__, name)
            assert f"| `{prefix}{name}` |" in readme, prefix + name
    for section in ("## What it collects", "## Prerequisites", "## Configuration", "## Example", "## Limits"):
        assert section in readme


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_sample_validates_and_is_the_readme_example(cls, model, ui):
    folder = ROOT / "collectors" / cls.type
    sample = (folder / "sample.yaml").read_text(encoding="utf-8")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == cls.type
    config = model.model_validate(data)
    assert getattr(config, ui)


@pytest.mark.parametrize(("cls", "model", "ui"), PLUGINS)
def test_plugin_declaration(cls, model, ui):
    assert cls.Config is model and cls.kinds == frozenset({"log"})
    assert cls.type in ("elasticsearch", "opensearch")
