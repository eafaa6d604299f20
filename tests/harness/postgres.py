"""A real PostgreSQL on a free loopback port in a temporary folder, for tests and benchmarks.

    with LocalPostgres() as pg:
        store = JobStore(pg.url)          # postgresql://dossier@127.0.0.1:<port>/postgres

It runs Debian's server binaries (`apt-get install postgresql`: /usr/lib/postgresql/<major>/bin),
or those of `$DOSSIER_PG_BIN`, or `initdb`/`pg_ctl` on PATH: `initdb` a fresh cluster with trust
authentication for the user `dossier`, then `pg_ctl start` on 127.0.0.1:<free port>, with its socket
in the folder. PostgreSQL refuses to run as root: as root (CI), the folder is given to the
`postgres` user (which the Debian package creates), or `nobody`, and the server runs as that
user. `stop()` stops it (immediate) and removes the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["LocalPostgres", "PostgresNotInstalled", "find_bindir"]


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries were found."""


def find_bindir() -> Path:
    override = os.environ.get("DOSSIER_PG_BIN")
    candidates = [override] if override else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PostgresNotInstalled(
        "no PostgreSQL server binaries (initdb, pg_ctl): `apt-get install postgresql`, or set DOSSIER_PG_BIN"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    def __init__(self, *, user: str = "dossier", database: str = "postgres") -> None:
        self.user = user
        self.database = database
        self.workdir: Path | None = None
        self.port: int | None = None
        self._bindir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self._run_as is not None:
            extra = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}
        return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.workdir, **extra, **kwargs)

    def start(self) -> LocalPostgres:
        self._bindir = find_bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix="dossier-pg-"))
        if os.geteuid() == 0:  # postgres will not run as root
            for name in ("postgres", "nobody"):
                try:
                    self._run_as = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if self._run_as is None:
                raise PostgresNotInstalled("running as root and there is no postgres or nobody user to run the server")
            os.chown(self.workdir, self._run_as.pw_uid, self._run_as.pw_gid)
        data = self.workdir / "data"
        init = self._run(
            [str(self._bindir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync"]
        )
        if init.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        for _ in range(5):
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            started = self._run(
                [
                    str(self._bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.workdir / "log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            if started.returncode == 0:
                break
            log = (self.workdir / "log").read_text(errors="replace") if (self.workdir / "log").exists() else ""
            if "already in use" not in log:
                self.stop()
                raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log[-2000:]}")
        else:
            self.stop()
            raise RuntimeError("postgres could not bind a free port")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not accept connections within 30s")

    def stop(self) -> None:
        if self.workdir is None:
            return
        data = self.workdir / "data"
        if self._bindir is not None and (data / "postmaster.pid").exists():
            self._run([str(self._bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None
        self.port = None
