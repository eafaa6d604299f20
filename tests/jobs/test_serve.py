"""`dossier serve`: what each webhook stores, and that every refusal stores nothing.

Most tests run the real Starlette app in-process (starlette's TestClient, over the ASGI
interface; no worker threads, so the jobs stay queued to be counted); one runs `dossier serve`
as a process and kills it right after a 202.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import warnings
from pathlib import Path

import httpx
import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette prefers httpx2 for its TestClient; httpx works
    from starlette.testclient import TestClient

from dossier.config import load_config
from dossier.serve import create_app
from dossier.serve.webhooks import BadRequest, alertmanager
from dossier.store import JobStore

TOKEN = "t0ken"
SECRET = "pd-signing-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_config(folder: Path, **serve: object) -> Path:
    (folder / "changes.jsonl").write_text("")
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "services": {"checkout": {"aliases": ["checkout-api"]}, "payments": {}},
        "output": {"dir": "out"},
        "serve": {"token": TOKEN, "pagerduty_secret": SECRET, "max_body": 4096, **serve},
    }
    path = folder / "dossier.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def app_for(folder: Path, **serve: object):
    settings = load_config(write_config(folder, **serve))
    store = JobStore(f"sqlite:///{folder / 'jobs.db'}")
    return TestClient(create_app(settings, store, folder / "out", workers=0)), store


def am_body(
    status: str = "resolved",
    starts: str = "2026-11-20T10:08:30Z",
    ends: str = "2026-11-20T10:47:15.123456789Z",
    **extra: object,
) -> dict:
    alert = {
        "status": status,
        "labels": {"alertname": "PaymentsHighErrorRate", "service": "payments", "team": "payments"},
        "annotations": {},
        "startsAt": starts,
        "endsAt": ends if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "abc",
    }
    return {
        "version": "4",
        "groupKey": '{}:{team="payments"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "dossier",
        "groupLabels": {"team": "payments"},
        "commonLabels": alert["labels"],
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
        **extra,
    }


def pd_body(event_type: str = "incident.resolved", pd_id: str = "PGR0VU2") -> dict:
    return {
        "event": {
            "id": "01DEN1HNLBC1VITYBXDXH6JO6Q",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-20T11:00:00.169Z",
            "agent": {"type": "user_reference", "id": "PLH1HKV"},
            "data": {
                "id": pd_id,
                "type": "incident",
                "html_url": f"https://acme.pagerduty.com/incidents/{pd_id}",
                "number": 2041,
                "status": "resolved",
                "title": "Checkout returns 500s",
                "created_at": "2026-11-20T10:12:00Z",
                "service": {"id": "PF9KMXH", "summary": "checkout-api", "type": "service_reference"},
                "priority": {"id": "P1", "summary": "P1", "type": "priority_reference"},
                "urgency": "high",
            },
        }
    }


def pd_headers(raw: bytes, secret: str = SECRET) -> dict[str, str]:
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-PagerDuty-Signature": f"v1=deadbeef,v1={sig}", "Content-Type": "application/json"}


def test_refused_requests_leave_no_job(tmp_path):
    client, store = app_for(tmp_path)
    incident = {"id": "INC-1", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}
    refusals = [
        (client.post("/webhooks/incident", json=incident), 401),  # no token
        (client.post("/webhooks/incident", json=incident, headers={"Authorization": "Bearer nope"}), 401),
        (client.post("/webhooks/alertmanager", json=am_body(), headers={"Authorization": "Basic " + TOKEN}), 401),
        (client.post("/webhooks/incident", content=b"{" + b" " * 5000 + b"}", headers=AUTH), 413),
        (client.post("/webhooks/incident", content=iter([b"{", b" " * 5000, b"}"]), headers=AUTH), 413),  # chunked
        (client.post("/webhooks/incident", content=b"{not json", headers=AUTH), 400),
        (client.post("/webhooks/incident", json={**incident, "start": "2026-11-20T10:00:00"}, headers=AUTH), 400),
        (client.post("/webhooks/incident", json={**incident, "id": "../etc"}, headers=AUTH), 400),
        (client.post("/webhooks/alertmanager", json=am_body(version="3"), headers=AUTH), 400),
        (client.post("/webhooks/alertmanager", json={**am_body(), "alerts": []}, headers=AUTH), 400),
        (client.post("/webhooks/pagerduty", content=json.dumps(pd_body()).encode()), 401),  # unsigned
        (client.post("/webhooks/pagerduty", content=b"{}", headers=pd_headers(b"{}", "other-secret")), 401),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert response.json()["error"]
    assert "naive time" in refusals[6][0].json()["error"]
    assert "version" in refusals[8][0].json()["error"]
    assert store.jobs() == []
    # a replayed PagerDuty delivery: the first is taken, the same signature again is refused
    raw = json.dumps(pd_body()).encode()
    first = client.post("/webhooks/pagerduty", content=raw, headers=pd_headers(raw))
    assert first.status_code == 202, first.text
    again = client.post("/webhooks/pagerduty", content=raw, headers=pd_headers(raw))
    assert again.status_code == 409 and "replayed" in again.json()["error"]
    assert [j.id for j in store.jobs()] == ["pd-PGR0VU2"]
    assert store.get("pd-PGR0VU2").state == "queued"


def test_pagerduty_resolved_is_a_job_with_its_window_and_service(tmp_path):
    client, store = app_for(tmp_path, pagerduty={"padding": "10m"})
    raw = json.dumps(pd_body("incident.triggered")).encode()
    ignored = client.post("/webhooks/pagerduty", content=raw, headers=pd_headers(raw))
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"
    raw = json.dumps(pd_body()).encode()
    assert client.post("/webhooks/pagerduty", content=raw, headers=pd_headers(raw)).status_code == 202
    (job,) = store.jobs()
    inc = job.incident
    assert (inc.id, inc.title, inc.services, inc.severity) == (
        "pd-PGR0VU2",
        "Checkout returns 500s",
        ("checkout",),
        "P1",
    )
    assert inc.start.isoformat() == "2026-11-20T10:02:00+00:00"  # created_at - 10m
    assert inc.end.isoformat() == "2026-11-20T11:10:00.169000+00:00"  # resolved + 10m
    assert job.out_dir == (tmp_path / "out").absolute()


def test_alertmanager_firing_is_ignored_and_resolved_is_queued_once(tmp_path):
    client, store = app_for(tmp_path)
    firing = client.post("/webhooks/alertmanager", json=am_body("firing"), headers=AUTH)
    assert firing.status_code == 200 and store.jobs() == []
    first = client.post("/webhooks/alertmanager", json=am_body(), headers=AUTH)
    assert first.status_code == 202 and first.json()["created"] is True
    repeat = client.post("/webhooks/alertmanager", json=am_body(), headers=AUTH)
    assert repeat.status_code == 200 and repeat.json()["repeat"] == "skipped"
    later = client.post(
        "/webhooks/alertmanager", json=am_body(starts="2026-11-27T09:00:00Z", ends="2026-11-27T09:30:00Z"), headers=AUTH
    )
    assert later.status_code == 202  # the same group firing another day: another incident
    assert len(store.jobs()) == 2
    assert first.json()["job"] != later.json()["job"]


def test_on_repeat_recollect_queues_the_incident_again(tmp_path):
    client, store = app_for(tmp_path, on_repeat="recollect")
    body = {"id": "INC-7", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z", "services": ["checkout-api"]}
    assert client.post("/webhooks/incident", json=body, headers=AUTH).status_code == 202
    job = store.claim("w", lease=30)
    assert store.finish(job, exit_code=0)
    assert store.get("INC-7").state == "done"
    again = client.post("/webhooks/incident", json=body, headers=AUTH)
    assert again.status_code == 202 and again.json()["repeat"] == "recollect"
    job = store.get("INC-7")
    assert job.state == "queued" and job.recollect and job.incident.services == ("checkout",)


def test_webhook_parsing_is_strict_and_stable():
    kwargs = {"service_label": "service", "padding": 60.0}
    one, two = alertmanager(am_body(), **kwargs), alertmanager(am_body(), **kwargs)
    assert one == two and one.id.startswith("am-") and one.services == ("payments",)
    assert alertmanager(am_body("firing"), **kwargs) is None
    with pytest.raises(BadRequest, match="startsAt"):
        alertmanager({**am_body(), "alerts": [{"endsAt": "2026-11-20T10:00:00Z"}]}, **kwargs)


def test_metrics_and_healthz(tmp_path):
    client, _store = app_for(tmp_path)
    client.post(
        "/webhooks/incident",
        headers=AUTH,
        json={"id": "A", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"},
    )
    client.post("/webhooks/incident", json={})
    assert client.get("/healthz").json()["status"] == "ok"
    text = client.get("/metrics").text
    assert 'dossier_jobs{state="queued"} 1.0' in text
    assert 'dossier_webhook_requests_total{endpoint="incident",status="202"} 1.0' in text
    assert 'dossier_webhook_requests_total{endpoint="incident",status="401"} 1.0' in text


def test_serve_without_a_token_refuses_to_start(tmp_path):
    from click.testing import CliRunner

    from dossier.cli import cli

    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    del data["serve"]["token"]
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["serve", "--config", str(path), "--listen", "127.0.0.1:1"])
    assert result.exit_code == 3
    assert "serve::token: required" in result.stderr


def test_a_202_survives_a_kill_of_the_server(serve, tmp_path):
    config = write_config(tmp_path)
    served = serve(config, "--workers", "0")
    body = {"id": "INC-9", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}
    answer = httpx.post(served.url + "/webhooks/incident", json=body, headers=AUTH, timeout=10)
    assert answer.status_code == 202
    served.process.send_signal(signal.SIGKILL)
    served.process.wait(timeout=10)
    store = JobStore(f"sqlite:///{tmp_path / 'out' / '.jobs.db'}")
    assert [(j.id, j.state) for j in store.jobs()] == [("INC-9", "queued")]


def test_only_accepted_alertmanager_notifications_reach_the_notification_log(tmp_path):
    client, store = app_for(tmp_path, alertmanager={"notification_log": "am.jsonl"})
    log = tmp_path / "am.jsonl"
    refused = [
        client.post("/webhooks/alertmanager", json=am_body()),  # no token
        client.post("/webhooks/alertmanager", content=b"{" + b" " * 5000 + b"}", headers=AUTH),  # oversized
        client.post("/webhooks/alertmanager", content=b"{not json", headers=AUTH),
        client.post("/webhooks/alertmanager", json=am_body(version="3"), headers=AUTH),
    ]
    assert [r.status_code for r in refused] == [401, 413, 400, 400]
    assert not log.exists() or log.read_text() == ""
    firing = client.post("/webhooks/alertmanager", json=am_body("firing"), headers=AUTH)
    resolved = client.post("/webhooks/alertmanager", json=am_body(), headers=AUTH)
    assert (firing.status_code, resolved.status_code) == (200, 202)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["body"]["status"] for line in lines] == ["firing", "resolved"]
    assert lines[1]["body"] == am_body()  # the body as received
    assert [j.source for j in store.jobs()] == ["alertmanager"]


def test_a_store_that_is_down_answers_503_with_retry_after_and_keeps_nothing(postgres, tmp_path):
    """The real PostgreSQL refuses the store's connections: every webhook is refused with a status a
    sender retries (503, Retry-After), /healthz says so, and once the store is back the same
    webhook is accepted: the refused attempts left nothing behind."""
    import psycopg

    from tests.jobs.conftest import fresh_db

    url = fresh_db(postgres)
    name = url.rsplit("/", 1)[1]
    settings = load_config(write_config(tmp_path))
    store = JobStore(url)
    client = TestClient(create_app(settings, store, tmp_path / "out", workers=0))
    incident = {"id": "INC-DOWN", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}
    assert client.get("/healthz").status_code == 200
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            refused = [
                client.post("/webhooks/incident", json=incident, headers=AUTH),
                client.post("/webhooks/alertmanager", json=am_body(), headers=AUTH),
            ]
            for r in refused:
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"].isdigit() and "retry" in r.json()["error"]
            assert client.get("/healthz").status_code == 503
        finally:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
    reader = JobStore(url)  # a new connection (this thread's old one was terminated with the others)
    assert reader.jobs() == []  # nothing was half-stored by the refused attempts
    for _ in range(5):  # as a sender does: a thread's terminated connection may answer one more 503
        again = client.post("/webhooks/incident", json=incident, headers=AUTH)
        if again.status_code != 503:
            break
    assert again.status_code == 202, again.text
    assert [j.id for j in reader.jobs()] == ["INC-DOWN"]
