"""The `github` collector against the GitHub stand-in (tests/standins/github.py)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from collectors.github import GitHubCollector, GitHubConfig
from collectors.github.config import GitHubRepository
from correlate import draft
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import (
    CorrelateSettings,
    Evidence,
    Incident,
    Series,
    ServiceInfo,
    SourceReport,
    stable_id,
)
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.github import GitHubData, GitHubStandIn

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "github"
INSTANCE = "github/test"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def t(minutes: float) -> datetime:
    """T0 + minutes."""
    return T0 + timedelta(minutes=minutes)


def request(*, services: tuple[ServiceInfo, ...] | None = None) -> CollectRequest:
    incident = Incident(id="INC-1", title="t", start=T0, end=t(120), services=("checkout",))
    return CollectRequest(
        incident=incident,
        start=t(-120),
        end=t(120),
        services=services
        if services is not None
        else (
            ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
            ServiceInfo("payments"),
        ),
    )


def collector(gh: GitHubStandIn, repositories: list[Any], **options: Any) -> GitHubCollector:
    http = {"timeout": "2s", "retries": 2, "retry_max_delay": "10s", **options.pop("http", {})}
    config = GitHubConfig.model_validate(
        {
            "url": gh.url,
            "web_url": "https://github.com",
            "token": "ghp_test",
            "repositories": [r if isinstance(r, dict) else {"repo": r} for r in repositories],
            "http": http,
            **options,
        }
    )
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return GitHubCollector(config, ctx)


def success(created: datetime, done: datetime, **fields: Any) -> list[tuple]:
    return [("in_progress", created + timedelta(seconds=5)), ("success", done, fields)]


def shop() -> GitHubData:
    """payments (a service), checkout-api (an alias of checkout), inventory (unknown to the config)."""
    data = GitHubData()
    pay = data.repo("acme/payments")
    pay.deployment(created_at=t(-3000), ref="v2.13.2", sha=A, statuses=success(t(-3000), t(-2998)))
    pay.deployment(
        created_at=t(-10),
        ref="v2.14.0",
        sha=B,
        deployment_id=2291,
        creator="alice",
        statuses=success(t(-10), t(-8), log_url="https://github.com/acme/payments/actions/runs/77/job/5"),
    )
    pay.deployment(created_at=t(200), ref="v2.15.0", sha=C, statuses=success(t(200), t(201)))  # after the window
    pay.deployment(created_at=t(-20), environment="staging", ref="v2.14.0", sha=B, statuses=success(t(-20), t(-19)))
    pay.run(created_at=t(-11), run_id=77, name="Deploy", updated_at=t(-7))  # the run behind deploy #2291
    pay.run(created_at=t(-30), name="CI", updated_at=t(-25))  # not a deploy workflow
    pay.run(created_at=t(-40), name="Deploy", conclusion="skipped", updated_at=t(-40))
    co = data.repo("acme/checkout-api")
    co.deployment(
        created_at=t(-1),
        ref="main",
        sha=C,
        deployment_id=31,
        statuses=[("in_progress", t(-1)), ("failure", t(1))],
    )
    inv = data.repo("acme/inventory")
    inv.run(created_at=t(5), name="Release", head_branch="v9.1.0", updated_at=t(9), run_id=5001)
    return data


def by_title(events: list) -> dict[str, Any]:
    return {e.title: e for e in events}


# ---- what is collected ---------------------------------------------------------------------------


def test_changes_in_the_window_with_links_and_services() -> None:
    with GitHubStandIn(shop()) as gh:
        c = collector(gh, ["acme/payments", "acme/checkout-api", "acme/inventory"])
        result = c.collect(request())
        requests = {r.id: r for r in c.ctx.recorder.requests}
    assert result.problems == [] and not result.truncated
    events = by_title(result.events)
    assert sorted(events) == [
        "checkout main to production failed (deploy #31)",
        "inventory v9.1.0 via Release (run #1)",
        "payments v2.14.0 to production (deploy #2291)",
        "payments v2.14.0 to staging (deploy #1008)",
    ]
    deploy = events["payments v2.14.0 to production (deploy #2291)"]
    assert deploy.id == stable_id(INSTANCE, "acme/payments", "deployment", "2291")
    assert deploy.kind == "deploy" and deploy.at == t(-8) and deploy.service == "payments"
    assert deploy.link == "https://github.com/acme/payments/actions/runs/77/job/5"
    assert deploy.source == INSTANCE
    attrs = deploy.attrs
    assert attrs["id"] == "2291" and attrs["repository"] == "acme/payments" and attrs["environment"] == "production"
    assert (attrs["sha"], attrs["ref"], attrs["version"], attrs["author"]) == (B, "v2.14.0", "v2.14.0", "alice")
    assert attrs["status"] == "success" and attrs["success_at"] == "2026-11-20T09:52:00Z"
    assert attrs["service_mapped"] == "true" and attrs["raw_service"] == "payments"
    assert attrs["workflow_run"] == "77" and attrs["url"] == deploy.link
    assert attrs["previous_sha"] == A  # the deployment before it in production
    page = requests[deploy.request]
    assert page.url.endswith("/repos/acme/payments/deployments") and page.status == 200

    failed = events["checkout main to production failed (deploy #31)"]
    assert failed.service == "checkout" and failed.attrs["raw_service"] == "checkout-api"  # an alias
    assert failed.attrs["status"] == "failure" and failed.at == t(-1)  # no success: its creation
    assert failed.link == f"https://github.com/acme/checkout-api/commit/{C}"

    run = events["inventory v9.1.0 via Release (run #1)"]
    assert run.service == "inventory" and run.attrs["service_mapped"] == "false"  # kept, unmapped
    assert run.link == "https://github.com/acme/inventory/actions/runs/5001" and run.at == t(9)
    assert run.attrs["conclusion"] == "success" and run.attrs["record"] == "workflow_run"
    # run 77 is deploy #2291 itself, CI is no deploy workflow, the skipped run did nothing
    assert all(e.attrs.get("workflow") not in ("CI",) for e in result.events)
    assert [e.at for e in result.events] == sorted(e.at for e in result.events)


def test_configured_service_environments_workflows_and_branches() -> None:
    data = GitHubData()
    repo = data.repo("acme/pay-svc")
    repo.deployment(created_at=t(-5), environment="staging", statuses=success(t(-5), t(-4)))
    repo.deployment(
        created_at=t(-6), environment="production", ref="v3", deployment_id=7, statuses=success(t(-6), t(-3))
    )
    repo.run(created_at=t(-9), name="Ship it", path=".github/workflows/ship.yml", head_branch="main", updated_at=t(-2))
    repo.run(created_at=t(-9), name="Ship it", path=".github/workflows/ship.yml", head_branch="dev", updated_at=t(-2))
    with GitHubStandIn(data) as gh:
        c = collector(
            gh,
            [
                {
                    "repo": "acme/pay-svc",
                    "service": "payments",
                    "environments": ["production"],
                    "workflows": ["ship.yml"],
                    "branches": ["main"],
                }
            ],
        )
        result = c.collect(request())
        sent = [(r.path, r.params) for r in gh.requests]
    assert sorted(e.title for e in result.events) == [
        "payments main via Ship it (run #1)",  # configured workflow: counts although its name does not match
        "payments v3 to production (deploy #7)",
    ]
    assert {e.attrs["service_mapped"] for e in result.events} == {"true"}
    assert ("/repos/acme/pay-svc/deployments", {"per_page": "100", "environment": "production"}) in sent
    runs = [p for p in sent if p[0].endswith("/runs")]
    assert runs[0][0] == "/repos/acme/pay-svc/actions/workflows/ship.yml/runs" and runs[0][1]["branch"] == "main"


def test_pagination_across_pages_stops_before_the_rollback_lookback() -> None:
    data = GitHubData()
    repo = data.repo("acme/payments")
    for i in range(130):  # ten days before: beyond rollback_lookback (7d), not needed
        repo.deployment(created_at=t(-14430 + i), sha=f"{i + 500:040x}")
    for i in range(20):  # two days before: history only, read for rollbacks, no statuses
        repo.deployment(created_at=t(-3020 + i), sha=f"{i:040x}")
    for i in range(250):  # created in order, as GitHub numbers them: the list is newest first
        at = t(-100 + i * 0.5)
        repo.deployment(created_at=at, ref=f"v1.{i}.0", sha=f"{i + 100:040x}", statuses=success(at, at))
    with GitHubStandIn(data) as gh:
        c = collector(gh, ["acme/payments"], workflow_runs=False)
        result = c.collect(request())
        lists = [r for r in gh.requests if r.path.endswith("/deployments")]
        statuses = [r for r in gh.requests if r.path.endswith("/statuses")]
    assert len(result.events) == 250 and result.problems == []
    # 400 deployments in 4 pages: the third reaches past the look-back, so the fourth is never read
    assert [r.params.get("page", "1") for r in lists] == ["1", "2", "3"]
    assert len(statuses) == 250  # statuses only for the window
    assert len({e.request for e in result.events}) == 3  # each event names the page it came from


def test_max_pages_cut_is_a_problem_and_truncates() -> None:
    data = GitHubData()
    repo = data.repo("acme/payments")
    for i in range(150):
        repo.deployment(created_at=t(-100 + i * 0.5), sha=f"{i:040x}")
    with GitHubStandIn(data) as gh:
        result = collector(gh, ["acme/payments"], workflow_runs=False, max_pages=1).collect(request())
    assert len(result.events) == 100 and result.truncated
    (problem,) = result.problems
    assert result.truncated_reason == problem.reason
    assert "stopped after 1 pages (max_pages) before reaching the window's start" in problem.reason


def test_rollbacks() -> None:
    data = GitHubData()
    repo = data.repo("acme/payments")
    repo.deployment(created_at=t(-2000), ref="v1.0.0", sha=A, statuses=success(t(-2000), t(-1999)))
    repo.deployment(created_at=t(-30), ref="v1.1.0", sha=B, deployment_id=11, statuses=success(t(-30), t(-29)))
    repo.deployment(created_at=t(-25), ref="v1.1.0", sha=B, deployment_id=12, statuses=success(t(-25), t(-24)))
    repo.deployment(created_at=t(20), ref="v1.0.0", sha=A, deployment_id=13, statuses=success(t(20), t(21)))
    repo.deployment(
        created_at=t(40),
        ref="hotfix",
        sha=C,
        deployment_id=14,
        description="Rollback of the cache change",
        statuses=success(t(40), t(41)),
    )
    with GitHubStandIn(data) as gh:
        result = collector(gh, ["acme/payments"], workflow_runs=False).collect(request())
    kinds = {e.attrs["id"]: e for e in result.events}
    assert kinds["11"].kind == "deploy" and kinds["12"].kind == "deploy"  # the same sha again: a redeploy
    back = kinds["13"]
    assert back.kind == "rollback" and back.title == "payments rolled back to v1.0.0 in production (deploy #13)"
    assert back.attrs["rolled_back_to"] == "v1.0.0" and back.attrs["rolled_back_from"] == "v1.1.0"
    assert back.attrs["rolled_back_to_deployment"] == str(data.repos["acme/payments"].deployments[0]["id"])
    said = kinds["14"]
    assert said.kind == "rollback" and said.attrs["rolled_back_to"] == "hotfix"


def test_compare_gives_the_size_capped() -> None:
    data = GitHubData()
    repo = data.repo("acme/payments")
    repo.deployment(created_at=t(-50), ref="v1", sha=A, statuses=success(t(-50), t(-49)))
    repo.deployment(created_at=t(-5), ref="v2", sha=B, deployment_id=2, statuses=success(t(-5), t(-4)))
    repo.deployment(created_at=t(60), ref="v3", sha=C, deployment_id=3, statuses=success(t(60), t(61)))
    repo.compare(A, B, commits=4, files=[("app.py", 10, 2), ("db.sql", 5, 0)])
    repo.compare(B, C, commits=1, files=[("x", 1, 1)])
    with GitHubStandIn(data) as gh:
        result = collector(gh, ["acme/payments"], workflow_runs=False, compare=True, max_compares=1).collect(request())
        compares = [r.path for r in gh.requests if "/compare/" in r.path]
    sized = {e.attrs["id"]: e.attrs for e in result.events}
    assert compares == [f"/repos/acme/payments/compare/{A}...{B}"]  # the one closest to the incident's start
    assert (sized["2"]["commits"], sized["2"]["changed_files"], sized["2"]["additions"], sized["2"]["deletions"]) == (
        "4",
        "2",
        "15",
        "2",
    )
    assert "commits" not in sized["3"]


def test_github_enterprise_paths_and_links() -> None:
    with GitHubStandIn(shop(), enterprise=True) as gh:
        config = GitHubConfig.model_validate(
            {"url": gh.url, "token": "ghp_test", "repositories": [{"repo": "acme/checkout-api"}]}
        )
        assert gh.url.endswith("/api/v3") and config.link_base == gh.root
        ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
        result = GitHubCollector(config, ctx).collect(request())
    (event,) = result.events
    assert event.link == f"{gh.root}/acme/checkout-api/commit/{C}"
    assert all(p.startswith("/api/v3/repos/") for p in gh.paths())


# ---- failures ------------------------------------------------------------------------------------


def test_401_fails_the_source_naming_the_token() -> None:
    with GitHubStandIn(shop(), token="the-right-one") as gh:
        c = collector(gh, ["acme/payments", "acme/inventory"])
        with pytest.raises(SourceAuthError, match=r"HTTP 401: not authenticated: check `token`"):
            c.collect(request())
        assert len(gh.requests) == 1  # no point asking anything else


def test_403_names_the_missing_permission_and_the_rest_is_collected() -> None:
    with GitHubStandIn(shop()) as gh:
        gh.inject(403, headers={"X-Accepted-GitHub-Permissions": "actions=read"}, match="/actions/", count=5)
        result = collector(gh, ["acme/payments"]).collect(request())
    assert [e.attrs["record"] for e in result.events] == ["deployment", "deployment"]
    (problem,) = result.problems
    assert problem.reason.startswith("acme/payments: workflow runs: GET ")
    assert "HTTP 403: forbidden: Resource not accessible by personal access token: the token needs 'actions=read'" in (
        problem.reason
    )
    with GitHubStandIn(shop()) as gh:  # a classic token: GitHub names the scope it accepts and those it has
        gh.inject(403, headers={"X-Accepted-OAuth-Scopes": "repo", "X-OAuth-Scopes": "read:org"}, match="/inventory/")
        result = collector(gh, ["acme/payments", "acme/inventory"], workflow_runs=False).collect(request())
    (problem,) = result.problems
    assert problem.reason.startswith("acme/inventory: deployments: GET ")
    assert problem.reason.endswith("the token needs 'repo' (it has 'read:org')")


def test_404_of_one_repository_is_a_problem_and_the_others_are_collected() -> None:
    with GitHubStandIn(shop()) as gh:
        result = collector(gh, ["acme/payments", "acme/gone"]).collect(request())
    assert {e.service for e in result.events} == {"payments"}
    (problem,) = result.problems
    assert problem.reason == (
        "repository 'acme/gone' not found, or the token cannot see it (HTTP 404): check the name, "
        "and that `token` has access to it"
    )
    assert problem.service == "gone"


def test_every_repository_failing_raises() -> None:
    with GitHubStandIn(shop()) as gh:
        with pytest.raises(SourceQueryError, match=r"every repository failed \(2\): repository 'acme/gone'"):
            collector(gh, ["acme/gone", "acme/missing"]).collect(request())


def test_spent_rate_limit_is_waited_for_and_never_exceeded() -> None:
    with GitHubStandIn(shop(), rate_limit=3, rate_reset=0.2) as gh:
        c = collector(gh, ["acme/payments", "acme/checkout-api", "acme/inventory"])
        started = time.monotonic()
        result = c.collect(request())
        elapsed = time.monotonic() - started
    assert len(result.events) == 4 and result.problems == []
    assert gh.rate.limited == 0 and max(gh.windows) <= 3  # paced by the headers: no 403 ever
    assert len(gh.requests) == 9 and len(gh.windows) >= 3 and elapsed >= 1.0


def test_secondary_rate_limit_retry_after_is_honoured() -> None:
    with GitHubStandIn(shop()) as gh:
        gh.inject(
            403,
            headers={"Retry-After": "1"},
            body={
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
        )
        started = time.monotonic()
        result = collector(gh, ["acme/checkout-api"]).collect(request())
        elapsed = time.monotonic() - started
    assert len(result.events) == 1 and result.problems == []
    assert [r.status for r in gh.requests][:2] == [403, 200] and elapsed >= 1.0


def test_rate_limit_resetting_too_late_is_a_problem_then_an_error() -> None:
    with GitHubStandIn(shop(), rate_limit=2, rate_reset=3600) as gh:
        c = collector(gh, ["acme/checkout-api", "acme/payments"], workflow_runs=False, http={"retry_max_delay": "2s"})
        result = c.collect(request())
        assert len(gh.requests) == 2  # the budget, and not one request more
    assert [e.service for e in result.events] == ["checkout"]
    (problem,) = result.problems
    assert problem.reason.startswith("acme/payments: deployments: ")
    assert "rate limit spent, it resets at" in problem.reason
    with GitHubStandIn(shop(), rate_limit=0, rate_reset=3600) as gh:
        with pytest.raises(SourceUnavailable, match="rate limited: API rate limit exceeded"):
            collector(gh, ["acme/payments"], http={"retry_max_delay": "2s"}).collect(request())


def test_timeout_of_one_repository_is_a_problem() -> None:
    with GitHubStandIn(shop()) as gh:
        gh.inject(None, delay=1.0, match="/acme/payments/deployments", count=2)
        c = collector(gh, ["acme/payments", "acme/checkout-api"], http={"timeout": "0.3s", "retries": 2})
        result = c.collect(request())
    assert {e.service for e in result.events} >= {"checkout"}
    reasons = [p.reason for p in result.problems]
    assert any(r.startswith("acme/payments: deployments: GET ") and "no answer within 0.3s" in r for r in reasons)


# ---- check ---------------------------------------------------------------------------------------


def test_check_reports_the_budget_and_each_repository() -> None:
    with GitHubStandIn(shop(), rate_limit=100) as gh:
        text = collector(gh, ["acme/payments", "acme/inventory"]).check()
        assert text.startswith(f"GitHub API at {gh.url}: 100 of 100 requests left until ")
        assert text.endswith("; token scopes: repo; 2 repositories readable")
        with pytest.raises(SourceQueryError, match=r"1 repositories readable; repository 'acme/gone' not found"):
            collector(gh, ["acme/payments", "acme/gone"]).check()


# ---- config, sample, README ----------------------------------------------------------------------


def test_defaults() -> None:
    config = GitHubConfig.model_validate({"repositories": [{"repo": "acme/payments"}]})
    assert config.url == "https://api.github.com" and config.link_base == "https://github.com"
    assert config.token is None and config.deployments and config.workflow_runs and not config.compare
    assert config.deploy_workflow_pattern == "(?i)deploy|release|rollout|rollback"
    assert config.rollback_lookback == 7 * 86400 and config.max_pages == 50
    assert GitHubConfig.model_validate({"url": "https://ghe.acme.com/api/v3/", "repositories": [{"repo": "a/b"}]})


def test_invalid_configs_say_what_is_wrong() -> None:
    def errors(data: dict) -> list[str]:
        with pytest.raises(ValidationError) as info:
            GitHubConfig.model_validate(data)
        return [f"{'::'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]

    assert errors({"repositories": [{"repo": "payments"}]}) == [
        "repositories::0::repo: String should match pattern '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'"
    ]
    assert errors({"repositories": [{"repo": "a/b", "workflows": [".github/workflows/d.yml"]}]}) == [
        "repositories::0::workflows: workflow '.github/workflows/d.yml': give the file name (deploy.yml) or the id, "
        "not a path"
    ]
    assert errors({"repositories": [{"repo": "a/b"}, {"repo": "A/b"}], "deploy_workflow_pattern": "(deploy"}) == [
        "repositories: repository 'A/b' is listed twice",
        "deploy_workflow_pattern: '(deploy' is not a regular expression: missing ), unterminated subpattern "
        "at position 0",
    ]
    assert errors({"repositories": [{"repo": "a/b"}], "deployments": False, "workflow_runs": False}) == [
        ": deployments and workflow_runs are both off: enable at least one"
    ]
    assert errors({"repositories": [], "url": "api.github.com"}) == [
        "url: 'api.github.com' is not an http(s) URL, e.g. https://api.github.com",
        "repositories: List should have at least 1 item after validation, not 0",
    ]


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for name, field in GitHubConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in readme and field.description in readme, name
    for name, field in GitHubRepository.model_fields.items():
        assert field.description, name
        assert f"| `repositories[].{name}` |" in readme and field.description in readme, name


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == GitHubCollector.type
    data["token"] = "x"  # ${env:GITHUB_TOKEN} is expanded by the settings loader
    config = GitHubConfig.model_validate(data)
    assert [r.repo for r in config.repositories] == ["acme/payments", "acme/checkout-web"]


def test_plugin_declaration() -> None:
    assert GitHubCollector.type == "github" and GitHubCollector.Config is GitHubConfig
    assert GitHubCollector.kinds == frozenset({"change"})
    assert GitHubConfig.model_config["extra"] == "forbid" and GitHubConfig.model_config["frozen"] is True


# ---- the events in a draft -----------------------------------------------------------------------


def test_draft_ranks_the_culprit_deploy_over_a_later_downstream_one() -> None:
    """payments' deploy broke payments at 10:05; checkout (which depends on it) deployed later and
    suffered downstream: the payments deploy is the first candidate cause."""
    data = GitHubData()
    data.repo("acme/payments").deployment(
        created_at=t(-2), ref="v2.14.0", sha=B, deployment_id=2291, statuses=success(t(-2), t(0))
    )
    data.repo("acme/checkout-api").deployment(
        created_at=t(5), ref="v7.0.1", sha=C, deployment_id=88, statuses=success(t(5), t(6))
    )
    with GitHubStandIn(data) as gh:
        result = collector(gh, ["acme/payments", "acme/checkout-api"], workflow_runs=False).collect(request())
    services = (ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)), ServiceInfo("payments"))
    incident = Incident(id="INC-1", title="t", start=T0, end=t(60), services=("checkout", "payments"))

    def series(service: str, rise: datetime) -> Series:
        times = [(T0 + timedelta(seconds=s)).timestamp() for s in range(-3600, 3601, 15)]
        values = [5.0 if x >= rise.timestamp() else 1.0 + 0.01 * (i % 3) for i, x in enumerate(times)]
        return Series(stable_id(service), "prometheus/p", "error_rate", service, {}, "q", tuple(times), tuple(values))

    evidence = Evidence(
        events=tuple(result.events),
        series=(series("payments", t(5)), series("checkout", t(7))),
        sources=(SourceReport(INSTANCE, "github", "ok", None, len(result.events), 0.1, kinds=("change",)),),
    )
    settings = CorrelateSettings(services=services)
    dossier = draft(incident, evidence, settings, generated_at=t(60))
    by_id = {e.id: e for e in result.events}
    ranked = [by_id[c.evidence].title for c in dossier.candidate_causes]
    assert ranked == ["payments v2.14.0 to production (deploy #2291)", "checkout v7.0.1 to production (deploy #88)"]
