"""Real clusters for the log collectors' tests: the nodes this session starts, and the user's own.

Backends (the `backend` of a test target, see tests/collectors/elasticsearch/logdata.py):

* `node`: a real node started once per test session from the layout `fetch.sh` made (see node.py);
  when the layout is missing the test skips, except under CI (env `CI` set), where that fails:
  `.ci/run` lays it out;
* `url`: the user's cluster, from `DOSSIER_TEST_OPENSEARCH_URL` or `DOSSIER_TEST_ELASTICSEARCH_URL`
  (`DOSSIER_TEST_ES_URL` is the older name of the latter). Credentials in the URL, or
  `DOSSIER_TEST_<ENGINE>_API_KEY="id:key"`; `DOSSIER_TEST_<ENGINE>_INSECURE=1` skips TLS
  verification. Documents go in under fresh unique names, deleted when the session ends.

`load(cluster, docs, mappings)` bulk-loads documents (a JSON-lines path, NDJSON text, or dicts with
optional `_index`/`_id`; default index `logs-app-default`). A name like `logs-*-*` becomes a data
stream: Elasticsearch's built-in `logs` template where the cluster has it, else a template of ours
with the same idea (string fields are keywords, `message` is text). The same documents are loaded
once per cluster and session: the collectors only read.
"""

from __future__ import annotations

import atexit
import base64
import fnmatch
import hashlib
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.searchnodes.node import NodeFailed, NodeNotInstalled, SearchNode

ENV = {"opensearch": "DOSSIER_TEST_OPENSEARCH", "elasticsearch": "DOSSIER_TEST_ELASTICSEARCH"}


class Unavailable(Exception):
    """This backend cannot be had here (the message says why and what to do)."""


@dataclass
class Cluster:
    flavor: str  # what the server says it is: "opensearch" or "elasticsearch"
    url: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)  # the Authorization header, if any
    insecure: bool = False
    env: str | None = None  # the env prefix of a user's cluster; None for a node of ours
    loaded: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)
    cleanups: list[tuple[str, str]] = field(default_factory=list)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def request(self, method: str, path: str, body: Any = None, *, ndjson: bool = False) -> Any:
        data = None
        headers = {"Accept": "application/json", **self.headers}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method, headers=headers)
        ctx = None
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(req, timeout=60, context=ctx) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from exc
        return json.loads(raw) if raw else None

    def credentials(self) -> dict[str, Any]:
        """The collector's credential and TLS keys for this cluster."""
        out: dict[str, Any] = {}
        if self.env:
            parts = urlsplit(os.environ[f"{self.env}_URL"])
            if parts.username:
                out["basic_auth"] = {"username": parts.username, "password": parts.password or ""}
            elif os.environ.get(f"{self.env}_API_KEY"):
                out["api_key"] = os.environ[f"{self.env}_API_KEY"]
        if self.insecure:
            out["tls"] = {"insecure_skip_verify": True}
        return out

    def cleanup(self) -> None:
        for kind, name in reversed(self.cleanups):
            try:
                self.request("DELETE", {"stream": "/_data_stream/", "index": "/", "template": "/_index_template/"}[kind]
                             + name)  # fmt: skip
            except (RuntimeError, OSError):
                pass
        self.cleanups.clear()
        self.loaded.clear()


def _connect(
    flavor: str, url: str, headers: dict[str, str], insecure: bool, env: str | None, version: str | None = None
) -> Cluster:
    probe = Cluster(flavor, url, version or "0", headers, insecure, env)
    if version is not None:
        # a node of ours, of a known version (Elasticsearch's `GET /` is the rest-root module, not on Maven Central)
        return probe
    info = probe.request("GET", "/")
    version = info["version"]
    probe.flavor = "opensearch" if str(version.get("distribution", "")).lower() == "opensearch" else "elasticsearch"
    probe.version = str(version["number"])
    if probe.flavor != flavor:
        raise Unavailable(f"{env}_URL is {probe.flavor} {probe.version}, not {flavor}")
    return probe


# ---- the user's clusters ------------------------------------------------------------------------------------------

_user: dict[str, Cluster] = {}


def user_url(flavor: str) -> str | None:
    old = os.environ.get("DOSSIER_TEST_ES_URL") if flavor == "elasticsearch" else None
    return os.environ.get(f"{ENV[flavor]}_URL") or old


def user_cluster(flavor: str) -> Cluster:
    if flavor in _user:
        return _user[flavor]
    env = ENV[flavor]
    url = user_url(flavor)
    if not url:
        raise Unavailable(f"set {env}_URL to run against your own {flavor} cluster")
    if not os.environ.get(f"{env}_URL"):
        os.environ[f"{env}_URL"] = url  # DOSSIER_TEST_ES_URL, under the name the rest reads
        for what in ("API_KEY", "INSECURE"):
            if os.environ.get(f"DOSSIER_TEST_ES_{what}") and not os.environ.get(f"{env}_{what}"):
                os.environ[f"{env}_{what}"] = os.environ[f"DOSSIER_TEST_ES_{what}"]
    parts = urlsplit(url)
    headers: dict[str, str] = {}
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    elif os.environ.get(f"{env}_API_KEY"):
        key = os.environ[f"{env}_API_KEY"]
        if ":" in key:
            key = base64.b64encode(key.encode()).decode()
        headers["Authorization"] = f"ApiKey {key}"
    cluster = _connect(flavor, url, headers, bool(os.environ.get(f"{env}_INSECURE")), env)
    atexit.register(cluster.cleanup)
    _user[flavor] = cluster
    return cluster


