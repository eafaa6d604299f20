"""Collector `zipkin`: error ratio, latency, calls and exemplar traces from Zipkin's API v2."""

from collectors.zipkin.collector import ZipkinCollector, ZipkinConfig

__all__ = ["ZipkinCollector", "ZipkinConfig"]
