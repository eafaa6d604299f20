"""A real Alertmanager on a free loopback port, routing every alert group to one webhook.

    with LocalAlertmanager("http://127.0.0.1:8080/webhooks/alertmanager", token="t") as am:
        am.post_alerts([{"labels": {"alertname": "X", "service": "payments"}, "startsAt": "..."}])

The route groups by `group_by` (default `team`) and notifies after `group_wait` and every
`group_interval` (both 1s: a test does not wait), with `send_resolved: true` and the token as a
bearer credential (`http_config.authorization`). Clustering is off. Alerts are posted to
`/api/v2/alerts`, as Prometheus does; an alert posted again with an `endsAt` in the past is
resolved, and the group's resolved notification follows.

The binary: `$DOSSIER_ALERTMANAGER_BIN`, else `prometheus-alertmanager` (Debian's package of that
name) or `alertmanager` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

__all__ = ["AlertmanagerNotInstalled", "LocalAlertmanager", "find_alertmanager"]


class AlertmanagerNotInstalled(RuntimeError):
    pass


def find_alertmanager() -> str:
    override = os.environ.get("DOSSIER_ALERTMANAGER_BIN")
    for name in ([override] if override else []) + ["prometheus-alertmanager", "alertmanager"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    raise AlertmanagerNotInstalled(
        "no Alertmanager: `apt-get install prometheus-alertmanager`, or set DOSSIER_ALERTMANAGER_BIN"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalAlertmanager:
    def __init__(
        self,
        webhook_url: str,
        *,
        token: str | None = None,
        group_by: Sequence[str] = ("team",),
        group_wait: str = "1s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
    ) -> None:
        self.webhook_url = webhook_url
        self.token = token
        self.group_by = list(group_by)
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.workdir: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalAlertmanager:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def config(self) -> dict[str, Any]:
        webhook: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True}
        if self.token:
            webhook["http_config"] = {"authorization": {"type": "Bearer", "credentials": self.token}}
        return {
            "route": {
                "receiver": "dossier",
                "group_by": self.group_by,
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [{"name": "dossier", "webhook_configs": [webhook]}],
        }

    def start(self) -> LocalAlertmanager:
        binary = find_alertmanager()
        self.workdir = Path(tempfile.mkdtemp(prefix="dossier-am-"))
        config = self.workdir / "alertmanager.yml"
        config.write_text(yaml.safe_dump(self.config()))
        for _ in range(5):
            self.port = _free_port()
            log = open(self.workdir / "alertmanager.log", "wb")
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                        if resp.status == 200:
                            return self
                except (urllib.error.URLError, OSError):
                    time.sleep(0.1)
            text = self.log()
            self._terminate()
            if "address already in use" not in text:
                self.stop()
                raise RuntimeError(f"alertmanager did not start; its log ends with:\n{text[-3000:]}")
        self.stop()
        raise RuntimeError("alertmanager could not bind a free port")

    def post_alerts(self, alerts: Sequence[dict[str, Any]]) -> None:
        req = urllib.request.Request(
            self.url + "/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"POST /api/v2/alerts answered {resp.status}")

    def log(self) -> str:
        if self.workdir is None:
            return ""
        path = self.workdir / "alertmanager.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        self._terminate()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
