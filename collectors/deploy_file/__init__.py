"""Collector `deploy_file`: changes from a deploy or change log file the team already keeps."""

from collectors.deploy_file.collector import DeployFileCollector
from collectors.deploy_file.config import DeployFileConfig

__all__ = ["DeployFileCollector", "DeployFileConfig"]
