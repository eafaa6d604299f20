"""The failure matrix: every HTTP collector against every fault a source on fire can show.

Each cell runs a whole collection (`jobs.collect`: collect, archive, correlate, export) of one
collector against a fault server on a loopback port, with short timeouts, and checks what the
contract promises (README "Exit codes", docs/architecture.md `sources[].status`):

* the draft is written (`dossier.json`, `draft.md`, the archive);
* the source is not `ok`, and the gap (`sources[].error`, a `source_unavailable` detection gap)
  says what failed, in words a person can act on (never "collector crashed");
* retries are bounded in count (no request is made more than `retries` times) and in time (the
  collection ends within the source's `deadline` plus one request `timeout` and some slack);
* the exit code follows from the status: 5 when the only source failed, 1 when it was partial.

`FAULTS` and `COLLECTORS` are the table; `python -m tests.test_failure_matrix` prints the matrix
(collector x fault -> outcome) that README.md shows, from the same cells, so the two cannot drift.
All cells run at once on a thread pool (each is mostly waiting on a socket): the whole matrix
takes about as long as its slowest cells.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dossier import jobs
from dossier.config import parse_config
from dossier.errors import ExitCode
from dossier.model import Incident

# ---- the test's deadlines: short, so the matrix is fast -------------------------------------------

TIMEOUT = 0.5  # each read
CONNECT_TIMEOUT = 0.3
RETRIES = 2
RETRY_MAX_DELAY = 2.0
DEADLINE = 4.0
SLACK = 4.0  # correlation and export of the draft, kubeconfig loading, a loaded 2-core CI machine
WORKERS = 16  # cells at once: they mostly wait on sockets, but 2 cores must still parse and draft
RETRY_AFTER = 1  # seconds, as a server sends it


# ---- the fault server ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    what: str  # for the README
    expect: str  # regex the gap must match (case-insensitive)


FAULTS: tuple[Fault, ...] = (
    Fault("refused", "connection refused", r"refused|cannot connect"),
    Fault("dns", "DNS failure", r"resolve|name or service not known|host name"),
    Fault("connect_timeout", "connect timeout", r"connect|connection"),
    Fault("no_answer", "accepts, never answers", r"no answer|timeout|timed out|deadline"),
    Fault("slow_drip", "answers one byte at a time", r"deadline|still arriving|timeout|timed out"),
    Fault("http_401", "401", r"\b401\b|not authenticated"),
    Fault("http_403", "403", r"\b403\b|forbidden"),
    Fault("http_404", "404", r"\b404\b|not found"),
    Fault("http_429", "429 with Retry-After", r"\b429\b|rate limit"),
    Fault("http_500", "500", r"\b500\b"),
    Fault("http_503", "503", r"\b503\b"),
    Fault("malformed_json", "malformed JSON", r"not json|deserialize as json|unexpected answer"),
    Fault("truncated", "truncated body", r"cut off"),
    Fault(
        "wrong_shape",
        "valid JSON of the wrong shape",
        r"unexpected answer|not a list|expected a list|no `\w+` list|not an application|no point in time id",
    ),
)

_JSON = "application/json"


class FaultServer(socketserver.ThreadingTCPServer):
    """Answers every request with one fault; counts the requests it received."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fault: str, tls: ssl.SSLContext | None = None) -> None:
        self.fault = fault
        self.tls = tls
        self.stopping = threading.Event()
        self.requests: Counter[str] = Counter()
        self.heads: list[str] = []  # every request's head (request line and headers), as received
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()

    def count(self, line: str) -> None:
        with self._lock:
            self.requests[line] += 1


