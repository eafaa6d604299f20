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


# ---- the ARCHITECTURE.md config example, verbatim --------------------------------------------

ARCHITECTURE_CONFIG_EXAMPLE = """\
collectors:                       # instances named type/name, as in the OpenTelemetry Collector
  prometheus/prod:
    url: http://127.0.0.1:9090
    headers: {Authorization: "Bearer ${env:PROM_TOKEN}"}
    signals:                      # what to watch per service; $service is escaped before substitution
      - name: error_rate
        query: 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m]))'
        direction: up
    alert_rules: true             # read /api/v1/rules, replay each rule over the window, read ALERTS history
  elasticsearch/logs: {hosts: ["http://127.0.0.1:9200"], index: "logs-*"}
services:
  checkout: {aliases: [checkout-api], depends_on: [payments]}
correlate: {baseline: 1h, late_alert_after: 5m, cause_lookback: 2h}
output: {dir: ./dossiers, formats: [json, md]}
"""


def test_the_architecture_config_example_is_valid(tmp_path, monkeypatch):
    # `payments` is not under services: a dependency may be anything (a database, a third party)
    monkeypatch.setenv("PROM_TOKEN", "t0ken")
    path = tmp_path / "dossier.yaml"
    path.write_text(ARCHITECTURE_CONFIG_EXAMPLE)
    code, out, err = run("config", "validate", str(path))
    assert code == 0, err
    assert "ok (2 collectors, 1 services)" in out


def test_a_dependency_close_to_a_configured_name_is_accepted_with_a_warning(tmp_path):
    path = tmp_path / "dossier.yaml"
    path.write_text(
        "collectors:\n  deploy_file/changes: {path: changes.jsonl}\n"
        "services:\n  checkout: {depends_on: [paymnts, postgres]}\n  payments: {}\n"
    )
    code, out, err = run("config", "validate", str(path))
    assert code == 0 and "ok (1 collectors, 2 services)" in out
    assert err.strip() == (
        f'warning: {path}: services::checkout::depends_on: "paymnts" is not a configured service '
        '(did you mean "payments"?); kept as an outside dependency'
    )


def test_a_service_that_depends_on_itself_is_refused(tmp_path):
    path = tmp_path / "dossier.yaml"
    path.write_text(
        "collectors:\n  deploy_file/changes: {path: changes.jsonl}\n"
        "services:\n  checkout: {aliases: [shop], depends_on: [shop]}\n"
    )
    code, _, err = run("config", "validate", str(path))
    assert code == 3
    assert_one_line_error(err, "dossier.yaml", "services::checkout::depends_on", "itself", '"shop" is its alias')


# ---- unknown services ------------------------------------------------------------------------


def collect_args(config: Path, out: Path, *services: str) -> list[str]:
    args = ["collect", "--config", str(config), "--id", "X", "--start", "2026-11-20T10:00:00Z"]
    args += ["--end", "2026-11-20T11:00:00Z", "--out", str(out)]
    for s in services:
        args += ["--service", s]
    return args


def test_an_unknown_service_is_warned_about_with_a_did_you_mean(tmp_path):
    config = changes_config(tmp_path, "  payments: {aliases: [payments-svc]}\n")
    code, _, err = run(*collect_args(config, tmp_path / "o", "chekout", "payments-svc"))
    assert code == 0, err  # it still collects
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"warning: service 'chekout' is not under services: in {config} (did you mean 'checkout'?); "
        "configured: checkout, payments"
    ]
    assert (tmp_path / "o" / "X" / "dossier.json").exists()


