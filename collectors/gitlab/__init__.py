"""Collector `gitlab`: deployments (and optionally deploy pipelines) of GitLab projects."""

from collectors.gitlab.collector import GitLabCollector
from collectors.gitlab.config import GitLabConfig

__all__ = ["GitLabCollector", "GitLabConfig"]
