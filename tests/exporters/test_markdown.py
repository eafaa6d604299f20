"""The Markdown draft: a realistic dossier against a golden file, and the details that can go wrong."""

from __future__ import annotations

import dataclasses
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dossier.exporters.markdown import (
    MarkdownExporter,
    cell,
    code,
    fmt_duration,
    fmt_offset,
    fmt_time,
    link,
    url,
)
from dossier.model import (
    AlertReview,
    Cause,
    DetectionGap,
    Dossier,
    Event,
    Incident,
    Milestones,
    Series,
    SourceReport,
    TimelineEntry,
    stable_id,
)

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


PROM = "prometheus/prod"
AM = "alertmanager/prod"
CHANGES = "deploy_file/changes"
GRAPH = 'http://prometheus.example.com:9090/graph?g0.expr=sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m]))&g0.range_input=3h'


def ev(source: str, native: str, minutes: float, kind: str, title: str, service: str | None, **kw) -> Event:
    return Event(stable_id(source, native), at(minutes), kind, source, title, service, **kw)


FLAG = ev(
    CHANGES,
    "flag-77",
    -19.75,
    "feature_flag",
    "Enable new-pricing for 10% of checkout",
    "checkout",
    attrs={"author": "dana"},
    link="https://flags.example.com/new-pricing/history/77",
)
DEPLOY = ev(
    CHANGES,
    "deploy-payments-2291",
    -5,
    "deploy",
    "payments v2.14.0: pooled PSP client | new retry policy",
    "payments",
    attrs={"version": "v2.14.0"},
    link="https://ci.example.com/payments/deployments/2291",
)
ONSET = ev(
    PROM,
    "onset-checkout",
    2.25,
    "anomaly_start",
    "error_rate of checkout rose above its baseline",
    "checkout",
    end=at(47.25),
    attrs={"signal": "error_rate"},
    link=GRAPH,
)
LATENCY = ev(
    PROM,
    "onset-payments-latency",
    3,
    "anomaly_start",
    "latency_p99 of payments rose to 1.9s (baseline 0.21s)",
    "payments",
    end=at(45),
    attrs={"signal": "latency_p99"},
)
PENDING = ev(
    PROM, "pending", 3.25, "alert_pending", "HighErrorRate pending", "checkout", attrs={"alertname": "HighErrorRate"}
)
SCRAPE = ev(
    PROM,
    "gap-payments-1",
    5,
    "telemetry_gap",
    "payments-1:9100 could not be scraped",
    "payments",
    end=at(12),
    attrs={"signal": "up"},
)
FIRING = ev(
    PROM,
    "firing",
    8.25,
    "alert_firing",
    "HighErrorRate firing",
    "checkout",
    attrs={"alertname": "HighErrorRate"},
    link="http://prometheus.example.com:9090/alerts",
)
NOTIFY = ev(
    AM,
    "notify",
    9.25,
    "notification",
    "HighErrorRate sent to #payments-oncall",
    "checkout",
    attrs={"alertname": "HighErrorRate"},
)
ACK = ev(AM, "ack", 12, "ack", "Acknowledged by alice", None)
DECLARED = ev("incident", "declared", 20, "incident_declared", "INC-2041 declared (SEV2)", None)
ROLLBACK = ev(
    CHANGES,
    "deploy-payments-2292",
    40,
    "rollback",
    "Roll back payments to v2.13.2",
    "payments",
    link="https://ci.example.com/payments/deployments/2292",
)
RECOVERED = ev(
    PROM,
    "recovered-checkout",
    47.25,
    "anomaly_end",
    "error_rate of checkout back to baseline",
    "checkout",
    attrs={"signal": "error_rate"},
)
RESOLVED_ALERT = ev(
    PROM,
    "resolved",
    50.25,
    "alert_resolved",
    "HighErrorRate resolved",
    "checkout",
    attrs={"alertname": "HighErrorRate"},
)
RESOLVED = ev("incident", "resolved", 90, "incident_resolved", "INC-2041 resolved", None)