class _Handler(socketserver.BaseRequestHandler):
    server: FaultServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        try:
            if self.server.tls is not None:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            while not self.server.stopping.is_set():
                line = self._read_request(sock)
                if line is None:
                    return
                self.server.count(line)
                if not self._answer(sock):
                    return
        except OSError:
            return

    def _read_request(self, sock: socket.socket) -> str | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        self.server.heads.append(head.decode("latin-1"))
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for h in lines[1:]:
            name, _, value = h.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            rest += chunk
        return lines[0] + (" " + rest.decode("utf-8", "replace") if rest else "")

    def _send(self, sock: socket.socket, status: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Type: {_JSON}", f"Content-Length: {len(body)}"]
        head += ["X-Elastic-Product: Elasticsearch"]  # the Elasticsearch client checks it on every answer
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _answer(self, sock: socket.socket) -> bool:
        """Send the fault; False when the connection is done with."""
        fault = self.server.fault
        if fault == "no_answer":
            self.server.stopping.wait(30)
            return False
        if fault == "slow_drip":
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {_JSON}\r\nContent-Length: 100000\r\n"
            sock.sendall((head + "X-Elastic-Product: Elasticsearch\r\n\r\n").encode())
            while not self.server.stopping.wait(TIMEOUT / 4):
                sock.sendall(b" ")
            return False
        if fault.startswith("http_"):
            code = int(fault[5:])
            reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
            text = f"injected {code}"
            body = {
                "status": "error",
                "errorType": "injected",
                "error": text,
                "message": text,
            }
            headers = {"Retry-After": str(RETRY_AFTER)} if code == 429 else {}
            status = f"{code} {reason.get(code, 'Server Error' if code >= 500 else 'Error')}"
            self._send(sock, status, json.dumps(body).encode(), headers)
            return True
        if fault == "malformed_json":
            self._send(sock, "200 OK", b'{"status": "success", "data": {"resultType": "matrix", "result": [{')
            return True
        if fault == "truncated":
            start = b'{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "va'
            head = f"HTTP/1.1 200 OK\r\nContent-Type: {_JSON}\r\nContent-Length: 5000\r\n"
            sock.sendall((head + "X-Elastic-Product: Elasticsearch\r\n\r\n").encode() + start)
            return False  # and close: the rest never comes
        if fault == "wrong_shape":
            self._send(sock, "200 OK", json.dumps({"unexpected": {"shape": [1, 2, 3]}}).encode())
            return True
        raise AssertionError(f"unknown fault {fault!r}")


@dataclass
class Target:
    """Where a collector is pointed for one fault, and what to clean up after."""

    url: str
    server: FaultServer | None = None
    held: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for s in self.held:
            s.close()
        if self.server is not None:
            self.server.__exit__()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def target(fault: str) -> Target:
    if fault == "refused":
        return Target(f"http://127.0.0.1:{_free_port()}")
    if fault == "dns":
        return Target("http://dossier-fault.invalid:9200")
    if fault == "connect_timeout":
        # a listener whose accept queue is full: the kernel drops new SYNs, the connect never completes
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held = [listener]
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            held.append(c)
        time.sleep(0.05)
        return Target(f"http://127.0.0.1:{port}", held=held)
    server = FaultServer(fault).__enter__()
    return Target(server.url, server=server)


# ---- the collectors ----------------------------------------------------------------------------------

HTTP = {
    "timeout": f"{TIMEOUT}s",
    "connect_timeout": f"{CONNECT_TIMEOUT}s",
    "retries": RETRIES,
    "retry_max_delay": f"{RETRY_MAX_DELAY}s",
    "deadline": f"{DEADLINE}s",
}
LOGSTORE = {"timeout": f"{TIMEOUT}s", "retries": RETRIES, "retry_max_delay": f"{RETRY_MAX_DELAY}s"}


def _prometheus(url: str, _: Path) -> dict[str, Any]:
    signal = {"name": "errors", "query": 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m]))'}
    return {"url": url, **HTTP, "signals": [signal], "up_query": 'up{job="$service"}'}


def _elasticsearch(url: str, _: Path) -> dict[str, Any]:
    return {"hosts": [url], "index": "logs-*", **LOGSTORE}


def _github(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "token": "gh-t0ken", "repositories": [{"repo": "acme/payments"}], "http": HTTP}


def _gitlab(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "token": "gl-t0ken", "projects": [{"project": "acme/payments"}], "http": HTTP}


def _argocd(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "token": "argo-t0ken", "applications": ["payments"], "http": HTTP}


def _jenkins(url: str, _: Path) -> dict[str, Any]:
    return {
        "url": url,
        "username": "dossier",
        "api_token": "j-t0ken",
        "jobs": [{"job": "deploy/payments"}],
        "http": HTTP,
    }


