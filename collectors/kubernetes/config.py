"""Configuration of the `kubernetes` collector (`collectors: kubernetes/<name>: {...}`)."""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from collectors._http import DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE
from dossier.plugin import Duration, PluginConfig, RelPath

WorkloadKind = Literal["Deployment", "StatefulSet", "DaemonSet"]

# The reasons of the cluster events kept by default: what a postmortem reader wants to see.
DEFAULT_EVENT_REASONS: tuple[str, ...] = (
    "BackOff",
    "Failed",
    "FailedScheduling",
    "Unhealthy",
    "Killing",
    "OOMKilling",
    "Evicted",
    "FailedMount",
    "ScalingReplicaSet",
    "SuccessfulRescale",
)

# Placeholders of `dashboard_url`.
LINK_FIELDS: tuple[str, ...] = ("kind", "resource", "namespace", "name", "revision")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def _namespace(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise _error(f"{value!r} is not a namespace name (lowercase letters, digits and '-', at most 63)")
    return value


class Workload(PluginConfig):
    """One workload named explicitly, with the service it belongs to."""

    kind: WorkloadKind = Field(description="Deployment, StatefulSet or DaemonSet.")
    namespace: str = Field(description="The workload's namespace.")
    name: str = Field(description="The workload's name.")
    service: str | None = Field(
        default=None,
        description="The service it belongs to (a name or alias from `services:`); default: from its labels.",
    )

    @field_validator("namespace")
    @classmethod
    def _ns(cls, value: str) -> str:
        return _namespace(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
            raise _error(f"{value!r} is not a workload name (lowercase letters, digits, '-' and '.')")
        return value

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


class KubernetesConfig(PluginConfig):
    """Where the cluster is, which workloads to read, and how to name their services."""

    kubeconfig: RelPath | None = Field(
        default=None,
        description=(
            "kubeconfig file to use; a relative path is relative to the config file. Default: in-cluster "
            "credentials when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config."
        ),
    )
    context: str | None = Field(
        default=None, description="Context of the kubeconfig to use; default: its current-context."
    )
    in_cluster: bool | None = Field(
        default=None,
        description=(
            "Use the pod's service account (in-cluster credentials); default: when KUBERNETES_SERVICE_HOST "
            "is set and no kubeconfig is given."
        ),
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to read (required unless all_namespaces or workloads is given).",
    )
    all_namespaces: bool = Field(
        default=False, description="Read the workloads of every namespace (needs a ClusterRole)."
    )
    workloads: list[Workload] | None = Field(
        default=None,
        description=(
            "Read only these workloads, as [{kind, namespace, name, service}], instead of every workload of "
            "the namespaces."
        ),
    )
    service_label: str = Field(
        default="app.kubernetes.io/name",
        description="Label that names a workload's service; fallbacks: the `app` label, then the workload's name.",
    )
    events: bool = Field(default=True, description="Read the cluster events of the incident's workloads and pods.")
    event_reasons: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_REASONS),
        description="Reasons of the cluster events to keep (BackOff, Unhealthy, OOMKilling, ...).",
    )
    dashboard_url: str | None = Field(
        default=None,
        description=(
            "Link of each event, with {kind}, {resource}, {namespace}, {name} and {revision}, e.g. "
            "https://dashboard.example.com/#/{resource}/{namespace}/{name}; default: no link."
        ),
    )
    timeout: Duration = Field(default=30.0, description="Timeout of each API request.")
    connect_timeout: Duration = Field(
        default=DEFAULT_CONNECT_TIMEOUT, gt=0, description="Longest wait for a connection (at most timeout)."
    )
    retries: int = Field(
        default=4, ge=1, le=10, description="Attempts per request (1: no retry); 429, 5xx and timeouts are retried."
    )
    retry_max_delay: Duration = Field(
        default=60.0, description="Stop retrying a request once this long has passed since its first attempt."
    )
    deadline: Duration = Field(
        default=DEFAULT_DEADLINE,
        gt=0,
        description="Longest the whole collection from this source may take, retries and waits included.",
    )
    page_size: int = Field(default=500, ge=1, le=10000, description="Items per page of list requests (`limit`).")
    concurrency: int = Field(default=4, ge=1, le=32, description="API requests in flight at once.")

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for ns in value:
            _namespace(ns)
        dupes = sorted({ns for ns in value if value.count(ns) > 1})
        if dupes:
            raise _error(f"namespace {dupes[0]!r} is listed twice")
        return value

    @field_validator("service_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if len(value.rsplit("/", 1)[-1]) > 63 or not _LABEL_NAME.match(value):
            raise _error(f"{value!r} is not a label key (e.g. app.kubernetes.io/name)")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _error("must be more than 0s")
        return value

    @field_validator("event_reasons")
    @classmethod
    def _reasons(cls, value: list[str]) -> list[str]:
        for reason in value:
            if not reason.strip() or reason != reason.strip():
                raise _error(f"{reason!r} is not an event reason (e.g. BackOff)")
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise _error(f"not a link template: {exc}: write placeholders as {{name}}") from None
        for name in names:
            if name not in LINK_FIELDS:
                raise _error(f"unknown placeholder {{{name}}}: use {', '.join('{' + f + '}' for f in LINK_FIELDS)}")
        return value

    @field_validator("workloads")
    @classmethod
    def _unique_workloads(cls, value: list[Workload] | None) -> list[Workload] | None:
        if value is None:
            return None
        if not value:
            raise _error("give at least one workload, or leave workloads out")
        seen: set[str] = set()
        for w in value:
            if w.key in seen:
                raise _error(f"workload {w.key} is listed twice")
            seen.add(w.key)
        return value

    @model_validator(mode="after")
    def _scope(self) -> KubernetesConfig:
        if self.in_cluster and (self.kubeconfig is not None or self.context is not None):
            raise _error("in_cluster: true uses the pod's service account: leave out kubeconfig and context")
        if self.workloads is not None:
            if self.namespaces or self.all_namespaces:
                raise _error("workloads names its own namespaces: leave out namespaces and all_namespaces")
        elif self.all_namespaces and self.namespaces:
            raise _error("namespaces and all_namespaces: true exclude each other")
        elif not self.all_namespaces and not self.namespaces:
            raise _error("namespaces: give the namespaces to read (or all_namespaces: true, or workloads)")
        return self

    def link(self, *, kind: str, resource: str, namespace: str, name: str, revision: str) -> str | None:
        if self.dashboard_url is None:
            return None
        return self.dashboard_url.format(
            kind=kind, resource=resource, namespace=namespace, name=name, revision=revision
        )
