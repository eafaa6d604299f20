#!/usr/bin/env bash
# Lay out real search-engine nodes for the tests from Maven Central artifacts (no tarball download:
# only the Maven registry is reachable). Idempotent: a layout that is complete is left alone, and
# Maven's own cache (~/.m2) keeps the jars between runs on one machine.
#
#   tests/searchnodes/fetch.sh [CACHE_DIR]     (default: $DOSSIER_SEARCHNODES_CACHE or ~/.cache/dossier/searchnodes)
#
# Result, for each engine: CACHE_DIR/<engine>-<version>/{lib,modules/<name>/} plus a file COMPLETE;
# tests/searchnodes/node.py starts a node from it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${1:-${DOSSIER_SEARCHNODES_CACHE:-$HOME/.cache/dossier/searchnodes}}"
# shellcheck source=versions.sh
. "$here/versions.sh"
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# copy G:A:V (and its runtime dependencies) into DIR, through a throwaway pom
copy_deps() {
    local dir="$1"; shift
    local pom="$work/pom-$RANDOM"
    mkdir -p "$pom"
    {
        echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        echo '<groupId>dossier.tests</groupId><artifactId>searchnode</artifactId><version>1</version><dependencies>'
        local gav g a v
        for gav in "$@"; do
            IFS=: read -r g a v <<<"$gav"
            echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version></dependency>"
        done
        echo '</dependencies></project>'
    } >"$pom/pom.xml"
    mvn -B -q -Dstyle.color=never -f "$pom/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir"
}

# a module: its jars, less those the server already has on lib/ (a duplicate is "jar hell"), plus its descriptor
module() {
    local home="$1" name="$2" classname="$3" extended="$4" engine_version="$5"; shift 5
    local dir="$home/modules/$name"
    copy_deps "$dir" "$@"
    local jar
    for jar in "$dir"/*.jar; do
        if [ -e "$home/lib/$(basename "$jar")" ]; then rm -f "$jar"; fi
    done
    {
        echo "description=$name (laid out from Maven Central for Dossier's tests)"
        echo "version=$engine_version"
        echo "name=$name"
        echo "classname=$classname"
        echo "java.version=17"
        echo "${DESCRIPTOR_VERSION_KEY}=$engine_version"
        echo "extended.plugins=$extended"
        echo "has.native.controller=false"
    } >"$dir/plugin-descriptor.properties"
    # A test node only: the module's code may do what the server's own code may.
    printf 'grant {\n  permission java.security.AllPermission;\n};\n' >"$dir/plugin-security.policy"
}

opensearch() {
    local v="$OPENSEARCH_VERSION" home="$cache/opensearch-$OPENSEARCH_VERSION"
    if [ -e "$home/COMPLETE" ]; then echo "searchnodes: opensearch $v already laid out in $home"; return; fi
    rm -rf "$home"
    mkdir -p "$home/lib" "$home/modules"
    copy_deps "$home/lib" "org.opensearch:opensearch:$v" "org.opensearch:opensearch-plugin-classloader:$v" \
        "org.apache.logging.log4j:log4j-core:$OPENSEARCH_LOG4J"
    DESCRIPTOR_VERSION_KEY=opensearch.version
    module "$home" transport-netty4 org.opensearch.transport.Netty4Plugin "" "$v" \
        "org.opensearch.plugin:transport-netty4-client:$v"
    module "$home" lang-painless org.opensearch.painless.PainlessPlugin "" "$v" \
        "org.opensearch.plugin:lang-painless:$v"
    module "$home" analysis-common org.opensearch.analysis.common.CommonAnalysisPlugin lang-painless "$v" \
        "org.opensearch.plugin:analysis-common:$v"
    touch "$home/COMPLETE"
    echo "searchnodes: opensearch $v laid out in $home"
}

# Elasticsearch: the server and transport-netty4 (HTTP) are on Maven Central, the distribution's other modules
# (rest-root, data-streams' REST API, x-pack) and its CLI are not: tests/searchnodes/README.md says what that leaves.
elasticsearch() {
    local v="$ELASTICSEARCH_VERSION" home="$cache/elasticsearch-$ELASTICSEARCH_VERSION"
    if [ -e "$home/COMPLETE" ]; then echo "searchnodes: elasticsearch $v already laid out in $home"; return; fi
    if ! command -v javac >/dev/null 2>&1; then
        echo "searchnodes: no javac (a JDK), elasticsearch $v not laid out: its tests skip (fail under CI)" >&2
        return
    fi
    rm -rf "$home"
    mkdir -p "$home/lib/tools/ansi-console" "$home/modules" "$home/plugins"
    copy_deps "$home/lib" "org.elasticsearch:elasticsearch:$v"
    local dir="$home/modules/transport-netty4" jar
    copy_deps "$dir" "org.elasticsearch.plugin:transport-netty4:$v"
    for jar in "$dir"/*.jar; do
        if [ -e "$home/lib/$(basename "$jar")" ]; then rm -f "$jar"; fi
    done
    {
        echo "description=transport-netty4 (laid out from Maven Central for Dossier's tests)"
        echo "version=$v"
        echo "name=transport-netty4"
        echo "classname=org.elasticsearch.transport.netty4.Netty4Plugin"
        echo "modulename=org.elasticsearch.transport.netty4"
        echo "java.version=17"
        echo "elasticsearch.version=$v"
        echo "extended.plugins="
        echo "has.native.controller=false"
    } >"$dir/plugin-descriptor.properties"
    # The module's own policy (the server refuses AllPermission in a module's policy).
    cat >"$dir/plugin-security.policy" <<'POLICY'
grant codeBase "${codebase.netty-common}" {
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "setContextClassLoader";
};
grant codeBase "${codebase.netty-transport}" {
  permission java.net.SocketPermission "*", "accept,connect";
};
POLICY
    # The server loads the CLI's terminal helper from lib/tools/ansi-console (not on Maven Central) to print
    # in colour: this one says "no terminal" (the node's output goes to a file anyway).
    local src="$work/ansi"
    mkdir -p "$src/org/elasticsearch/io/ansi" "$src/out"
    cat >"$src/org/elasticsearch/io/ansi/AnsiConsoleLoader.java" <<'JAVA'
package org.elasticsearch.io.ansi;

/** No terminal: the node runs under the tests, its output in a file. */
public class AnsiConsoleLoader implements java.util.function.Supplier<Object> {
    public Object get() {
        return null;
    }
}
JAVA
    javac -d "$src/out" "$src/org/elasticsearch/io/ansi/AnsiConsoleLoader.java"
    (cd "$src/out" && jar cf "$home/lib/tools/ansi-console/no-console.jar" .)
    touch "$home/COMPLETE"
    echo "searchnodes: elasticsearch $v laid out in $home"
}

opensearch
elasticsearch
