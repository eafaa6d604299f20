"""Hardening: secrets never written, queries not bent by what incident files say, tampered
archives refused, YAML bombs refused, TLS verified unless turned off by name.

The servers are the fault server of tests/test_failure_matrix.py on loopback ports (plain, or
HTTPS with a certificate from a throw-away CA made by trustme).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import trustme
from click.testing import CliRunner

from collectors.prometheus._promql import substitute
from dossier import jobs
from dossier.cli import cli
from dossier.config import load_config, parse_config
from dossier.errors import ConfigError, ExitCode
from dossier.model import Incident
from tests.test_failure_matrix import COLLECTORS, HTTP, INCIDENT, LOGSTORE, FaultServer, kubeconfig

# ---- secrets --------------------------------------------------------------------------------------

SEEDS = {
    "PROM_TOKEN": "seed-prom-3f9a61",
    "PROM_URL_PASSWORD": "seed-url-77c2e0",
    "GH_TOKEN": "seed-gh-b41d07",
    "GL_TOKEN": "seed-gl-90ae3c",
    "ARGO_TOKEN": "seed-argo-5e12bb",
    "JENKINS_TOKEN": "seed-jenkins-c7d4f8",
    "ES_PASSWORD": "seed-es-0b9e44",
    "OS_API_KEY": "seed-os-a17f2d",
}
K8S_TOKEN = "seed-k8s-6d30aa"  # in the kubeconfig file, not the environment


def secret_config(url: str, folder: Path) -> dict[str, Any]:
    host = url.removeprefix("http://")
    (folder / "kube.json").write_text(kubeconfig(url, K8S_TOKEN))
    signal = {"name": "errors", "query": 'sum(rate(http_requests_total{service="$service"}[1m]))'}
    return {
        "collectors": {
            "prometheus/s": {
                "url": url,
                "headers": {"Authorization": "Bearer ${env:PROM_TOKEN}"},
                "signals": [signal],
                **HTTP,
            },
            "prometheus/u": {"url": f"http://dossier:${{env:PROM_URL_PASSWORD}}@{host}", "signals": [signal], **HTTP},
            "elasticsearch/s": {
                "hosts": [url],
                "index": "logs-*",
                "basic_auth": {"username": "dossier", "password": "${env:ES_PASSWORD}"},
                **LOGSTORE,
            },
            "opensearch/s": {"hosts": [url], "index": "logs-*", "api_key": "${env:OS_API_KEY}", **LOGSTORE},
            "github/s": {
                "url": url,
                "token": "${env:GH_TOKEN}",
                "repositories": [{"repo": "acme/payments"}],
                "http": HTTP,
            },
            "gitlab/s": {
                "url": url,
                "token": "${env:GL_TOKEN}",
                "projects": [{"project": "acme/payments"}],
                "http": HTTP,
            },
            "argocd/s": {"url": url, "token": "${env:ARGO_TOKEN}", "applications": ["payments"], "http": HTTP},
            "jenkins/s": {
                "url": url,
                "username": "dossier",
                "api_token": "${env:JENKINS_TOKEN}",
                "jobs": [{"job": "deploy/payments"}],
                "http": HTTP,
            },
            "kubernetes/s": {"kubeconfig": "kube.json", "namespaces": ["prod"], **HTTP},
        },
        "services": {"payments": {}},
    }


def forms(secret: str) -> list[bytes]:
    """A secret as it could leak: itself, and inside basic-auth or API-key base64."""
    out = [secret.encode()]
    for user in ("dossier", ""):
        out.append(base64.b64encode(f"{user}:{secret}".encode()))
    out.append(base64.b64encode(secret.encode()))
    return out


ALL_SECRETS = [*SEEDS.values(), K8S_TOKEN]


@pytest.mark.parametrize("fault", ["http_401", "http_500", "wrong_shape"])
def test_seeded_secrets_are_in_no_file_and_no_log_line(
    fault: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FaultServer(fault) as server:
        data = secret_config(server.url, tmp_path)
        settings = parse_config(data, file=str(tmp_path / "dossier.yaml"), base_dir=tmp_path, env=SEEDS)
        outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    heads = "\n".join(server.heads)
    # the secrets did go where they belong: to the sources, in their headers
    for secret in ("PROM_TOKEN", "GH_TOKEN", "GL_TOKEN", "ARGO_TOKEN"):
        assert SEEDS[secret] in heads, secret
    assert base64.b64encode(f"dossier:{SEEDS['PROM_URL_PASSWORD']}".encode()).decode() in heads
    assert K8S_TOKEN in heads
    # and nowhere else: every file Dossier wrote, every log line (with tracebacks)
    written = [p for p in outcome.folder.rglob("*") if p.is_file()]
    assert {"dossier.json", "draft.md", "manifest.json"} <= {p.name for p in written}
    logs = "\n".join(
        [caplog.text] + [logging.Formatter().formatException(r.exc_info) for r in caplog.records if r.exc_info]
    ).encode()
    for secret in ALL_SECRETS:
        for form in forms(secret):
            for path in written:
                assert form not in path.read_bytes(), (secret, str(path.relative_to(tmp_path)))
            assert form not in logs, secret


def test_seeded_secrets_are_not_on_the_command_line_output(tmp_path: Path) -> None:
    with FaultServer("http_401") as server:
        config = tmp_path / "dossier.yaml"
        config.write_text(json.dumps(secret_config(server.url, tmp_path)))
        env = {**SEEDS, "PATH": "/usr/bin:/bin"}
        command = [sys.executable, "-m", "dossier.cli", "-vv", "collect", "--config", str(config), "--id", "INC-S"]
        command += ["--start", "2026-11-20T10:00:00Z", "--end", "2026-11-20T11:00:00Z", "--out", str(tmp_path / "o")]
        done = subprocess.run(command, capture_output=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == ExitCode.ALL_FAILED, done.stderr.decode()
    assert done.stderr  # -vv: there is something to look at
    for secret in ALL_SECRETS:
        for form in forms(secret):
            assert form not in done.stdout + done.stderr, secret


# ---- what incident files say cannot change a query's meaning ------------------------------------------

HOSTILE = [
    'pay"ments',
    'x"} or vector(1) or up{a="',
    "back\\slash\\",
    "new\nline",
    "payments|checkout",  # regex metacharacters
    ".*",
    "ünïcode `tick` 'quote'",
]


def _promql_strings(query: str) -> list[tuple[str, str, str]]:
    """(label, operator, value) of each label matcher, decoding PromQL's Go-style escapes."""
    out = []
    for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', query):
        value = json.loads('"' + m.group(3).replace("\\'", "'") + '"')
        out.append((m.group(1), m.group(2), value))
    return out


