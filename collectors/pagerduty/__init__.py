"""Collector `pagerduty`: pages, notifications, acknowledgements and resolutions from PagerDuty."""

from collectors.pagerduty.collector import PagerDutyCollector
from collectors.pagerduty.config import PagerDutyConfig

__all__ = ["PagerDutyCollector", "PagerDutyConfig"]
