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

from dossier.testing.prometheus import LocalPrometheus, PrometheusNotInstalled, find_binary
from dossier.testing.synth import Truth, checkout_incident

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


# --- Elasticsearch: stand-in or a real cluster ---------------------------------------------------------------------
#
# `es_server(docs, **standin_kwargs) -> EsServer` starts tests/standins/elasticsearch.py on a free loopback port with
# `docs` loaded (a JSON-lines path, NDJSON bytes/str, or an iterable of dicts; `_index`/`_id` keys honoured, default
# index the data stream `logs-app-default`). With env DOSSIER_TEST_ES_URL set (credentials in the URL, or
# DOSSIER_TEST_ES_API_KEY="id:key"; DOSSIER_TEST_ES_INSECURE=1 skips TLS verification) the docs go into that real
# cluster instead, under fresh unique names (`server.index("logs-app-default")` gives the real name), deleted at
# teardown. Stand-in-only features (inject(), requests, auth/flavor/major/... kwargs) then skip the test.


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
    ):
        self.url = url
        self.standin = standin
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
            pytest.skip(f"{what} is a stand-in-only feature; not available against DOSSIER_TEST_ES_URL")
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
        if os.environ.get("DOSSIER_TEST_ES_INSECURE"):
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


def _real_es_request(url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Any:
    import json
    import ssl
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url.rstrip("/") + path, data=body, method=method, headers=headers)
    ctx = None
    if os.environ.get("DOSSIER_TEST_ES_INSECURE"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=60, context=ctx) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from exc
    return json.loads(data) if data else None


def _real_es_server(base: str, docs: Any, kwargs: dict[str, Any]) -> tuple[EsServer, Callable[[], None]]:
    import base64
    import fnmatch
    import json
    import uuid
    from pathlib import Path
    from urllib.parse import urlsplit, urlunsplit

    bad = sorted(set(kwargs) & _STANDIN_ONLY_KWARGS - {"major"})
    if bad:
        pytest.skip(f"stand-in-only option(s) {bad}; not available against DOSSIER_TEST_ES_URL")
    parts = urlsplit(base)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        base = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""), parts.path, "", ""))
    elif os.environ.get("DOSSIER_TEST_ES_API_KEY"):
        key = os.environ["DOSSIER_TEST_ES_API_KEY"]
        if ":" in key:
            key = base64.b64encode(key.encode()).decode()
        headers["Authorization"] = f"ApiKey {key}"
    info = _real_es_request(base, "GET", "/", None, headers)
    major = int(info["version"]["number"].split(".")[0])
    if "major" in kwargs and kwargs["major"] != major:
        pytest.skip(f"test wants Elasticsearch {kwargs['major']}.x, DOSSIER_TEST_ES_URL is {info['version']['number']}")
    if isinstance(docs, str | Path) and not str(docs).lstrip().startswith("{"):
        with open(docs, encoding="utf-8") as fh:
            items = [json.loads(line) for line in fh if line.strip()]
    elif isinstance(docs, bytes | str):
        text = docs.decode() if isinstance(docs, bytes) else docs
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        items = list(docs or [])
    suffix = uuid.uuid4().hex[:10]
    index_map: dict[str, str] = {}
    created_streams: list[str] = []
    created_indices: list[str] = []

    def real_name(name: str) -> str:
        if name not in index_map:
            data_stream = fnmatch.fnmatchcase(name, "logs-*-*")
            new = f"{name}x{suffix}" if data_stream else f"{name}-dossiertest-{suffix}"
            index_map[name] = new
            (created_streams if data_stream else created_indices).append(new)
            mappings = kwargs.get("mappings") or {}
            for pat, body in mappings.items():
                if fnmatch.fnmatchcase(name, pat) and not data_stream:
                    _real_es_request(
                        base, "PUT", f"/{new}", json.dumps({"mappings": body.get("mappings", body)}).encode(), headers
                    )
        return index_map[name]

    lines = []
    for doc in items:
        if "_source" in doc and isinstance(doc["_source"], dict):
            index, doc_id, src = doc.get("_index"), doc.get("_id"), doc["_source"]
        else:
            index, doc_id = doc.get("_index"), doc.get("_id")
            src = {k: v for k, v in doc.items() if k not in ("_index", "_id")}
        meta = {"_index": real_name(index or "logs-app-default")}
        if doc_id is not None:
            meta["_id"] = str(doc_id)
        lines.append(json.dumps({"create": meta}))
        lines.append(json.dumps(src))

    def cleanup() -> None:
        for name in created_streams:
            try:
                _real_es_request(base, "DELETE", f"/_data_stream/{name}", None, headers)
            except RuntimeError:
                pass
        for name in created_indices:
            try:
                _real_es_request(base, "DELETE", f"/{name}", None, headers)
            except RuntimeError:
                pass

    try:
        for i in range(0, len(lines), 10_000):
            chunk = ("\n".join(lines[i : i + 10_000]) + "\n").encode()
            res = _real_es_request(
                base, "POST", "/_bulk?refresh=true", chunk, {**headers, "Content-Type": "application/x-ndjson"}
            )
            if res.get("errors"):
                first = next(it for it in res["items"] if "error" in next(iter(it.values())))
                raise RuntimeError(f"bulk load into the real cluster failed: {first}")
    except BaseException:
        cleanup()
        raise
    auth = {k: v for k, v in headers.items() if k == "Authorization"}
    return EsServer(base, index_map=index_map, headers=auth, major=major), cleanup


@pytest.fixture
def es_server() -> Iterator[Callable[..., EsServer]]:
    from tests.standins.elasticsearch import ElasticsearchStandin

    cleanups: list[Callable[[], None]] = []

    def factory(docs: Any = None, **standin_kwargs: Any) -> EsServer:
        real_url = os.environ.get("DOSSIER_TEST_ES_URL")
        if real_url:
            server, cleanup = _real_es_server(real_url, docs, standin_kwargs)
            cleanups.append(cleanup)
            return server
        standin = ElasticsearchStandin(docs, **standin_kwargs).start()
        cleanups.append(standin.stop)
        return EsServer(standin.url, standin=standin)

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()
