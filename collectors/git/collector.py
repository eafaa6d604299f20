"""Commits of a GitOps or config repository that touched the watched paths, read from a local clone.

    git -C <repo> log <branch> --since <start> --until <end> --format=<fields> --numstat -z
        --first-parent -m -- ':(glob)apps/payments/**' ':(glob)apps/checkout/**'

One `change` event per commit and service: a commit that touched the paths of two services is two
events. The time of a change is the **committer** date, not the author date: a commit that was
rebased, cherry-picked or amended keeps its author date, which can be days older than the moment
it landed on the branch, and landing is what changed the system. With `first_parent` (default),
a merged pull request is one change at the time of the merge, sized against the branch before it.

No network: only `git fetch --quiet` when `fetch: true`; a fetch that fails leaves a problem
(the clone may be stale) and the clone is read as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.git._git import Git, GitFailure
from collectors.git.config import GitConfig, glob_regex
from dossier.errors import SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, parse_time, rfc3339, stable_id
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult

MAX_PATHS = 20  # files listed in attrs.paths
SINCE_SLACK = timedelta(days=1)  # git stops walking at older commits; a little slack for skewed clocks

# %H full sha, %h short, %P parents, %an/%aI author, %cn/%cI committer, %s subject, %b body
_FIELDS = ("%H", "%h", "%P", "%an", "%aI", "%cn", "%cI", "%s", "%b")
_FORMAT = "%x1e" + "".join(f + "%x1f" for f in _FIELDS)
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,64})")


@dataclass(frozen=True, slots=True)
class _File:
    path: str
    insertions: int
    deletions: int


@dataclass(slots=True)
class _Commit:
    sha: str
    short_sha: str
    parents: tuple[str, ...]
    author: str
    authored_at: datetime
    committer: str
    committed_at: datetime
    subject: str
    body: str
    files: list[_File] = field(default_factory=list)

    @property
    def reverts(self) -> tuple[bool, str | None]:
        """(is a revert, the sha it reverts when the message says)."""
        first_body_line = next((line for line in self.body.splitlines() if line.strip()), "")
        is_revert = self.subject.startswith('Revert "') or (
            len(self.parents) > 1 and first_body_line.startswith('Revert "')
        )
        m = _REVERTS.search(self.body)
        return is_revert, (m[1] if is_revert and m else None)


class GitCollector(Collector[GitConfig]):
    """Changes from the commits of a GitOps or config repository."""

    type = "git"
    Config = GitConfig
    kinds = frozenset({"change"})

    def __init__(self, config: GitConfig, ctx: CollectContext) -> None:
        super().__init__(config, ctx)
        self.git = Git(config.repository, recorder=ctx.recorder, timeout=config.timeout)
        self._globs = [(glob_regex(p), p, service) for p, service in config.paths.items()]

    # ---- sources check -------------------------------------------------------------------------

    def check(self) -> str:
        self._repository()
        revision = self.config.branch or "HEAD"
        sha = self._resolve(revision)
        out, _, _ = self._run("log", "-1", "--format=%h%x1f%cI", sha)
        short, _, when = out.decode().strip().partition("\x1f")
        return f"{self.config.repository}: {self._branch_name()} at {short} ({rfc3339(parse_time(when))})"

    # ---- collection ----------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        result = CollectResult()
        shallow_since = self._repository()
        if self.config.fetch:
            try:
                self.git.run("fetch", "--quiet")
            except GitFailure as exc:
                result.problems.append(
                    Problem(
                        source=self.ctx.instance,
                        reason=f"{self.config.repository}: git fetch failed: {exc.message}: the commits read are "
                        "those of the local clone, which may be stale",
                    )
                )
        revision = self.config.branch or "HEAD"
        self._resolve(revision)
        branch = self._branch_name()
        if shallow_since is not None and shallow_since > request.start:
            result.problems.append(
                Problem(
                    source=self.ctx.instance,
                    reason=(
                        f"{self.config.repository}: the clone is shallow: commits before {rfc3339(shallow_since)} "
                        f"may be missing: deepen it (git fetch --shallow-since={rfc3339(request.start)})"
                    ),
                    kind="blind_spot",
                    start=request.start,
                    end=shallow_since,
                )
            )

        args = [
            "log",
            revision,
            f"--since={rfc3339(request.start - SINCE_SLACK)}",
            f"--until={rfc3339(request.end)}",
            f"--format={_FORMAT}",
            "--numstat",
            "-z",
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            *(["--first-parent", "-m"] if self.config.first_parent else ["--no-merges"]),
            "--",
            *(f":(glob){p}" for p in self.config.paths),
        ]
        out, _, rid = self._run(*args)
        commits = list(_parse_log(out))
        self.ctx.recorder.set_items(rid, len(commits))
        for commit in commits:
            if request.start <= commit.committed_at <= request.end:
                result.events.extend(self._events(commit, branch, request, rid))
        result.events.sort(key=lambda e: (e.at, e.id))
        return result

    # ---- the repository ------------------------------------------------------------------------

    def _run(self, *args: str) -> tuple[bytes, int, str]:
        try:
            return self.git.run(*args)
        except GitFailure as exc:
            raise self._error(exc) from None

    def _error(self, exc: GitFailure) -> SourceQueryError | SourceUnavailable:
        where = f"repository {str(self.config.repository)!r}"
        if exc.kind == "timeout":
            return SourceUnavailable(self.ctx.instance, f"{where}: {exc.message}")
        if exc.kind == "no_git":
            return SourceQueryError(self.ctx.instance, exc.message)
        return SourceQueryError(self.ctx.instance, f"{where}: {exc.message}")

    def _repository(self) -> datetime | None:
        """Check that the clone is there; when it is shallow, the date its history starts at."""
        path = self.config.repository
        where = f"repository {str(path)!r}"
        if not path.exists():
            raise SourceQueryError(
                self.ctx.instance,
                f"{where}: no such directory: check `repository` (a relative path is relative to the config file)",
            )
        if not path.is_dir():
            raise SourceQueryError(self.ctx.instance, f"{where}: not a directory: `repository` names the clone")
        out, _, _ = self._run("rev-parse", "--absolute-git-dir", "--is-shallow-repository")
        lines = out.decode("utf-8", "replace").splitlines()
        if len(lines) < 2 or lines[1].strip() != "true":
            return None
        shallow = Path(lines[0]) / "shallow"
        try:
            shas = [line.strip() for line in shallow.read_text().splitlines() if line.strip()]
        except OSError:
            return None
        if not shas:
            return None
        out, _, _ = self._run("show", "-s", "--format=%cI", *shas)
        dates = [parse_time(line) for line in out.decode().split() if line.strip()]
        return max(dates, default=None)

    def _resolve(self, revision: str) -> str:
        out, code, _ = self.git.run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", allow=(0, 1))
        if code != 0:
            if self.config.branch is None:
                raise SourceQueryError(
                    self.ctx.instance,
                    f"repository {str(self.config.repository)!r}: HEAD has no commits yet: commit or fetch first, "
                    "or set `branch`",
                )
            raise SourceQueryError(
                self.ctx.instance,
                f"repository {str(self.config.repository)!r}: branch {revision!r} not found: check `branch` "
                f"(git -C {self.config.repository} branch -a lists them)",
            )
        return out.decode().strip()

    def _branch_name(self) -> str:
        if self.config.branch is not None:
            return self.config.branch
        out, code, _ = self.git.run("symbolic-ref", "--short", "-q", "HEAD", allow=(0, 1))
        return out.decode().strip() if code == 0 and out.strip() else "HEAD"

    # ---- output --------------------------------------------------------------------------------

    def _service_of(self, path: str) -> tuple[bool, str | None]:
        for regex, _, service in self._globs:
            if regex.fullmatch(path):
                return True, service
        return False, None

    def _events(self, commit: _Commit, branch: str, request: CollectRequest, rid: str) -> Iterator[Event]:
        groups: dict[str | None, list[_File]] = {}
        for f in commit.files:
            watched, service = self._service_of(f.path)
            if watched:
                groups.setdefault(service, []).append(f)
        is_revert, reverts = commit.reverts
        kind = "rollback" if is_revert else self.config.kind
        for raw, files in sorted(groups.items(), key=lambda g: g[0] or ""):
            mapped = request.canonical(raw)
            service = mapped or raw
            attrs: dict[str, Any] = {
                "id": commit.sha,
                "sha": commit.sha,
                "short_sha": commit.short_sha,
                "author": commit.author,
                "authored_at": rfc3339(commit.authored_at),
                "committer": commit.committer,
                "subject": commit.subject,
                "files": len(files),
                "paths": [f.path for f in files[:MAX_PATHS]],
                "insertions": sum(f.insertions for f in files),
                "deletions": sum(f.deletions for f in files),
                "branch": branch,
                "merge": "true" if len(commit.parents) > 1 else "false",
                "service_mapped": "true" if mapped is not None else "false",
                "raw_service": raw,
            }
            if is_revert:
                attrs["reverts"] = reverts
            yield Event(
                id=stable_id(self.ctx.instance, commit.sha, raw or ""),
                at=commit.committed_at,
                kind=kind,
                source=self.ctx.instance,
                title=_title(service, raw, commit),
                service=service,
                attrs=attrs,
                link=self.config.link(commit.sha, commit.short_sha),
                request=rid,
            )


def _title(service: str | None, raw: str | None, commit: _Commit) -> str:
    """`payments: <subject> (<short sha>)`, without repeating a service the subject starts with."""
    subject = commit.subject
    named = {n.lower() for n in (service, raw) if n}
    if not named or subject.split(":", 1)[0].strip().lower() in named:
        return f"{subject} ({commit.short_sha})"
    return f"{service}: {subject} ({commit.short_sha})"


def _parse_log(out: bytes) -> Iterator[_Commit]:
    """`git log -z --numstat` with the `_FORMAT` header: one record per commit, after a \\x1e."""
    for record in out.split(b"\x1e")[1:]:
        parts = record.split(b"\x1f", len(_FIELDS))
        if len(parts) != len(_FIELDS) + 1:
            continue
        text = [p.decode("utf-8", "replace") for p in parts[: len(_FIELDS)]]
        sha, short, parents, author, authored, committer, committed, subject, body = text
        commit = _Commit(
            sha=sha,
            short_sha=short,
            parents=tuple(parents.split()),
            author=author,
            authored_at=parse_time(authored),
            committer=committer,
            committed_at=parse_time(committed),
            subject=subject,
            body=body,
        )
        for entry in parts[-1].split(b"\x00"):
            entry = entry.strip(b"\n")
            if not entry:
                continue
            fields = entry.split(b"\t", 2)
            if len(fields) != 3:
                continue
            ins, dels, path = fields
            commit.files.append(
                _File(
                    path=path.decode("utf-8", "replace"),
                    insertions=int(ins) if ins.isdigit() else 0,  # "-" for binary files
                    deletions=int(dels) if dels.isdigit() else 0,
                )
            )
        yield commit
