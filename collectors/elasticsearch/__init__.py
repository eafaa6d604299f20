"""Collector `elasticsearch`: log counts, distinct error messages and exemplar documents from Elasticsearch."""

from collectors.elasticsearch.collector import ElasticsearchCollector
from collectors.elasticsearch.config import ElasticsearchConfig

__all__ = ["ElasticsearchCollector", "ElasticsearchConfig"]
