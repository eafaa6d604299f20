"""Collector `argocd`: syncs and rollbacks of Argo CD applications, from their sync history."""

from collectors.argocd.collector import ArgoCDCollector
from collectors.argocd.config import ArgoCDConfig

__all__ = ["ArgoCDCollector", "ArgoCDConfig"]
