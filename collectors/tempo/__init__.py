"""Collector `tempo`: error ratio, latency, calls and exemplar traces from Grafana Tempo."""

from collectors.tempo.collector import TempoCollector, TempoConfig

__all__ = ["TempoCollector", "TempoConfig"]
