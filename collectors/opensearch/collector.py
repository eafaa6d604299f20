"""The `opensearch` collector: log counts, distinct error messages and exemplars from OpenSearch.

Built on `opensearch-py` (OpenSearch 2.x and 3.x). What is collected, and how, is
`collectors._logstore.collector`; only the point-in-time API differs from Elasticsearch
(`/_search/point_in_time`, `pit_id`).
"""

from __future__ import annotations

from typing import Any

import opensearchpy
from opensearchpy import OpenSearch, RequestsHttpConnection

from collectors._logstore._api import Backend, Capture
from collectors._logstore.collector import LogStoreCollector
from collectors.opensearch.config import OpenSearchConfig
from dossier.errors import SourceQueryError


def _capturing_connection(capture: Capture) -> type[RequestsHttpConnection]:
    """opensearch-py's `requests` connection, with the response hook that keeps the raw answer."""

    class CapturingConnection(RequestsHttpConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            capture.install(self.session)

    return CapturingConnection


class OpenSearchBackend(Backend):
    product = "OpenSearch"
    timeout_errors = (opensearchpy.ConnectionTimeout,)
    tls_errors = (opensearchpy.SSLError,)
    connection_errors = (opensearchpy.ConnectionError,)
    http_errors = (opensearchpy.TransportError,)
    protocol_errors = (opensearchpy.SerializationError,)
    PIT_OPEN = ("POST", "/_search/point_in_time")
    PIT_CLOSE = ("DELETE", "/_search/point_in_time")
    pit_field = "pit_id"

    def __init__(self, config: OpenSearchConfig, capture: Capture) -> None:  # type: ignore[override]
        super().__init__(config, capture)
        kw: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if config.api_key is not None:
            headers["Authorization"] = f"ApiKey {config.api_key.get_secret_value()}"
        elif config.basic_auth is not None:
            kw["http_auth"] = (config.basic_auth.username, config.basic_auth.password.get_secret_value())
        elif config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"
        if config.tls.ca_file is not None:
            kw["ca_certs"] = str(config.tls.ca_file)
        if config.tls.insecure_skip_verify:
            kw.update(verify_certs=False, ssl_show_warn=False)
        self.client = OpenSearch(
            hosts=config.hosts,
            timeout=config.timeout,
            max_retries=0,  # tenacity retries, with backoff and Retry-After
            retry_on_timeout=False,
            retry_on_status=(),
            http_compress=False,
            connection_class=_capturing_connection(capture),
            headers=headers or None,
            **kw,
        )

    def info(self) -> dict[str, Any]:
        return dict(self.client.info())

    def count(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.count(index=index, body=body))

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(index=index, body=body))

    def open_pit(self, index: str, keep_alive: str) -> dict[str, Any]:
        return dict(self.client.create_pit(index=index, params={"keep_alive": keep_alive}))

    def search_pit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.search(body=body))  # no index: the point in time pins it

    @staticmethod
    def close_pit_body(pit_id: str) -> dict[str, Any]:
        return {"pit_id": [pit_id]}

    def close_pit(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.client.delete_pit(body=body))

    def close(self) -> None:
        self.client.close()


class OpenSearchCollector(LogStoreCollector[OpenSearchConfig]):
    """Log evidence from OpenSearch 2.x / 3.x."""

    type = "opensearch"
    Config = OpenSearchConfig
    kinds = frozenset({"log"})
    ui = "dashboards"
    backend_class = OpenSearchBackend
    # OpenSearch 2.x refuses `format` in a field sort (HTTP 400 "[field_sort] unknown field [format]", seen on a
    # real 2.19 node): the sort values come back as epoch milliseconds, which parse_time reads.
    sort_format = None
    # OpenSearch 2.x adds no tiebreaker to a point-in-time search (Elasticsearch adds `_shard_doc`): sorted on
    # the timestamp alone, search_after skipped the documents of one instant that a page boundary fell among
    # (seen on a real 2.19 node: 23 errors of one millisecond, 4 a page, 7 read). `_id` is unique per document.
    tiebreaker = "_id"

    def version_line(self, info: dict[str, Any]) -> str:
        version = info.get("version") or {}
        if str(version.get("distribution") or "").lower() != "opensearch":
            raise SourceQueryError(
                self.ctx.instance,
                f"GET {self.api.base}/: the cluster is Elasticsearch {version.get('number')}, not OpenSearch: "
                f"use the elasticsearch collector",
            )
        cluster = info.get("cluster_name")
        line = f"OpenSearch {version.get('number') or 'unknown version'}"
        return line + (f" (cluster {cluster})" if cluster else "")
