"""The `git` collector over a real repository the tests build in tmp_path with the `git` command."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.git import GitCollector, GitConfig
from correlate import draft
from dossier.errors import SourceQueryError
from dossier.model import CorrelateSettings, Evidence, Incident, Series, ServiceInfo, SourceReport, stable_id
from dossier.plugin import CollectContext, CollectRequest, CollectResult, Recorder

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

INSTANCE = "git/gitops"
PATHS: dict[str, str | None] = {
    "apps/payments/**": "payments-api",  # an alias
    "apps/checkout/**": "checkout",
    "apps/search/**": "search",  # no incident service
    "clusters/prod/ingress/**": None,  # watched, no service
}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


INCIDENT = Incident(
    id="INC-2041",
    title="Checkout returns 500s",
    start=t("2026-11-20T10:00:00Z"),
    end=t("2026-11-20T12:00:00Z"),
    services=("checkout", "payments"),
)
SERVICES = (
    ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
    ServiceInfo("payments", aliases=("payments-api",)),
)
REQUEST = CollectRequest(incident=INCIDENT, start=t("2026-11-20T08:00:00Z"), end=INCIDENT.end, services=SERVICES)


def git_env(committed: str, authored: str | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Alice Example",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Bob Merger",
        "GIT_COMMITTER_EMAIL": "bob@example.com",
        "GIT_AUTHOR_DATE": authored or committed,
        "GIT_COMMITTER_DATE": committed,
    }


def git(repo: Path, *args: str, at: str = "2026-11-19T12:00:00Z", authored: str | None = None) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=git_env(at, authored), check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str], *, at: str, authored: str | None = None) -> str:
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message, at=at, authored=authored)
    return git(repo, "rev-parse", "HEAD")


def lines(n: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


@dataclass
class Repo:
    path: Path
    shas: dict[str, str]


def build(root: Path) -> Repo:
    """main: initial (11-19), early (07:00), checkout pool (09:30), search (09:40), the bad payments
    bump (09:55, authored 3 days before: rebased), ingress (10:05), docs (10:10), canary merged from
    a branch (commits 10:12, 10:14, merge 10:20), revert of the bump (10:40), later (13:00)."""
    repo = root / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    s: dict[str, str] = {}
    s["initial"] = commit(
        repo,
        "initial",
        {
            "apps/payments/deploy.yaml": "image: payments:v2.13.2\n" + lines(10),
            "apps/checkout/deploy.yaml": "image: checkout:v1.8.0\n" + lines(10),
            "apps/checkout/values.yaml": "pool: 10\n",
            "clusters/prod/ingress/ingress.yaml": "timeout: 30s\n",
            "README.md": "gitops\n",
        },
        at="2026-11-19T12:00:00Z",
    )
    s["early"] = commit(
        repo, "payments: early tweak", {"apps/payments/notes.yaml": "a: 1\n"}, at="2026-11-20T07:00:00Z"
    )
    s["pool"] = commit(
        repo, "checkout: raise pool size", {"apps/checkout/values.yaml": "pool: 50\nidle: 5\nmax: 80\n"},
        at="2026-11-20T09:30:00Z",
    )  # fmt: skip
    s["search"] = commit(repo, "search: new index", {"apps/search/values.yaml": lines(4)}, at="2026-11-20T09:40:00Z")
    s["bump"] = commit(
        repo,
        "payments: bump to v2.14.0",
        {
            "apps/payments/deploy.yaml": "image: payments:v2.14.0\n" + lines(10) + "extra: true\n",
            "apps/checkout/deploy.yaml": "image: checkout:v1.8.0\n" + lines(9),
            "README.md": "gitops\nbumped\n",
        },
        at="2026-11-20T09:55:00Z",
        authored="2026-11-17T16:00:00Z",
    )
    s["ingress"] = commit(
        repo, "ingress: raise timeouts", {"clusters/prod/ingress/ingress.yaml": "timeout: 60s\n"},
        at="2026-11-20T10:05:00Z",
    )  # fmt: skip
    s["docs"] = commit(repo, "docs", {"docs/index.md": "docs\n"}, at="2026-11-20T10:10:00Z")
    git(repo, "checkout", "-q", "-b", "canary")
    s["canary1"] = commit(
        repo, "payments: add canary", {"apps/payments/canary.yaml": lines(10)}, at="2026-11-20T10:12:00Z"
    )
    s["canary2"] = commit(
        repo, "payments: tweak canary", {"apps/payments/canary.yaml": lines(12)}, at="2026-11-20T10:14:00Z"
    )
    git(repo, "checkout", "-q", "main")
    git(
        repo,
        "merge",
        "-q",
        "--no-ff",
        "canary",
        "-m",
        "Merge pull request #7 from acme/canary",
        at="2026-11-20T10:20:00Z",
    )
    s["merge"] = git(repo, "rev-parse", "HEAD")
    git(repo, "revert", "--no-edit", s["bump"], at="2026-11-20T10:40:00Z")
    s["revert"] = git(repo, "rev-parse", "HEAD")
    s["later"] = commit(repo, "payments: later", {"apps/payments/later.yaml": "x\n"}, at="2026-11-20T13:00:00Z")
    return Repo(repo, s)


def make(repository: Path, base: Path | None = None, **options: Any) -> GitCollector:
    data = {"repository": str(repository), "paths": PATHS, **options}
    config = GitConfig.model_validate(data, context={"base_dir": base or repository.parent})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return GitCollector(config, ctx)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    return build(tmp_path_factory.mktemp("git"))


def summary(result: CollectResult) -> list[tuple[str, str, str | None, str]]:
    return [(e.at.strftime("%H:%M"), e.kind, e.service, e.attrs["subject"]) for e in result.events]


def test_commits_in_the_window_with_their_services(repo: Repo) -> None:
    result = make(repo.path).collect(REQUEST)
    assert summary(result) == [
        ("09:30", "config_change", "checkout", "checkout: raise pool size"),
        ("09:40", "config_change", "search", "search: new index"),
        ("09:55", "config_change", "checkout", "payments: bump to v2.14.0"),  # one commit, two services
        ("09:55", "config_change", "payments", "payments: bump to v2.14.0"),
        ("10:05", "config_change", None, "ingress: raise timeouts"),
        ("10:20", "config_change", "payments", "Merge pull request #7 from acme/canary"),
        ("10:40", "rollback", "checkout", 'Revert "payments: bump to v2.14.0"'),
        ("10:40", "rollback", "payments", 'Revert "payments: bump to v2.14.0"'),
    ]
    # not: the early tweak (07:00) and the later commit (13:00), outside the window; the docs
    # commit, which touched no watched path
    assert not result.problems


def test_event_fields(repo: Repo) -> None:
    result = make(repo.path, url_template="https://github.com/acme/gitops/commit/{sha}").collect(REQUEST)
    bump = next(e for e in result.events if e.service == "payments" and e.attrs["sha"] == repo.shas["bump"])
    sha = repo.shas["bump"]
    assert bump.id == stable_id(INSTANCE, sha, "payments-api")
    assert bump.title == f"payments: bump to v2.14.0 ({sha[:7]})"  # the subject names the service already
    checkout_title = next(e.title for e in result.events if e.service == "checkout" and e.attrs["sha"] == sha)
    assert checkout_title == f"checkout: payments: bump to v2.14.0 ({sha[:7]})"
    assert bump.link == f"https://github.com/acme/gitops/commit/{sha}"
    # the committer date, not the author date of the rebased commit
    assert bump.at == t("2026-11-20T09:55:00Z")
    assert dict(bump.attrs) == {
        "id": sha,
        "sha": sha,
        "short_sha": sha[:7],
        "author": "Alice Example",
        "authored_at": "2026-11-17T16:00:00Z",
        "committer": "Bob Merger",
        "subject": "payments: bump to v2.14.0",
        "files": 1,
        "paths": ["apps/payments/deploy.yaml"],
        "insertions": 2,  # numstat: the image line changed, one line added
        "deletions": 1,
        "branch": "main",
        "merge": "false",
        "service_mapped": "true",
        "raw_service": "payments-api",
    }
    checkout = next(e for e in result.events if e.service == "checkout" and e.attrs["sha"] == sha)
    assert (checkout.attrs["insertions"], checkout.attrs["deletions"], checkout.attrs["files"]) == (0, 1, 1)
    search = next(e for e in result.events if e.service == "search")
    assert (search.attrs["service_mapped"], search.attrs["raw_service"]) == ("false", "search")
    ingress = next(e for e in result.events if e.service is None)
    assert ingress.title == f"ingress: raise timeouts ({repo.shas['ingress'][:7]})"
    assert (ingress.attrs["service_mapped"], ingress.attrs["raw_service"]) == ("false", None)


def test_a_revert_is_a_rollback_naming_the_reverted_commit(repo: Repo) -> None:
    result = make(repo.path).collect(REQUEST)
    reverts = [e for e in result.events if e.kind == "rollback"]
    assert {e.service for e in reverts} == {"payments", "checkout"}
    assert {e.attrs["reverts"] for e in reverts} == {repo.shas["bump"]}
    assert all(e.attrs["sha"] == repo.shas["revert"] for e in reverts)


def test_first_parent_makes_a_merged_branch_one_change(repo: Repo) -> None:
    merged = make(repo.path).collect(REQUEST)
    [merge] = [e for e in merged.events if e.attrs["merge"] == "true"]
    assert merge.at == t("2026-11-20T10:20:00Z") and merge.attrs["sha"] == repo.shas["merge"]
    # sized against the branch before the merge: both commits of the branch
    assert (merge.attrs["insertions"], merge.attrs["deletions"], merge.attrs["paths"]) == (
        12,
        0,
        ["apps/payments/canary.yaml"],
    )
    each = make(repo.path, first_parent=False).collect(REQUEST)
    canary = [(e.at.strftime("%H:%M"), e.attrs["subject"]) for e in each.events if "canary" in e.attrs["subject"]]
    assert canary == [("10:12", "payments: add canary"), ("10:14", "payments: tweak canary")]
    assert not [e for e in each.events if e.attrs["merge"] == "true"]


def test_branch_and_window(repo: Repo) -> None:
    result = make(repo.path, branch="canary").collect(REQUEST)
    assert [e.attrs["subject"] for e in result.events if e.service == "payments"] == [
        "payments: bump to v2.14.0",
        "payments: add canary",
        "payments: tweak canary",
    ]
    assert {e.attrs["branch"] for e in result.events} == {"canary"}
    narrow = CollectRequest(INCIDENT, t("2026-11-20T09:55:00Z"), t("2026-11-20T10:05:00Z"), SERVICES)
    assert [e.attrs["subject"] for e in make(repo.path).collect(narrow).events] == [
        "payments: bump to v2.14.0",
        "payments: bump to v2.14.0",
        "ingress: raise timeouts",
    ]


def test_every_git_command_is_recorded(repo: Repo) -> None:
    collector = make(repo.path)
    result = collector.collect(REQUEST)
    requests = collector.ctx.recorder.requests
    assert {r.method for r in requests} == {"GIT"}
    assert {r.url for r in requests} == {repo.path.as_uri()}
    [log] = [r for r in requests if r.params["args"][0] == "log"]
    args = log.params["args"]
    assert args[:4] == ["log", "HEAD", "--since=2026-11-19T08:00:00Z", "--until=2026-11-20T12:00:00Z"]
    assert "--first-parent" in args and args[args.index("--") + 1 :] == [f":(glob){p}" for p in PATHS]
    again = subprocess.run(["git", "-C", str(repo.path), "-c", "log.showSignature=false", *args], capture_output=True)
    assert (log.status, log.sha256, log.items) == (0, hashlib.sha256(again.stdout).hexdigest(), 8)
    assert all(e.request == log.id for e in result.events)


def test_check(repo: Repo) -> None:
    assert make(repo.path).check() == f"{repo.path}: main at {repo.shas['later'][:7]} (2026-11-20T13:00:00Z)"


# ---- fetch ---------------------------------------------------------------------------------------


def test_fetch_reads_the_remote_branch(repo: Repo, tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    shutil.copytree(repo.path, origin)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    fix = commit(origin, "payments: pin v2.13.2", {"apps/payments/pin.yaml": "pin\n"}, at="2026-11-20T11:00:00Z")
    stale = make(clone, branch="origin/main").collect(REQUEST)
    assert fix not in {e.attrs["sha"] for e in stale.events}
    fresh = make(clone, branch="origin/main", fetch=True).collect(REQUEST)
    assert fix in {e.attrs["sha"] for e in fresh.events}
    assert not fresh.problems


def test_a_failed_fetch_is_a_problem_and_the_clone_is_read(repo: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo.path), str(clone))
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone"))
    result = make(clone, branch="origin/main", fetch=True).collect(REQUEST)
    assert len(result.events) == 8
    [problem] = result.problems
    assert problem.reason.startswith(f"{clone}: git fetch failed: git fetch: ")
    assert problem.reason.endswith("the commits read are those of the local clone, which may be stale")


def test_a_shallow_clone_that_misses_the_window_is_a_blind_spot(repo: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "3", repo.path.as_uri(), str(clone))
    result = make(clone).collect(REQUEST)
    [problem] = result.problems
    assert problem.kind == "blind_spot"
    assert problem.reason.startswith(f"{clone}: the clone is shallow: commits before 2026-11-20T10:")
    assert problem.reason.endswith("may be missing: deepen it (git fetch --shallow-since=2026-11-20T08:00:00Z)")


# ---- failures ------------------------------------------------------------------------------------


def test_missing_repository(tmp_path: Path) -> None:
    with pytest.raises(SourceQueryError) as info:
        make(tmp_path / "nope").collect(REQUEST)
    assert str(info.value) == (
        f"repository '{tmp_path / 'nope'}': no such directory: check `repository` "
        "(a relative path is relative to the config file)"
    )


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    env = {"GIT_CEILING_DIRECTORIES": str(tmp_path)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with pytest.raises(SourceQueryError) as info:
            make(plain).collect(REQUEST)
    assert str(info.value) == (
        f"repository '{plain}': not a git repository: clone the repository there (git clone <url> {plain}) "
        "or point `repository` at a clone"
    )


def test_unknown_branch(repo: Repo) -> None:
    with pytest.raises(SourceQueryError) as info:
        make(repo.path, branch="release").collect(REQUEST)
    assert str(info.value) == (
        f"repository '{repo.path}': branch 'release' not found: check `branch` "
        f"(git -C {repo.path} branch -a lists them)"
    )


def test_git_not_installed(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(SourceQueryError) as info:
        make(repo.path).collect(REQUEST)
    assert str(info.value) == "git is not installed or not on PATH: install it (Debian: apt-get install git)"


# ---- the draft -----------------------------------------------------------------------------------


def test_draft_ranks_the_reverted_commit_first(repo: Repo) -> None:
    result = make(repo.path).collect(REQUEST)
    onset, recovered = t("2026-11-20T10:00:00Z"), t("2026-11-20T10:45:00Z")

    def series(service: str, rise: datetime, fall: datetime) -> Series:
        times, values = [], []
        at = onset - timedelta(hours=1)
        while at <= INCIDENT.end:
            times.append(at.timestamp())
            values.append((6.0 if rise <= at < fall else 1.0) + 0.1 * math.sin(at.timestamp() / 60))
            at += timedelta(seconds=15)
        return Series(
            id=stable_id("prom", service),
            source="prometheus/p",
            signal="error_rate",
            service=service,
            labels={},
            query=f'sum(rate(http_requests_total{{service="{service}",code=~"5.."}}[1m]))',
            times=tuple(times),
            values=tuple(values),
            step=15.0,
        )

    evidence = Evidence(
        events=tuple(result.events),
        series=(
            series("payments", onset, recovered),
            series("checkout", onset + timedelta(minutes=2), recovered + timedelta(minutes=1)),
        ),
        sources=(
            SourceReport("prometheus/p", "prometheus", "ok", None, 2, 0.1, kinds=("metric",)),
            SourceReport(INSTANCE, "git", "ok", None, len(result.events), 0.1, kinds=("change",)),
        ),
    )
    d = draft(INCIDENT, evidence, CorrelateSettings(services=SERVICES), generated_at=INCIDENT.end)
    by_id = {e.id: e for e in result.events}
    top = by_id[d.candidate_causes[0].evidence]
    assert (top.service, top.attrs["sha"], top.kind) == ("payments", repo.shas["bump"], "config_change")
    assert any("rolled back" in r for r in d.candidate_causes[0].reasons)