@pytest.mark.parametrize("name", HOSTILE)
def test_a_service_name_stays_one_label_value_in_promql(name: str) -> None:
    template = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m])) / sum(up{job=~"$service"})'
    query = substitute(template, name)
    matchers = _promql_strings(query)
    assert [(label, op) for label, op, _ in matchers] == [("service", "="), ("code", "=~"), ("job", "=~")]
    assert matchers[0][2] == name  # an exact match on the whole name
    assert re.fullmatch(matchers[2][2], name)  # the regex matches the name, literally...
    assert not re.fullmatch(matchers[2][2], name + "x") and not re.fullmatch(matchers[2][2], "other")
    # ...and nothing outside the label values changed
    skeleton = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    assert skeleton == re.sub(r'"(?:[^"\\]|\\.)*"', '""', template)


def test_hostile_service_names_reach_prometheus_as_label_values(tmp_path: Path) -> None:
    """The whole collection: every query in the manifest keeps its matchers, each value the name."""
    names = tuple(HOSTILE[:3])
    incident = Incident(id="INC-Q", title="q", start=INCIDENT.start, end=INCIDENT.end, services=names)
    with FaultServer("wrong_shape") as server:
        block = COLLECTORS["prometheus"](server.url, tmp_path)
        data = {"collectors": {"prometheus/q": block}, "services": {"payments": {}}}
        settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
        jobs.collect(settings, incident, tmp_path / "out")
        lines = list(server.requests)
    queries = []
    for line in lines:
        target = line.split(" ")[1]
        queries += parse_qs(urlsplit(target).query).get("query", [])
    service_values = {v for q in queries for label, op, v in _promql_strings(q) if label in ("service", "job")}
    assert service_values and service_values <= set(names) | {re.escape(n) for n in names}, service_values


