# Versions of the real search engines the tests start (read by fetch.sh and by node.py).
OPENSEARCH_VERSION=2.19.6
OPENSEARCH_LOG4J=2.25.4
# Elasticsearch 8.17: the newest 8.x whose server starts without the entitlement agent (8.18+ needs it, and it is
# not on Maven Central); 8.17.2 is the newest 8.17 whose transport-netty4 module is on Maven Central.
ELASTICSEARCH_VERSION=8.17.2
