"""Collector `opensearch`: log counts, distinct error messages and exemplar documents from OpenSearch."""

from collectors.opensearch.collector import OpenSearchCollector
from collectors.opensearch.config import OpenSearchConfig

__all__ = ["OpenSearchCollector", "OpenSearchConfig"]
