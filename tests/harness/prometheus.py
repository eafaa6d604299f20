"""A real Prometheus on a free loopback port, loaded with a backfilled incident, for tests and demos.

    with LocalPrometheus(openmetrics_text, rules=rules_yaml_text) as prom:
        requests.get(prom.url + "/api/v1/query", params={"query": "up"})

`openmetrics` is OpenMetrics text (`str`) or a file (`os.PathLike`, e.g. `pathlib.Path`, or a `str`
without a newline naming an existing file); `rules` is likewise rules-file YAML text or a file.
On start it writes them into `workdir` (a fresh temporary directory unless one is given), backfills the TSDB with
`promtool tsdb create-blocks-from [--max-block-duration=24h] openmetrics <file> <datadir>`, writes a
minimal `prometheus.yml` (no scrapes, `rule_files: [rules.yml]` when rules are given) and starts
`prometheus` with a 100-year retention and `--web.enable-lifecycle` on 127.0.0.1:<free port>. It waits
until `/-/ready` answers 200. On exit it sends SIGTERM, waits, kills if needed, and removes the
temporary directory (a given `workdir` is kept).

Binaries come from `$DOSSIER_PROMETHEUS_BIN` / `$DOSSIER_PROMTOOL_BIN`, else `prometheus` / `promtool` on
PATH (Debian: `apt-get install prometheus`).

Facts about the data that the file must respect (see `tests.harness.synth.to_openmetrics`): promtool
silently drops out-of-order samples; every sample needs a timestamp in seconds; the text ends with
"# EOF\\n" and nothing after it; keep metric families contiguous. Backfilled series carry no
staleness markers: a query still returns a series' last value for 5 minutes (the lookback) after it ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["LocalPrometheus", "PrometheusNotInstalled", "PrometheusStartError", "find_binary"]

_INSTALL_HINT = "install it with `apt-get install prometheus` (Debian/Ubuntu), or set {env} to its path"


class PrometheusNotInstalled(RuntimeError):
    """The prometheus or promtool binary cannot be found."""


class PrometheusStartError(RuntimeError):
    """Backfilling or starting the server failed; the message carries the tool's output."""


def find_binary(name: str, env: str) -> str:
    """The path of `name`: `$env` if set, else `shutil.which(name)`; raise with an install hint."""
    override = os.environ.get(env)
    if override:
        path = shutil.which(override) or (override if os.path.isfile(override) else None)
        if path is None:
            raise PrometheusNotInstalled(f"{env}={override!r} does not name an executable")
        return path
    path = shutil.which(name)
    if path is None:
        raise PrometheusNotInstalled(f"`{name}` is not on PATH; " + _INSTALL_HINT.format(env=env))
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:]


