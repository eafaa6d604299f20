"""Collector `elastic_apm`: error ratio, latency, calls and exemplar traces from Elastic APM data in Elasticsearch."""

from collectors.elastic_apm.collector import ElasticApmCollector
from collectors.elastic_apm.config import ElasticApmConfig

__all__ = ["ElasticApmCollector", "ElasticApmConfig"]