def test_hostile_service_names_reach_the_log_store_as_terms_values(tmp_path: Path) -> None:
    names = tuple(HOSTILE)
    incident = Incident(id="INC-Q", title="q", start=INCIDENT.start, end=INCIDENT.end, services=names)
    with FaultServer("wrong_shape") as server:
        block = COLLECTORS["elasticsearch"](server.url, tmp_path)
        data = {"collectors": {"elasticsearch/q": block}, "services": {"payments": {}}}
        settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
        jobs.collect(settings, incident, tmp_path / "out")
        lines = list(server.requests)
    bodies = [json.loads(line.split(" ", 3)[3]) for line in lines if line.count(" ") >= 3 and " {" in line]
    assert bodies
    seen: set[str] = set()

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            assert not {"query_string", "simple_query_string", "script", "regexp", "wildcard"} & set(node), node
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and node in names:
            assert key in ("terms", "service.name", "term"), (key, node)  # a value to match, never syntax
            seen.add(node)

    for body in bodies:
        walk(body, None)
    assert seen, "the service names were asked about"


# ---- replay refuses a tampered archive -----------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T10:05:00Z", "service": "payments", "kind": "deploy", "title": "v2"}) + "\n"
    )
    data = {"collectors": {"deploy_file/c": {"path": "changes.jsonl"}}, "services": {"payments": {}}}
    settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
    outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    assert CliRunner().invoke(cli, ["replay", str(outcome.folder)]).exit_code == 0
    return outcome.folder


def test_replay_refuses_an_altered_evidence_file_naming_it(archive: Path) -> None:
    evidence = archive / "evidence" / "deploy_file" / "c.jsonl"
    evidence.write_bytes(evidence.read_bytes().replace(b"v2", b"v3"))
    result = CliRunner().invoke(cli, ["replay", str(archive)])
    assert result.exit_code == ExitCode.CONFIG
    assert str(evidence) in result.output and "sha256 differs" in result.output


def test_replay_refuses_a_manifest_pointing_outside_the_archive(archive: Path, tmp_path: Path) -> None:
    manifest_path = archive / "evidence" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    outside = tmp_path / "elsewhere.jsonl"
    shutil.copy(archive / "evidence" / "deploy_file" / "c.jsonl", outside)
    [meta] = manifest["files"].values()
    meta["path"] = "../../../elsewhere.jsonl"
    manifest_path.write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["replay", str(archive)])
    assert result.exit_code == ExitCode.CONFIG
    assert "outside" in result.output and "manifest.json" in result.output


def test_replay_refuses_an_archive_missing_a_source_file(archive: Path) -> None:
    (archive / "evidence" / "deploy_file" / "c.jsonl").unlink()
    result = CliRunner().invoke(cli, ["replay", str(archive)])
    assert result.exit_code == ExitCode.CONFIG
    assert "c.jsonl" in result.output


# ---- YAML: safe, and anchors bounded ---------------------------------------------------------------------

LAUGHS = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    ]
)


def test_a_billion_laughs_config_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text(LAUGHS + "\ncollectors: {}\n")
    t0 = time.process_time()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.process_time() - t0 < 5  # CPU time: counted, never expanded
    assert "anchors and aliases expand to more than" in str(info.value) and str(path) in str(info.value)


def test_a_billion_laughs_incident_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "changes.jsonl").write_text("")
    (tmp_path / "d.yaml").write_text("collectors: {deploy_file/c: {path: changes.jsonl}}\n")
    incident = tmp_path / "incident.yaml"
    incident.write_text(LAUGHS + "\nid: INC-1\n")
    result = CliRunner().invoke(cli, ["collect", "--config", str(tmp_path / "d.yaml"), "--incident", str(incident)])
    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "anchors and aliases expand" in result.output


