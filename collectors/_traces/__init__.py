"""Shared parts of the trace collectors (`otlp_file`, `zipkin`, `jaeger`, `tempo`, `elastic_apm`), private.

* `spans`      one span as every source gives it, and the readers of each wire format (pure)
* `aggregate`  spans -> error ratio and p95 latency series per service and operation, the calls
               between services, exemplar traces; memory bounded whatever the number of spans
* `config`     the keys every trace collector has (`TraceSettings`)
* `remote`     the collection from a trace store's HTTP API, one time slice at a time
"""
