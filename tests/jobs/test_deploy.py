"""deploy/: the manifests and units are checked by machines, not by eye.

* Kubernetes: every document is read strictly against the kubernetes client's models (each key
  must be a field of its model, recursively, with the field's type; then the client builds the
  model, which refuses a missing required field), then cross-checked: selectors match the pod
  labels, the Service's target port is a container port, mounts name volumes, the Indexed Job's
  `--shard k/N` agrees with its completions, and each container's args parse as the `dossier`
  command they name (click's own parser). The ConfigMap's dossier.yaml validates as a config.
* systemd: `systemd-analyze verify` (warnings count as failures), ExecStart args parse.
* compose: Prometheus' and Alertmanager's configs pass `promtool check config` and
  `amtool check-config`; the dossier config validates; every mounted file exists.
* Dockerfile: its CMD parses as a dossier command.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from dossier.cli import cli
from dossier.config import parse_config
from tests.jobs.conftest import ROOT

DEPLOY = ROOT / "deploy"
MODELS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "CronJob"): "V1CronJob",
    ("batch/v1", "Job"): "V1Job",
}
ENV = {"DOSSIER_WEBHOOK_TOKEN": "t", "DOSSIER_STORE": "postgresql://dossier@db/dossier", "PD_WEBHOOK_SECRET": ""}


def strict(value: Any, type_name: str, path: str, problems: list[str]) -> None:
    """Every key a field of its model, every value of its field's type (the client's openapi_types)."""
    if type_name.startswith(("List[", "Dict[")):  # this client's spelling of list[...] and dict(str, ...)
        inner = type_name[5:-1]
        type_name = f"list[{inner}]" if type_name[0] == "L" else f"dict({inner})"
    if type_name.startswith("list["):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            strict(item, type_name[5:-1], f"{path}[{i}]", problems)
    elif type_name.startswith("dict("):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a mapping")
            return
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        for k, v in value.items():
            strict(v, inner, f"{path}.{k}", problems)
    elif type_name in ("str", "int", "bool", "float", "object", "datetime", "bytes"):
        expected = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "bytes": str}.get(
            type_name
        )
        if expected and (not isinstance(value, expected) or (type_name == "int" and isinstance(value, bool))):
            problems.append(f"{path}: expected {type_name}, got {type(value).__name__} {value!r}")
    else:
        model = getattr(client, type_name)
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a {type_name} mapping")
            return
        fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
        for key, item in value.items():
            if key not in fields:
                problems.append(f"{path}.{key}: not a field of {type_name}")
            else:
                strict(item, model.openapi_types[fields[key]], f"{path}.{key}", problems)


def documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def pod_specs(doc: dict) -> list[tuple[dict, dict]]:
    """(pod template metadata, pod spec) of a workload."""
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if "template" in spec:
        return [(spec["template"].get("metadata", {}), spec["template"]["spec"])]
    return []


def parses_as_dossier(args: list[str], env_names: set[str]) -> None:
    expanded = []
    for arg in args:
        for ref in re.findall(r"\$\((\w+)\)", arg):
            assert ref in env_names, f"$({ref}) in {args} is not an env var of the container"
        expanded.append(re.sub(r"\$\(\w+\)", "0", arg))
    name, rest = expanded[0], expanded[1:]
    assert name in cli.commands, f"dossier has no command {name!r}"
    cli.commands[name].make_context(name, rest)  # click's parser: unknown options and bad values raise


def test_kubernetes_manifests_validate_against_the_client_models():
    docs = documents()
    kinds = sorted(d["kind"] for _, d in docs)
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "Job", "Service"]
    api = client.ApiClient()
    for name, doc in docs:
        model = MODELS[(doc["apiVersion"], doc["kind"])]
        problems: list[str] = []
        strict(doc, model, f"{name}:{doc['kind']}", problems)
        assert problems == []
        api._ApiClient__deserialize(doc, model)  # required fields (the models' setters refuse None)


def test_the_strict_check_catches_a_typo():
    doc = next(d for _, d in documents() if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    broken["spec"]["replicas"] = "two"
    problems: list[str] = []
    strict(broken, "V1Deployment", "d", problems)
    assert problems == [
        "d.spec.replicas: expected int, got str 'two'",
        "d.spec.template.spec.containers[0].imagePullPolicyy: not a field of V1Container",
    ]
    nameless = yaml.safe_load(yaml.safe_dump(doc))
    del nameless["spec"]["template"]["spec"]["containers"][0]["name"]
    with pytest.raises(ValueError, match="name"):
        client.ApiClient()._ApiClient__deserialize(nameless, "V1Deployment")


def test_kubernetes_manifests_agree_with_each_other_and_with_dossier(tmp_path):
    docs = [d for _, d in documents()]
    by_kind = {d["kind"]: d for d in docs}
    config = by_kind["ConfigMap"]["data"]["dossier.yaml"]
    settings = parse_config(yaml.safe_load(config), file="dossier-config", base_dir=tmp_path, env=ENV)
    assert settings.store == ENV["DOSSIER_STORE"] and settings.serve.token is not None

    deployment, service = by_kind["Deployment"], by_kind["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    ports = {
        p["name"]: p["containerPort"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]
    }
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in ports or port["targetPort"] in ports.values()

    job = by_kind["Job"]
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    shard = args[args.index("--shard") + 1]
    assert shard == f"$(SHARD_INDEX)/{job['spec']['completions']}"
    assert len(by_kind["CronJob"]["spec"]["schedule"].split()) == 5

    for doc in docs:
        for meta, pod in pod_specs(doc):
            assert meta["labels"]["app.kubernetes.io/name"] == "dossier"
            volumes = {v["name"] for v in pod.get("volumes", [])}
            for container in pod["containers"]:
                env_names = {e["name"] for e in container.get("env", [])}
                assert {"DOSSIER_WEBHOOK_TOKEN", "DOSSIER_STORE"} <= env_names  # the config's ${env:...}
                parses_as_dossier(container["args"], env_names)
                for mount in container.get("volumeMounts", []):
                    assert mount["name"] in volumes, (doc["kind"], mount)


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    units = sorted((DEPLOY / "systemd").iterdir())
    assert [u.name for u in units] == ["dossier-backfill.service", "dossier-backfill.timer", "dossier-serve.service"]
    dossier_bin = shutil.which("dossier") or str(Path(__import__("sys").executable).parent / "dossier")
    for unit in units:
        text = unit.read_text()
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart="))
                assert argv[0] == "/opt/dossier/bin/dossier"
                parses_as_dossier(argv[1:], set())
        (tmp_path / unit.name).write_text(text.replace("/opt/dossier/bin/dossier", dossier_bin))
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(
        [analyze, "verify", "--man=no", *(str(tmp_path / u.name) for u in units)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    relevant = [line for line in proc.stderr.splitlines() if "dossier" in line]
    assert proc.returncode == 0 and relevant == [], proc.stderr


def test_compose_stack_configs_pass_their_own_checkers(tmp_path):
    folder = DEPLOY / "compose"
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    assert set(compose["services"]) == {"prometheus", "alertmanager", "dossier"}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (folder / source).is_file(), volume
    parses_as_dossier(compose["services"]["dossier"]["command"], set())
    settings = parse_config(
        yaml.safe_load((folder / "dossier.yaml").read_text()),
        file="dossier.yaml",
        base_dir=folder,
        env={"DOSSIER_WEBHOOK_TOKEN": "change-me"},
    )
    am = yaml.safe_load((folder / "alertmanager.yml").read_text())
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://dossier:8080/webhooks/alertmanager" and hook["send_resolved"] is True
    assert "change-me" in compose["services"]["dossier"]["environment"]["DOSSIER_WEBHOOK_TOKEN"]
    assert hook["http_config"]["authorization"]["credentials"] == "change-me"
    assert settings.serve.token.get_secret_value() == "change-me"
    # serve writes the notification log that the alertmanager collector reads, of the same receiver
    log = settings.serve.alertmanager.notification_log
    assert log is not None and log.parent == Path("/var/lib/dossier")  # the dossiers volume
    (reader,) = [s for s in settings.collectors.values() if s.type == "alertmanager"]
    assert reader.config.notification_log == log and reader.config.receiver == am["route"]["receiver"]
    amtool, promtool = shutil.which("amtool"), shutil.which("promtool")
    if amtool is None or promtool is None:
        pytest.skip("amtool/promtool not installed")
    checked = subprocess.run([amtool, "check-config", str(folder / "alertmanager.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    prom = (folder / "prometheus.yml").read_text().replace("/etc/prometheus/rules.yml", str(folder / "rules.yml"))
    (tmp_path / "prometheus.yml").write_text(prom)
    checked = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dockerfile_runs_a_dossier_command():
    text = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd and re.search(r'^ENTRYPOINT \["dossier"\]$', text, re.M)
    parses_as_dossier(yaml.safe_load(cmd.group(1)), set())
    assert "USER 10001" in text and "EXPOSE 8080" in text
