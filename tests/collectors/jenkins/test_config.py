"""`jenkins` configuration: defaults, the sample, and the exact text of every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from collectors._http import HttpSettings
from collectors.jenkins import JenkinsCollector, JenkinsConfig
from collectors.jenkins.config import Job

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "jenkins"
BASE = {"url": "https://ci.example.com/jenkins/", "username": "dossier", "api_token": "t0ken"}


def errors(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as info:
        JenkinsConfig.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in info.value.errors()]


def test_defaults_and_shorthands() -> None:
    config = JenkinsConfig.model_validate({**BASE, "jobs": ["deploy/payments-prod"]})
    assert config.url == "https://ci.example.com/jenkins"
    assert "t0ken" not in repr(config)
    assert config.http == HttpSettings() and config.max_builds == 1000
    (job,) = config.jobs
    assert job == Job(job="deploy/payments-prod")
    assert (job.service, job.kind, job.parameters) == (None, "deploy", [])
    assert (job.name, job.path) == ("payments-prod", "/job/deploy/job/payments-prod")


def test_job_names() -> None:
    # a job's URL path pasted as is is read as its full name; names are quoted in the path
    assert Job(job="/job/deploy/job/payments-prod/").job == "deploy/payments-prod"
    assert Job(job="team a/deploy #2").path == "/job/team%20a/job/deploy%20%232"
    assert Job(job="job/x").job == "job/x"  # a folder may well be called "job"


def test_config_errors() -> None:
    assert errors({**BASE}) == [("jobs", "missing", "Field required")]
    assert errors({**BASE, "jobs": []}) == [
        ("jobs", "too_short", "List should have at least 1 item after validation, not 0")
    ]
    assert errors({**BASE, "url": "ci.example.com", "jobs": ["a"]}) == [
        ("url", "dossier", "'ci.example.com' is not an http(s) URL, e.g. https://ci.example.com")
    ]
    assert errors({**BASE, "api_token": "", "jobs": ["a"]}) == [
        ("api_token", "dossier", "is empty: is the environment variable set? (api_token: ${env:JENKINS_API_TOKEN})")
    ]
    assert errors({**BASE, "jobs": ["deploy//payments"]}) == [
        (
            "jobs.0.job",
            "dossier",
            "'deploy//payments' is not a job's full name: write folders as path segments, e.g. deploy/payments-prod",
        )
    ]
    assert errors({**BASE, "jobs": ["a", {"job": "a", "kind": "config_change"}]}) == [
        ("jobs", "dossier", "job 'a' is listed twice")
    ]
    assert errors({**BASE, "jobs": [{"job": "a", "kind": "rollback"}]}) == [
        ("jobs.0.kind", "literal_error", "Input should be 'deploy' or 'config_change'")
    ]
    assert errors({**BASE, "jobs": [{"job": "a", "parameters": ["VERSION", "VERSION"]}]}) == [
        ("jobs.0.parameters", "dossier", "a parameter is named twice")
    ]
    assert errors({**BASE, "jobs": ["a"], "max_builds": 50}) == [
        ("max_builds", "greater_than_equal", "Input should be greater than or equal to 100")
    ]
    assert errors({**BASE, "jobs": ["a"], "password": "x"}) == [
        ("password", "extra_forbidden", "Extra inputs are not permitted")
    ]


def test_config_is_frozen() -> None:
    config = JenkinsConfig.model_validate({**BASE, "jobs": ["a"]})
    with pytest.raises(ValidationError):
        config.url = "https://other"  # type: ignore[misc]


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for model in (JenkinsConfig, Job):
        for name, field in model.model_fields.items():
            assert field.description, name
            assert f"| `{name}` |" in readme and field.description in readme, name


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == JenkinsCollector.type
    config = JenkinsConfig.model_validate({**data, "api_token": "from-the-environment"})
    assert [j.job for j in config.jobs] == ["deploy/payments-prod", "deploy/checkout-prod", "ops/feature-config-prod"]
    assert config.jobs[2].kind == "config_change"


def test_plugin_declaration() -> None:
    assert JenkinsCollector.type == "jenkins"
    assert JenkinsCollector.Config is JenkinsConfig
    assert JenkinsCollector.kinds == frozenset({"change"})
    for model in (JenkinsConfig, Job):
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"] is True
