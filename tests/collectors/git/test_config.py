"""GitConfig: defaults, the sample, the path globs (as git reads them), and every refusal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors.git import GitCollector, GitConfig
from collectors.git.config import glob_regex

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "git"


def problems(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        GitConfig.model_validate(data)
    return [
        ": ".join([*(["::".join(str(p) for p in e["loc"])] if e["loc"] else []), e["msg"]]) for e in info.value.errors()
    ]


def test_defaults():
    c = GitConfig.model_validate({"repository": "/srv/gitops", "paths": {"apps/**": None}})
    assert (c.branch, c.kind, c.url_template, c.first_parent, c.fetch, c.timeout) == (
        None,
        "config_change",
        None,
        True,
        False,
        60.0,
    )
    assert c.link("abc", "a") is None
    assert GitCollector.type == "git" and GitCollector.kinds == {"change"}


def test_sample_validates_and_is_the_readme_example():
    sample = (PLUGIN_DIR / "sample.yaml").read_text()
    data = yaml.safe_load(sample)["collectors"]["git/gitops"]
    c = GitConfig.model_validate(data, context={"base_dir": Path("/etc/dossier")})
    assert c.repository == Path("/etc/dossier/repos/gitops")
    assert c.paths == {"apps/payments/**": "payments", "apps/checkout/**": "checkout", "clusters/prod/ingress/**": None}
    assert c.link("1a2b3c", "1a2b") == "https://github.com/acme/gitops/commit/1a2b3c"
    assert f"## Example\n\n```yaml\n{sample}```" in (PLUGIN_DIR / "README.md").read_text()


def test_every_field_is_described_and_in_the_readme():
    readme = (PLUGIN_DIR / "README.md").read_text()
    for name, f in GitConfig.model_fields.items():
        assert f.description, name
        assert f"| `{name}` |" in readme, name


FILES = [
    "apps/payments/a.yaml",
    "apps/payments/sub/b.yaml",
    "apps/payments/kustomization.yaml",
    "apps/payments-v2.yaml",
    "apps/checkout/values.yaml",
    "apps/values.yaml",
    "clusters/prod/ingress/i.yaml",
    "kustomization.yaml",
    "top.yaml",
]
GLOBS = [
    "apps/payments/**",
    "apps/payments",
    "apps/payments/",
    "apps/*/values.yaml",
    "**/kustomization.yaml",
    "apps/**/b.yaml",
    "apps/pay*",
    "*.yaml",
    "clusters/prod/ingress/*.yaml",
    "apps/[pc]*/**",
    "apps/[!p]*/**",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("pattern", GLOBS)
def test_globs_match_what_git_matches(pattern: str, tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    listed = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "--", f":(glob){pattern}"], capture_output=True, text=True, check=True
    )
    assert {f for f in FILES if glob_regex(pattern).fullmatch(f)} == set(listed.stdout.split())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"paths": {"a/**": None}}, ["repository: Field required"]),
        ({"repository": "r", "paths": {}}, ["paths: give at least one path glob, e.g. {'apps/payments/**': payments}"]),
        (
            {"repository": "r", "paths": {"/apps/**": "p"}},
            ["paths: '/apps/**': write paths relative to the repository's root, e.g. apps/payments/**"],
        ),
        (
            {"repository": "r", "paths": {"apps/../x": "p"}},
            ["paths: 'apps/../x': write paths relative to the repository's root, e.g. apps/payments/**"],
        ),
        ({"repository": "r", "paths": {"apps/[a": "p"}}, ["paths: unclosed [ in 'apps/[a'"]),
        (
            {"repository": "r", "paths": {"apps/**": " "}},
            ["paths: 'apps/**': the service is empty: name one, or write null"],
        ),
        (
            {"repository": "r", "paths": {"a/**": None}, "branch": "--output=/tmp/x"},
            ["branch: '--output=/tmp/x' is not a branch or revision name (e.g. main, origin/main, v1.2)"],
        ),
        (
            {"repository": "r", "paths": {"a/**": None}, "branch": "main..dev"},
            ["branch: 'main..dev' is not a branch or revision name (e.g. main, origin/main, v1.2)"],
        ),
        (
            {"repository": "r", "paths": {"a/**": None}, "kind": "rollback"},
            ["kind: Input should be 'deploy', 'config_change' or 'feature_flag'"],
        ),
        (
            {"repository": "r", "paths": {"a/**": None}, "url_template": "https://x/{commit}"},
            ["url_template: unknown placeholder {commit}: use {sha} or {short_sha}"],
        ),
        (
            {"repository": "r", "paths": {"a/**": None}, "fetch": True},
            ["fetch: true updates the remote-tracking branches, not HEAD: set branch, e.g. origin/main"],
        ),
        ({"repository": "r", "paths": {"a/**": None}, "timeout": "0s"}, ["timeout: must be more than 0s"]),
        ({"repository": "r", "paths": {"a/**": None}, "since": "1d"}, ["since: Extra inputs are not permitted"]),
    ],
)
def test_refusals(data: dict, expected: list[str]):
    assert problems(data) == expected
