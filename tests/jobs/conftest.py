"""Fixtures of the job tests: a real PostgreSQL, `dossier serve` and `dossier worker` as processes.

* `postgres` (session): a `LocalPostgres` from Debian's package; `fresh_db(postgres)` gives the URL
  of a new empty database in it, one per test.
* `processes`: a factory `processes(args, env=None) -> subprocess.Popen` running `dossier ARGS` in
  a new process (killed at teardown), its output in a file under tmp_path.
* `serve`: a factory `serve(config_path, *extra_args, env=None) -> Served` starting `dossier serve`
  on a free loopback port and waiting for /healthz.

PostgreSQL and Alertmanager skip when missing, except under CI (env `CI` set), where that fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness.postgres import LocalPostgres, PostgresNotInstalled

ROOT = Path(__file__).resolve().parents[2]


def require(exc: Exception) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must have this (.ci/run installs it): {exc}")
    pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    try:
        pg = LocalPostgres().start()
    except PostgresNotInstalled as exc:
        require(exc)
    try:
        yield pg
    finally:
        pg.stop()


def fresh_db(pg: LocalPostgres) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg.url.rsplit("/", 1)[0] + "/" + name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dossier_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dossier.cli", *args]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        args: list[str], env: dict[str, str] | None = None, log_name: str | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(tmp_path / (log_name or f"proc-{len(started)}.log"), "wb")
        proc = subprocess.Popen(
            dossier_cmd(*args),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def serve(processes: Callable[..., subprocess.Popen[bytes]]) -> Callable[..., Served]:
    def start(config: Path, *extra: str, env: dict[str, str] | None = None) -> Served:
        port = free_port()
        proc = processes(["serve", "--config", str(config), "--listen", f"127.0.0.1:{port}", *extra], env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"dossier serve exited with {proc.returncode}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return Served(url, proc)
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("dossier serve did not answer /healthz within 30s")

    return start


class SlowProxy:
    """An HTTP proxy on a free loopback port that forwards every request to `upstream` after
    `delay` seconds: a slow network in front of a real server, so a job lasts long enough to be
    killed in the middle."""

    def __init__(self, upstream: str, delay: float) -> None:
        import http.server
        import threading
        import urllib.error
        import urllib.request

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                began = time.monotonic()
                time.sleep(proxy.delay)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                req = urllib.request.Request(upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        status, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
                except urllib.error.HTTPError as exc:
                    status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
                with proxy.lock:
                    proxy.log.append((began, time.monotonic(), self.command, self.path, body))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.delay = delay
        self.lock = threading.Lock()
        self.log: list[tuple[float, float, str, str, bytes | None]] = []  # (began, ended, method, path, body)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_proxy() -> Iterator[Callable[[str, float], SlowProxy]]:
    started: list[SlowProxy] = []

    def start(upstream: str, delay: float) -> SlowProxy:
        p = SlowProxy(upstream, delay)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()
