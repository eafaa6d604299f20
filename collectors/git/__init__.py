"""Collector `git`: commits of a GitOps or config repository that touched the watched paths."""

from collectors.git.collector import GitCollector
from collectors.git.config import GitConfig

__all__ = ["GitCollector", "GitConfig"]
