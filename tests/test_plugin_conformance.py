"""The same checks for every installed plugin (as the OpenTelemetry Collector's generated component tests)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from dossier.plugin import Collector, Exporter, PluginConfig

ROOT = Path(__file__).resolve().parents[1]
COLLECTORS = sorted(entry_points(group="dossier.collectors"), key=lambda ep: ep.name)
EXPORTERS = sorted(entry_points(group="dossier.exporters"), key=lambda ep: ep.name)


def undescribed(model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            missing += undescribed(ann, f"{prefix}{name}.")
    return missing


@pytest.mark.parametrize("ep", COLLECTORS, ids=lambda ep: ep.name)
def test_collector(ep):
    cls = ep.load()
    assert issubclass(cls, Collector)
    assert cls.type == ep.name
    assert cls.kinds, "declare what the source provides"
    config = cls.Config
    assert issubclass(config, PluginConfig)
    assert config.model_config.get("extra") == "forbid" and config.model_config.get("frozen")
    assert undescribed(config) == []


@pytest.mark.parametrize("ep", COLLECTORS, ids=lambda ep: ep.name)
def test_collector_page_and_sample(ep):
    folder = ROOT / "collectors" / ep.name
    readme = (folder / "README.md").read_text(encoding="utf-8")
    sample = (folder / "sample.yaml").read_text(encoding="utf-8")
    assert sample.strip() in readme, "the README's example is sample.yaml verbatim"
    data = yaml.safe_load(sample)
    instances = data.get("collectors", data) if isinstance(data, dict) else {}
    blocks = [v for k, v in instances.items() if k.split("/")[0] == ep.name]
    assert blocks, f"sample.yaml has no {ep.name} instance"
    cls = ep.load()
    for block in blocks:
        cls.Config.model_validate(block, context={"base_dir": folder})


@pytest.mark.parametrize("ep", EXPORTERS, ids=lambda ep: ep.name)
def test_exporter(ep):
    cls = ep.load()
    assert issubclass(cls, Exporter) and cls.format == ep.name and cls.filename