# ---- our nodes ----------------------------------------------------------------------------------------------------

_nodes: dict[str, Cluster | Exception] = {}
_started: list[tuple[SearchNode, tempfile.TemporaryDirectory[str]]] = []
START_TIMES: dict[str, float] = {}  # engine -> seconds until the node answered, for the session summary


def node_cluster(engine: str) -> Cluster:
    """The session's node of `engine`, started on first use; Unavailable when it cannot be had."""
    if engine not in _nodes:
        tmp = tempfile.TemporaryDirectory(prefix=f"dossier-{engine}-")
        try:
            node = SearchNode(engine, Path(tmp.name)).start()
        except (NodeNotInstalled, NodeFailed) as exc:
            tmp.cleanup()
            _nodes[engine] = exc
        else:
            _started.append((node, tmp))
            START_TIMES[engine] = node.start_seconds or 0.0
            _nodes[engine] = _connect(engine, node.url, {}, False, None, node.version)
    got = _nodes[engine]
    if isinstance(got, Exception):
        raise Unavailable(str(got))
    return got


def stop_nodes() -> None:
    while _started:
        node, tmp = _started.pop()
        node.stop()
        tmp.cleanup()
    _nodes.clear()


atexit.register(stop_nodes)


# ---- loading ------------------------------------------------------------------------------------------------------


def _items(docs: Any) -> list[dict[str, Any]]:
    if isinstance(docs, str | Path) and not str(docs).lstrip().startswith("{"):
        with open(docs, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    if isinstance(docs, bytes | str):
        text = docs.decode() if isinstance(docs, bytes) else docs
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(docs or [])


# Like Elasticsearch's built-in `logs` template where it matters to the collectors: every string is a keyword,
# `message` is text without a keyword sub-field.
_LOGS_MAPPINGS = {
    "dynamic_templates": [
        {"strings_as_keyword": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}}
    ],
    "properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"}},
}


def _has_builtin_logs_template(cluster: Cluster) -> bool:
    if cluster.flavor != "elasticsearch":
        return False
    try:
        found = cluster.request("GET", "/_index_template/logs")
    except RuntimeError:
        return False
    return any(t.get("name") == "logs" for t in (found or {}).get("index_templates", []))


def load(cluster: Cluster, docs: Any, mappings: dict[str, Any] | None = None) -> tuple[dict[str, str], str]:
    """Load `docs` into `cluster` (once per session for the same documents); (name -> real name, key)."""
    items = _items(docs)
    key = hashlib.sha256(json.dumps([items, mappings], sort_keys=True, default=str).encode()).hexdigest()
    if key in cluster.loaded:
        return cluster.loaded[key]
    suffix = uuid.uuid4().hex[:10]
    index_map: dict[str, str] = {}
    builtin = _has_builtin_logs_template(cluster)

    def real_name(name: str) -> str:
        if name in index_map:
            return index_map[name]
        data_stream = fnmatch.fnmatchcase(name, "logs-*-*")
        new = f"{name}x{suffix}" if data_stream else f"{name}-dossiertest-{suffix}"
        index_map[name] = new
        if data_stream:
            if not builtin:
                template = f"dossier-test-{suffix}-{len(index_map)}"
                body = {"index_patterns": [new], "data_stream": {}, "priority": 500,
                        "template": {"settings": {"number_of_replicas": 0}, "mappings": _LOGS_MAPPINGS}}  # fmt: skip
                cluster.request("PUT", f"/_index_template/{template}", body)
                cluster.cleanups.append(("template", template))
            cluster.cleanups.append(("stream", new))
        else:
            body = {"settings": {"number_of_replicas": 0}}
            for pat, mapping in (mappings or {}).items():
                if fnmatch.fnmatchcase(name, pat):
                    body["mappings"] = mapping.get("mappings", mapping)
            cluster.request("PUT", f"/{new}", body)
            cluster.cleanups.append(("index", new))
        return new

    lines: list[str] = []
    for doc in items:
        if "_source" in doc and isinstance(doc["_source"], dict):
            index, doc_id, src = doc.get("_index"), doc.get("_id"), doc["_source"]
        else:
            index, doc_id = doc.get("_index"), doc.get("_id")
            src = {k: v for k, v in doc.items() if k not in ("_index", "_id")}
        meta: dict[str, str] = {"_index": real_name(index or "logs-app-default")}
        if doc_id is not None:
            meta["_id"] = str(doc_id)
        lines.append(json.dumps({"create": meta}))
        lines.append(json.dumps(src))
    for i in range(0, len(lines), 10_000):
        chunk = ("\n".join(lines[i : i + 10_000]) + "\n").encode()
        res = cluster.request("POST", "/_bulk?refresh=true", chunk, ndjson=True)
        if res.get("errors"):
            first = next(it for it in res["items"] if "error" in next(iter(it.values())))
            raise RuntimeError(f"bulk load into {cluster.flavor} {cluster.version} failed: {first}")
    cluster.loaded[key] = (index_map, key)
    return index_map, key


def backends(flavor: str) -> Iterable[str]:
    """The real backends a test of `flavor` can run on here: always `node`, `url` when the env names one."""
    yield "node"
    if user_url(flavor):
        yield "url"