def entry(event: Event, phase: str, important: bool = False) -> TimelineEntry:
    return TimelineEntry(event, phase, important)  # type: ignore[arg-type]


def checkout_dossier() -> Dossier:
    incident = Incident(
        id="INC-2041",
        title="Checkout returns 500s",
        start=T0,
        end=at(120),
        services=("checkout",),
        declared_at=at(20),
        resolved_at=at(90),
        severity="SEV2",
        labels={"team": "payments"},
    )
    return Dossier(
        incident=incident,
        generated_at=datetime(2026, 11, 20, 12, 5, tzinfo=UTC),
        milestones=Milestones(
            started=at(2.25),
            detected=at(8.25),
            acknowledged=at(12),
            mitigated=at(40),
            recovered=at(47.25),
            resolved=at(90),
        ),
        milestone_evidence={
            "started": ONSET.id,
            "detected": FIRING.id,
            "acknowledged": ACK.id,
            "mitigated": ROLLBACK.id,
            "recovered": RECOVERED.id,
            "resolved": RESOLVED.id,
        },
        timeline=(
            entry(FLAG, "context"),
            entry(DEPLOY, "trigger", True),
            entry(ONSET, "trigger", True),
            entry(LATENCY, "trigger"),
            entry(PENDING, "detection"),
            entry(SCRAPE, "context"),
            entry(FIRING, "detection", True),
            entry(NOTIFY, "escalation"),
            entry(ACK, "escalation", True),
            entry(DECLARED, "escalation"),
            entry(ROLLBACK, "mitigation", True),
            entry(RECOVERED, "recovery", True),
            entry(RESOLVED_ALERT, "recovery"),
            entry(RESOLVED, "recovery"),
        ),
        detection_gaps=(
            DetectionGap(
                "late_alert",
                "checkout",
                "error_rate",
                at(2.25),
                at(8.25),
                "HighErrorRate fired at 2026-11-20T10:08:15Z, 6m 0s after error_rate of checkout went "
                "anomalous: 1m 0s until the threshold was crossed, 5m 0s of `for: 5m`",
                (ONSET.id, FIRING.id),
            ),
            DetectionGap(
                "unalerted_signal",
                "payments",
                "latency_p99",
                at(3),
                at(45),
                "latency_p99 of payments was anomalous for 42m 0s and no alert for payments was pending "
                "or firing meanwhile",
                (LATENCY.id,),
            ),
            DetectionGap(
                "blind_spot",
                "payments",
                "up",
                at(5),
                at(12),
                "payments-1:9100 could not be scraped from 10:05:00Z to 10:12:00Z",
                (SCRAPE.id,),
            ),
            DetectionGap(
                "source_unavailable",
                None,
                None,
                None,
                None,
                "elasticsearch/logs failed: GET http://es.example.com:9200/logs-*/_search: HTTP 503: "
                "cluster unavailable, retry later",
            ),
        ),
        alert_review=(
            AlertReview(
                alert="HighErrorRate",
                service="checkout",
                expr='sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m])) '
                '/ sum(rate(http_requests_total{service="checkout"}[1m])) > 0.05',
                for_seconds=300.0,
                condition_true_at=at(3.25),
                pending_at=at(3.25),
                fired_at=at(8.25),
                notified_at=at(9.25),
                resolved_at=at(50.25),
                delays={"threshold": 60.0, "for": 300.0, "notify": 60.0},
                source=PROM,
            ),
            AlertReview(
                alert="PaymentsSLOBurn",
                service="payments",
                expr="slo:payments_error_budget_burn:rate1h > 14.4",
                for_seconds=3600.0,
                condition_true_at=at(15),
                pending_at=at(15.5),
                fired_at=None,
                notified_at=None,
                resolved_at=None,
                delays={"threshold": 765.0, "for": None, "notify": None},
                source=PROM,
            ),
        ),
        candidate_causes=(
            Cause(
                1,
                DEPLOY.id,
                0.81,
                (
                    "deploy 7m 15s before the onset (2026-11-20T10:02:15Z)",
                    "checkout, where the telemetry went wrong first, depends on payments",
                ),
            ),
            Cause(
                2,
                FLAG.id,
                0.42,
                (
                    "feature flag 22m 0s before the onset",
                    "checkout is where the telemetry went wrong first (2026-11-20T10:02:15Z)",
                ),
            ),
        ),
        negative_evidence=("deploy_file/changes: no config change of checkout or payments within 2h before the onset",),
        sources=(
            SourceReport(PROM, "prometheus", "ok", None, 412, 0.83),
            SourceReport(AM, "alertmanager", "ok", None, 6, 0.12),
            SourceReport(CHANGES, "deploy_file", "ok", None, 3, 0.01),
            SourceReport(
                "elasticsearch/logs",
                "elasticsearch",
                "failed",
                "GET http://es.example.com:9200/logs-*/_search: HTTP 503: cluster unavailable, retry later",
                0,
                30.0,
            ),
        ),
        series=(
            Series(
                stable_id(PROM, "s1"),
                PROM,
                "error_rate",
                "checkout",
                {},
                'sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m]))',
                (),
                (),
                link=GRAPH,
            ),
            Series(
                stable_id(PROM, "s2"),
                PROM,
                "latency_p99",
                "payments",
                {},
                "histogram_quantile(0.99, sum by (le) "
                '(rate(http_request_duration_seconds_bucket{service="payments"}[5m])))',
                (),
                (),
                link="http://prometheus.example.com:9090/graph?g0.expr=histogram_quantile(0.99%2C...)",
            ),
            Series(
                stable_id(PROM, "s3"),
                PROM,
                "HighErrorRate",
                "checkout",
                {},
                'sum(rate(http_requests_total{code=~"5..|429"}[1m])) > 0.05',
                (),
                (),
                role="alert_condition",
                alert="HighErrorRate",
            ),
        ),
    )


