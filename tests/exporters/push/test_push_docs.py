"""Each push destination's page documents exactly its keys, and its example is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dossier.exporters import push
from dossier.exporters.push._base import PushConfig

PAGES = Path(push.__file__).parent
COMMON = set(PushConfig.model_fields) | {"type"}


@pytest.mark.parametrize("kind", sorted(push.CONFIGS))
def test_page_lists_the_keys_and_its_example_validates(kind):
    text = (PAGES / f"{kind}.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))
    assert documented == set(push.CONFIGS[kind].model_fields) - COMMON
    example = re.search(r"## Example\n\n```yaml\n(.*?)```", text, re.S)
    assert example, f"{kind}.md has no example"
    config = push.CONFIGS[kind].model_validate(yaml.safe_load(example.group(1)))
    assert config.type == kind  # type: ignore[attr-defined]
    assert f"[{kind}.md]({kind}.md)" in (PAGES / "README.md").read_text()


def test_readme_lists_the_common_keys():
    text = (PAGES / "README.md").read_text().split("## Configuration and secrets")[1]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M)) == COMMON
