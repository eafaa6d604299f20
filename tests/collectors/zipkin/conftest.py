"""A real Zipkin server for the `zipkin` collector's tests.

Zipkin's server is one executable jar on Maven Central (io.zipkin:zipkin-server, classifier exec;
`.ci/run` fetches it into ~/.m2). `zipkin` (session) starts it on a free loopback port with
in-memory storage and yields its base URL; `post_spans(url, spans)` loads Zipkin v2 spans through
POST /api/v2/spans, as a tracer would. Without Java or the jar the tests skip (in CI, where
`CI` is set, they fail instead).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ZIPKIN_VERSION = "3.5.1"  # .ci/run fetches the same version
JAR = (
    Path.home() / ".m2/repository/io/zipkin/zipkin-server" / ZIPKIN_VERSION / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"
)


def zipkin_jar() -> Path:
    path = Path(os.environ.get("DOSSIER_ZIPKIN_JAR") or JAR)
    missing = None
    if shutil.which("java") is None:
        missing = "java is not installed"
    elif not path.is_file():
        missing = (
            f"{path} is missing: mvn dependency:get "
            f"-Dartifact=io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec -Dtransitive=false"
        )
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have Zipkin's server (.ci/run fetches it): {missing}")
        pytest.skip(f"real Zipkin not available: {missing}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def zipkin() -> Iterator[str]:
    jar = zipkin_jar()
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="zipkin-", suffix=".log", delete=False)
    env = {**os.environ, "STORAGE_TYPE": "mem", "QUERY_PORT": str(port), "JAVA_OPTS": ""}
    proc = subprocess.Popen(
        [
            "java",
            "-Xms64m",
            "-Xmx384m",
            "-XX:TieredStopAtLevel=1",
            "-jar",
            str(jar),
            f"--armeria.ports[0].port={port}",
            "--armeria.ports[0].ip=127.0.0.1",
            "--armeria.ports[0].protocols=http",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"zipkin exited with {proc.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"zipkin did not start within 120 s: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        os.unlink(log.name)


def post_spans(url: str, spans: list[dict]) -> None:
    for i in range(0, len(spans), 2000):
        data = json.dumps(spans[i : i + 2000]).encode()
        req = urllib.request.Request(
            f"{url}/api/v2/spans", data=data, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202, r.status
