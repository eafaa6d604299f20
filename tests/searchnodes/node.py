"""A real search-engine node for the tests, started from the layout `fetch.sh` makes.

`SearchNode("opensearch", workdir).start()` writes a config into `workdir` (single-node discovery,
security plugin absent, 512 MB heap, data and logs in `workdir`), starts the server's own bootstrap
class with `java` on free loopback ports and waits until the cluster is at least yellow;
`.stop()` ends it (and only it). `.url`, `.version` and `.start_seconds` tell what came up.

Raises `NodeNotInstalled` when the layout is missing (run tests/searchnodes/fetch.sh) and
`NodeFailed` (with the tail of the node's output) when the node exits or never becomes ready.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


class NodeNotInstalled(Exception):
    pass


class NodeFailed(Exception):
    pass


def versions() -> dict[str, str]:
    """The KEY=value lines of versions.sh (the one place the versions are written)."""
    out: dict[str, str] = {}
    for line in (HERE / "versions.sh").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "dossier" / "searchnodes"
    return Path(os.environ.get("DOSSIER_SEARCHNODES_CACHE") or default)


# engine -> (version key in versions.sh, bootstrap class, system-property prefix)
ENGINES = {
    "opensearch": ("OPENSEARCH_VERSION", "org.opensearch.bootstrap.OpenSearch", "opensearch"),
    "elasticsearch": (
        "ELASTICSEARCH_VERSION",
        "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch",
        "es",
    ),
}


# ---- Elasticsearch 8's server arguments -----------------------------------------------------------------------
#
# Elasticsearch 8 reads its arguments (`org.elasticsearch.bootstrap.ServerArgs`) from stdin, written by its CLI
# (not on Maven Central) in its wire format, and shuts down when stdin closes. These are the few encodings it needs.


def _vint(n: int) -> bytes:
    out = b""
    while n & ~0x7F:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def _string(text: str) -> bytes:
    if not text.isascii():
        raise ValueError(f"not ASCII: {text!r}")  # the wire format counts UTF-16 units; ASCII keeps it simple
    return _vint(len(text)) + text.encode()


def server_args(settings: dict[str, str], config: Path, logs: Path) -> bytes:
    """ServerArgs: not daemonized, not quiet, no pid file, an empty keystore, the node settings, the folders."""
    out = b"\x00\x00\x00"
    # KeyStoreWrapper(StreamInput): format version 6, no password, no data, no entries, not closed
    out += _string("org.elasticsearch.common.settings.KeyStoreWrapper") + (6).to_bytes(4, "big") + b"\x00\x00"
    out += _vint(0) + b"\x00"
    out += _vint(len(settings)) + b"".join(_string(k) + b"\x00" + _string(v) for k, v in settings.items())
    return out + _string(str(config)) + _string(str(logs))


def layout(engine: str) -> tuple[Path, str]:
    """(path.home of `engine`, its version); NodeNotInstalled when fetch.sh has not laid it out."""
    key, _, _ = ENGINES[engine]
    version = versions()[key]
    home = cache_dir() / f"{engine}-{version}"
    if not (home / "COMPLETE").exists():
        raise NodeNotInstalled(f"{engine} {version} is not laid out in {home}: run tests/searchnodes/fetch.sh")
    if shutil.which("java") is None:
        raise NodeNotInstalled("java is not on PATH (apt-get install openjdk-17-jre-headless)")
    return home, version


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_LOG4J = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %marker%m%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


class SearchNode:
    def __init__(self, engine: str, workdir: Path, *, heap: str = "512m") -> None:
        self.engine = engine
        self.home, self.version = layout(engine)
        self.workdir = Path(workdir)
        self.heap = heap
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self, conf: Path) -> list[str]:
        _, main, prefix = ENGINES[self.engine]
        cmd = [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-Xss1m",
            "-Djava.awt.headless=true",
            "-Dfile.encoding=UTF-8",
            "-Djava.security.manager=allow",
            "-Dlog4j2.formatMsgNoLookups=true",
            f"-Djava.io.tmpdir={self.workdir / 'tmp'}",
            f"-D{prefix}.path.home={self.home}",
            f"-D{prefix}.path.conf={conf}",
            f"-D{prefix}.distribution.type=tar",
            f"-D{prefix}.bundled_jdk=false",
        ]
        if self.engine == "elasticsearch":
            # the server is a module; the transport module needs jdk.net in the boot layer; log4j's JMX is refused
            # by the server's security manager
            cmd += ["-Dlog4j2.disable.jmx=true", "--module-path", str(self.home / "lib")]
            cmd += ["--add-modules=ALL-MODULE-PATH,jdk.net", "-m", main]
        else:
            cmd += ["-cp", str(self.home / "lib" / "*"), main]
        if os.geteuid() == 0:
            # The server refuses to run as root (CI runs as root): run it as uid 1000 of a user namespace of its
            # own, which keeps root's access to the files (kernel uid 0 outside) without any privilege inside.
            if shutil.which("unshare") is None:
                raise NodeFailed("running as root needs unshare (util-linux) to start the node as another uid")
            cmd = ["unshare", "--user", "--map-user=1000", *cmd]
        return cmd

    def start(self, timeout: float = 120.0) -> SearchNode:
        conf = self.workdir / "config"
        for sub in ("config", "data", "logs", "tmp"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        settings = {
            "cluster.name": "dossier-test",
            "node.name": "node-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": self.port,
            "transport.port": _free_port(),
            "path.data": str(self.workdir / "data"),
            "path.logs": str(self.workdir / "logs"),
            "cluster.routing.allocation.disk.threshold_enabled": False,  # a nearly full disk must not block writes
            "action.destructive_requires_name": False,
        }
        # JSON is YAML: the values are quoted as the server's settings parser expects
        (conf / f"{self.engine}.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        (conf / "log4j2.properties").write_text(_LOG4J)
        out = (self.workdir / "node.out").open("wb")
        began = time.monotonic()
        es = self.engine == "elasticsearch"
        env = {**os.environ, "LIBFFI_TMPDIR": str(self.workdir / "tmp")} if es else None
        self.proc = subprocess.Popen(
            self._command(conf),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if es else subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        out.close()
        if es and self.proc.stdin is not None:
            # kept open while the node runs: Elasticsearch shuts down when it closes
            # the node's settings too: Elasticsearch 8's CLI reads elasticsearch.yml, the server does not
            node_settings = {"path.home": str(self.home), **{k: str(v).lower() if isinstance(v, bool) else str(v)
                                                             for k, v in settings.items()}}  # fmt: skip
            self.proc.stdin.write(server_args(node_settings, conf, self.workdir / "logs"))
            self.proc.stdin.flush()
        deadline = began + timeout
        while True:
            if self.proc.poll() is not None:
                raise NodeFailed(f"{self.engine} {self.version} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(
                    f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=5
                ) as resp:
                    if json.loads(resp.read()).get("status") in ("yellow", "green"):
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise NodeFailed(f"{self.engine} {self.version} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.25)
        self.start_seconds = time.monotonic() - began
        return self

    def tail(self, lines: int = 40) -> str:
        try:
            text = (self.workdir / "node.out").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> SearchNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    """`python -m tests.searchnodes.node [ENGINE]`: start a node, print its URL and start time, stop it."""
    import sys
    import tempfile

    engine = sys.argv[1] if len(sys.argv) > 1 else "opensearch"
    with tempfile.TemporaryDirectory() as tmp, SearchNode(engine, Path(tmp)) as node:
        print(f"{engine} {node.version} at {node.url}: ready in {node.start_seconds:.1f} s")


if __name__ == "__main__":
    _main()
