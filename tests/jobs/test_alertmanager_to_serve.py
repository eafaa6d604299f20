"""A real Alertmanager sends its webhook to `dossier serve`, which drafts the incident it closes.

The incident is the checkout scenario in a real Prometheus (tests/conftest.py `checkout_prometheus`):
a payments deploy breaks payments at T+2m, the payments alert fires at T+8.5m, checkout's at
T+13.75m. Both alerts are posted to the Alertmanager as Prometheus would (firing, then resolved);
its resolved notification of the group goes to `dossier serve`, whose worker collects the
window [first startsAt - padding, last endsAt + padding] and writes the draft.

`dossier serve` also appends each notification it receives to its notification log
(`serve.alertmanager.notification_log`); a later collection with the `alertmanager` collector
reading that log finds them as `notification` events, at the times serve received them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from dossier import jobs
from dossier.config import load_config
from dossier.model import Incident, parse_time
from dossier.store import JobStore
from tests.harness.alertmanager import AlertmanagerNotInstalled, LocalAlertmanager, find_alertmanager
from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY, rfc3339
from tests.jobs.conftest import require

TOKEN = "am-test-token"


def write_config(folder: Path, prometheus_url: str, changes: list[dict[str, str]]) -> Path:
    (folder / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in changes))
    config = {
        "collectors": {
            "prometheus/test": {
                "url": prometheus_url,
                "retries": 1,
                "signals": [
                    {"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"},
                    {"name": "latency", "query": LATENCY_QUERY, "direction": "up"},
                ],
            },
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {
            "checkout": {"aliases": ["checkout-api"], "depends_on": ["payments"]},
            "payments": {},
            "inventory": {},
        },
        "correlate": {"baseline": "1h", "late_alert_after": "5m", "cause_lookback": "2h"},
        "output": {"dir": "out", "formats": ["json", "md"]},
        "serve": {
            "token": "${env:DOSSIER_WEBHOOK_TOKEN}",
            "alertmanager": {
                "service_label": "service",
                "padding": "30m",
                "notification_log": "log/am-notifications.jsonl",
            },
        },
    }
    path = folder / "dossier.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def requests_seen(url: str, status: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("dossier_webhook_requests_total{") and 'endpoint="alertmanager"' in line:
            if f'status="{status}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.slow
def test_a_resolved_alert_group_becomes_a_right_draft(checkout_prometheus, serve, tmp_path):
    try:
        find_alertmanager()
    except AlertmanagerNotInstalled as exc:
        require(exc)
    url, truth, changes = checkout_prometheus
    config = write_config(tmp_path, url, changes)
    served = serve(config, "--workers", "1", env={"DOSSIER_WEBHOOK_TOKEN": TOKEN})
    began = datetime.now(UTC)
    alerts = []
    for name, service in (("PaymentsHighErrorRate", "payments"), ("CheckoutHighErrorRate", "checkout")):
        episode = truth.alerts[name].episodes[0]
        alerts.append(
            {
                "labels": {"alertname": name, "service": service, "team": "payments", "severity": "page"},
                "annotations": {"summary": f"{service} error rate is high"},
                "startsAt": rfc3339(episode.fired_at),
                "resolved": rfc3339(episode.resolved_at),
            }
        )
    firing = [{k: v for k, v in a.items() if k != "resolved"} for a in alerts]
    resolved = [{**f, "endsAt": a["resolved"]} for f, a in zip(firing, alerts, strict=True)]
    with LocalAlertmanager(served.url + "/webhooks/alertmanager", token=TOKEN, group_by=["team"]) as am:
        am.post_alerts(firing)
        # the firing notification arrives, and is not an incident yet
        wait_for(lambda: requests_seen(served.url, "200") >= 1, 30, "the firing notification")
        assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
        am.post_alerts(resolved)
        wait_for(lambda: requests_seen(served.url, "202") >= 1, 30, "the resolved notification:\n" + am.log())
    store = JobStore(f"sqlite:///{tmp_path / 'out' / '.jobs.db'}")
    (job,) = store.jobs()
    assert job.source == "alertmanager" and job.id.startswith("am-")
    done = wait_for(lambda: (j := store.get(job.id)) and j.state in ("done", "failed") and j, 90, "the job")
    assert done.state == "done", done.error
    folder = tmp_path / "out" / job.id
    data = json.loads((folder / "dossier.json").read_text())

    incident = data["incident"]
    first_fired = truth.alerts["PaymentsHighErrorRate"].episodes[0].fired_at
    last_resolved = truth.alerts["PaymentsHighErrorRate"].episodes[0].resolved_at
    assert parse_time(incident["start"]).timestamp() == pytest.approx(first_fired - 1800, abs=1)
    assert parse_time(incident["end"]).timestamp() == pytest.approx(last_resolved + 1800, abs=1)
    assert sorted(incident["services"]) == ["checkout", "payments"]
    assert incident["title"] == "PaymentsHighErrorRate, CheckoutHighErrorRate"

    started = parse_time(data["milestones"]["started"]).timestamp()
    assert abs(started - truth.fault_at) <= 120, (data["milestones"], truth.fault_at)
    detected = parse_time(data["milestones"]["detected"]).timestamp()
    assert detected == pytest.approx(truth.detected_at, abs=1)
    events = {e["id"]: e for e in data["timeline"]}
    assert events[data["milestone_evidence"]["detected"]]["attrs"]["alertname"] == "PaymentsHighErrorRate"
    top = events[data["candidate_causes"][0]["evidence"]]
    assert top["attrs"]["id"] == truth.culprit_change_id
    assert (folder / "draft.md").is_file()

    # the notification log: the firing and the resolved notification, as received
    lines = [json.loads(line) for line in (tmp_path / "log" / "am-notifications.jsonl").read_text().splitlines()]
    assert [line["body"]["status"] for line in lines] == ["firing", "resolved"], lines
    names = {a["labels"]["alertname"] for a in lines[0]["body"]["alerts"]}
    assert names == {"PaymentsHighErrorRate", "CheckoutHighErrorRate"}
    received = [parse_time(line["received_at"]) for line in lines]
    assert began <= received[0] <= received[1] <= datetime.now(UTC)

    # a later collection with the alertmanager collector reads it back
    later = yaml.safe_load(config.read_text())
    later["collectors"] = {
        "alertmanager/main": {"notification_log": "log/am-notifications.jsonl", "receiver": "dossier"}
    }
    later.pop("serve")
    (tmp_path / "later.yaml").write_text(yaml.safe_dump(later))
    incident = Incident(
        id="AM-LOG",
        title="the notifications",
        start=began - timedelta(minutes=1),
        end=datetime.now(UTC) + timedelta(minutes=1),
        services=("checkout", "payments"),
    )
    outcome = jobs.collect(load_config(tmp_path / "later.yaml"), incident, tmp_path / "later")
    notes = [t.event for t in outcome.dossier.timeline if t.event.kind == "notification"]
    assert sorted(e.attrs["alertname"] for e in notes) == ["CheckoutHighErrorRate", "PaymentsHighErrorRate"], notes
    assert {e.at.replace(microsecond=0) for e in notes} == {received[0].replace(microsecond=0)}
    assert {e.service for e in notes} == {"checkout", "payments"}
