"""output.push through the command line: validation, a push after the local draft, reruns, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dossier.cli import cli
from tests.standins.github_issues import GitHubIssues
from tests.standins.jira import Jira

INCIDENT = """id: INC-1
title: Checkout errors
start: 2026-11-20T10:00:00Z
end: 2026-11-20T11:00:00Z
services: [checkout]
"""


def case(tmp_path: Path, push: str) -> tuple[Path, Path]:
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T09:58:00Z", "service": "checkout", "kind": "deploy", "id": "d1"}) + "\n"
    )
    config = tmp_path / "dossier.yaml"
    config.write_text(
        "collectors:\n  deploy_file/changes: {path: changes.jsonl}\nservices:\n  checkout: {}\n"
        f"output:\n  dir: out\n  push:\n{push}"
    )
    incident = tmp_path / "incident.yaml"
    incident.write_text(INCIDENT)
    return config, incident


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("push", "line"),
    [
        (
            "    - {type: jiraa, url: 'https://j'}\n",
            'output::push::0::type: unknown push destination "jiraa" (did you mean "jira"?); one of: confluence, '
            "github, gitlab, jira, notion, webhook",
        ),
        ("    - {type: jira, url: 'https://j', project: OPS}\n", "output::push::0::token: Field required"),
        (
            "    - {type: github, repo: acme/x, token: t, label: [a]}\n",
            'output::push::0::label: unknown key "label" (did you mean "labels"?)',
        ),
        (
            "    - {type: notion, token: t, page_id: a, database_id: b}\n",
            "output::push::0: give exactly one of database_id and page_id",
        ),
        (
            "    - {type: webhook, url: 'https://a'}\n    - {type: webhook, url: 'https://b'}\n",
            'output::push::1::name: "webhook" is also push entry 0: give each a distinct name',
        ),
        (
            "    - {type: github, repo: acme/x, token: '${env:DOSSIER_TEST_UNSET_TOKEN}'}\n",
            "output::push::0::token: ",
        ),
    ],
)
def test_bad_push_config_is_one_line(tmp_path, push, line):
    config, _ = case(tmp_path, push)
    code, _, err = run("config", "validate", str(config))
    assert code == 3, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {config}: {line}"), err


def test_collect_pushes_once_and_a_rerun_updates(tmp_path):
    with GitHubIssues(token="ghp_FROM_ENV") as gh:
        config, incident = case(
            tmp_path, f"    - {{type: github, url: '{gh.url}', repo: acme/postmortems, token: '${{env:GH_TOKEN}}'}}\n"
        )
        env = {"GH_TOKEN": "ghp_FROM_ENV"}
        code, out, err = run("collect", "--config", str(config), "--incident", str(incident), env=env)
        assert code == 0, err
        assert "pushed     github: created https://github.com/acme/postmortems/issues/1" in out
        code, out, err = run("collect", "--config", str(config), "--incident", str(incident), env=env)
        assert code == 0, err
        assert "pushed     github: updated" in out and gh.created() == 1
        folder = tmp_path / "out" / "INC-1"
        code, out, _ = run("replay", str(folder), "--config", str(config), env=env)
        assert code == 0 and "pushed     github: updated" in out and gh.created() == 1
        issue = gh.issues["acme/postmortems"][1]
        assert issue["title"] == "Postmortem draft: INC-1 Checkout errors"
        assert issue["body"] == (folder / "draft.md").read_text()
        for path in (tmp_path / "out").rglob("*"):
            if path.is_file():
                assert "ghp_FROM_ENV" not in path.read_text(errors="replace"), path


def test_a_failing_destination_leaves_the_draft_and_exits_1(tmp_path):
    with Jira() as jira:
        config, incident = case(
            tmp_path,
            f"    - {{type: jira, url: '{jira.url}', project: OPS, user: sre@acme.example, token: wrong}}\n",
        )
        code, _, err = run("collect", "--config", str(config), "--incident", str(incident))
        assert code == 1
        folder = tmp_path / "out" / "INC-1"
        assert (folder / "dossier.json").is_file() and (folder / "draft.md").is_file()
        (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
        assert line.startswith(f"error: push jira: POST {jira.url}/rest/api/2/issue: HTTP 401: ")
        assert line.endswith(f"(the local draft is written: {folder})")
        assert not (folder / "pushed.json").exists() and jira.created() == 0
