#!/usr/bin/env bash
# From a fresh clone to a finished draft of the sample incident (config/demo/):
# installs Prometheus (Debian package) and the project when missing, loads the sample into a
# local Prometheus on a free loopback port, runs `dossier collect`, prints where the draft is.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "installing prometheus (Debian package)..." >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "error: prometheus is not installed and this user cannot install it: apt-get install prometheus" >&2
        exit 3
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/dossier ]; then
    echo "installing dossier into .venv..." >&2
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e .
fi

exec .venv/bin/python -m dossier.testing.demo --out dossiers "$@"
