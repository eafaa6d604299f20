"""Collector `kubernetes`: rollouts of Deployments, StatefulSets and DaemonSets, and cluster events."""

from collectors.kubernetes.collector import KubernetesCollector
from collectors.kubernetes.config import KubernetesConfig

__all__ = ["KubernetesCollector", "KubernetesConfig"]
