"""Collector `github`: deployments and deploy workflow runs of GitHub repositories."""

from collectors.github.collector import GitHubCollector
from collectors.github.config import GitHubConfig

__all__ = ["GitHubCollector", "GitHubConfig"]
