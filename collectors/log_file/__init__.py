"""Collector `log_file`: log counts, error messages and exemplars from exported log files."""

from collectors.log_file.collector import LogFileCollector
from collectors.log_file.config import LogFileConfig

__all__ = ["LogFileCollector", "LogFileConfig"]
