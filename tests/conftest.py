"""Shared fixtures.

Real Prometheus:
* `local_prometheus`: a factory `local_prometheus(openmetrics, rules=None, **kwargs) -> LocalPrometheus`
  that backfills and starts a real server; every server it started is stopped at teardown.
* `checkout_prometheus` (session): the `checkout_incident` scenario starting 2026-11-20T10:00:00Z,
  loaded once; yields `(url, truth, changes)` (a NamedTuple, also with those attribute names).

Both skip when `prometheus`/`promtool` are missing, except under CI (env `CI` set), where that fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from tests.harness.prometheus import LocalPrometheus, PrometheusNotInstalled, find_binary
from tests.harness.synth import Truth, checkout_incident

CHECKOUT_INCIDENT_START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files from the current output (review the diff before committing)",
    )


def require_prometheus() -> None:
    """Skip (or, in CI, fail) when the Prometheus binaries are not installed."""
    try:
        find_binary("prometheus", "DOSSIER_PROMETHEUS_BIN")
        find_binary("promtool", "DOSSIER_PROMTOOL_BIN")
    except PrometheusNotInstalled as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Prometheus (.ci/run installs the Debian package): {exc}")
        pytest.skip(f"real Prometheus not available: {exc}")


@pytest.fixture
def local_prometheus() -> Iterator[Callable[..., LocalPrometheus]]:
    started: list[LocalPrometheus] = []

    def factory(openmetrics: Any = None, rules: Any = None, **kwargs: Any) -> LocalPrometheus:
        require_prometheus()
        prom = LocalPrometheus(openmetrics, rules, **kwargs)
        started.append(prom)
        return prom.start()

    yield factory
    for prom in reversed(started):
        prom.stop()


class CheckoutPrometheus(NamedTuple):
    url: str
    truth: Truth
    changes: list[dict[str, str]]


@pytest.fixture(scope="session")
def checkout_prometheus() -> Iterator[CheckoutPrometheus]:
    require_prometheus()
    openmetrics, rules, truth, changes = checkout_incident(CHECKOUT_INCIDENT_START)
    with LocalPrometheus(openmetrics, rules) as prom:
        yield CheckoutPrometheus(prom.url, truth, changes)


# --- Elasticsearch and OpenSearch: stand-in or a real cluster -----------------------------------------------------
#
# `es_server(docs, real=None, **standin_kwargs) -> EsServer`: `docs` is a JSON-lines path, NDJSON bytes/str, or an
# iterable of dicts (`_index`/`_id` keys honoured, default index the data stream `logs-app-default`). Without `real`
# it starts tests/standins/elasticsearch.py on a free loopback port with them loaded. With `real` (a
# tests/searchnodes/cluster.py Cluster: a node the session started, or the user's cluster named by
# DOSSIER_TEST_OPENSEARCH_URL / DOSSIER_TEST_ELASTICSEARCH_URL) the docs go into that cluster under fresh unique names
# (`server.index("logs-app-default")` gives the real name); stand-in-only features (inject(), requests,
# auth/flavor/major/... kwargs) then skip the test.


class EsServer:
    """What a test needs of an Elasticsearch endpoint, stand-in or real."""

    def __init__(
        self,
        url: str,
        *,
        standin: Any = None,
        index_map: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        major: int | None = None,
        cluster: Any = None,
    ):
        self.url = url
        self.standin = standin
        self.cluster = cluster
        self.is_real = standin is None
        self.index_map = index_map or {}
        self.headers = headers or {}
        self.major = major if major is not None else (standin.major if standin is not None else None)

    def index(self, name: str) -> str:
        """The concrete name `name` got (unchanged on the stand-in)."""
        return self.index_map.get(name, name)

    @property
    def pattern(self) -> str:
        """A comma-separated target covering every index/data stream the docs went into."""
        return ",".join(sorted(set(self.index_map.values()))) or "*"

    def _need_standin(self, what: str) -> Any:
        if self.standin is None:
            pytest.skip(f"{what} is a stand-in-only feature; not available against a real cluster")
        return self.standin

    def inject(self, *args: Any, **kwargs: Any) -> None:
        self._need_standin("inject()").inject(*args, **kwargs)

    @property
    def requests(self) -> list[Any]:
        return self._need_standin("the request log").requests

    @property
    def delay(self) -> float:
        return self._need_standin("delay").delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._need_standin("delay").delay = seconds

    def client_kwargs(self) -> dict[str, Any]:
        """kwargs for elasticsearch.Elasticsearch(...) (hosts plus auth headers for a real cluster)."""
        kw: dict[str, Any] = {"hosts": self.url}
        if self.headers:
            kw["headers"] = dict(self.headers)
        if self.cluster is not None and self.cluster.insecure:
            kw["verify_certs"] = False
        return kw


_STANDIN_ONLY_KWARGS = {
    "auth",
    "flavor",
    "major",
    "forbidden_indices",
    "delay",
    "pit_id_changes",
    "principal",
    "version",
    "logs_template",
    "ds_date",
    "default_index",
    "record_requests",
    "cluster_name",
}


@pytest.fixture
def es_server() -> Iterator[Callable[..., EsServer]]:
    from tests.searchnodes.cluster import load
    from tests.standins.elasticsearch import ElasticsearchStandin

    cleanups: list[Callable[[], None]] = []

    def factory(docs: Any = None, real: Any = None, **standin_kwargs: Any) -> EsServer:
        if real is not None:
            bad = sorted(set(standin_kwargs) & _STANDIN_ONLY_KWARGS)
            if bad:
                pytest.skip(f"stand-in-only option(s) {bad}; not available against a real cluster")
            index_map, _ = load(real, docs, standin_kwargs.get("mappings"))
            return EsServer(real.url, index_map=index_map, headers=real.headers, major=real.major, cluster=real)
        standin = ElasticsearchStandin(docs, **standin_kwargs).start()
        cleanups.append(standin.stop)
        return EsServer(standin.url, standin=standin)

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()
