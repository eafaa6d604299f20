# Versions of the real search engines the tests start (read by fetch.sh and by node.py).
OPENSEARCH_VERSION=2.19.6
OPENSEARCH_LOG4J=2.25.4
