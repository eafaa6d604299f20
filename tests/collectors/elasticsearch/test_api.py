"""StoreAPI plumbing: Retry-After, URLs without credentials, a 2xx from something that is not Elasticsearch."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collectors._logstore._api import RequestFailure, parse_retry_after, redact_url
from collectors.elasticsearch import ElasticsearchCollector, ElasticsearchConfig
from collectors.opensearch import OpenSearchCollector, OpenSearchConfig
from dossier.errors import SourceQueryError
from tests.collectors.elasticsearch.logdata import collect_request


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5 and parse_retry_after("-1") == 0.0
    now = time.time()
    assert 9 <= parse_retry_after(email.utils.formatdate(now + 10, usegmt=True), now) <= 10
    assert parse_retry_after(None) is None and parse_retry_after("") is None and parse_retry_after("soon") is None


def test_redact_url():
    assert redact_url("https://user:pw@es.example.com:9243/logs-*/_pit?keep_alive=2m") == (
        "https://es.example.com:9243/logs-*/_pit"
    )


def test_failure_properties():
    f = RequestFailure("POST", "http://x:9200/_search", "HTTP 503: busy", status=503, attempts=3)
    assert f.retryable and f.unavailable and not f.auth and f.detail() == "HTTP 503: busy (after 3 attempts)"
    refused = RequestFailure("POST", "http://x:9200/_search", "connection refused", kind="refused")
    assert refused.retryable and refused.unreachable
    bad = RequestFailure("POST", "http://x:9200/_search", "HTTP 400: x", status=400)
    assert not bad.retryable and not bad.unavailable and bad.detail() == "HTTP 400: x"


class _NotElasticsearch(BaseHTTPRequestHandler):
    """Answers 200 with JSON, but without X-Elastic-Product (a proxy, another product)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = json.dumps({"hits": {"hits": []}, "_shards": {"total": 1, "failed": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def plain_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _NotElasticsearch)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_a_2xx_without_the_product_header_is_refused(plain_server, ctx):
    collector = ElasticsearchCollector(ElasticsearchConfig(hosts=[plain_server], index="logs-*"), ctx)
    with pytest.raises(SourceQueryError) as info:
        collector.collect(collect_request())
    assert str(info.value) == (
        f"POST {plain_server}/logs-*/_search: the server is not Elasticsearch (no 'X-Elastic-Product: "
        "Elasticsearch' header): for OpenSearch use the opensearch collector"
    )
    (rec,) = ctx.recorder.requests
    assert rec.status == 200 and rec.sha256 and rec.error.startswith("the server is not Elasticsearch")


def test_an_answer_without_aggregations_is_not_a_crash(plain_server, ctx):
    cfg = OpenSearchConfig(hosts=[plain_server], index="logs-*", max_exemplars=0)
    result = OpenSearchCollector(cfg, ctx).collect(collect_request())
    assert {s.signal for s in result.series} == {"logs:*"}  # no levels came back: all zero
    assert all(sum(s.values) == 0 for s in result.series)
