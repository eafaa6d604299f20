"""The `alertmanager` collector against a real Alertmanager (Debian package prometheus-alertmanager):
its webhook notifications received and logged as `dossier serve` would (notification_log.append),
and its silences from the API v2."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from collectors.alertmanager import AlertmanagerCollector, AlertmanagerConfig, notification_log
from dossier.errors import SourceQueryError, SourceUnavailable
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder

INSTANCE = "alertmanager/main"
SERVICES = (ServiceInfo("payments", aliases=("payments-svc",)), ServiceInfo("checkout"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Receiver(BaseHTTPRequestHandler):
    log_path: Path

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        notification_log.append(self.log_path, raw, received_at=datetime.now(UTC))  # the hook serve calls
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (.ci/run installs it)")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    folder = tmp_path_factory.mktemp("am")
    log = folder / "notifications.jsonl"
    handler = type("Receiver", (_Receiver,), {"log_path": log})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/alertmanager"
    (folder / "am.yml").write_text(
        "route: {receiver: dossier, group_by: [alertname, service], group_wait: 1s, group_interval: 1s, "
        "repeat_interval: 1h}\n"
        f"receivers: [{{name: dossier, webhook_configs: [{{url: '{hook}', send_resolved: false}}]}}]\n"
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'am.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "am.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"alertmanager did not start: {(folder / 'am.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(10)
        receiver.shutdown()
        receiver.server_close()


def request_around(now: datetime) -> CollectRequest:
    inc = Incident("INC-7", "payments errors", now - timedelta(minutes=10), now + timedelta(minutes=10))
    return CollectRequest(
        incident=inc, start=now - timedelta(hours=1), end=now + timedelta(minutes=10), services=SERVICES
    )


def make(data: dict[str, Any], base_dir: Path | None = None) -> AlertmanagerCollector:
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    config = AlertmanagerConfig.model_validate(data, context={"base_dir": base_dir} if base_dir else None)
    return AlertmanagerCollector(config, ctx)


def test_notifications_and_silences_from_a_real_alertmanager(alertmanager):
    url, log = alertmanager
    now = datetime.now(UTC).replace(microsecond=0)
    posted = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "PaymentsHighErrorRate", "service": "payments-svc", "severity": "page"},
        "annotations": {"summary": "payments 5xx"},
        "startsAt": (now - timedelta(seconds=5)).isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus/graph",
    }
    assert httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5).status_code == 200
    silence = {
        "matchers": [{"name": "service", "value": "checkout", "isRegex": False, "isEqual": True}],
        "startsAt": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "endsAt": (now + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
        "createdBy": "alice.ng@example.com",
        "comment": "deploy freeze, ask alice.ng@example.com",
    }
    assert httpx.post(f"{url}/api/v2/silences", json=silence, timeout=5).status_code == 200
    deadline = time.monotonic() + 20
    while not (log.exists() and log.read_text().strip()):
        assert time.monotonic() < deadline, "no webhook notification within 20 s"
        time.sleep(0.2)

    collector = make({"url": url, "notification_log": str(log)})
    result = collector.collect(request_around(now))
    collector.close()
    assert result.problems == []
    notes = [e for e in result.events if e.kind == "notification"]
    assert len(notes) == 1
    n = notes[0]
    assert n.title == "Alertmanager notified dossier: PaymentsHighErrorRate firing"
    assert n.service == "payments" and n.attrs["alertname"] == "PaymentsHighErrorRate"
    assert posted <= n.at <= posted + timedelta(seconds=15)  # after group_wait, when it went out
    silences = [e for e in result.events if e.kind == "note"]
    assert [(s.title, s.service) for s in silences] == [
        ('silence by responder 1 of service="checkout": deploy freeze, ask responder 1', "checkout")
    ]
    assert silences[0].end is not None and silences[0].attrs["state"] == "active"
    assert {r.url.rsplit("/", 1)[-1] for r in collector.ctx.recorder.requests} >= {"status", "silences"}
    assert "Alertmanager 0." in make({"url": url}).check()


def test_a_dead_api_with_a_log_is_partial_and_a_missing_log_alone_fails(tmp_path):
    log = tmp_path / "n.jsonl"
    body = {
        "receiver": "dossier",
        "status": "firing",
        "groupKey": '{}:{alertname="X"}',
        "alerts": [
            {"status": "firing", "labels": {"alertname": "X", "service": "payments"}, "fingerprint": "ab"},
            {"status": "resolved", "labels": {"alertname": "Y", "service": "payments"}, "fingerprint": "cd"},
        ],
    }
    at = datetime(2026, 11, 20, 10, 8, 41, tzinfo=UTC)
    notification_log.append(log, json.dumps(body), received_at=at)
    with log.open("a") as f:
        f.write("{broken\n")
    request = request_around(at)
    dead = f"http://127.0.0.1:{_free_port()}"
    result = make({"url": dead, "notification_log": "n.jsonl", "http": {"retries": 1}}, tmp_path).collect(request)
    assert [e.title for e in result.events] == ["Alertmanager notified dossier: X firing"]
    reasons = [p.reason for p in result.problems]
    assert any("line 2: not JSON" in r for r in reasons) and any(dead in r for r in reasons)
    with pytest.raises(SourceQueryError, match="no notification log: is the webhook receiver"):
        make({"notification_log": "missing.jsonl"}, tmp_path).collect(request)
    with pytest.raises(SourceUnavailable):
        make({"url": dead, "http": {"retries": 1}}).collect(request)


def test_append_is_one_line_per_webhook(tmp_path):
    log = tmp_path / "n.jsonl"
    at = datetime(2026, 11, 20, 10, 8, 41, 500000, tzinfo=UTC)
    threads = [
        threading.Thread(target=notification_log.append, args=(log, {"n": i, "alerts": []}), kwargs={"received_at": at})
        for i in range(50)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    items = list(notification_log.read(log.read_text()))
    assert sorted(i.body["n"] for i in items) == list(range(50))
    assert {rfc for rfc in (i.at for i in items)} == {at}


def test_config_needs_something():
    with pytest.raises(ValidationError, match="give `url`"):
        AlertmanagerConfig.model_validate({})
