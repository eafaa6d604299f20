"""Collector `otlp_file`: traces from OTLP/JSON files, as the OpenTelemetry Collector's file exporter writes them."""

from collectors.otlp_file.collector import OtlpFileCollector
from collectors.otlp_file.config import OtlpFileConfig

__all__ = ["OtlpFileCollector", "OtlpFileConfig"]