class LocalPrometheus:
    """A Prometheus server with a backfilled TSDB, as a context manager (see the module docstring)."""

    CONFIG_NAME = "prometheus.yml"
    RULES_NAME = "rules.yml"
    DATA_NAME = "incident.om"

    def __init__(
        self,
        openmetrics: str | os.PathLike[str] | None = None,
        rules: str | os.PathLike[str] | None = None,
        *,
        workdir: str | os.PathLike[str] | None = None,
        scrape_interval: str = "15s",
        evaluation_interval: str = "15s",
        ready_timeout: float = 30.0,
        max_block_duration: str | None = "24h",
        extra_args: tuple[str, ...] = (),
        prometheus_bin: str | None = None,
        promtool_bin: str | None = None,
    ) -> None:
        self._openmetrics = openmetrics
        self._rules = rules
        self._given_workdir = Path(workdir) if workdir is not None else None
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.ready_timeout = ready_timeout
        self.max_block_duration = max_block_duration
        self.extra_args = tuple(extra_args)
        self._prometheus_bin = prometheus_bin
        self._promtool_bin = promtool_bin
        self.workdir: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.backfill_output = ""
        self._tmp_created = False

    # ------------------------------------------------------------------ properties

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalPrometheus is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self._dir / "data"

    @property
    def config_path(self) -> Path:
        return self._dir / self.CONFIG_NAME

    @property
    def rules_path(self) -> Path | None:
        return self._dir / self.RULES_NAME if self._rules is not None else None

    @property
    def log_path(self) -> Path:
        return self._dir / "prometheus.log"

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("LocalPrometheus is not started")
        return self.workdir

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalPrometheus:
        if self.process is not None:
            raise RuntimeError("already started")
        prometheus = self._prometheus_bin or find_binary("prometheus", "DOSSIER_PROMETHEUS_BIN")
        promtool = None
        if self._openmetrics is not None:
            promtool = self._promtool_bin or find_binary("promtool", "DOSSIER_PROMTOOL_BIN")
        if self._given_workdir is not None:
            self._given_workdir.mkdir(parents=True, exist_ok=True)
            self.workdir = self._given_workdir
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="dossier-prom-"))
            self._tmp_created = True
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if self._openmetrics is not None:
                assert promtool is not None
                self._backfill(promtool)
            self._write_config()
            self._launch(prometheus)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_input(self, value: str | os.PathLike[str], name: str) -> Path:
        target = self._dir / name
        if not isinstance(value, os.PathLike) and "\n" not in value and os.path.isfile(value):
            value = Path(value)  # a path given as str (OpenMetrics/YAML text has a newline)
        if isinstance(value, os.PathLike):
            src = Path(value)
            if src.resolve() != target.resolve():
                shutil.copyfile(src, target)
        else:
            target.write_text(value, encoding="utf-8")
        return target

    def _backfill(self, promtool: str) -> None:
        assert self._openmetrics is not None
        om = self._write_input(self._openmetrics, self.DATA_NAME)
        base = [promtool, "tsdb", "create-blocks-from"]
        tail = ["openmetrics", str(om), str(self.data_dir)]
        attempts = [base + tail]
        if self.max_block_duration:
            attempts.insert(0, [*base, f"--max-block-duration={self.max_block_duration}", *tail])
        last: subprocess.CompletedProcess[str] | None = None
        for i, cmd in enumerate(attempts):
            last = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            if last.returncode == 0:
                self.backfill_output = last.stdout + last.stderr
                return
            flag_rejected = "max-block-duration" in (last.stderr + last.stdout) and i + 1 < len(attempts)
            if not flag_rejected:
                break
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
        assert last is not None
        raise PrometheusStartError(
            f"promtool failed (exit {last.returncode}): {' '.join(last.args)}\n"
            f"stderr:\n{last.stderr.strip()}\nstdout:\n{last.stdout.strip()[-2000:]}"
        )

    def _write_config(self) -> None:
        lines = [
            "global:",
            f"  scrape_interval: {self.scrape_interval}",
            f"  evaluation_interval: {self.evaluation_interval}",
        ]
        if self._rules is not None:
            self._write_input(self._rules, self.RULES_NAME)
            lines += ["rule_files:", f"  - {self.RULES_NAME}"]
        lines.append("scrape_configs: []")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _launch(self, prometheus: str, attempts: int = 5) -> None:
        last_error = ""
        for _ in range(attempts):
            self.port = _free_port()
            cmd = [
                prometheus,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                *self.extra_args,
            ]
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self._dir,
                )
            outcome = self._wait_ready()
            if outcome == "ready":
                return
            log_text = _tail(self.log_path)
            self._terminate()
            last_error = log_text
            if outcome == "died" and "address already in use" in log_text:
                continue  # lost the race for the port: pick another one
            if outcome == "timeout":
                raise PrometheusStartError(
                    f"prometheus did not become ready within {self.ready_timeout:.0f}s on {self.url}; "
                    f"its log ends with:\n{log_text}"
                )
            raise PrometheusStartError(f"prometheus exited during startup; its log ends with:\n{log_text}")
        raise PrometheusStartError(f"prometheus could not bind a free port after {attempts} tries:\n{last_error}")

    def _wait_ready(self) -> str:
        assert self.process is not None
        deadline = time.monotonic() + self.ready_timeout
        url = self.url + "/-/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return "died"
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return "ready"
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.1)
        return "died" if self.process.poll() is not None else "timeout"

    def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove the temporary directory."""
        self._terminate()
        if self._tmp_created and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._tmp_created = False
        self.port = None

    def log(self) -> str:
        """The server's output so far (stdout and stderr)."""
        return _tail(self.log_path, 1_000_000) if self.workdir is not None else ""