def render(dossier: Dossier) -> str:
    return MarkdownExporter().render(dossier)


def section(md: str, title: str) -> str:
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start : end if end != -1 else None]


# ---- golden ---------------------------------------------------------------------------------


def test_checkout_draft_matches_the_golden_file(golden) -> None:
    golden("checkout.md", render(checkout_dossier()))


def test_render_is_deterministic_and_ends_with_one_newline() -> None:
    first, second = render(checkout_dossier()), render(checkout_dossier())
    assert first == second
    assert first.endswith("\n- [ ] **TODO**\n")


def test_a_missing_golden_fails_and_update_writes_it(tmp_path) -> None:
    spec = importlib.util.spec_from_file_location("exporters_conftest", Path(__file__).with_name("conftest.py"))
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    path = tmp_path / "golden" / "x.md"
    with pytest.raises(pytest.fail.Exception, match=r"golden file .*x\.md is missing: run pytest with --update-golden"):
        conftest.check_golden(path, "text\n", update=False)
    conftest.check_golden(path, "text\n", update=True)
    assert path.read_text(encoding="utf-8") == "text\n"
    conftest.check_golden(path, "text\n", update=False)
    with pytest.raises(AssertionError, match=r"x\.md differs"):
        conftest.check_golden(path, "other\n", update=False)


def test_plugin_declaration(tmp_path) -> None:
    assert (MarkdownExporter.format, MarkdownExporter.filename) == ("md", "draft.md")
    path = MarkdownExporter().write(checkout_dossier(), tmp_path)
    assert path == tmp_path / "draft.md"
    assert path.read_text(encoding="utf-8") == render(checkout_dossier())


# ---- what the draft says --------------------------------------------------------------------


