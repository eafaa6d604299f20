#!/usr/bin/env bash
# From a fresh clone to a finished draft of the sample incident (config/demo/):
# installs Prometheus (Debian package) and the project when missing, loads the sample into a
# local Prometheus on a free loopback port, runs `dossier collect`, prints where the draft is.
#
# The project goes into .venv at the top of the clone: the same .venv the README's test command
# (`python3 -m venv .venv && .venv/bin/python -m pip install -e '.[test]' && ...`) creates or
# reuses, so either can run first.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python3}"

packages=()
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    packages+=(prometheus)
fi
if [ ! -x .venv/bin/python ] && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)  # Debian ships `python3 -m venv` apart
fi
if [ "${#packages[@]}" -gt 0 ]; then
    echo "installing ${packages[*]} (Debian packages)..." >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "error: ${packages[*]} not installed and this user cannot install them: apt-get install ${packages[*]}" >&2
        exit 3
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/dossier ]; then
    echo "installing dossier into .venv..." >&2
    "$PYTHON" -m venv .venv  # creates it, or reuses the one the test command made
    .venv/bin/python -m pip install -q -e .
fi

exec .venv/bin/python -m deploy.demo.demo --out dossiers "$@"
