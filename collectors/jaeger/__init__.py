"""Collector `jaeger`: error ratio, latency, calls and exemplar traces from the Jaeger query service."""

from collectors.jaeger.collector import JaegerCollector, JaegerConfig

__all__ = ["JaegerCollector", "JaegerConfig"]
