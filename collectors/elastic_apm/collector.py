"""The `elastic_apm` collector: Elastic APM's trace documents in Elasticsearch, aggregated by the cluster.

Built on the `elasticsearch` collector's client, retries, provenance and error mapping
(`collectors._logstore._api.StoreAPI` with `ElasticsearchBackend`), read-only. Two kinds of request:

* one aggregation over every `transaction` document of the collection window (`query.aggregate_body`):
  per service and per its busiest operations, per bucket, the transactions, the failed ones
  (`event.outcome: failure`) and a histogram of `transaction.duration.us`; these fill the shared
  `TraceAggregator`, which gives the same `trace_errors` and `trace_latency` series as every trace
  collector. No document is read for them;
* a sample of traces read whole (`sample_traces`: the first failing transactions of the incident
  window and the latest ones, then every document of those traces), for the calls between
  services (a transaction whose `parent.id` is a span of another service) and the exemplars.

Failures: the aggregation failing fails the source (the `elasticsearch` collector's messages and
hints); the sample failing is a problem (status `partial`): the series stand, the call graph is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import numpy as np

from collectors._logstore._api import Capture, RequestFailure, StoreAPI
from collectors._traces.aggregate import NBINS, OTHER, TraceAggregator, _Op, window_of
from collectors._traces.result import emit
from collectors._traces.spans import BadSpan, apm_span
from collectors.elastic_apm.config import ElasticApmConfig
from collectors.elastic_apm.query import aggregate_body, sample_body, traces_body
from collectors.elasticsearch.collector import ElasticsearchBackend
from dossier.errors import CollectorError, SourceQueryError
from dossier.model import Problem
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult

TRACE_CHUNK = 100  # trace ids per terms query
MAX_DOCS = 10_000  # documents per search (Elasticsearch's default max_result_window)


def _total(answer: Mapping[str, Any]) -> int | None:
    total = (answer.get("hits") or {}).get("total")
    return total.get("value") if isinstance(total, Mapping) else total


class ElasticApmCollector(Collector[ElasticApmConfig]):
    """Error ratio, latency, calls and exemplars from Elastic APM data."""

    type = "elastic_apm"
    Config = ElasticApmConfig
    kinds = frozenset({"trace"})

    def __init__(self, config: ElasticApmConfig, ctx: CollectContext) -> None:
        super().__init__(config, ctx)
        self.store = config.store()
        self._api: StoreAPI | None = None

    @property
    def api(self) -> StoreAPI:
        if self._api is None:
            try:
                backend = ElasticsearchBackend(self.store, Capture())
            except (ValueError, OSError) as exc:
                raise CollectorError(
                    self.ctx.instance, f"cannot set up the Elasticsearch client: {exc}: check hosts and tls"
                ) from None
            self._api = StoreAPI(self.store, self.ctx.instance, self.ctx.recorder, backend)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def check(self) -> str:
        api = self.api
        try:
            info, _ = api.info()
            answer, _ = api.count({"query": {"term": {"processor.event": "transaction"}}})
        except RequestFailure as failure:
            raise api.source_error(failure) from None
        version = (info.get("version") or {}).get("number") or "unknown version"
        return f"Elasticsearch {version}: {answer.get('count', 0):,} APM transactions in {self.store.index_expr}"

    def collect(self, request: CollectRequest) -> CollectResult:
        cfg = self.config
        api = self.api
        grid = window_of(request.start, request.incident.start, request.end, cfg.interval)
        agg = TraceAggregator(grid, name=lambda raw: request.canonical(raw) or raw, max_services=cfg.max_services)
        body = aggregate_body(request.start, request.end, grid.step, cfg.max_services, cfg.max_operations)
        try:
            answer, rid = api.search(body, _total)
        except RequestFailure as failure:
            raise api.source_error(failure) from None
        if not isinstance(answer.get("hits"), Mapping):  # every search answer has hits, aggregations or not
            raise SourceQueryError(
                self.ctx.instance,
                f"POST {api.base}/{self.store.index_expr}/_search: unexpected answer, no `hits`: "
                "is hosts an Elasticsearch cluster?",
            )
        self._fill(agg, answer)
        result = CollectResult()
        sample = TraceAggregator(grid, name=agg.name, max_services=cfg.max_services)
        try:
            self._sample(sample, request)
        except RequestFailure as failure:
            result.problems.append(
                Problem(
                    source=self.ctx.instance,
                    reason=(
                        f"the sample of traces for the call graph and exemplars could not be read: {failure}: "
                        "the series stand, the calls between services are missing"
                    ),
                )
            )
        agg.calls, agg.errors, agg.slowest = sample.calls, sample.errors, sample.slowest
        where = f"Elasticsearch {self.store.index_expr}"

        def query(service: str, op: str | None, signal: str) -> str:
            what = (
                "failed transactions / transactions" if signal == "trace_errors" else "p95 of transaction.duration.us"
            )
            of = f"{service} {op!r}" if op else service
            return f"{what} of {of} per {grid.step:g}s in {where}"

        return emit(
            agg,
            result,
            instance=self.ctx.instance,
            request=request,
            config=cfg,
            query=query,
            where=where,
            search_link=self._service_link,
            trace_link=self._trace_link,
            request_id=rid,
        )

    # ---- the aggregation -------------------------------------------------------------------

    def _op(self, agg: TraceAggregator, service: str, op: str) -> _Op:
        size = agg.grid.size
        found = agg.ops.get((service, op))
        if found is None:
            found = agg.ops[(service, op)] = _Op(
                np.zeros(size, np.int64), np.zeros(size, np.int64), np.zeros((size, NBINS), np.int32)
            )
        return found

    def _add_time(self, agg: TraceAggregator, op: _Op, buckets: Any) -> None:
        for b in buckets if isinstance(buckets, list) else []:
            i = agg.grid.index(float(b.get("key", 0)) / 1000)
            if i is None:
                continue
            n = int(b.get("doc_count") or 0)
            op.spans[i] += n
            op.total += n
            op.errors[i] += int((b.get("failed") or {}).get("doc_count") or 0)
            for name, hb in ((b.get("latency") or {}).get("buckets") or {}).items():
                if str(name).isdigit() and int(name) < NBINS:
                    op.hist[i, int(name)] += int(hb.get("doc_count") or 0)

    def _fill(self, agg: TraceAggregator, answer: Mapping[str, Any]) -> None:
        for sb in ((answer.get("aggregations") or {}).get("services") or {}).get("buckets") or []:
            service = agg._service(str(sb.get("key")))
            if service is None:
                continue
            total = _Op(
                np.zeros(agg.grid.size, np.int64),
                np.zeros(agg.grid.size, np.int64),
                np.zeros((agg.grid.size, NBINS), np.int32),
            )
            self._add_time(agg, total, (sb.get("time") or {}).get("buckets"))
            named = []
            for ob in (sb.get("ops") or {}).get("buckets") or []:
                op = self._op(agg, service, str(ob.get("key")))
                self._add_time(agg, op, (ob.get("time") or {}).get("buckets"))
                named.append(op)
            rest = self._op(agg, service, OTHER)  # what the named operations leave: the service's total holds
            rest.spans += total.spans - sum((o.spans for o in named), np.zeros_like(total.spans))
            rest.errors += total.errors - sum((o.errors for o in named), np.zeros_like(total.errors))
            rest.hist += total.hist - sum((o.hist for o in named), np.zeros_like(total.hist))
            rest.total += total.total - sum(o.total for o in named)
            if not rest.total:
                del agg.ops[(service, OTHER)]

    # ---- the sample of whole traces --------------------------------------------------------

    def _sample(self, sample: TraceAggregator, request: CollectRequest) -> None:
        cfg = self.config
        if cfg.sample_traces == 0:
            return
        half = max(1, cfg.sample_traces // 2)
        ids: list[str] = []
        for start, failed in ((request.incident.start, True), (request.start, False)):
            answer, _ = self.api.search(sample_body(start, request.end, half, failed=failed), _total)
            for hit in (answer.get("hits") or {}).get("hits") or []:
                trace = ((hit.get("_source") or {}).get("trace") or {}).get("id")
                if isinstance(trace, str) and trace not in ids:
                    ids.append(trace)
        docs: list[Any] = []
        for i in range(0, len(ids), TRACE_CHUNK):
            body = traces_body(ids[i : i + TRACE_CHUNK], request.start, request.end, MAX_DOCS)
            answer, _ = self.api.search(body, _total)
            docs += [hit.get("_source") for hit in (answer.get("hits") or {}).get("hits") or []]
        spans = []
        for doc in docs:
            try:
                spans.append(apm_span(doc))
            except BadSpan:
                continue
        for span in sorted(spans, key=lambda s: (s.trace_id, s.start)):
            sample.add(span)

    # ---- links -----------------------------------------------------------------------------

    def _trace_link(self, trace_id: str) -> str | None:
        explicit = self.config.trace_link(trace_id)
        if explicit or not self.config.kibana_url:
            return explicit
        return f"{self.config.kibana_url}/app/apm/link-to/trace/{quote(trace_id)}"

    def _service_link(self, service: str, op: str | None) -> str | None:
        if not self.config.kibana_url:
            return None
        link = f"{self.config.kibana_url}/app/apm/services/{quote(service)}/overview"
        return link + (f"?transactionName={quote(op)}" if op else "")
