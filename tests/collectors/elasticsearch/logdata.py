"""Log documents with a known truth, computed independently of the collectors (see conftest.py)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectRequest
from tests.searchnodes.cluster import user_url

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # collection start: the baseline begins
INC = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # incident start: the window begins
T1 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)  # collection end

# (flavor, major, version, backend): the stand-in as both Elasticsearch majors and both OpenSearch majors; the real
# node(s) the session starts (tests/searchnodes/); the user's own cluster where DOSSIER_TEST_<ENGINE>_URL names one.
TARGETS = [
    pytest.param(("elasticsearch", 8, None, "standin"), id="es8"),
    pytest.param(("elasticsearch", 9, None, "standin"), id="es9"),
    pytest.param(("opensearch", 9, "2.17.0", "standin"), id="os2"),
    pytest.param(("opensearch", 9, "3.1.0", "standin"), id="os3"),
    pytest.param(("opensearch", 2, None, "node"), id="os2-node"),
    pytest.param(("elasticsearch", 8, None, "node"), id="es8-node"),
    *(pytest.param((flavor, None, None, "url"), id=f"{flavor}-url") for flavor in ("elasticsearch", "opensearch")
      if user_url(flavor)),
]  # fmt: skip
LAYOUTS = ["ecs", "dynamic"]

STORE_SERVICES = {"checkout": "checkout", "checkout-api": "checkout", "payments": "payments", "search": None}
OLD_ERRORS = [
    ("db timeout after 3000 ms", "TimeoutError"),
    ("db timeout after 5000 ms", "TimeoutError"),
    ("cache miss storm on key cart:{n}", None),
]
NEW_ERROR = ("payment provider returned HTTP 502 for order {n}", "ProviderError")


def iso_z(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_docs(seed: int = 7, n: int = 900) -> list[dict[str, Any]]:
    """Documents of four store services over [T0 - 5m, T1 + 5m]; a new error appears in the window."""
    rnd = random.Random(seed)
    docs: list[dict[str, Any]] = []
    span = int((T1 - T0).total_seconds() * 1000) + 600_000
    for i in range(n):
        t = T0 - timedelta(minutes=5) + timedelta(milliseconds=rnd.randrange(span))
        svc = rnd.choice(list(STORE_SERVICES))
        level = rnd.choices(["info", "warn", "error", "ERROR", "fatal", "debug"], weights=[10, 3, 3, 1, 1, 2])[0]
        doc: dict[str, Any] = {"@timestamp": iso_z(t), "service": {"name": svc}, "log": {"level": level}}
        doc["host"] = {"name": f"node-{i % 3}"}
        if level.lower() in ("error", "fatal"):
            if t >= INC + timedelta(minutes=10) and svc != "search" and rnd.random() < 0.5:
                text, etype = NEW_ERROR
            else:
                text, etype = rnd.choice(OLD_ERRORS)
            doc["message"] = text.format(n=rnd.randrange(3))
            if etype:
                doc["error"] = {"type": etype}
            if rnd.random() < 0.7:
                doc["trace"] = {"id": f"{rnd.getrandbits(64):016x}"}
        else:
            doc["message"] = rnd.choice(["request served", "cache refreshed", "GET /cart 200"])
        docs.append(doc)
    # edges: exactly at the window start (in the window), exactly at the end (out), at the start (in)
    docs.append({"@timestamp": iso_z(INC), "service": {"name": "checkout"}, "log": {"level": "error"},
                 "message": "edge at incident start", "error": {"type": "EdgeError"}})  # fmt: skip
    docs.append({"@timestamp": iso_z(T1), "service": {"name": "checkout"}, "log": {"level": "error"},
                 "message": "edge at collection end"})  # fmt: skip
    docs.append({"@timestamp": iso_z(T0), "service": {"name": "payments"}, "log": {"level": "fatal"},
                 "message": "edge at collection start"})  # fmt: skip
    return docs


@dataclass
class Truth:
    """What the documents say, computed here independently of the collector."""

    grid: list[float]
    counts: dict[tuple[str, str], list[float]]  # (service, level or "*") -> per minute
    messages: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    error_docs: list[dict[str, Any]] = field(default_factory=list)  # in the window, time order


def truth(docs: list[dict[str, Any]], error_levels: tuple[str, ...] = ("error", "fatal")) -> Truth:
    grid = [T0.timestamp() + 60 * i for i in range(120)]
    counts: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0] * 120)
    messages: dict[tuple[str, str, str], dict[str, Any]] = {}
    types: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    window_errors = []
    for d in docs:
        t = datetime.fromisoformat(d["@timestamp"].replace("Z", "+00:00"))
        svc = STORE_SERVICES.get(d["service"]["name"])
        if svc is None or not T0 <= t < T1:
            continue
        i = int((t - T0).total_seconds() // 60)
        level = d["log"]["level"].lower()
        counts[(svc, level)][i] += 1
        counts[(svc, "*")][i] += 1
        if level not in error_levels:
            continue
        m = messages.setdefault(
            (svc, level, d["message"]),
            {"window": 0, "baseline": 0, "first": None, "last": None, "error_type": None},
        )
        if t >= INC:
            m["window"] += 1
            m["first"] = t if m["first"] is None else min(m["first"], t)
            m["last"] = t if m["last"] is None else max(m["last"], t)
            window_errors.append((t, d))
        else:
            m["baseline"] += 1
        if d.get("error", {}).get("type"):
            types[(svc, level, d["message"])][d["error"]["type"]] += 1
    for key, c in types.items():
        messages[key]["error_type"] = min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    window_errors.sort(key=lambda x: x[0])
    return Truth(grid, dict(counts), messages, [d for _, d in window_errors])


DOCS = make_docs()
TRUTH = truth(DOCS)


def collect_request() -> CollectRequest:
    inc = Incident(id="INC-7", title="checkout 500s", start=INC, end=T1, services=("checkout", "payments"))
    services = (ServiceInfo("checkout", ("checkout-api",)), ServiceInfo("payments"))
    return CollectRequest(incident=inc, start=T0, end=T1, services=services)
