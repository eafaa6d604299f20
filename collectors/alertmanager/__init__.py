"""Collector `alertmanager`: when Alertmanager notified (its notification log) and its silences (API v2)."""

from collectors.alertmanager.collector import AlertmanagerCollector
from collectors.alertmanager.config import AlertmanagerConfig

__all__ = ["AlertmanagerCollector", "AlertmanagerConfig"]