def kubeconfig(url: str, token: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def _kubernetes(url: str, folder: Path) -> dict[str, Any]:
    (folder / "kube.json").write_text(kubeconfig(url, "k8s-t0ken"))
    return {"kubeconfig": "kube.json", "namespaces": ["prod"], **HTTP}


def _pagerduty(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "token": "pd-t0ken", "http": HTTP}


def _opsgenie(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "api_key": "og-t0ken", "http": HTTP}


def _slack(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "token": "xoxb-sl-t0ken", "channel": "inc-$incident_id", "http": HTTP}


def _alertmanager(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "http": HTTP}


def _traces(url: str, _: Path) -> dict[str, Any]:
    return {"url": url, "headers": {"Authorization": "Bearer tr-t0ken"}, "http": HTTP}


def _elastic_apm(url: str, _: Path) -> dict[str, Any]:
    return {"hosts": [url], **LOGSTORE}


COLLECTORS: dict[str, Callable[[str, Path], dict[str, Any]]] = {
    "prometheus": _prometheus,  # signals, ALERTS history, rules, up: alert history is read from Prometheus
    "elasticsearch": _elasticsearch,
    "opensearch": _elasticsearch,
    "github": _github,
    "gitlab": _gitlab,
    "argocd": _argocd,
    "jenkins": _jenkins,
    "kubernetes": _kubernetes,
    "pagerduty": _pagerduty,
    "opsgenie": _opsgenie,
    "slack": _slack,
    "alertmanager": _alertmanager,
    "zipkin": _traces,
    "jaeger": _traces,
    "tempo": _traces,
    "elastic_apm": _elastic_apm,
}

INCIDENT = Incident(
    id="INC-FAULT",
    title="the sources are on fire",
    start=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    end=datetime(2026, 11, 20, 11, 0, tzinfo=UTC),
    services=("payments",),
)


# ---- one cell ----------------------------------------------------------------------------------------


@dataclass
class Cell:
    collector: str
    fault: str
    elapsed: float = 0.0
    exit_code: int | None = None
    status: str | None = None
    error: str | None = None
    gaps: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    crash: str | None = None

    @property
    def outcome(self) -> str:
        """The matrix entry: status, exit code, and the gist of the gap."""
        if self.crash:
            return f"CRASH {self.crash}"
        return f"{self.status}, exit {self.exit_code}"


def run_cell(collector: str, fault: str, root: Path) -> Cell:
    cell = Cell(collector, fault)
    folder = root / f"{collector}-{fault}"
    folder.mkdir(parents=True)
    where = target(fault)
    t0 = time.monotonic()
    try:
        block = COLLECTORS[collector](where.url, folder)
        data = {
            "collectors": {f"{collector}/fault": block},
            "services": {"payments": {}},
            "output": {"dir": str(folder / "out"), "formats": ["json", "md"]},
        }
        settings = parse_config(data, file=str(folder / "dossier.yaml"), base_dir=folder, env={})
        t0 = time.monotonic()  # the collection itself, not the first import of a collector's libraries
        outcome = jobs.collect(settings, INCIDENT, folder / "out")
        cell.exit_code = int(outcome.exit_code)
    except Exception as exc:  # reported by the cell's test, with the cell's name
        cell.crash = f"{type(exc).__name__}: {exc}"
        return cell
    finally:
        cell.elapsed = time.monotonic() - t0
        if where.server is not None:
            cell.served = Counter(where.server.requests)
        where.close()
    out = folder / "out" / INCIDENT.id
    cell.written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    doc = json.loads((out / "dossier.json").read_text())
    [source] = doc["sources"]
    cell.status, cell.error = source["status"], source["error"]
    cell.gaps = [g["explanation"] for g in doc["detection_gaps"] if g["kind"] == "source_unavailable"]
    manifest = json.loads((out / "evidence" / "manifest.json").read_text())
    cell.attempts = Counter(
        f"{r['method']} {r['url']} {json.dumps(r['params'], sort_keys=True)}" for r in manifest["requests"]
    )
    return cell


_cells: dict[tuple[str, str], Cell] = {}
_lock = threading.Lock()


def all_cells(root: Path) -> dict[tuple[str, str], Cell]:
    """Every cell, run at once on a thread pool (once per session)."""
    with _lock:
        if not _cells:
            pairs = [(c, f.name) for f in FAULTS for c in COLLECTORS]
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                for cell in pool.map(lambda p: run_cell(p[0], p[1], root), pairs):
                    _cells[(cell.collector, cell.fault)] = cell
        return _cells


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Cell]:
    return all_cells(tmp_path_factory.mktemp("matrix"))


FAULT = {f.name: f for f in FAULTS}


@pytest.mark.parametrize("fault", [f.name for f in FAULTS])
@pytest.mark.parametrize("collector", list(COLLECTORS))
def test_cell(cells: dict[tuple[str, str], Cell], collector: str, fault: str) -> None:
    cell = cells[(collector, fault)]
    assert cell.crash is None, cell.crash
    # the draft is written
    assert {"dossier.json", "draft.md", "evidence/manifest.json"} <= set(cell.written)
    # the source is not ok, and the gap says what failed
    assert cell.status in ("failed", "partial"), (cell.status, cell.error)
    assert cell.error and "collector crashed" not in cell.error, cell.error
    assert cell.gaps and all(f"{collector}/fault" in g for g in cell.gaps)
    assert re.search(FAULT[fault].expect, " ".join([cell.error, *cell.gaps]), re.I), cell.error
    # the exit code follows the contract
    assert cell.exit_code == (ExitCode.ALL_FAILED if cell.status == "failed" else ExitCode.PARTIAL)
    # retries bounded in count and in time
    assert cell.attempts, "every attempt is in the manifest"
    assert max(cell.attempts.values()) <= RETRIES, cell.attempts.most_common(3)
    if cell.served:
        assert max(cell.served.values()) <= RETRIES, cell.served.most_common(3)
    assert cell.elapsed < DEADLINE + TIMEOUT + SLACK, f"{cell.elapsed:.1f}s"


