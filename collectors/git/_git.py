"""Running `git` on a local clone: every command recorded, every failure explained.

    git = Git(path, instance=..., recorder=..., timeout=60.0)
    out, rid = git.run("log", "main", "--since=...", "--", ":(glob)apps/payments/**")

Each command runs as `git -C <repo> -c log.showSignature=false <args>` with a timeout, no
terminal prompt (`GIT_TERMINAL_PROMPT=0`) and C-locale messages, so that the failures below can
be told apart. It is recorded as method `GIT`, the repository's `file://` URI, the arguments as
`params.args`, git's exit code as status and the raw stdout as the body (hashed).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from dossier.plugin import Recorder

OUTPUT_LIMIT = 200


class GitFailure(Exception):
    """A git command that failed; `kind` says how, the message is one line ("why: hint")."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # missing | not_repo | dubious | no_git | bad_revision | timeout | failed
        self.message = message


def one_line(text: str, limit: int = OUTPUT_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class Git:
    def __init__(self, repository: Path, *, recorder: Recorder, timeout: float) -> None:
        self.repository = repository
        self.recorder = recorder
        self.timeout = timeout
        self.uri = repository.absolute().as_uri()

    def run(self, *args: str, timeout: float | None = None, allow: tuple[int, ...] = (0,)) -> tuple[bytes, int, str]:
        """(stdout, exit code, request id); an exit code outside `allow` raises GitFailure."""
        argv = ["git", "-C", str(self.repository), "-c", "log.showSignature=false", *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C", "GIT_PAGER": "cat"}
        started, t0 = time.time(), time.monotonic()
        limit = timeout or self.timeout

        def record(status: int | None, body: bytes | None, error: str | None) -> str:
            return self.recorder.record(
                method="GIT",
                url=self.uri,
                params={"args": list(args)},
                status=status,
                body=body,
                started=started,
                duration=time.monotonic() - t0,
                error=error,
            )

        try:
            proc = subprocess.run(argv, capture_output=True, env=env, timeout=limit, check=False)
        except FileNotFoundError:
            failure = GitFailure(
                "no_git", "git is not installed or not on PATH: install it (Debian: apt-get install git)"
            )
            record(None, None, failure.message)
            raise failure from None
        except subprocess.TimeoutExpired as exc:
            failure = GitFailure("timeout", f"git {args[0]} did not finish within {limit:g}s: raise `timeout`")
            record(None, exc.stdout if isinstance(exc.stdout, bytes) else None, failure.message)
            raise failure from None
        if proc.returncode in allow:
            return proc.stdout, proc.returncode, record(proc.returncode, proc.stdout, None)
        failure = self._failure(args, proc.stderr.decode("utf-8", "replace"))
        record(proc.returncode, proc.stdout, failure.message)
        raise failure

    def _failure(self, args: tuple[str, ...], stderr: str) -> GitFailure:
        text = stderr.lower()
        path = str(self.repository)
        if "not a git repository" in text:
            return GitFailure(
                "not_repo",
                f"not a git repository: clone the repository there (git clone <url> {path}) or point `repository` "
                "at a clone",
            )
        if "dubious ownership" in text:
            return GitFailure(
                "dubious",
                "git refuses a repository owned by another user: run Dossier as its owner, or "
                f"git config --global --add safe.directory {path}",
            )
        if "unknown revision" in text or "bad revision" in text or "ambiguous argument" in text:
            return GitFailure("bad_revision", one_line(stderr.strip().splitlines()[0] if stderr.strip() else stderr))
        first = next((line for line in stderr.splitlines() if line.strip()), "") or "failed"
        return GitFailure("failed", f"git {args[0]}: {one_line(first)}")
