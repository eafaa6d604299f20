"""LogFileConfig: defaults, the sample, the README, and every refusal with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors.log_file import LogFileCollector, LogFileConfig
from collectors.log_file.config import DEFAULT_ERROR_LEVELS, LogFields
from dossier.config import parse_config
from dossier.errors import ConfigError

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "log_file"


def problems(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        LogFileConfig.model_validate(data, context={"base_dir": "/etc/dossier"})
    return ["::".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in info.value.errors()]


def test_defaults() -> None:
    c = LogFileConfig.model_validate({"path": "logs/*.jsonl"}, context={"base_dir": "/etc/dossier"})
    assert c.path == Path("/etc/dossier/logs/*.jsonl")
    assert (c.format, c.line_format, c.pattern, c.timestamp_format, c.timezone, c.zone) == (
        "auto",
        "jsonl",
        None,
        None,
        None,
        None,
    )
    assert c.fields == LogFields(
        timestamp="@timestamp",
        service="service.name",
        level="log.level",
        message="message",
        error_type="error.type",
        trace_id="trace.id",
    )
    assert (
        c.error_levels
        == DEFAULT_ERROR_LEVELS
        == (
            "error",
            "fatal",
            "critical",
            "crit",
            "alert",
            "emerg",
            "panic",
            "severe",
        )
    )
    assert (c.service, c.interval, c.max_messages, c.max_exemplars) == (None, 60.0, 2000, 200)


def test_values() -> None:
    c = LogFileConfig.model_validate(
        {
            "path": "/var/log/app.log",
            "pattern": r"(?P<timestamp>\S+) (?P<message>.*)",
            "timezone": "Europe/Berlin",
            "error_levels": [" ERROR", "Fatal", "error"],
            "interval": "30s",
            "service": "checkout",
        }
    )
    assert c.line_format == "text"
    assert str(c.zone) == "Europe/Berlin"
    assert c.error_levels == ("error", "fatal")
    assert c.interval == 30.0
    fields = LogFileConfig.model_validate({"path": "a.jsonl", "fields": {"service": "app"}}).fields
    assert (fields.service, fields.timestamp) == ("app", "@timestamp")  # the others keep their default


P = r"(?P<timestamp>\S+) (?P<message>.*)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, ["path: Field required"]),
        (
            {"path": "a.log", "pattern": "(?P<timestamp>\\S+ (?P<message>.*)"},
            ["pattern: not a valid regular expression: missing ), unterminated subpattern at position 0"],
        ),
        ({"path": "a.log", "pattern": "(?P<timestamp>\\S+) (.*)"}, ["pattern: needs the named group (?P<message>...)"]),
        (
            {"path": "a.log", "pattern": "(?P<time>\\S+) (?P<msg>.*)"},
            ["pattern: needs the named groups (?P<timestamp>...) and (?P<message>...)"],
        ),
        (
            {"path": "a.log", "format": "text"},
            [
                "pattern: required when format is text: a regular expression with the named groups "
                "(?P<timestamp>...) and (?P<message>...)"
            ],
        ),
        (
            {"path": "a.jsonl", "format": "jsonl", "pattern": P},
            ["pattern: only read when format is text: remove it, or set format: text"],
        ),
        (
            {"path": "a.log", "pattern": P, "fields": {"service": "app"}},
            ["fields: only read from JSON lines: for text lines, name the groups of `pattern`"],
        ),
        (
            {"path": "a.jsonl", "fields": {"service": "app", "host": "host.name"}},
            ["fields::host: Extra inputs are not permitted"],
        ),
        ({"path": "a.jsonl", "fields": {"service": ""}}, ["fields::service: String should have at least 1 character"]),
        ({"path": "a.jsonl", "format": "csv"}, ["format: Input should be 'auto', 'jsonl' or 'text'"]),
        (
            {"path": "a.jsonl", "timezone": "Mars/Base"},
            ["timezone: unknown time zone 'Mars/Base': use an IANA name such as UTC or Europe/Berlin"],
        ),
        (
            {"path": "a.jsonl", "timestamp_format": "%Q"},
            ["timestamp_format: not a strptime format: 'Q' is a bad directive in format '%Q'"],
        ),
        (
            {"path": "a.jsonl", "timestamp_format": "%H:%M:%S"},
            ["timestamp_format: does not give a full date and time: use %Y, %m (or %b), %d, %H and %M at least"],
        ),
        ({"path": "a.jsonl", "interval": "0s"}, ["interval: interval must be a whole number of seconds, at least 1s"]),
        (
            {"path": "a.jsonl", "interval": "1500ms"},
            ["interval: interval must be a whole number of seconds, at least 1s"],
        ),
        (
            {"path": "a.jsonl", "interval": "1 minute"},
            ["interval: Value error, '1 minute' is not a duration: use e.g. 30s, 5m, 1h30m"],
        ),
        (
            {"path": "a.jsonl", "error_levels": []},
            ["error_levels: Tuple should have at least 1 item after validation, not 0"],
        ),
        ({"path": "a.jsonl", "error_levels": [" "]}, ["error_levels: a level cannot be empty"]),
        ({"path": "a.jsonl", "max_messages": 0}, ["max_messages: Input should be greater than or equal to 1"]),
        ({"path": "a.jsonl", "max_exemplars": -1}, ["max_exemplars: Input should be greater than or equal to 0"]),
        ({"path": "a.jsonl", "service": ""}, ["service: String should have at least 1 character"]),
        ({"path": "a.jsonl", "intervall": "1m"}, ["intervall: Extra inputs are not permitted"]),
    ],
)
def test_refusals(data: dict, expected: list[str]) -> None:
    assert problems(data) == expected


def test_every_problem_is_reported_at_once_with_its_config_path(tmp_path: Path) -> None:
    data = {
        "collectors": {
            "log_file/app": {
                "path": "app.log",
                "pattern": "(?P<ts>\\S+) (?P<message>.*)",
                "timezone": "Nowhere",
                "max_exemplars": -1,
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, file="dossier.yaml", base_dir=tmp_path, env={})
    assert str(info.value).splitlines() == [
        "dossier.yaml: collectors::log_file/app::max_exemplars: Input should be greater than or equal to 0",
        "dossier.yaml: collectors::log_file/app::pattern: needs the named group (?P<timestamp>...)",
        "dossier.yaml: collectors::log_file/app::timezone: unknown time zone 'Nowhere': use an IANA name such as "
        "UTC or Europe/Berlin",
    ]


def test_config_is_frozen_and_strict() -> None:
    c = LogFileConfig.model_validate({"path": "a.jsonl"})
    with pytest.raises(ValidationError):
        c.format = "text"  # type: ignore[misc]
    for model in (LogFileConfig, LogFields):
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"] is True


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for name, field in LogFileConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in readme and field.description in readme, name
    for name, field in LogFields.model_fields.items():
        assert field.description, name
        assert f"| `{name}` | `{field.default}` | {field.description} |" in readme, name
    for section in ("## What it collects", "## Prerequisites", "## Configuration", "## Example", "## Limits"):
        assert section in readme


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    instances = yaml.safe_load(sample)["collectors"]
    configs = {}
    for instance, data in instances.items():
        assert instance.split("/")[0] == LogFileCollector.type
        configs[instance] = LogFileConfig.model_validate(data, context={"base_dir": "/etc/dossier"})
    assert configs["log_file/exported"].path == Path("/etc/dossier/logs/*.jsonl*")
    assert configs["log_file/checkout-text"].line_format == "text"


def test_sample_passes_the_whole_config_check(tmp_path: Path) -> None:
    sample = yaml.safe_load((PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8"))
    settings = parse_config(sample, file="sample.yaml", base_dir=tmp_path, env={})
    assert sorted(settings.collectors) == ["log_file/checkout-text", "log_file/exported"]


def test_plugin_declaration() -> None:
    assert LogFileCollector.type == "log_file"
    assert LogFileCollector.Config is LogFileConfig
    assert LogFileCollector.kinds == frozenset({"log"})
