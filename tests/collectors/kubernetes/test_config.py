"""KubernetesConfig: defaults, the sample, and every refusal with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors.kubernetes import KubernetesCollector, KubernetesConfig
from collectors.kubernetes.config import DEFAULT_EVENT_REASONS

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "kubernetes"


def problems(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        KubernetesConfig.model_validate(data)
    return [
        ": ".join([*(["::".join(str(p) for p in e["loc"])] if e["loc"] else []), e["msg"]]) for e in info.value.errors()
    ]


def test_defaults():
    c = KubernetesConfig(namespaces=["prod"])
    assert (c.kubeconfig, c.context, c.in_cluster, c.all_namespaces, c.workloads) == (None, None, None, False, None)
    assert (c.service_label, c.events, c.dashboard_url) == ("app.kubernetes.io/name", True, None)
    assert c.event_reasons == list(DEFAULT_EVENT_REASONS)
    assert (c.timeout, c.page_size, c.concurrency) == (30.0, 500, 4)
    assert KubernetesCollector.type == "kubernetes" and KubernetesCollector.kinds == {"change"}


def test_sample_validates_and_is_the_readme_example():
    sample = (PLUGIN_DIR / "sample.yaml").read_text()
    data = yaml.safe_load(sample)["collectors"]["kubernetes/prod"]
    c = KubernetesConfig.model_validate(data, context={"base_dir": Path("/etc/dossier")})
    assert c.kubeconfig == Path("/etc/dossier/kube/prod.yaml")
    assert c.namespaces == ["prod", "prod-batch"]
    assert f"## Example\n\n```yaml\n{sample}```" in (PLUGIN_DIR / "README.md").read_text()


def test_every_field_is_described_and_in_the_readme():
    readme = (PLUGIN_DIR / "README.md").read_text()
    for name, f in KubernetesConfig.model_fields.items():
        assert f.description, name
        assert f"| `{name}` |" in readme, name


def test_workloads_and_link():
    c = KubernetesConfig.model_validate(
        {
            "workloads": [{"kind": "Deployment", "namespace": "prod", "name": "payments-v2", "service": "payments"}],
            "dashboard_url": "https://d.example.com/#/{resource}/{namespace}/{name}",
        }
    )
    assert c.workloads is not None and c.workloads[0].key == "Deployment/prod/payments-v2"
    link = c.link(kind="Deployment", resource="deployments", namespace="prod", name="p", revision="3")
    assert link == "https://d.example.com/#/deployments/prod/p"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, ["namespaces: give the namespaces to read (or all_namespaces: true, or workloads)"]),
        (
            {"namespaces": ["prod"], "all_namespaces": True},
            ["namespaces and all_namespaces: true exclude each other"],
        ),
        (
            {"namespaces": ["prod"], "workloads": [{"kind": "Deployment", "namespace": "prod", "name": "p"}]},
            ["workloads names its own namespaces: leave out namespaces and all_namespaces"],
        ),
        (
            {"namespaces": ["prod"], "in_cluster": True, "kubeconfig": "k.yaml"},
            ["in_cluster: true uses the pod's service account: leave out kubeconfig and context"],
        ),
        (
            {"namespaces": ["Prod"]},
            ["namespaces: 'Prod' is not a namespace name (lowercase letters, digits and '-', at most 63)"],
        ),
        ({"namespaces": ["prod", "prod"]}, ["namespaces: namespace 'prod' is listed twice"]),
        (
            {"namespaces": ["prod"], "service_label": "not a label"},
            ["service_label: 'not a label' is not a label key (e.g. app.kubernetes.io/name)"],
        ),
        (
            {"namespaces": ["prod"], "dashboard_url": "https://d/{cluster}/{name}"},
            ["dashboard_url: unknown placeholder {cluster}: use {kind}, {resource}, {namespace}, {name}, {revision}"],
        ),
        ({"namespaces": ["prod"], "timeout": "0s"}, ["timeout: must be more than 0s"]),
        ({"namespaces": ["prod"], "page_size": 0}, ["page_size: Input should be greater than or equal to 1"]),
        ({"namespaces": ["prod"], "namespace": "x"}, ["namespace: Extra inputs are not permitted"]),
        (
            {"workloads": [{"kind": "Job", "namespace": "prod", "name": "p"}]},
            ["workloads::0::kind: Input should be 'Deployment', 'StatefulSet' or 'DaemonSet'"],
        ),
        (
            {
                "workloads": [
                    {"kind": "Deployment", "namespace": "prod", "name": "p"},
                    {"kind": "Deployment", "namespace": "prod", "name": "p", "service": "x"},
                ]
            },
            ["workloads: workload Deployment/prod/p is listed twice"],
        ),
        ({"workloads": []}, ["workloads: give at least one workload, or leave workloads out"]),
    ],
)
def test_refusals(data: dict, expected: list[str]):
    assert problems(data) == expected
