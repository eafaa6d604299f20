"""The CLI's contract: bad input is one line naming the file and key with exit 3, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dossier.cli import cli

GOOD_INCIDENT = """\
id: INC-1
title: t
start: 2026-11-20T10:00:00Z
end: 2026-11-20T11:00:00Z
services: [checkout]
"""


def changes_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T09:58:00Z", "service": "checkout", "kind": "deploy", "id": "d1"}) + "\n"
    )
    path = tmp_path / "dossier.yaml"
    path.write_text("collectors:\n  deploy_file/changes: {path: changes.jsonl}\nservices:\n  checkout: {}\n" + extra)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines), stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)


@pytest.mark.parametrize(
    ("incident", "needles"),
    [
        (GOOD_INCIDENT.replace("2026-11-20T10:00:00Z", "2026-11-20T10:00:00"), ["incident.yaml", "start", "naive"]),
        (GOOD_INCIDENT.replace("11:00:00Z", "09:00:00Z"), ["incident.yaml", "end"]),
        (GOOD_INCIDENT.replace("INC-1", "../escape"), ["incident.yaml", "id"]),
        (GOOD_INCIDENT + "colour: red\n", ["incident.yaml", "colour"]),
        ("id: [unclosed\n", ["incident.yaml"]),
    ],
)
def test_bad_incident_file(tmp_path, incident, needles):
    (tmp_path / "incident.yaml").write_text(incident)
    code, _, err = run(
        "collect", "--config", str(changes_config(tmp_path)), "--incident", str(tmp_path / "incident.yaml")
    )
    assert code == 3
    assert_one_line_error(err, *needles)
    assert not (tmp_path / "dossiers").exists()


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        (
            "collectors:\n  prometheus/p: {urll: http://x}\n",
            ["dossier.yaml", "collectors::prometheus/p::urll", 'did you mean "url"'],
        ),
        ("collectors:\n  prometheos/p: {url: http://x}\n", ["collectors::prometheos/p", 'did you mean "prometheus"']),
        (
            "collectors:\n  prometheus/p:\n    url: http://x\n"
            "    headers: {Authorization: 'Bearer ${env:DOSSIER_TEST_UNSET_VAR}'}\n",
            ["collectors::prometheus/p::headers::Authorization", "DOSSIER_TEST_UNSET_VAR"],
        ),
        ("collectors: [\n", ["dossier.yaml"]),
    ],
)
def test_bad_config(tmp_path, config, needles, monkeypatch):
    monkeypatch.delenv("DOSSIER_TEST_UNSET_VAR", raising=False)
    path = tmp_path / "dossier.yaml"
    path.write_text(config)
    code, _, err = run("config", "validate", str(path))
    assert code == 3
    assert_one_line_error(err, *needles)


def test_missing_config_file(tmp_path):
    code, _, err = run("config", "validate", str(tmp_path / "nope.yaml"))
    assert code == 3
    assert_one_line_error(err, "nope.yaml")


def test_every_problem_at_once(tmp_path):
    path = tmp_path / "dossier.yaml"
    path.write_text("collectors:\n  prometheus/p: {urll: x}\nservices:\n  a: {depends_on: [b]}\nbogus: 1\n")
    code, _, err = run("config", "validate", str(path))
    assert code == 3
    assert len(err.strip().splitlines()) >= 3, err


def test_collect_from_options_and_replay(tmp_path):
    config = changes_config(tmp_path)
    code, out, err = run(
        "collect",
        "--config",
        str(config),
        "--id",
        "INC-9",
        "--start",
        "2026-11-20T10:00:00Z",
        "--end",
        "2026-11-20T11:00:00Z",
        "--service",
        "checkout",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    assert "wrote" in out and "INC-9" in out
    data = json.loads((tmp_path / "o" / "INC-9" / "dossier.json").read_text())
    assert data["schema"] == "dossier/v1"
    assert data["incident"]["services"] == ["checkout"]
    # no telemetry at all: no onset, so no cause is claimed, and the draft says why
    assert data["candidate_causes"] == []
    assert data["negative_evidence"]


def test_naive_time_on_the_command_line(tmp_path):
    code, _, err = run(
        "collect",
        "--config",
        str(changes_config(tmp_path)),
        "--id",
        "X",
        "--start",
        "2026-11-20T10:00:00",
        "--end",
        "2026-11-20T11:00:00Z",
    )
    assert code == 3
    assert_one_line_error(err, "--start")


def test_usage_errors_exit_2(tmp_path):
    code, _, _ = run("collect", "--config", str(changes_config(tmp_path)))
    assert code == 2


def test_every_collector_failed_exits_5(tmp_path):
    path = tmp_path / "dossier.yaml"
    path.write_text("collectors:\n  deploy_file/changes: {path: missing.jsonl}\n")
    code, _, err = run(
        "collect",
        "--config",
        str(path),
        "--id",
        "X",
        "--start",
        "2026-11-20T10:00:00Z",
        "--end",
        "2026-11-20T11:00:00Z",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 5, err
    data = json.loads((tmp_path / "o" / "X" / "dossier.json").read_text())
    assert data["sources"][0]["status"] == "failed"
    assert any(g["kind"] == "source_unavailable" for g in data["detection_gaps"])


def test_replay_of_a_folder_without_archive(tmp_path):
    code, _, err = run("replay", str(tmp_path))
    assert code == 3
    assert_one_line_error(err, "manifest.json")


def test_plugins_list():
    code, out, _ = run("plugins", "list")
    assert code == 0
    for name in ("prometheus", "deploy_file", "json", "md"):
        assert name in out


def test_sources_check(tmp_path):
    code, out, _ = run("sources", "check", "--config", str(changes_config(tmp_path)))
    assert code == 0
    assert "ok" in out and "deploy_file/changes" in out


def test_change_sources_are_asked_about_dependencies_with_their_aliases(tmp_path):
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T09:58:00Z", "service": "ledger-api", "kind": "deploy", "id": "d1"}) + "\n"
    )
    path = tmp_path / "dossier.yaml"
    path.write_text(
        "collectors:\n  deploy_file/changes: {path: changes.jsonl}\n"
        "services:\n  checkout: {depends_on: [ledger]}\n  ledger: {aliases: [ledger-api]}\n"
    )
    code, _, err = run(
        "collect",
        "--config",
        str(path),
        "--id",
        "X",
        "--start",
        "2026-11-20T10:00:00Z",
        "--end",
        "2026-11-20T11:00:00Z",
        "--service",
        "checkout",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "X" / "dossier.json").read_text())
    (deploy,) = [e for e in data["timeline"] if e["kind"] == "deploy"]
    assert deploy["service"] == "ledger"