def test_no_secret_in_the_gaps(cells: dict[tuple[str, str], Cell]) -> None:
    """The tokens of the matrix' configs never appear in what a failure says."""
    text = " ".join(" ".join([c.error or "", *c.gaps]) for c in cells.values())
    for secret in (
        "gh-t0ken",
        "gl-t0ken",
        "argo-t0ken",
        "j-t0ken",
        "k8s-t0ken",
        "pd-t0ken",
        "og-t0ken",
        "sl-t0ken",
        "tr-t0ken",
    ):
        assert secret not in text


# ---- the README's matrix -----------------------------------------------------------------------------


def _short(cell: Cell) -> str:
    if cell.crash:
        return "crash"
    code = {"failed": "failed", "partial": "partial"}.get(cell.status or "", str(cell.status))
    return f"{code} ({cell.exit_code})"


def markdown(cells: dict[tuple[str, str], Cell]) -> str:
    """The matrix as README.md shows it (`python -m tests.test_failure_matrix` prints it): a row per
    collector, a column per fault."""
    lines = ["| collector | " + " | ".join(f.what for f in FAULTS) + " |", "|---" * (len(FAULTS) + 1) + "|"]
    for name in COLLECTORS:
        row = [_short(cells[(name, f.name)]) for f in FAULTS]
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    return "\n".join(lines)


def test_the_readme_shows_this_matrix(cells: dict[tuple[str, str], Cell]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert markdown(cells) in readme, "README.md: paste the output of `python -m tests.test_failure_matrix`"


def _examples(cells: dict[tuple[str, str], Cell]) -> Iterator[str]:
    for (collector, fault), cell in sorted(cells.items()):
        yield f"{collector:14} {fault:16} {cell.elapsed:5.2f}s {cell.outcome}: {cell.error}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        found = all_cells(Path(tmp))
    if "-v" in sys.argv:
        print("\n".join(_examples(found)), file=sys.stderr)
    print(markdown(found))


def test_dossier_collect_is_not_held_by_a_hanging_server(tmp_path: Path) -> None:
    """The whole command, every collector at once, half of them against a server that accepts and
    never answers and half against one that drips its answer: it ends by the deadline, writes the
    draft and exits 5 (every source failed, each saying it got no answer in time)."""
    hanging, dripping = FaultServer("no_answer").__enter__(), FaultServer("slow_drip").__enter__()
    try:
        blocks = {
            f"{name}/fault": make((dripping if i % 2 else hanging).url, tmp_path)
            for i, (name, make) in enumerate(COLLECTORS.items())
        }
        config = tmp_path / "dossier.yaml"
        config.write_text(json.dumps({"collectors": blocks, "services": {"payments": {}}}))
        incident = tmp_path / "incident.yaml"
        incident.write_text(
            json.dumps(
                {
                    "id": INCIDENT.id,
                    "title": INCIDENT.title,
                    "start": "2026-11-20T10:00:00Z",
                    "end": "2026-11-20T11:00:00Z",
                    "services": ["payments"],
                }
            )
        )
        command = [sys.executable, "-m", "dossier.cli", "collect", "--config", str(config)]
        command += ["--incident", str(incident), "--out", str(tmp_path / "out")]
        t0 = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        elapsed = time.monotonic() - t0
    finally:
        hanging.__exit__()
        dripping.__exit__()
    assert done.returncode == ExitCode.ALL_FAILED, done.stderr
    assert (tmp_path / "out" / INCIDENT.id / "draft.md").is_file()
    doc = json.loads((tmp_path / "out" / INCIDENT.id / "dossier.json").read_text())
    assert {s["status"] for s in doc["sources"]} == {"failed"}
    assert sorted(s["instance"] for s in doc["sources"]) == sorted(blocks)
    for source in doc["sources"]:
        assert re.search(r"no answer|timeout|timed out|deadline|still arriving", source["error"], re.I), source
    # start-up of the interpreter and imports, then the deadline, one timeout, and drafting
    assert elapsed < 8 + DEADLINE + TIMEOUT + SLACK, f"{elapsed:.1f}s"
