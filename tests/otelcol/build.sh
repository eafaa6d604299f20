#!/usr/bin/env bash
# Build otelcol-dossier (a minimal OpenTelemetry Collector: OTLP receiver, file exporter, from the
# Collector's own Go modules pinned in go.mod/go.sum) into ~/.cache/dossier/otelcol/, unless the
# binary there was built from this very go.sum and main.go. Needs Go (on every machine of this
# project's kind); the modules come from the Go module proxy, cached in Go's module cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${DOSSIER_OTELCOL_DIR:-$HOME/.cache/dossier/otelcol}"
stamp="$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-16)"
if [ -x "$out/otelcol-dossier" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
mkdir -p "$out"
cd "$here"
go build -trimpath -o "$out/otelcol-dossier.tmp" .
mv "$out/otelcol-dossier.tmp" "$out/otelcol-dossier"
echo "$stamp" > "$out/stamp"
