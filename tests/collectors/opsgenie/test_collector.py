"""The `opsgenie` collector against the stand-in Opsgenie Alert API (tests/standins/opsgenie.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.opsgenie import OpsgenieCollector, OpsgenieConfig
from dossier.errors import SourceAuthError, SourceQueryError
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.opsgenie import DEFAULT_KEY, Opsgenie, alert, ms

INSTANCE = "opsgenie/oncall"
SERVICES = (ServiceInfo("checkout", aliases=("checkout-api",)), ServiceInfo("payments", aliases=("payments-prod",)))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request() -> CollectRequest:
    inc = Incident("INC-2041", "Checkout returns 500s", t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"))
    return CollectRequest(
        incident=inc, start=t("2026-11-20T09:00:00Z"), end=t("2026-11-20T12:00:00Z"), services=SERVICES
    )


def payments_alert(**kw: Any) -> dict[str, Any]:
    return alert(
        1905,
        "[FIRING:1] PaymentsHighErrorRate payments",
        "2026-11-20T10:08:38Z",
        tags=["severity:page", "payments-prod"],
        logs=[
            ("2026-11-20T10:08:38.100Z", "Alert created via API[Prometheus]", "system", "System"),
            ("2026-11-20T10:08:44Z", "Sent [SMS] notification to alice.ng@example.com", "alertRecipient", "System"),
            ("2026-11-20T10:08:45Z", "Viewed on [iOS]", "alertRecipient", "alice.ng@example.com"),
            ("2026-11-20T10:11:02Z", "Alert acknowledged via Mobile", "alertAction", "alice.ng@example.com"),
            ("2026-11-20T10:20:00Z", "Escalated to next level of escalation [payments_escalation]", "system", "System"),
            ("2026-11-20T10:58:30Z", "Alert closed via Web", "alertAction", "bob.ortiz@example.com"),
        ],
        **kw,
    )


@pytest.fixture
def og() -> Iterator[Opsgenie]:
    with Opsgenie() as server:
        yield server


def make(og: Opsgenie, **extra: Any) -> OpsgenieCollector:
    data = {"url": og.url, "api_key": DEFAULT_KEY, "http": {"retries": 2, "timeout": "5s"}, **extra}
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return OpsgenieCollector(OpsgenieConfig.model_validate(data), ctx)


def test_an_alert_and_its_activity_as_page_notification_ack_escalation_close(og):
    og.add(payments_alert())
    result = make(og).collect(make_request())
    assert [(e.kind, e.title) for e in result.events] == [
        ("page", "Opsgenie alert #1905 opened: [FIRING:1] PaymentsHighErrorRate payments"),
        ("notification", "responder 1 notified by SMS (Opsgenie alert #1905)"),
        ("ack", "responder 1 acknowledged Opsgenie alert #1905 (via Mobile)"),
        ("page", "Opsgenie alert #1905 escalated"),
        ("incident_resolved", "Opsgenie alert #1905 closed by responder 2"),
    ]
    assert {e.service for e in result.events} == {"payments"}
    assert {e.attrs["alertname"] for e in result.events} == {"PaymentsHighErrorRate"}
    assert "example.com" not in json.dumps([[e.title, dict(e.attrs)] for e in result.events])
    query = next(r for r in og.requests if r.path == "/v2/alerts").param("query")
    assert query == f"createdAt>={ms('2026-11-20T09:00:00Z')} AND createdAt<={ms('2026-11-20T12:00:00Z')}"
    assert result.events[0].link == f"{og.url}/alert/detail/{payments_alert()['id']}/details"


def test_names_when_asked(og):
    og.add(payments_alert())
    result = make(og, names=True).collect(make_request())
    assert result.events[1].title == "alice.ng@example.com notified by SMS (Opsgenie alert #1905)"


def test_pages_through_alerts_and_log_lines(og):
    logs = [
        (f"2026-11-20T10:{m:02d}:{s:02d}Z", "Sent [Email] notification to x@example.com", "system", "System")
        for m in range(10, 13)
        for s in range(0, 60, 1)
    ]
    og.add(alert(7, "[FIRING:1] Loud payments", "2026-11-20T10:09:00Z", tags=["payments"], logs=logs))
    for n in range(8, 140):
        og.add(alert(n, f"noise {n}", "2026-11-20T09:30:00Z", tags=["checkout"]))
    result = make(og).collect(make_request())
    assert sum(e.kind == "notification" for e in result.events) == 180
    offsets = [
        r.param("offset")
        for r in og.requests
        if r.path.endswith("/logs") and r.path.count(alert(7, "", "2026-11-20T09:30:00Z")["id"])
    ]
    assert offsets[0] is None and len(offsets) == 2 and offsets[1].endswith("_99")
    assert [r.param("offset") for r in og.requests if r.path == "/v2/alerts"] == ["0", "100"]


def test_alerts_of_no_configured_service_are_left_out(og):
    og.add(payments_alert(), alert(9, "disk full", "2026-11-20T10:30:00Z", tags=["warehouse"]))
    assert {e.attrs["tiny_id"] for e in make(og).collect(make_request()).events} == {"1905"}


def test_a_rejected_key_and_a_rejected_query(og):
    with pytest.raises(SourceAuthError, match="HTTP 401: not authenticated: check `api_key`"):
        OpsgenieCollector(
            OpsgenieConfig.model_validate({"url": og.url, "api_key": "wrong", "http": {"retries": 1}}),
            make(og).ctx,
        ).collect(make_request())
    with pytest.raises(SourceQueryError, match="HTTP 422: Invalid query"):
        make(og, query="teams:payments").collect(make_request())


def test_an_unreadable_activity_log_is_a_stated_gap(og):
    og.add(payments_alert(), alert(2, "[FIRING:1] CheckoutHighErrorRate", "2026-11-20T10:13:50Z", tags=["checkout"]))
    og.inject(503, count=5, path=f"/v2/alerts/{payments_alert()['id']}/logs")
    result = make(og).collect(make_request())
    assert [e.kind for e in result.events] == ["page", "page"]  # both opened; one log unread
    assert len(result.problems) == 1 and result.problems[0].service == "payments"
    assert "the activity log of Opsgenie alert #1905 could not be read" in result.problems[0].reason


def test_rate_limited_then_answered(og):
    og.add(payments_alert())
    og.inject(429, headers={"Retry-After": "0", "X-RateLimit-State": "THROTTLED"}, body={"message": "too many"})
    assert len(make(og).collect(make_request()).events) == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "api_key"),
        ({"api_key": ""}, "is empty"),
        ({"api_key": "k", "alertname_pattern": "x"}, "has no group named alertname"),
    ],
)
def test_config_errors(data, message):
    with pytest.raises(ValidationError) as err:
        OpsgenieConfig.model_validate(data)
    assert message in str(err.value)
