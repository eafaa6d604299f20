"""The `pagerduty` collector against the stand-in PagerDuty REST API (tests/standins/pagerduty.py),
and on an export file of the same log entries."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.pagerduty import PagerDutyCollector, PagerDutyConfig
from dossier.errors import SourceAuthError, SourceQueryError
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.pagerduty import DEFAULT_TOKEN, PagerDuty, incident, log_entry, user

INSTANCE = "pagerduty/oncall"
SERVICES = (
    ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
    ServiceInfo("payments", aliases=("payments-prod",)),
)
ALICE, BOB = user("PUSR001", "Alice Ng"), user("PUSR002", "Bob Ortiz")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request() -> CollectRequest:
    inc = Incident("INC-2041", "Checkout returns 500s", t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"))
    return CollectRequest(
        incident=inc, start=t("2026-11-20T09:00:00Z"), end=t("2026-11-20T12:00:00Z"), services=SERVICES
    )


def payments_incident(**kw: Any) -> dict[str, Any]:
    return incident(
        2041,
        "[FIRING:1] PaymentsHighErrorRate payments (page payments)",
        "payments-prod",
        "2026-11-20T10:08:40Z",
        entries=[
            log_entry("trigger", "2026-11-20T10:08:40Z"),
            log_entry("notify", "2026-11-20T10:08:45Z", user_ref=ALICE, channel="sms"),
            log_entry("notify", "2026-11-20T10:08:46Z", user_ref=ALICE, channel="push_notification"),
            log_entry("acknowledge", "2026-11-20T10:11:02Z", agent=ALICE, channel="mobile"),
            log_entry("escalate", "2026-11-20T10:20:00Z", assignees=[BOB]),
            log_entry("annotate", "2026-11-20T10:21:00Z", agent=BOB),
            log_entry("resolve", "2026-11-20T10:58:30Z", agent=BOB, channel="web"),
        ],
        **kw,
    )


@pytest.fixture
def pd() -> Iterator[PagerDuty]:
    with PagerDuty() as server:
        yield server


def make(data: dict[str, Any], base_dir=None) -> PagerDutyCollector:
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    config = PagerDutyConfig.model_validate(data, context={"base_dir": base_dir} if base_dir else None)
    return PagerDutyCollector(config, ctx)


def api(pd: PagerDuty, **extra: Any) -> PagerDutyCollector:
    return make({"url": pd.url, "token": DEFAULT_TOKEN, "http": {"retries": 2, "timeout": "5s"}, **extra})


def test_the_log_of_an_incident_as_pages_notifications_acks_and_resolution(pd):
    pd.add(payments_incident())
    collector = api(pd)
    result = collector.collect(make_request())
    collector.close()
    got = [(e.kind, e.title) for e in result.events]
    assert got == [
        (
            "page",
            "PagerDuty incident #2041 triggered: [FIRING:1] PaymentsHighErrorRate payments (page payments)",
        ),
        ("notification", "responder 1 notified by SMS (PagerDuty incident #2041)"),
        ("notification", "responder 1 notified by push notification (PagerDuty incident #2041)"),
        ("ack", "responder 1 acknowledged PagerDuty incident #2041 (via mobile)"),
        ("page", "PagerDuty incident #2041 escalated to responder 2"),
        ("incident_resolved", "PagerDuty incident #2041 resolved by responder 2"),
    ]
    assert {e.service for e in result.events} == {"payments"}  # payments-prod is an alias
    assert all(e.attrs["alertname"] == "PaymentsHighErrorRate" for e in result.events)
    assert result.problems == [] and not result.truncated
    # no names anywhere in the evidence: not in titles, not in attrs
    dumped = json.dumps([[e.title, dict(e.attrs), e.link] for e in result.events])
    assert "Alice" not in dumped and "Bob" not in dumped and "PUSR" not in dumped
    assert all(e.link and e.link.startswith("https://acme.pagerduty.com/incidents/") for e in result.events)
    # every event points at the request that returned it
    recorded = {r.id: r for r in collector.ctx.recorder.requests}
    assert all(recorded[e.request].url.endswith("/log_entries") for e in result.events)
    incidents = [r for r in pd.requests if r.path == "/incidents"]
    assert incidents[0].param("since") == "2026-11-20T09:00:00Z" and incidents[0].param("time_zone") == "UTC"
    assert sorted(incidents[0].query["statuses[]"]) == ["acknowledged", "resolved", "triggered"]


def test_names_when_the_config_asks(pd):
    pd.add(payments_incident())
    result = api(pd, names=True).collect(make_request())
    titles = [e.title for e in result.events]
    assert "Alice Ng notified by SMS (PagerDuty incident #2041)" in titles
    assert "PagerDuty incident #2041 escalated to Bob Ortiz" in titles


def test_ids_are_stable_across_collections(pd):
    pd.add(payments_incident())
    a = api(pd).collect(make_request())
    b = api(pd).collect(make_request())
    assert [e.id for e in a.events] == [e.id for e in b.events]
    assert len({e.id for e in a.events}) == len(a.events)


def test_pages_through_incidents_and_log_entries(pd):
    many = [log_entry("trigger", "2026-11-20T10:00:00Z")]
    many += [
        log_entry("notify", f"2026-11-20T10:{m:02d}:{s:02d}Z", user_ref=ALICE) for m in range(1, 4) for s in range(60)
    ]
    pd.add(incident(1, "[FIRING:1] Loud payments", "payments-prod", "2026-11-20T10:00:00Z", entries=many))
    for n in range(2, 130):
        pd.add(incident(n, f"noise {n}", "payments", "2026-11-20T09:30:00Z", entries=[]))
    result = api(pd).collect(make_request())
    assert sum(e.kind == "notification" for e in result.events) == 180
    offsets = [r.param("offset") for r in pd.requests if r.path.endswith("/log_entries") and "Q0000001X" in r.path]
    assert offsets == ["0", "100"]
    assert [r.param("offset") for r in pd.requests if r.path == "/incidents"] == ["0", "100"]
    assert all(int(r.param("limit") or 0) == 100 for r in pd.requests if r.path != "/abilities")


def test_incidents_of_unknown_services_are_left_out_unless_selected(pd):
    other = incident(
        7, "disk full", "data-warehouse", "2026-11-20T10:30:00Z", entries=[log_entry("trigger", "2026-11-20T10:30:00Z")]
    )
    pd.add(payments_incident(), other)
    result = api(pd).collect(make_request())
    assert {e.attrs["incident_number"] for e in result.events} == {2041}
    selected = api(pd, service_ids=[other["service"]["id"]]).collect(make_request())
    assert [(e.service, e.attrs.get("service_mapped")) for e in selected.events] == [("data-warehouse", "false")]


def test_a_service_map_names_the_service(pd):
    pd.add(
        incident(
            9,
            "Payments API 5xx",
            "Payments API (prod)",
            "2026-11-20T10:09:00Z",
            entries=[log_entry("trigger", "2026-11-20T10:09:00Z")],
        )
    )
    result = api(pd, services={"Payments API (prod)": "payments"}).collect(make_request())
    assert [e.service for e in result.events] == ["payments"]
    assert "alertname" not in result.events[0].attrs  # not an Alertmanager title


def test_a_rejected_key_fails_the_source(pd):
    collector = make({"url": pd.url, "token": "wrong", "http": {"retries": 1}})
    with pytest.raises(SourceAuthError, match="HTTP 401: not authenticated: check `token`"):
        collector.collect(make_request())


def test_rate_limited_then_answered(pd):
    pd.add(payments_incident())
    pd.inject(429, headers={"Retry-After": "0", "ratelimit-remaining": "0", "ratelimit-reset": "0"}, path="/incidents")
    result = api(pd).collect(make_request())
    assert len(result.events) == 6
    assert [r.path for r in pd.requests].count("/incidents") == 2  # the 429, then the retry


def test_an_unreadable_incident_log_is_a_stated_gap_and_the_others_are_read(pd):
    second = incident(
        2042,
        "[FIRING:1] CheckoutHighErrorRate checkout",
        "checkout",
        "2026-11-20T10:13:50Z",
        entries=[log_entry("trigger", "2026-11-20T10:13:50Z")],
    )
    pd.add(payments_incident(), second)
    pd.inject(503, count=5, path=f"/incidents/{payments_incident()['id']}/log_entries")
    result = api(pd).collect(make_request())
    assert [e.attrs["incident_number"] for e in result.events] == [2042]
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.kind == "source_unavailable" and problem.service == "payments"
    assert problem.reason.startswith("the log of PagerDuty incident #2041 could not be read: GET ")
    assert "HTTP 503" in problem.reason


def test_check(pd):
    assert api(pd).check().startswith(f"PagerDuty REST API v2 at {pd.url} (3 abilities)")


# ---- the export file ------------------------------------------------------------------------


def export(tmp_path, entries, name="pagerduty.json", lines=False):
    path = tmp_path / name
    if lines:
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    else:
        path.write_text(json.dumps({"log_entries": entries, "limit": 100, "offset": 0, "more": False}))
    return path


def test_an_export_file_gives_the_same_events_as_the_api(pd, tmp_path):
    inc = payments_incident()
    pd.add(inc)
    from_api = api(pd).collect(make_request())
    for lines in (False, True):
        path = export(tmp_path, inc["_log_entries"], lines=lines)
        from_file = make({"path": path.name}, base_dir=tmp_path).collect(make_request())
        assert [(e.id, e.kind, e.title, e.service) for e in from_file.events] == [
            (e.id, e.kind, e.title, e.service) for e in from_api.events
        ]
        assert from_file.events[0].attrs["incident_number"] == 2041


def test_a_missing_or_broken_export_file_fails_with_the_file_and_the_fix(tmp_path):
    with pytest.raises(SourceQueryError, match=r"nope\.json: file not found: check `path`"):
        make({"path": "nope.json"}, base_dir=tmp_path).collect(make_request())
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "trigger_log_entry", "created_at": "2026-11-20T10:00:00Z"}\n{oops\n')
    with pytest.raises(SourceQueryError, match=r"bad\.jsonl: line 2: not JSON"):
        make({"path": "bad.jsonl"}, base_dir=tmp_path).collect(make_request())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "give either `token` (read the REST API) or `path` (read an export file), not both or none"),
        ({"token": "x", "path": "a.json"}, "give either `token`"),
        ({"token": "x", "alertname_pattern": "(.*)"}, "has no group named alertname"),
        ({"token": "x", "url": "api.pagerduty.com"}, "is not an http(s) URL"),
        ({"path": "a.json", "service_ids": ["P1"]}, "`service_ids` selects incidents in the API"),
    ],
)
def test_config_errors(data, message):
    with pytest.raises(ValidationError) as err:
        PagerDutyConfig.model_validate(data)
    assert message in str(err.value)
