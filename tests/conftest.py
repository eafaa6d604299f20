"""Shared fixtures.

Real Prometheus:
* `local_prometheus`: a factory `local_prometheus(openmetrics, rules=None, **kwargs) -> LocalPrometheus`
  that backfills and starts a real server; every server it started is stopped at teardown.
* `checkout_prometheus` (session): the `checkout_incident` scenario starting 2026-11-20T10:00:00Z,
  loaded once; yields `(url, truth, changes)` (a NamedTuple, also with those attribute names).

Both skip when `prometheus`/`promtool` are missing, except under CI (env `CI` set), where that fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from dossier.testing.prometheus import LocalPrometheus, PrometheusNotInstalled, find_binary
from dossier.testing.synth import Truth, checkout_incident

CHECKOUT_INCIDENT_START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden files from the current output (review the diff before committing)",
    )


def require_prometheus() -> None:
    """Skip (or, in CI, fail) when the Prometheus binaries are not installed."""
    try:
        find_binary("prometheus", "DOSSIER_PROMETHEUS_BIN")
        find_binary("promtool", "DOSSIER_PROMTOOL_BIN")
    except PrometheusNotInstalled as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Prometheus (.ci/run installs the Debian package): {exc}")
        pytest.skip(f"real Prometheus not available: {exc}")


@pytest.fixture
def local_prometheus() -> Iterator[Callable[..., LocalPrometheus]]:
    started: list[LocalPrometheus] = []

    def factory(openmetrics: Any = None, rules: Any = None, **kwargs: Any) -> LocalPrometheus:
        require_prometheus()
        prom = LocalPrometheus(openmetrics, rules, **kwargs)
        started.append(prom)
        return prom.start()

    yield factory
    for prom in reversed(started):
        prom.stop()


class CheckoutPrometheus(NamedTuple):
    url: str
    truth: Truth
    changes: list[dict[str, str]]


@pytest.fixture(scope="session")
def checkout_prometheus() -> Iterator[CheckoutPrometheus]:
    require_prometheus()
    openmetrics, rules, truth, changes = checkout_incident(CHECKOUT_INCIDENT_START)
    with LocalPrometheus(openmetrics, rules) as prom:
        yield CheckoutPrometheus(prom.url, truth, changes)
