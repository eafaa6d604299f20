"""The `gitlab` collector against the GitLab stand-in (tests/standins/gitlab.py)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from collectors.gitlab import GitLabCollector, GitLabConfig
from collectors.gitlab.config import GitLabProject
from correlate import draft
from dossier.errors import SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import CorrelateSettings, Evidence, Incident, Series, ServiceInfo, SourceReport, stable_id
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.gitlab import GitLabData, GitLabStandIn

PLUGIN_DIR = Path(__file__).resolve().parents[3] / "collectors" / "gitlab"
INSTANCE = "gitlab/test"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def request() -> CollectRequest:
    incident = Incident(id="INC-1", title="t", start=T0, end=t(120), services=("checkout",))
    services = (
        ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
        ServiceInfo("payments"),
    )
    return CollectRequest(incident=incident, start=t(-120), end=t(120), services=services)


def collector(gl: GitLabStandIn, projects: list[Any], **options: Any) -> GitLabCollector:
    http = {"timeout": "2s", "retries": 2, "retry_max_delay": "10s", **options.pop("http", {})}
    config = GitLabConfig.model_validate(
        {
            "url": gl.root,
            "token": "glpat-test",
            "projects": [p if isinstance(p, dict) else {"project": p} for p in projects],
            "http": http,
            **options,
        }
    )
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    return GitLabCollector(config, ctx)


def shop() -> GitLabData:
    data = GitLabData()
    pay = data.project("acme/payments")
    pay.deployment(created_at=t(-3000), finished_at=t(-2998), ref="v2.13.2", sha=A)
    pay.deployment(created_at=t(-10), finished_at=t(-8), ref="v2.14.0", sha=B, deployment_id=2291, username="alice")
    pay.deployment(created_at=t(-20), finished_at=t(-19), environment="staging", ref="v2.14.0", sha=B)
    pay.deployment(created_at=t(-5), status="created", ref="v2.15.0", with_job=False)  # never ran
    pay.pipeline(created_at=t(-30), updated_at=t(-25), ref="feature/x")  # ordinary CI
    pay.pipeline(created_at=t(-15), updated_at=t(-12), ref="v2.14.1", status="failed", pipeline_id=7001)
    co = data.project("acme/checkout-api", project_id=42)
    co.deployment(created_at=t(-1), finished_at=t(1), ref="main", sha=C, status="failed", deployment_id=31)
    data.project("acme/inventory").deployment(created_at=t(3), finished_at=t(6), ref="v9.1.0")
    return data


def test_changes_in_the_window_with_links_and_services() -> None:
    with GitLabStandIn(shop()) as gl:
        c = collector(gl, ["acme/payments", 42, "acme/inventory"], pipelines=True)
        result = c.collect(request())
        recorded = {r.id: r for r in c.ctx.recorder.requests}
        root = gl.root
    assert result.problems == [] and not result.truncated
    titles = [e.title for e in result.events]
    assert titles == [
        "payments v2.14.0 to staging (deploy #3)",
        "payments v2.14.1 by pipeline #5 (push) failed",  # a release tag: matches pipeline_pattern
        "payments v2.14.0 to production (deploy #2)",
        "checkout main to production failed (deploy #1)",
        "inventory v9.1.0 to production (deploy #1)",
    ]
    deploy = result.events[2]
    assert deploy.id == stable_id(INSTANCE, "acme/payments", "deployment", "2291")
    assert deploy.kind == "deploy" and deploy.at == t(-8) and deploy.service == "payments"
    assert deploy.link.startswith(f"{root}/acme/payments/-/jobs/")
    attrs = deploy.attrs
    assert (attrs["id"], attrs["iid"], attrs["project"], attrs["environment"]) == (
        "2291",
        "2",
        "acme/payments",
        "production",
    )
    assert (attrs["sha"], attrs["version"], attrs["author"], attrs["status"]) == (B, "v2.14.0", "alice", "success")
    assert attrs["service_mapped"] == "true" and attrs["previous_sha"] == A and attrs["job"] == "deploy"
    assert recorded[deploy.request].url.endswith("/api/v4/projects/acme%2Fpayments/deployments")
    failed = result.events[3]
    assert failed.service == "checkout" and failed.attrs["raw_service"] == "checkout-api"  # by id, then alias
    assert failed.attrs["project"] == "acme/checkout-api" and failed.attrs["status"] == "failed"
    unmapped = result.events[4]
    assert unmapped.service == "inventory" and unmapped.attrs["service_mapped"] == "false"
    pipeline = result.events[1]
    assert pipeline.link == f"{root}/acme/payments/-/pipelines/7001" and pipeline.attrs["record"] == "pipeline"


def test_pipelines_off_by_default_and_the_project_ref_counts() -> None:
    data = shop()
    data.projects["acme/payments"].pipeline(created_at=t(-50), updated_at=t(-45), ref="main")
    with GitLabStandIn(data) as gl:
        plain = collector(gl, ["acme/payments"]).collect(request())
        assert not any("/pipelines" in p for p in gl.paths())
        with_ref = collector(gl, [{"project": "acme/payments", "ref": "main"}], pipelines=True).collect(request())
        sent = [r.params for r in gl.requests if r.path.endswith("/pipelines")]
    assert all(e.attrs["record"] == "deployment" for e in plain.events)
    assert [e.title for e in with_ref.events if e.attrs["record"] == "pipeline"] == [
        "payments main by pipeline #6 (push)"
    ]
    assert sent[0]["ref"] == "main" and sent[0]["order_by"] == "updated_at"


def test_environments_filter_and_status_parameter() -> None:
    with GitLabStandIn(shop()) as gl:
        result = collector(
            gl, [{"project": "acme/payments", "environments": ["production"]}], statuses=["success"]
        ).collect(request())
        (sent,) = [r.params for r in gl.requests if r.path.endswith("/deployments")]
    assert [e.title for e in result.events] == ["payments v2.14.0 to production (deploy #2)"]
    assert sent["environment"] == "production" and sent["status"] == "success" and sent["sort"] == "asc"


def test_pagination_follows_the_link_header_across_pages() -> None:
    data = GitLabData()
    project = data.project("acme/payments")
    for i in range(230):
        project.deployment(created_at=t(-100 + i * 0.5), finished_at=t(-99 + i * 0.5), sha=f"{i:040x}")
    with GitLabStandIn(data) as gl:
        result = collector(gl, ["acme/payments"]).collect(request())
        pages = [r.params.get("page", "1") for r in gl.requests if r.path.endswith("/deployments")]
    assert len(result.events) == 230 and pages == ["1", "2", "3"]
    assert len({e.request for e in result.events}) == 3


def test_x_next_page_alone_is_followed_and_max_pages_cut_is_a_problem() -> None:
    data = GitLabData()
    project = data.project("acme/payments")
    for i in range(150):
        project.deployment(created_at=t(-100 + i * 0.5), finished_at=t(-99 + i * 0.5), sha=f"{i:040x}")
    with GitLabStandIn(data) as gl:
        original = gl._paged

        def without_link(path: str, params: dict[str, str], items: list[Any]) -> Any:
            reply = original(path, params, items)
            reply.headers.pop("Link", None)
            return reply

        gl._paged = without_link  # type: ignore[method-assign]
        assert len(collector(gl, ["acme/payments"]).collect(request()).events) == 150
        cut = collector(gl, ["acme/payments"], max_pages=1).collect(request())
    assert len(cut.events) == 100 and cut.truncated
    (problem,) = cut.problems
    assert "deployments: stopped after 1 pages (max_pages)" in problem.reason


def test_rollbacks() -> None:
    data = GitLabData()
    p = data.project("acme/payments")
    p.deployment(created_at=t(-2000), finished_at=t(-1999), ref="v1.0.0", sha=A)
    p.deployment(created_at=t(-30), finished_at=t(-29), ref="v1.1.0", sha=B, deployment_id=11)
    p.deployment(created_at=t(-26), finished_at=t(-25), ref="v1.2.0", sha=C, status="failed", deployment_id=12)
    p.deployment(created_at=t(-20), finished_at=t(-19), ref="v1.1.0", sha=B, deployment_id=13)  # retry
    p.deployment(created_at=t(20), finished_at=t(21), ref="v1.0.0", sha=A, deployment_id=14)
    p.deployment(created_at=t(40), finished_at=t(41), ref="main", sha=C, job_name="rollback-prod", deployment_id=15)
    with GitLabStandIn(data) as gl:
        result = collector(gl, ["acme/payments"]).collect(request())
    by_id = {e.attrs["id"]: e for e in result.events}
    assert [by_id[i].kind for i in ("11", "12", "13")] == ["deploy", "deploy", "deploy"]
    back = by_id["14"]
    assert back.kind == "rollback" and back.title == "payments rolled back to v1.0.0 in production (deploy #5)"
    assert back.attrs["rolled_back_to"] == "v1.0.0" and back.attrs["rolled_back_from"] == "v1.1.0"
    assert back.attrs["rolled_back_to_deployment"] == "1"
    assert by_id["15"].kind == "rollback" and by_id["15"].attrs["rolled_back_to"] == "main"


def test_bearer_token() -> None:
    with GitLabStandIn(shop()) as gl:
        result = collector(gl, ["acme/inventory"], token_type="bearer").collect(request())
        assert gl.requests[0].headers["authorization"] == "Bearer glpat-test"
        assert "private-token" not in gl.requests[0].headers
    assert len(result.events) == 1


# ---- failures ------------------------------------------------------------------------------------


def test_401_fails_the_source_naming_the_token() -> None:
    with GitLabStandIn(shop(), token="another") as gl:
        with pytest.raises(SourceAuthError, match=r"HTTP 401: not authenticated: check `token`"):
            collector(gl, ["acme/payments", "acme/inventory"]).collect(request())
        assert len(gl.requests) == 1


def test_403_names_the_scope_and_the_rest_is_collected() -> None:
    with GitLabStandIn(shop()) as gl:
        gl.inject(
            403,
            body={
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": "api read_api",
            },
            match="projects/acme/inventory/",
        )
        result = collector(gl, ["acme/payments", "acme/inventory"]).collect(request())
    assert {e.service for e in result.events} == {"payments"}
    (problem,) = result.problems
    assert problem.reason.startswith("acme/inventory: deployments: GET ")
    assert problem.reason.endswith(
        "HTTP 403: forbidden: insufficient_scope: check the permissions of `token` (the token needs the read_api "
        "scope, and its user at least the Reporter role in the project)"
    )


def test_404_of_one_project_is_a_problem_and_the_others_are_collected() -> None:
    with GitLabStandIn(shop()) as gl:
        result = collector(gl, ["acme/payments", "acme/gone", 999]).collect(request())
    assert {e.service for e in result.events} == {"payments"}
    assert [p.reason for p in result.problems] == [
        "project 'acme/gone' not found, or the token cannot see it (HTTP 404): check the path or id, "
        "and that `token` has access to it",
        "project '999' not found, or the token cannot see it (HTTP 404): check the path or id, "
        "and that `token` has access to it",
    ]


def test_every_project_failing_raises() -> None:
    with GitLabStandIn(shop()) as gl:
        with pytest.raises(SourceQueryError, match=r"every project failed \(2\): project 'acme/gone' not found"):
            collector(gl, ["acme/gone", "acme/missing"]).collect(request())


def test_spent_rate_limit_is_waited_for_and_never_exceeded() -> None:
    with GitLabStandIn(shop(), rate_limit=1, rate_reset=0.2) as gl:
        started = time.monotonic()
        result = collector(gl, ["acme/payments", 42, "acme/inventory"]).collect(request())
        elapsed = time.monotonic() - started
    assert len(result.events) == 4 and result.problems == []
    assert gl.rate.limited == 0 and max(gl.windows) == 1 and len(gl.requests) == 4 and elapsed >= 1.0


def test_429_retry_after_is_honoured_and_a_far_reset_is_a_problem() -> None:
    with GitLabStandIn(shop()) as gl:
        gl.inject(429, headers={"Retry-After": "1"}, body="Retry later\n")
        started = time.monotonic()
        result = collector(gl, ["acme/inventory"]).collect(request())
        assert time.monotonic() - started >= 1.0 and len(result.events) == 1
    with GitLabStandIn(shop(), rate_limit=1, rate_reset=3600) as gl:
        result = collector(gl, ["acme/inventory", "acme/payments"], http={"retry_max_delay": "1s"}).collect(request())
        assert len(gl.requests) == 1
    (problem,) = result.problems
    assert problem.reason.startswith("acme/payments: deployments: ") and "rate limit spent" in problem.reason
    with GitLabStandIn(shop(), rate_limit=0, rate_reset=3600) as gl:
        with pytest.raises(SourceUnavailable, match="rate limited: Retry later"):
            collector(gl, ["acme/inventory"], http={"retry_max_delay": "1s"}).collect(request())


def test_timeout_of_one_project_is_a_problem() -> None:
    with GitLabStandIn(shop()) as gl:
        gl.inject(None, delay=1.0, match="projects/acme/payments/", count=2)
        result = collector(gl, ["acme/payments", "acme/inventory"], http={"timeout": "0.3s"}).collect(request())
    assert [e.service for e in result.events] == ["inventory"]
    (problem,) = result.problems
    assert problem.reason.startswith("acme/payments: deployments: GET ") and "no answer within 0.3s" in problem.reason


def test_check() -> None:
    with GitLabStandIn(shop()) as gl:
        assert collector(gl, ["acme/payments", 42]).check() == (
            f"GitLab 16.11.1-ee (revision a1b2c3d4e5f) at {gl.root}; 2 projects readable"
        )
        with pytest.raises(SourceQueryError, match=r"1 projects readable; project 'acme/gone' not found"):
            collector(gl, ["acme/payments", "acme/gone"]).check()
    with GitLabStandIn(shop(), token="x") as gl:
        with pytest.raises(SourceAuthError, match="HTTP 401"):
            collector(gl, ["acme/payments"]).check()


# ---- config, sample, README ----------------------------------------------------------------------


def test_defaults_and_project_forms() -> None:
    config = GitLabConfig.model_validate({"projects": [{"project": "acme/platform/payments"}, {"project": "42"}]})
    assert config.url == "https://gitlab.com" and config.token_type == "private_token"
    assert config.statuses == ["success", "failed", "canceled", "running"] and not config.pipelines
    assert [p.project for p in config.projects] == ["acme/platform/payments", 42]


def test_invalid_configs_say_what_is_wrong() -> None:
    def errors(data: dict) -> list[str]:
        with pytest.raises(ValidationError) as info:
            GitLabConfig.model_validate(data)
        return [f"{'::'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]

    assert errors({"projects": [{"project": "payments"}], "url": "https://gitlab.acme.com/api/v4"}) == [
        "url: 'https://gitlab.acme.com/api/v4': give GitLab's own URL, without /api/v4",
        "projects::0::project: 'payments' is not a project path (group/project) or numeric id",
    ]
    assert errors({"projects": [{"project": "a/b"}, {"project": "A/b"}], "pipeline_pattern": "("}) == [
        "projects: project 'A/b' is listed twice",
        "pipeline_pattern: '(' is not a regular expression: missing ), unterminated subpattern at position 0",
    ]
    assert errors({"projects": [{"project": "a/b"}], "deployments": False}) == [
        ": deployments and pipelines are both off: enable at least one"
    ]
    assert errors({"projects": [{"project": "a/b"}], "statuses": ["ok"]})[0].startswith("statuses::0: Input should be")


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for name, field in GitLabConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in readme and field.description in readme, name
    for name, field in GitLabProject.model_fields.items():
        assert field.description, name
        assert f"| `projects[].{name}` |" in readme and field.description in readme, name


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == GitLabCollector.type
    data["token"] = "x"
    assert GitLabConfig.model_validate(data).projects[0].project == "acme/payments"


def test_plugin_declaration() -> None:
    assert GitLabCollector.type == "gitlab" and GitLabCollector.Config is GitLabConfig
    assert GitLabCollector.kinds == frozenset({"change"})
    assert GitLabConfig.model_config["extra"] == "forbid" and GitLabConfig.model_config["frozen"] is True


# ---- the events in a draft -----------------------------------------------------------------------


def test_draft_ranks_the_culprit_deploy_over_a_later_downstream_one() -> None:
    data = GitLabData()
    data.project("acme/payments").deployment(created_at=t(-2), finished_at=t(0), ref="v2.14.0", deployment_id=2291)
    data.project("acme/checkout-api").deployment(created_at=t(5), finished_at=t(6), ref="v7.0.1", deployment_id=88)
    with GitLabStandIn(data) as gl:
        result = collector(gl, ["acme/payments", "acme/checkout-api"]).collect(request())
    services = (ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)), ServiceInfo("payments"))
    incident = Incident(id="INC-1", title="t", start=T0, end=t(60), services=("checkout", "payments"))

    def series(service: str, rise: datetime) -> Series:
        times = [(T0 + timedelta(seconds=s)).timestamp() for s in range(-3600, 3601, 15)]
        values = [5.0 if x >= rise.timestamp() else 1.0 + 0.01 * (i % 3) for i, x in enumerate(times)]
        return Series(stable_id(service), "prometheus/p", "error_rate", service, {}, "q", tuple(times), tuple(values))

    evidence = Evidence(
        events=tuple(result.events),
        series=(series("payments", t(5)), series("checkout", t(7))),
        sources=(SourceReport(INSTANCE, "gitlab", "ok", None, len(result.events), 0.1, kinds=("change",)),),
    )
    dossier = draft(incident, evidence, CorrelateSettings(services=services), generated_at=t(60))
    by_id = {e.id: e for e in result.events}
    assert [by_id[c.evidence].title for c in dossier.candidate_causes] == [
        "payments v2.14.0 to production (deploy #1)",
        "checkout v7.0.1 to production (deploy #1)",
    ]
