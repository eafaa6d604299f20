"""`argocd` configuration: defaults, the sample, and the exact text of every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from collectors._http import HttpSettings
from collectors.argocd import ArgoCDCollector, ArgoCDConfig
from collectors.argocd.config import Application

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "argocd"
BASE = {"url": "https://argocd.example.com/", "token": "t0ken"}


def errors(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as info:
        ArgoCDConfig.model_validate(data)
    return [(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in info.value.errors()]


def test_defaults_and_shorthands() -> None:
    config = ArgoCDConfig.model_validate({**BASE, "applications": ["payments", {"name": "web", "service": "shop"}]})
    assert config.url == "https://argocd.example.com"
    assert config.token.get_secret_value() == "t0ken" and "t0ken" not in repr(config)
    assert config.http == HttpSettings()
    assert config.applications == [Application(name="payments"), Application(name="web", service="shop")]
    assert (config.app_namespace, config.projects, config.selector) == (None, [], None)


def test_config_errors() -> None:
    assert errors({"url": "argocd:443", "token": "x"}) == [
        ("url", "dossier", "'argocd:443' is not an http(s) URL, e.g. https://argocd.example.com")
    ]
    assert errors({"url": "https://a"}) == [("token", "missing", "Field required")]
    assert errors({**BASE, "token": " "}) == [
        ("token", "dossier", "is empty: is the environment variable set? (token: ${env:ARGOCD_AUTH_TOKEN})")
    ]
    assert errors({**BASE, "applications": ["Payments_API"]}) == [
        (
            "applications.0.name",
            "dossier",
            "'Payments_API' is not a valid application name: lowercase letters, digits, '-' and '.', starting and "
            "ending with a letter or digit",
        )
    ]
    assert errors({**BASE, "applications": ["a", {"name": "a", "project": "p"}]}) == [
        ("applications", "dossier", "application 'a' is listed twice")
    ]
    assert errors({**BASE, "applications": [{"name": "a", "sevice": "x"}]}) == [
        ("applications.0.sevice", "extra_forbidden", "Extra inputs are not permitted")
    ]
    assert errors({**BASE, "applications": ["a"], "selector": "team=shop"}) == [
        (
            "",
            "dossier",
            "projects and selector narrow the search for applications, which only happens when applications is "
            "empty: give each application its project instead",
        )
    ]
    assert errors({**BASE, "http": {"retries": 0}}) == [
        ("http.retries", "greater_than_equal", "Input should be greater than or equal to 1")
    ]


def test_config_is_frozen() -> None:
    config = ArgoCDConfig.model_validate(BASE)
    with pytest.raises(ValidationError):
        config.url = "https://other"  # type: ignore[misc]


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for model in (ArgoCDConfig, Application):
        for name, field in model.model_fields.items():
            assert field.description, name
            assert f"| `{name}` |" in readme and field.description in readme, name


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == ArgoCDCollector.type
    config = ArgoCDConfig.model_validate({**data, "token": "from-the-environment"})
    assert [a.name for a in config.applications] == ["payments-prod", "checkout-prod", "inventory"]


def test_plugin_declaration() -> None:
    assert ArgoCDCollector.type == "argocd"
    assert ArgoCDCollector.Config is ArgoCDConfig
    assert ArgoCDCollector.kinds == frozenset({"change"})
    for model in (ArgoCDConfig, Application):
        assert model.model_config["extra"] == "forbid" and model.model_config["frozen"] is True
