"""Collector `prometheus`: signals, alert history, alerting rules and scrape gaps from Prometheus."""

from collectors.prometheus.collector import PrometheusCollector
from collectors.prometheus.config import PrometheusConfig

__all__ = ["PrometheusCollector", "PrometheusConfig"]
