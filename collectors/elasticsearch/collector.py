"""The `elasticsearch` collector: log counts, distinct error messages and exemplars from Elasticsearch.

Built on the official `elasticsearch` client, 8.x: it sends `compatible-with=8`, which
Elasticsearch 8.x and 9.x both accept (a 9.x client sends `compatible-with=9`, which 8.x
refuses). What is collected, and how, is `collectors._logstore.collector`.
"""

from __future__ import annotations

from typing import Any

import elastic_transport
from elastic_transport import RequestsHttpNode
from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError

from collectors._logstore._api import Backend, Capture
from collectors._logstore.collector import LogStoreCollector
from collectors.elasticsearch.config import ElasticsearchConfig
from dossier.errors import SourceQueryError


def _capturing_node(capture: Capture) -> type[RequestsHttpNode]:
    """elastic-transport's `requests` node, with the response hook that keeps the raw answer."""

    class CapturingNode(RequestsHttpNode):
        def __init__(self, config: elastic_transport.NodeConfig) -> None:
            super().__init__(config)
            capture.install(self.session)

    return CapturingNode


class ElasticsearchBackend(Backend):
    product = "Elasticsearch"
    timeout_errors = (elastic_transport.ConnectionTimeout,)
    tls_errors = (elastic_transport.TlsError,)
    connection_errors = (elastic_transport.ConnectionError,)
    product_errors = (UnsupportedProductError,)
    http_errors = (ApiError, elastic_transport.TransportError)
    protocol_errors = (elastic_transport.SerializationError,)
    PIT_OPEN = ("POST", "/_pit")
    PIT_CLOSE = ("DELETE", "/_pit")
    pit_field = "id"

    def __init__(self, config: ElasticsearchConfig, capture: Capture) -> None:  # type: ignore[override]
        super().__init__(config, capture)
        auth: dict[str, Any] = {}
        if config.api_key is not None:
            key = config.api_key.get_secret_value()
            auth["api_key"] = tuple(key.split(":", 1)) if ":" in key else key  # "id:key" or encoded
        elif config.basic_auth is not None:
            auth["basic_auth"] = (config.basic_auth.username, config.basic_auth.password.get_secret_value())
        elif config.bearer_token is not None:
            auth["bearer_auth"] = config.bearer_token.get_secret_value()
        tls: dict[str, Any] = {}
        if config.tls.ca_file is not None:
            tls["ca_certs"] = str(config.tls.ca_file)
        if config.tls.insecure_skip_verify:
            tls.update(verify_certs=False, ssl_show_warn=False)
        self.client = Elasticsearch(
            config.hosts,
            request_timeout=config.timeout,
            max_retries=0,  # tenacity retries, with backoff and Retry-After
            retry_on_timeout=False,
            retry_on_status=(),
            http_compress=False,
            node_class=_capturing_node(capture),
            **auth,
            **tls,
        )

    def info(self) -> dict[str, Any]:
        return dict(self.client.info().body)

    def count(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.count(index=index, body=body).body)

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, body=body).body)

    def open_pit(self, index: str, keep_alive: str) -> dict[str, Any]:
        return dict(self.client.open_point_in_time(index=index, keep_alive=keep_alive).body)

    def search_pit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(body=body).body)  # no index: the point in time pins it

    @staticmethod
    def close_pit_body(pit_id: str) -> dict[str, Any]:
        return {"id": pit_id}

    def close_pit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.close_point_in_time(id=body["id"]).body)

    def close(self) -> None:
        self.client.close()


class ElasticsearchCollector(LogStoreCollector[ElasticsearchConfig]):
    """Log evidence from Elasticsearch 8.x / 9.x."""

    type = "elasticsearch"
    Config = ElasticsearchConfig
    kinds = frozenset({"log"})
    ui = "kibana"
    backend_class = ElasticsearchBackend

    def version_line(self, info: dict[str, Any]) -> str:
        version = info.get("version") or {}
        if str(version.get("distribution") or "").lower() == "opensearch":
            raise SourceQueryError(
                self.ctx.instance,
                f"GET {self.api.base}/: the cluster is OpenSearch {version.get('number')}: "
                "use the opensearch collector",
            )
        cluster = info.get("cluster_name")
        line = f"Elasticsearch {version.get('number') or 'unknown version'}"
        return line + (f" (cluster {cluster})" if cluster else "")