def test_title_summary_and_todos() -> None:
    md = render(checkout_dossier())
    assert md.startswith("# INC-2041: Checkout returns 500s\n\n_Draft generated by Dossier on 2026-11-20 12:05:00Z")
    summary = section(md, "Summary")
    assert "the trouble began at 2026-11-20 10:02:15Z in checkout (`error_rate`): [error_rate of checkout" in summary
    assert "It was detected at 2026-11-20 10:08:15Z, 6m 0s after the start, when the alert `HighErrorRate`" in summary
    assert "5m 0s of it went to waiting out the rule's `for`" in summary
    assert (
        "The top candidate cause is [payments v2.14.0: pooled PSP client | new retry policy]"
        "(https://ci.example.com/payments/deployments/2291), a deploy of payments 7m 15s before the start "
        "(score 0.81)."
    ) in summary
    assert "`latency_p99` of payments went anomalous with no alert watching it" in summary
    assert "no `up` of payments from 2026-11-20 10:05:00Z to 2026-11-20 10:12:00Z (7m 0s)" in summary
    assert "the source elasticsearch/logs failed" in summary
    assert "**Impact on users:** **TODO**" in summary and "**Root cause:** **TODO**" in summary
    assert "- [ ] **TODO**" in section(md, "Action items")


def test_impact_window_offsets_and_durations() -> None:
    impact = section(render(checkout_dossier()), "Impact window")
    assert "| Started | 2026-11-20 10:02:15Z | +00:00:00 | [error_rate of checkout rose above its baseline](" in impact
    assert "| Detected | 2026-11-20 10:08:15Z | +00:06:00 |" in impact
    assert "| Resolved | 2026-11-20 11:30:00Z | +01:27:45 | INC-2041 resolved |" in impact
    assert "- Time to detect: 6m 0s\n" in impact
    assert "- Time to resolve: 1h 27m\n" in impact


def test_unknown_milestones_say_so() -> None:
    d = dataclasses.replace(checkout_dossier(), milestones=Milestones(started=at(2.25), detected=at(8.25)))
    d = dataclasses.replace(d, milestone_evidence={})
    impact = section(render(d), "Impact window")
    assert "| Acknowledged | unknown |  |  |" in impact
    assert "- Time to acknowledge: unknown" in impact


def test_pipes_and_newlines_cannot_break_a_table() -> None:
    md = render(checkout_dossier())
    # in the timeline the title holds a `|`; in the sources table, the error text
    row = next(line for line in md.splitlines() if "pooled PSP client" in line and line.startswith("| 2026"))
    assert "pooled PSP client \\| new retry policy" in row
    assert row.count(" | ") == 4  # five cells, the escaped pipe is not a separator
    # a pipe inside a code span in a table is escaped too (GFM reads `\|` there as `|`)
    odd = dataclasses.replace(checkout_dossier().alert_review[0], alert="A|B", service="check\nout")
    d = dataclasses.replace(checkout_dossier(), alert_review=(odd,))
    review = section(render(d), "Detection review")
    assert "| `A\\|B` | check out |" in review


def test_cell_and_link_escaping() -> None:
    assert cell("a | b\nc") == "a \\| b<br>c"
    assert url('http://x/graph?g0.expr=rate(a{b="c|d"}[5m]) x') == (
        "http://x/graph?g0.expr=rate%28a%7Bb=%22c%7Cd%22%7D[5m]%29%20x"
    )
    assert code("a `b` c") == "``a `b` c``"
    assert link("x", "javascript:alert(1)") == "x"
    assert link("x", " https://ci.example.com/a b ") == "[x](https://ci.example.com/a%20b)"
    graph = next(line for line in render(checkout_dossier()).splitlines() if "condition of the alert" in line)
    assert '`sum(rate(http_requests_total{code=~"5..|429"}[1m])) > 0.05`' in graph  # a list, not a table


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (45, "45s"),
        (0.83, "0.83s"),
        (59.5, "59.5s"),
        (60, "1m 0s"),
        (360, "6m 0s"),
        (3720, "1h 2m"),
        (3600, "1h 0m"),
        (93600, "1d 2h"),
        (-90, "-1m 30s"),
        (None, "unknown"),
    ],
)
def test_durations(seconds: float | None, expected: str) -> None:
    assert fmt_duration(seconds) == expected


def test_times_and_offsets() -> None:
    assert fmt_time(datetime(2026, 11, 20, 11, 2, 15, 600000, tzinfo=UTC)) == "2026-11-20 11:02:15Z"
    assert fmt_offset(360) == "+00:06:00"
    assert fmt_offset(-90) == "-00:01:30"
    assert fmt_offset(26 * 3600 + 5) == "+26:00:05"
    assert fmt_offset(None) == ""


