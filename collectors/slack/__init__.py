"""Collector `slack`: the incident channel's pinned messages and those that declare, mitigate, roll back or resolve."""

from collectors.slack.collector import SlackCollector
from collectors.slack.config import SlackConfig

__all__ = ["SlackCollector", "SlackConfig"]