def test_an_unknown_service_in_the_incident_file_is_warned_about(tmp_path):
    config = changes_config(tmp_path)
    (tmp_path / "incident.yaml").write_text(GOOD_INCIDENT.replace("[checkout]", "[checkout, zzz]"))
    code, _, err = run(
        "collect", "--config", str(config), "--incident", str(tmp_path / "incident.yaml"), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    assert err.strip() == f"warning: service 'zzz' is not under services: in {config}; configured: checkout"


def test_known_services_and_aliases_give_no_warning(tmp_path):
    config = changes_config(tmp_path, "  payments: {aliases: [payments-svc]}\n")
    code, _, err = run(*collect_args(config, tmp_path / "o", "checkout", "payments-svc"))
    assert code == 0 and err.strip() == "", err


# ---- plugins describe ------------------------------------------------------------------------


def test_plugins_describe_a_collector():
    code, out, err = run("plugins", "describe", "prometheus")
    assert code == 0, err
    assert "collector prometheus" in out
    # every key with its type, default and description, nested keys too
    assert "  url  (string; required)\n      Base URL of the Prometheus HTTP API" in out
    assert "  timeout  (duration; default 30s)\n      Timeout of each request" in out
    assert '  signals[].direction  ("up" | "down" | "both"; default "up")\n      Which way is bad' in out
    assert "  up_query  (string | null; default 'up{job=\"$service\"}')" in out
    # and its sample.yaml, verbatim
    sample = (Path(__file__).resolve().parents[1] / "collectors" / "prometheus" / "sample.yaml").read_text()
    assert sample.strip() in out


@pytest.mark.parametrize("name", ["deploy_file", "elasticsearch", "log_file", "github", "kubernetes", "git"])
def test_plugins_describe_every_key_of_a_collector(name):
    from dossier import registry

    code, out, err = run("plugins", "describe", name)
    assert code == 0, err
    fields = registry.config_fields(registry.load_collector(name).Config)
    assert fields
    for f in fields:
        assert f"  {f.path}  ({f.type}; " in out
        assert f.description and f.description in out


def test_plugins_describe_an_exporter():
    code, out, err = run("plugins", "describe", "md")
    assert code == 0, err
    assert "exporter md" in out and "draft.md" in out


def test_plugins_describe_an_unknown_type_exits_3_with_a_did_you_mean():
    code, _, err = run("plugins", "describe", "prometeus")
    assert code == 3
    assert_one_line_error(err, '"prometeus"', 'did you mean "prometheus"?')


# ---- aliases, end to end through a real Prometheus ---------------------------------------------

ALIASES = {"checkout": "checkout-api", "payments": "payments-svc", "inventory": "inventory-api"}


def prometheus_case(tmp_path: Path, checkout_prometheus, **prometheus: object) -> Path:
    """The checkout incident's Prometheus, and its changes as a change log that names every
    service by an alias (as sources do)."""
    from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY

    url, _, changes = checkout_prometheus
    (tmp_path / "changes.jsonl").write_text(
        "".join(json.dumps({**c, "service": ALIASES[c["service"]]}) + "\n" for c in changes)
    )
    signals = [
        {"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"},
        {"name": "latency", "query": LATENCY_QUERY, "direction": "up"},
    ]
    config = {
        "collectors": {
            "prometheus/test": {"url": url, "retries": 1, "signals": signals, **prometheus},
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {
            "checkout": {"aliases": ["checkout-api"], "depends_on": ["payments"]},
            "payments": {"aliases": ["payments-svc"]},
            "inventory": {"aliases": ["inventory-api"]},
        },
        "output": {"dir": "out", "formats": ["json", "md"]},
    }
    path = tmp_path / "dossier.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def window_args(truth) -> list[str]:
    incident = truth.incident
    return ["--id", incident["id"], "--start", incident["start"], "--end", incident["end"]]


def evidence_of(folder: Path, instance: str) -> list[dict]:
    lines = (folder / "evidence" / f"{instance}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_an_incident_service_named_by_its_alias_is_the_service(tmp_path, checkout_prometheus):
    config = prometheus_case(tmp_path, checkout_prometheus)
    truth = checkout_prometheus.truth
    code, _, err = run(
        "collect",
        "--config",
        str(config),
        *window_args(truth),
        "--service",
        "checkout-api",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    assert err.strip() == ""  # an alias is a known service: no warning
    folder = tmp_path / "o" / truth.incident["id"]
    data = json.loads((folder / "dossier.json").read_text())
    # the incident as stored and drafted names the service as the config does
    assert data["incident"]["services"] == ["checkout"]
    manifest = json.loads((folder / "evidence" / "manifest.json").read_text())
    assert manifest["incident"]["services"] == ["checkout"]
    # and the draft is about it: an onset, checkout's anomalies, and causes
    assert data["milestones"]["started"] is not None
    assert any(e["kind"] == "anomaly_start" and e["service"] == "checkout" for e in data["timeline"])
    assert data["candidate_causes"]
    draft = (folder / "draft.md").read_text()
    assert "checkout" in draft and "checkout-api" not in draft
    # evidence a source names by an alias carries the config's name, in scope (checkout, and
    # payments as its dependency) or not (inventory)
    changes = [r for r in evidence_of(folder, "deploy_file/changes") if r["type"] == "event"]
    assert sorted((r["attrs"]["service"], r["service"]) for r in changes) == [
        ("checkout-api", "checkout"),
        ("inventory-api", "inventory"),
        ("payments-svc", "payments"),
        ("payments-svc", "payments"),
    ]
    assert all(r["attrs"].get("service_mapped") != "false" for r in changes)
    deploys = {e["service"] for e in data["timeline"] if e["kind"] in ("deploy", "rollback")}
    assert deploys == {"checkout", "payments"}


def test_incident_file_services_named_by_aliases(tmp_path, checkout_prometheus):
    config = prometheus_case(tmp_path, checkout_prometheus)
    truth = checkout_prometheus.truth
    incident = {**truth.incident, "services": ["checkout-api", "payments-svc", "checkout"]}
    (tmp_path / "incident.json").write_text(json.dumps(incident))
    code, _, err = run(
        "collect", "--config", str(config), "--incident", str(tmp_path / "incident.json"), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    data = json.loads((tmp_path / "o" / truth.incident["id"] / "dossier.json").read_text())
    assert data["incident"]["services"] == ["checkout", "payments"]
    assert data["milestones"]["started"] is not None and data["milestones"]["detected"] is not None
    alerts = {e["service"] for e in data["timeline"] if e["kind"] == "alert_firing"}
    assert alerts == {"checkout", "payments"}


def test_an_up_query_that_matches_nothing_is_a_blind_spot_not_a_partial_source(tmp_path, checkout_prometheus):
    config = prometheus_case(tmp_path, checkout_prometheus, up_query='up{job="$service",env="prod"}')
    truth = checkout_prometheus.truth
    code, _, err = run(
        "collect", "--config", str(config), *window_args(truth), "--service", "checkout", "--out", str(tmp_path / "o")
    )
    assert code == 0, err  # Prometheus answered every request
    data = json.loads((tmp_path / "o" / truth.incident["id"] / "dossier.json").read_text())
    prom = next(s for s in data["sources"] if s["instance"] == "prometheus/test")
    assert prom["status"] == "ok" and prom["error"] is None
    blind = [g for g in data["detection_gaps"] if g["kind"] == "blind_spot"]
    assert any(
        'no series of checkout at all for up_query `up{job="checkout",env="prod"}`' in g["explanation"]
        and "check the query's labels" in g["explanation"]
        for g in blind
    ), blind
    assert not [g for g in data["detection_gaps"] if g["kind"] == "source_unavailable"]


def test_a_truncated_source_says_why_in_the_draft(tmp_path):
    lines = [
        {"@timestamp": f"2026-11-20T10:0{i}:00Z", "log.level": "error", "service": {"name": "checkout"}, "message": m}
        for i, m in enumerate(["a", "b", "c"])
    ]
    # info lines from the baseline's start to the window's end: the file covers the whole window
    lines += [
        {"@timestamp": at, "log.level": "info", "service": {"name": "checkout"}, "message": "ok"}
        for at in ("2026-11-20T09:00:00Z", "2026-11-20T10:59:59Z")
    ]
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    config = changes_config(tmp_path)
    config.write_text(
        config.read_text().replace(
            "collectors:\n", "collectors:\n  log_file/app: {path: logs.jsonl, max_exemplars: 2}\n"
        )
    )
    code, _, err = run(*collect_args(config, tmp_path / "o", "checkout"))
    assert code == 0, err  # truncated is not partial: the source answered
    data = json.loads((tmp_path / "o" / "X" / "dossier.json").read_text())
    logs = next(s for s in data["sources"] if s["instance"] == "log_file/app")
    assert logs["status"] == "ok" and logs["truncated"] is True
    assert logs["truncated_reason"] == "more error lines than max_exemplars (2): the first 2 are kept as exemplars"
    changes = next(s for s in data["sources"] if s["instance"] == "deploy_file/changes")
    assert changes["truncated"] is False and changes["truncated_reason"] is None


# ---- the project's own documents -------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Run the tests") :]
    command = section[section.index("```bash\n") + len("```bash\n") :].split("\n```")[0].strip()
    assert command.startswith("python3 -m venv .venv && .venv/bin/python -m pip install -e '.[test]'")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci
    assert ci[-1] == command  # the last thing CI does, so its exit code is CI's
    demo = (ROOT / "deploy" / "demo" / "run.sh").read_text()
    assert '"$PYTHON" -m venv .venv' in demo and "PYTHON:-python3" in demo  # the same .venv


def test_the_readme_links_the_projects_own_architecture():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    assert "(docs/architecture.md)" in readme
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for key in ("truncated_reason", '"target"', '"telemetry"', '"onset"', '"finding"', '"factors"', '"notes"'):
        assert key in doc, key


def test_the_config_example_of_docs_architecture_is_valid(tmp_path, monkeypatch):
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc[doc.index("### Configuration file") :]
    example = section[section.index("```yaml\n") + len("```yaml\n") :].split("```")[0]
    monkeypatch.setenv("PROM_TOKEN", "t0ken")
    (tmp_path / "dossier.yaml").write_text(example)
    code, _, err = run("config", "validate", str(tmp_path / "dossier.yaml"))
    assert code == 0, err


def test_config_example_yaml_is_valid_and_its_describe_command_exists():
    text = (ROOT / "config" / "example.yaml").read_text()
    assert "dossier plugins describe <type>" in text
    code, _, err = run("config", "validate", str(ROOT / "config" / "example.yaml"))
    assert code == 0, err
