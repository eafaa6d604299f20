"""Collector `jenkins`: deploys, config changes and rollbacks from the builds of Jenkins jobs."""

from collectors.jenkins.collector import JenkinsCollector
from collectors.jenkins.config import JenkinsConfig

__all__ = ["JenkinsCollector", "JenkinsConfig"]
