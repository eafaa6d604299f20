"""Log documents with a known truth, and the collectors pointed at a server holding them.

Every test runs for each target of logdata.TARGETS: the stand-in (`tests/standins/elasticsearch.py`)
as each flavor and major, a real OpenSearch node that the session starts (tests/searchnodes/), and
the user's own cluster where `DOSSIER_TEST_OPENSEARCH_URL` / `DOSSIER_TEST_ELASTICSEARCH_URL` names
one (`s.real` tells a real cluster; a test that needs a fault only the stand-in makes skips there).
A missing node layout skips, except under CI, where it fails: `.ci/run` lays it out.

Two layouts of the same documents:

* `ecs`: the data stream `logs-app-default` (Elastic's built-in `logs-*-*` template: ECS
  keyword fields, `message` is text without a keyword) -> default fields, no `message_keyword`,
  so distinct messages take the point-in-time fallback;
* `dynamic`: a plain index `app-logs` with dynamic mappings (every string `text` with a
  `.keyword` sub-field) -> fields on `.keyword`, `message_keyword: message.keyword`, so distinct
  messages come from the composite aggregation.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from collectors._logstore.collector import LogStoreCollector
from collectors.elasticsearch import ElasticsearchCollector, ElasticsearchConfig
from collectors.opensearch import OpenSearchCollector, OpenSearchConfig
from dossier.plugin import CollectContext, Recorder
from tests.collectors.elasticsearch.logdata import DOCS
from tests.searchnodes.cluster import Cluster, Unavailable, node_cluster, user_cluster


@pytest.fixture
def ctx() -> CollectContext:
    return CollectContext(
        instance="elasticsearch/test",
        log=logging.LoggerAdapter(logging.getLogger("collectors.elasticsearch"), {"collector": "elasticsearch/test"}),
        recorder=Recorder("elasticsearch/test"),
    )


@dataclass
class Setup:
    """A server with the documents and a collector configured for one target and layout."""

    es: Any  # tests/conftest.py's EsServer
    flavor: str
    layout: str
    index: str  # what the collector searches
    config: dict[str, Any]
    make: Callable[..., LogStoreCollector[Any]]

    @property
    def real(self) -> bool:
        return bool(self.es.is_real)

    def requests_to(self, path_regex: str) -> list[Any]:
        rx = re.compile(path_regex)
        return [q for q in self.es.requests if rx.search(q.path)]


def layout_config(layout: str, index: str) -> dict[str, Any]:
    if layout == "ecs":
        return {"index": index}
    return {
        "index": index,
        "fields": {
            "service": "service.name.keyword",
            "level": "log.level.keyword",
            "error_type": "error.type.keyword",
            "trace_id": "trace.id.keyword",
        },
        "message_keyword": "message.keyword",
    }


def layout_docs(layout: str, docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, str]:
    """(documents with their _index, the index they go to, the pattern the collector searches on the stand-in)."""
    if layout == "ecs":
        return [{"_index": "logs-app-default", **d} for d in docs], "logs-app-default", "logs-*"
    return [{"_index": "app-logs", **d} for d in docs], "app-logs", "app-*"


def real_cluster(flavor: str, backend: str) -> Cluster:
    """The real cluster of a target: the session's node, or the user's; skip (fail in CI) when it cannot be had."""
    try:
        return node_cluster(flavor) if backend == "node" else user_cluster(flavor)
    except Unavailable as exc:
        if backend == "node" and os.environ.get("CI"):
            pytest.fail(f"CI must run the real {flavor} node (.ci/run runs tests/searchnodes/fetch.sh): {exc}")
        pytest.skip(f"real {flavor} not available: {exc}")


@pytest.fixture
def setup(es_server: Callable[..., Any], ctx: CollectContext) -> Callable[..., Setup]:
    """`setup(target, layout, docs=DOCS, server={...}, **config)` -> Setup."""

    def factory(
        target: tuple[str, int, str | None],
        layout: str = "ecs",
        docs: list[dict[str, Any]] | None = None,
        server: dict[str, Any] | None = None,
        **config: Any,
    ) -> Setup:
        flavor, major, version, backend = target
        loaded, concrete, pattern = layout_docs(layout, DOCS if docs is None else docs)
        cluster = None if backend == "standin" else real_cluster(flavor, backend)
        if cluster is not None:
            es = es_server(loaded, real=cluster, **(server or {}))
        else:
            kw: dict[str, Any] = {"major": major}
            if flavor == "opensearch":
                kw = {"flavor": flavor, "version": version}
            es = es_server(loaded, **kw, **(server or {}))
        index = es.index(concrete) if es.is_real else pattern
        base: dict[str, Any] = {"hosts": [es.url], "retries": 2, "retry_max_delay": "10s", "timeout": "10s"}
        base.update(layout_config(layout, index))
        if cluster is not None:
            base.update(cluster.credentials())
        base.update(config)
        cls: type[LogStoreCollector[Any]]
        if flavor == "elasticsearch":
            cls, model = ElasticsearchCollector, ElasticsearchConfig
        else:
            cls, model = OpenSearchCollector, OpenSearchConfig

        def make(**override: Any) -> LogStoreCollector[Any]:
            return cls(model.model_validate({**base, **override}), ctx)

        return Setup(es, flavor, layout, index, base, make)

    return factory


def needs_root_endpoint(target: tuple[Any, ...]) -> None:
    """Skip on the Elasticsearch node: it has no `GET /` (the rest-root module is not on Maven Central)."""
    if target[0] == "elasticsearch" and target[3] == "node":
        pytest.skip("the Elasticsearch node has no GET / (module rest-root, not on Maven Central)")


def stand_in_only(s: Setup) -> None:
    if s.real:
        pytest.skip("needs the stand-in (injected failures, delays, credentials)")
