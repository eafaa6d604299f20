"""Builders of Dossier values for the exporters' tests: a realistic checkout incident (the model as
correlate now fills it: onsets with values and units, alerts judged against their service's onset,
cause factors, per-target blind spots, a truncated source with its reason, notes), and helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dossier.exporters.markdown import MarkdownExporter
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
    attrs={"signal": "error_rate", "series": stable_id(PROM, "s1"), "baseline": 0.4, "peak": 12.5, "direction": "up"},
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
    attrs={"signal": "latency_p99", "series": stable_id(PROM, "s2"), "baseline": 0.21, "peak": 1.9, "direction": "up"},
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
    attrs={"signal": "up", "instance": "payments-1:9100", "job": "payments"},
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
                "no metrics from payments-1:9100, a scrape target of payments, from 2026-11-20T10:05:00Z to "
                "2026-11-20T10:12:00Z: scrape failed (up == 0)",
                (SCRAPE.id,),
                target="payments-1:9100",
                telemetry="metrics",
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
                delays={"threshold": 60.0, "evaluation": 0.0, "for": 300.0, "notify": 60.0},
                source=PROM,
                onset=at(2.25),
                signal="error_rate",
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
                resolved_at=at(20),
                delays={"threshold": 720.0, "evaluation": 30.0, "for": None, "notify": None},
                source=PROM,
                onset=at(3),
                signal="latency_p99",
                finding=(
                    "went pending at 2026-11-20T10:15:30Z and stopped at 2026-11-20T10:20:00Z without firing: "
                    "its `for: 1h 0m` is longer than the 4m 30s the condition held, so no one was told"
                ),
            ),
        ),
        candidate_causes=(
            Cause(
                1,
                DEPLOY.id,
                0.76,
                (
                    "deploy 7m 15s before the onset (2026-11-20T10:02:15Z)",
                    "checkout, where the telemetry went wrong first, depends on payments",
                ),
                factors={"where": 0.8, "when": 0.95, "what": 1.0, "size": 1.0},
            ),
            Cause(
                2,
                FLAG.id,
                0.47,
                (
                    "feature flag 22m 0s before the onset",
                    "checkout is where the telemetry went wrong first (2026-11-20T10:02:15Z)",
                ),
                factors={"where": 1.0, "when": 0.52, "what": 0.9, "size": 1.0},
            ),
        ),
        negative_evidence=(
            "deploy_file/changes: no config change of checkout or payments within 2h before the onset",
            "deploy_file/changes: checkout v5.3.0 (2026-11-20T07:10:00Z) not ranked: more than 2h before the onset",
        ),
        sources=(
            SourceReport(
                PROM,
                "prometheus",
                "ok",
                None,
                412,
                0.83,
                truncated=True,
                truncated_reason="query_range hit the 11,000 points per series limit; the step was not lowered",
            ),
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
                unit="req/s",
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
        notes=("the incident names the service checkout-api, which is an alias of checkout: the draft uses checkout",),
    )


def render(dossier: Dossier) -> str:
    return MarkdownExporter().render(dossier)


def section(md: str, title: str) -> str:
    """The part of the draft headed `title` (at any level), up to the next heading of the same or a
    higher level."""
    found = re.search(rf"\n(#{{2,6}}) {re.escape(title)}\n", md)
    if found is None:
        raise ValueError(f"no section {title!r} in the draft")
    level = len(found.group(1))
    end = re.search(rf"\n#{{2,{level}}} ", md[found.end() :])
    return md[found.start() : found.end() + end.start() if end else None]
