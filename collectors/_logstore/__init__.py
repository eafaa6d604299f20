"""Shared parts of the `elasticsearch` and `opensearch` collectors (private).

* `config`     the config keys both collectors have (`LogStoreConfig`)
* `query`      the search bodies: counts, composite pages, PIT pages (pure)
* `parse`      reading answers and error bodies (pure)
* `links`      links to Kibana / OpenSearch Dashboards Discover (pure)
* `_api`       retries, provenance and error mapping around a client library (`Backend`)
* `collector`  the collection itself (`LogStoreCollector`), subclassed once per store
"""