def test_timeline_marks_phases_where_they_change_and_links_events() -> None:
    timeline = section(render(checkout_dossier()), "Timeline")
    rows = [line for line in timeline.splitlines() if line.startswith("| 2026")]
    assert len(rows) == len(checkout_dossier().timeline)
    phases = [row.split(" | ")[1] for row in rows]
    assert phases[:4] == ["Context", "Trigger", "", ""]
    assert (
        f"| [**error_rate of checkout rose above its baseline**]({url(GRAPH)}) (until 2026-11-20 10:47:15Z, 45m 0s)"
    ) in rows[2]
    assert f"prometheus/prod `{ONSET.id}` |" in rows[2]
    assert "| Acknowledged by alice |" not in timeline and "| **Acknowledged by alice** |" in timeline


def test_detection_review_explains_each_alert() -> None:
    review = section(render(checkout_dossier()), "Detection review")
    assert (
        "| `HighErrorRate` | checkout | 2026-11-20 10:03:15Z | 2026-11-20 10:03:15Z | 2026-11-20 10:08:15Z | "
        "2026-11-20 10:09:15Z | 2026-11-20 10:50:15Z | 1m 0s | 5m 0s | 1m 0s |"
    ) in review
    assert "| did not fire |" in review
    assert "`PaymentsSLOBurn` on payments did not fire: its condition held from 2026-11-20 10:15:00Z" in review
    assert "but not for the 1h 0m its `for` asks" in review
    assert "The notification went out at 2026-11-20 10:09:15Z, 1m 0s after it fired." in review


def test_no_alert_fired() -> None:
    base = checkout_dossier()
    d = dataclasses.replace(
        base,
        alert_review=(),
        milestones=dataclasses.replace(base.milestones, detected=at(20)),
        milestone_evidence={**base.milestone_evidence, "detected": DECLARED.id},
        detection_gaps=(
            DetectionGap(
                "human_detected",
                "checkout",
                None,
                at(2.25),
                at(20),
                "people declared the incident and no alert had fired",
            ),
        ),
    )
    md = render(d)
    assert section(md, "Detection review").strip() == (
        "## Detection review\n\nNo alert fired for the incident's services during the window."
    )
    summary = section(md, "Summary")
    assert "when people declared the incident. No alert fired at all." in summary
    assert "Add an alert of checkout that catches this before people do." in section(md, "Action items")


def test_no_cause_qualified_shows_the_negative_evidence() -> None:
    d = dataclasses.replace(checkout_dossier(), candidate_causes=())
    md = render(d)
    causes = section(md, "Candidate causes")
    assert "No change qualified as a candidate cause." in causes
    assert "- deploy_file/changes: no config change of checkout or payments within 2h before the onset" in causes
    assert "No change qualified as a candidate cause: deploy_file/changes: no config change" in section(md, "Summary")
    d = dataclasses.replace(d, negative_evidence=())
    assert "- none recorded" in section(render(d), "Candidate causes")


def test_an_empty_dossier_still_renders_every_section() -> None:
    incident = Incident(id="INC-1", title="Nothing seen", start=T0, end=at(60))
    d = Dossier(incident, at(61), Milestones(), {}, (), (), (), (), (), ())
    md = render(d)
    for title in (
        "Summary",
        "Impact window",
        "Timeline",
        "Detection review",
        "Detection gaps",
        "Candidate causes",
        "Evidence",
        "Action items",
    ):
        assert f"\n## {title}\n" in md
    assert "The telemetry shows no onset" in md
    assert "No event was collected for the window." in md
    assert "No detection gap was found" in md
    assert "No metric series was collected." in md


def test_source_text_cannot_inject_markup() -> None:
    base = checkout_dossier()
    sneaky = dataclasses.replace(DEPLOY, title="fix [link](http://evil) <script>*x*</script>")
    d = dataclasses.replace(base, timeline=(entry(sneaky, "trigger"),))
    md = render(d)
    assert "fix \\[link\\](http://evil) \\<script\\>\\*x\\*\\</script\\>" in md