def test_yaml_tags_that_build_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    marker = tmp_path / "ran"
    path.write_text(f'collectors: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError):
        load_config(path)
    assert not marker.exists()


def test_a_billion_laughs_change_log_is_a_gap_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "changes.yaml").write_text(
        LAUGHS.replace("\n", "\n  ").replace("a: &a", "- at: 2026-11-20T10:05:00Z\n  service: payments\n  a: &a", 1)
    )
    data = {"collectors": {"deploy_file/c": {"path": "changes.yaml"}}, "services": {"payments": {}}}
    settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
    t0 = time.process_time()
    outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    assert time.process_time() - t0 < 10
    [source] = outcome.dossier.sources
    assert source.status != "ok" and "anchors and aliases expand a record" in (source.error or ""), source.error


# ---- TLS: verified unless turned off by name --------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server() -> Any:
    ca = trustme.CA()
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FaultServer("http_503", tls=context) as server:
        yield server


TLS_COLLECTORS = {
    "prometheus": lambda url, folder, off: {
        **COLLECTORS["prometheus"](url, folder),
        **({"tls": {"insecure_skip_verify": True}} if off else {}),
    },
    "elasticsearch": lambda url, folder, off: {
        **COLLECTORS["elasticsearch"](url, folder),
        **({"tls": {"insecure_skip_verify": True}} if off else {}),
    },
    "opensearch": lambda url, folder, off: {
        **COLLECTORS["opensearch"](url, folder),
        **({"tls": {"insecure_skip_verify": True}} if off else {}),
    },
    "github": lambda url, folder, off: {
        **COLLECTORS["github"](url, folder),
        "http": {**HTTP, **({"tls": {"insecure_skip_verify": True}} if off else {})},
    },
    "kubernetes": lambda url, folder, off: COLLECTORS["kubernetes"](url, folder),  # the kubeconfig decides
}


@pytest.mark.parametrize("collector", list(TLS_COLLECTORS))
def test_tls_is_verified_by_default(collector: str, tls_server: FaultServer, tmp_path: Path) -> None:
    block = TLS_COLLECTORS[collector](tls_server.url, tmp_path, False)
    data = {"collectors": {f"{collector}/t": block}, "services": {"payments": {}}}
    settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
    before = len(tls_server.requests)
    outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    [source] = outcome.dossier.sources
    assert source.status == "failed"
    assert re.search(r"tls|certificate|ssl", source.error or "", re.I), source.error
    assert len(tls_server.requests) == before  # no request got through


ES_SKIP_VERIFY = pytest.mark.xfail(
    strict=True,
    reason="found here: with tls.insecure_skip_verify the log-store clients' requests nodes still verify "
    "(CERTIFICATE_VERIFY_FAILED): collectors/elasticsearch and collectors/opensearch must turn it off",
)


@pytest.mark.parametrize(
    "collector",
    [
        "prometheus",
        pytest.param("elasticsearch", marks=ES_SKIP_VERIFY),
        pytest.param("opensearch", marks=ES_SKIP_VERIFY),
        "github",
    ],
)
def test_insecure_skip_verify_turns_it_off_by_name(collector: str, tls_server: FaultServer, tmp_path: Path) -> None:
    block = TLS_COLLECTORS[collector](tls_server.url, tmp_path, True)
    data = {"collectors": {f"{collector}/t": block}, "services": {"payments": {}}}
    settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env={})
    outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    [source] = outcome.dossier.sources
    assert "503" in (source.error or ""), source.error  # the server was reached, and answered its 503


def test_no_url_in_the_manifest_carries_credentials(tmp_path: Path) -> None:
    with FaultServer("http_500") as server:
        data = secret_config(server.url, tmp_path)
        settings = parse_config(data, file=str(tmp_path / "d.yaml"), base_dir=tmp_path, env=SEEDS)
        outcome = jobs.collect(settings, INCIDENT, tmp_path / "out")
    manifest = json.loads((outcome.folder / "evidence" / "manifest.json").read_text())
    for r in manifest["requests"]:
        parts = urlsplit(r["url"])
        assert parts.username is None and parts.password is None and not parts.query, r["url"]
        assert unquote(r["url"]) == r["url"] or "%" in r["url"]
