"""Collector `opsgenie`: alerts and their activity (notified, acknowledged, escalated, closed) from Opsgenie."""

from collectors.opsgenie.collector import OpsgenieCollector
from collectors.opsgenie.config import OpsgenieConfig

__all__ = ["OpsgenieCollector", "OpsgenieConfig"]
