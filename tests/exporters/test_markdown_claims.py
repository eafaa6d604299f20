"""The prose of draft.md, tested as JSON is: every sentence is a claim an SRE acts on.

Each test builds Dossier values and checks one property of the text: every incident service is in
the summary with what its telemetry shows; no sentence is said twice; values carry units; rates say
"per minute", never "per 1m 0s"; each cause shows its score on its scale with its factors; a
truncated source says why; a blind spot names its target and telemetry; the delays of an alert add
up to the total they explain (read back from the text); an alert that never fired is never called
fired or resolved; the notes on the draft come first.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest

from dossier.model import AlertReview, Cause, DetectionGap, Dossier, Event, Series, SourceReport, stable_id
from dossier.units import fmt_duration, fmt_exact, fmt_value, humane, infer_unit, per
from tests.exporters.builders import (
    LATENCY,
    ONSET,
    PROM,
    SCRAPE,
    T0,
    at,
    checkout_dossier,
    entry,
    ev,
    render,
    section,
)

# ---- reading the text back -----------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?")


def seconds(text: str) -> int:
    """`1h 0m 30s` -> 3630, read from the start of `text`."""
    m = _DURATION.match(text.strip())
    assert m is not None and m.group(0).strip(), f"no duration at the start of {text!r}"
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def sentences(md: str) -> list[str]:
    """The sentences of a draft: split on sentence ends and lines; list markers, table pipes and
    blockquote marks taken off; empty pieces and table rulers left out."""
    out = []
    lines = [line.strip().lstrip(">").strip() for line in md.splitlines()]
    for i, line in enumerate(lines):
        if not line or set(line) <= set("|-"):
            continue
        if line.startswith("|"):
            if i + 1 < len(lines) and set(lines[i + 1]) <= set("|-"):
                continue  # a table's header: the same columns in each service's table
            out.append(line)
            continue
        line = re.sub(r"^(?:- \[ \]|[-*]|\d+\.)\s+", "", line)
        out += [piece.strip() for piece in re.split(r"(?<=[.!?])\s+(?=[A-Z`*\[])", line) if piece.strip()]
    return out


def delay_sums(md: str) -> list[tuple[str, list[int], int]]:
    """Every `From ... to the firing|notification...: A + B + C = T.` of the detection review."""
    review = section(md, "Detection review")
    found = []
    for m in re.finditer(r"From (.*?) to the (firing|notification at \S+ \S+): ([^=]+?) = (\d[^.]*)\.", review):
        parts = [seconds(p) for p in m.group(3).split(" + ")]
        found.append((m.group(2), parts, seconds(m.group(4))))
    return found


def lines_about(md: str, name: str) -> list[str]:
    return [line for line in md.splitlines() if name in line]


# ---- builders ---------------------------------------------------------------------------------------


def second_latency_episode() -> Event:
    """A second anomaly on checkout's `latency_p99` (the same signal twice)."""
    return ev(
        PROM,
        "onset-checkout-latency-2",
        30,
        "anomaly_start",
        "latency_p99 of checkout rose from 0.3 (peak 0.9)",
        "checkout",
        attrs={"signal": "latency_p99", "series": stable_id(PROM, "s4"), "baseline": 0.3, "peak": 0.9},
    )


def busy_dossier() -> Dossier:
    """The checkout incident with more going on: three incident services (one without any anomaly),
    two anomalies on the same signal of checkout, two unalerted gaps for it, a log spike counted
    per minute, two episodes of one alert, a source truncated without a reason."""
    base = checkout_dossier()
    lat1 = ev(
        PROM,
        "onset-checkout-latency-1",
        4,
        "anomaly_start",
        "latency_p99 of checkout rose from 0.25 (peak 0.462)",
        "checkout",
        attrs={"signal": "latency_p99", "series": stable_id(PROM, "s4"), "baseline": 0.25, "peak": 0.462},
    )
    lat2 = second_latency_episode()
    spike = ev(
        "elasticsearch/logs",
        "spike",
        6,
        "log_spike",
        "error logs of payments rose from 0 to 65 per 1m 0s",
        "payments",
        end=at(20),
        attrs={"signal": "logs:error", "series": stable_id("es", "logs"), "baseline": 0.0, "peak": 65.0},
    )
    memory = ev(
        PROM,
        "onset-payments-memory",
        7,
        "anomaly_start",
        "memory of payments rose from 5e+06 (peak 1.23e+07)",
        "payments",
        attrs={"signal": "memory", "series": stable_id(PROM, "s5"), "baseline": 5_000_000.0, "peak": 12_345_678.0},
    )
    series = (
        *base.series,
        Series(
            stable_id(PROM, "s4"),
            PROM,
            "latency_p99",
            "checkout",
            {},
            'max(http_request_duration_seconds{service="checkout",quantile="0.99"})',
            (),
            (),
        ),
        Series(stable_id(PROM, "s5"), PROM, "memory", "payments", {}, "sum(process_resident_memory_bytes)", (), ()),
        Series(
            stable_id("es", "logs"),
            "elasticsearch/logs",
            "logs:error",
            "payments",
            {"level": "error"},
            "level:error",
            (),
            (),
            step=60.0,
            role="log_count",
        ),
    )
    unalerted = tuple(
        DetectionGap(
            "unalerted_signal",
            "checkout",
            "latency_p99",
            e.at,
            e.at + timedelta(minutes=5),
            f"latency_p99 of checkout was anomalous from {e.at.isoformat()}, and no alerting rule reads "
            "http_request_duration_seconds for checkout",
            (e.id,),
        )
        for e in (lat1, lat2)
    )
    target_down = [
        AlertReview(
            alert="TargetDown",
            service="payments",
            expr="up == 0",
            for_seconds=300.0,
            condition_true_at=at(5.25),
            pending_at=at(5.25),
            fired_at=at(10.25),
            notified_at=None,
            resolved_at=at(12.25),
            delays={"threshold": 135.0, "evaluation": 0.0, "for": 300.0, "notify": None},
            labels={"instance": "payments-1:9100", "job": "payments"},
            source=PROM,
            onset=at(3),
            signal=None,
        ),
        AlertReview(
            alert="TargetDown",
            service="payments",
            expr="up == 0",
            for_seconds=300.0,
            condition_true_at=at(15),
            pending_at=at(15),
            fired_at=None,
            notified_at=None,
            resolved_at=at(17),
            delays={"threshold": None, "evaluation": None, "for": None, "notify": None},
            labels={"instance": "payments-2:9100", "job": "payments"},
            source=PROM,
            onset=None,
            finding=(
                "went pending at 2026-11-20T10:15:00Z and stopped at 2026-11-20T10:17:00Z without firing: its "
                "`for: 5m 0s` is longer than the 2m 0s the condition held, so no one was told"
            ),
        ),
    ]
    stopped = ev(
        PROM,
        "target-down-2-resolved",
        17,
        "alert_resolved",
        "TargetDown resolved",
        "payments",
        attrs={"alertname": "TargetDown", "labels": {"instance": "payments-2:9100", "job": "payments"}},
    )
    timeline = tuple(
        sorted(
            (
                *base.timeline,
                entry(stopped, "recovery"),
                entry(lat1, "trigger"),
                entry(lat2, "trigger"),
                entry(spike, "trigger"),
                entry(memory, "trigger"),
            ),
            key=lambda t: (t.event.at, t.event.source, t.event.id),
        )
    )
    return dataclasses.replace(
        base,
        incident=dataclasses.replace(base.incident, services=("checkout", "payments", "inventory")),
        timeline=timeline,
        series=series,
        detection_gaps=(*base.detection_gaps, *unalerted),
        alert_review=(*base.alert_review, *target_down),
        sources=(
            *base.sources,
            SourceReport("log_file/app", "log_file", "partial", "1 of 3 files unreadable", 80, 0.2, truncated=True),
        ),
    )


def older_archive() -> Dossier:
    """As an archive from before issue 7 reads: no factors, no onset on the alert review, no target."""
    base = checkout_dossier()
    return dataclasses.replace(
        base,
        candidate_causes=tuple(dataclasses.replace(c, score=c.score + 0.4, factors={}) for c in base.candidate_causes),
        alert_review=tuple(
            dataclasses.replace(r, onset=None, signal=None, finding=None, delays={**r.delays, "evaluation": None})
            for r in base.alert_review
        ),
        detection_gaps=tuple(dataclasses.replace(g, target=None, telemetry=None) for g in base.detection_gaps),
        notes=(),
    )


def unnotified() -> Dossier:
    """Two alerts that fired and were never notified."""
    d = busy_dossier()
    return dataclasses.replace(
        d,
        alert_review=tuple(
            dataclasses.replace(r, notified_at=None, delays={**r.delays, "notify": None}) for r in d.alert_review
        ),
    )


DOSSIERS = {"checkout": checkout_dossier, "busy": busy_dossier, "older": older_archive, "unnotified": unnotified}


# ---- the summary names every incident service ------------------------------------------------------


def test_every_incident_service_is_in_the_summary_with_what_its_telemetry_shows() -> None:
    md = render(busy_dossier())
    summary = section(md, "Summary")
    stories = {m.group(1): m.group(0) for m in re.finditer(r"^- \*\*([^*]+)\*\*: .*$", summary, re.M)}
    assert set(stories) >= {"checkout", "payments", "inventory"}
    assert "`error_rate` went anomalous first, at 2026-11-20 10:02:15Z" in stories["checkout"]
    assert "rose from 0.4 req/s to 12.5 req/s" in stories["checkout"]
    assert (
        "Its first alert to fire, `HighErrorRate`, fired at 2026-11-20 10:08:15Z, 6m after the onset"
        in (stories["checkout"])
    )
    assert ": late (see the detection gaps)" in stories["checkout"]
    # payments: first onset latency_p99 at 10:03, then memory; its first alert TargetDown (not late)
    assert "`latency_p99` went anomalous first, at 2026-11-20 10:03:00Z" in stories["payments"]
    assert "In payments, `memory` (at 2026-11-20 10:07:00Z) also went anomalous." in stories["payments"]
    assert (
        "fired at 2026-11-20 10:10:15Z, 7m 15s after its onset at 2026-11-20 10:03:00Z: not flagged as late"
        in (stories["payments"])
    )
    assert stories["inventory"] == (
        "- **inventory**: no anomaly found in inventory's signals. No alert of inventory went pending or fired."
    )


def test_without_incident_services_the_services_with_evidence_are_named() -> None:
    d = checkout_dossier()
    d = dataclasses.replace(d, incident=dataclasses.replace(d.incident, services=()))
    summary = section(render(d), "Summary")
    assert "What the telemetry shows for the services with evidence:" in summary
    assert "- **checkout**: " in summary and "- **payments**: " in summary
    assert "No alert of payments fired: `PaymentsSLOBurn` went pending and never fired." in summary


# ---- nothing is said twice ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOSSIERS))
def test_no_sentence_appears_twice_in_the_draft(name: str) -> None:
    said = sentences(render(DOSSIERS[name]()))
    repeated = sorted({s for s in said if said.count(s) > 1})
    assert not repeated, repeated


def test_a_signal_with_two_anomalies_is_listed_once() -> None:
    md = render(busy_dossier())
    assert "`latency_p99` of checkout and `latency_p99` of checkout" not in md
    summary = section(md, "Summary")
    assert summary.count("`latency_p99` of checkout") == 1
    assert "`latency_p99` of payments and `latency_p99` of checkout went anomalous with no alert watching them." in (
        summary
    )
    assert "In checkout, `latency_p99` (2 times, first 2026-11-20 10:04:00Z) also went anomalous." in summary


# ---- units and durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.462, "s", "462 ms"),
        (2.19, "seconds", "2.19 s"),
        (90, "s", "1m 30s"),
        (250, "ms", "250 ms"),
        (0.0312, "ratio", "3.1%"),
        (0.05, "ratio", "5%"),
        (0.0004, "ratio", "0.04%"),
        (99.5, "%", "99.5%"),
        (12345678, "bytes", "11.8 MiB"),
        (512, "bytes", "512 B"),
        (2048, "bytes/s", "2.0 KiB/s"),
        (5.78, "per second", "5.78/s"),
        (12.5, "req/s", "12.5 req/s"),
        (12345, "req/s", "12,345 req/s"),
        (0.0667, None, "0.0667"),
        (float("nan"), "s", "unknown"),
        (None, "s", "unknown"),
    ],
)
def test_values_are_formatted_in_their_unit(value, unit, expected) -> None:
    assert fmt_value(value, unit) == expected


@pytest.mark.parametrize(
    ("query", "unit"),
    [
        ('max(http_request_duration_seconds{service="payments",quantile="0.99"})', "seconds"),
        ("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", "seconds"),
        ("sum(rate(x_seconds_sum[5m])) / sum(rate(x_seconds_count[5m]))", "seconds"),
        ("sum(process_resident_memory_bytes)", "bytes"),
        ("sum(rate(node_network_receive_bytes_total[1m]))", "bytes/s"),
        ('sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))', "ratio"),
        ("cache_hit_ratio", "ratio"),
        ('sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m]))', "per second"),
        ("sum(rate(http_request_duration_seconds_count[1m]))", "per second"),
        ("sum(queue_depth)", None),
        ('sum(x{path="/a_seconds/b"})', None),
    ],
)
def test_units_are_inferred_from_the_metric_names(query: str, unit: str | None) -> None:
    assert infer_unit(query) == unit


def test_anomaly_values_carry_units_everywhere_they_are_said() -> None:
    md = render(busy_dossier())
    assert "error_rate of checkout rose from 0.4 req/s to 12.5 req/s" in md  # unit from the config
    assert "latency_p99 of payments rose from 210 ms to 1.9 s" in md  # inferred: _seconds
    assert "latency_p99 of checkout rose from 250 ms to 462 ms" in md
    assert "memory of payments rose from 4.8 MiB to 11.8 MiB" in md  # inferred: _bytes
    # no value of an anomaly is a bare number where its unit is known
    assert not re.search(r"rose from -?[\d.,e+]+(?: \(| to -?[\d.,e+]+(?! per)(?:[ .;)]|$))", md, re.M)
    signals = section(md, "Evidence")
    assert "`error_rate` of checkout, unit: req/s (" in signals
    assert "`latency_p99` of payments, unit: seconds, inferred from the query's metric names (" in signals


def test_counts_per_bucket_say_per_minute_and_durations_read_as_people_write_them() -> None:
    md = render(busy_dossier())
    assert "per 1m 0s" not in md
    assert "error logs of payments rose from 0 to 65 per minute" in md
    assert not re.search(r"\b\d+[dhm] 0[hms]\b", md), re.findall(r".{30}\b\d+[dhm] 0[hms]\b.{10}", md)
    five = dataclasses.replace(busy_dossier().series[-1], step=300.0)
    d = busy_dossier()
    d = dataclasses.replace(d, series=(*d.series[:-1], five))
    assert "rose from 0 to 65 per 5 minutes" in render(d)


@pytest.mark.parametrize(
    ("seconds_", "expected"), [(60, "per minute"), (300, "per 5 minutes"), (30, "per 30 seconds"), (3600, "per hour")]
)
def test_per(seconds_: float, expected: str) -> None:
    assert per(seconds_) == expected


def test_humane_rewrites_only_durations() -> None:
    assert humane("rose to 65 per 1m 0s; fired 5m 0s after; `for: 1h 0m`") == (
        "rose to 65 per minute; fired 5m after; `for: 1h`"
    )
    assert humane("within 2h of 10m 30s, per 5m 0s") == "within 2h of 10m 30s, per 5 minutes"


@pytest.mark.parametrize(("s", "expected"), [(0, "0s"), (375, "6m 15s"), (3630, "1h 0m 30s"), (300, "5m")])
def test_exact_durations_keep_every_second(s: int, expected: str) -> None:
    assert fmt_exact(s) == expected
    assert seconds(expected) == s
    assert fmt_duration(3630) == "1h"


# ---- causes --------------------------------------------------------------------------------------------


def test_each_cause_shows_its_score_on_its_scale_with_its_factors() -> None:
    d = checkout_dossier()
    causes = section(render(d), "Candidate causes")
    for cause in d.candidate_causes:
        line = next(line for line in causes.splitlines() if line.startswith(f"{cause.rank}. "))
        assert f"score {cause.score:.2f} on a 0–1 scale" in line
        for name, value in cause.factors.items():
            assert f"{name} {value:.2f}" in line
        product = 1.0
        for value in cause.factors.values():
            product *= value
        assert round(product, 2) == cause.score
    assert "(score 0.76 on a 0–1 scale, the product where 0.80 × when 0.95 × what 1.00 × size 1.00)" in section(
        render(d), "Summary"
    )


def test_scores_without_factors_are_not_claimed_to_be_on_a_scale() -> None:
    md = render(older_archive())
    causes = section(md, "Candidate causes")
    assert "0–1 scale" not in causes.replace("not on a 0–1 scale", "")
    assert "1. " in causes and "relative score 1.16" in causes and "relative score 0.87" in causes
    assert "relative score 1.16: this archive records no factors, so the score is not on a 0–1 scale" in md
    mixed = dataclasses.replace(
        checkout_dossier(),
        candidate_causes=(checkout_dossier().candidate_causes[0], Cause(2, "x", 0.3, ("a reason",))),
    )
    causes = section(render(mixed), "Candidate causes")
    assert "score 0.76 on a 0–1 scale" in causes and "relative score 0.30" in causes


# ---- sources, blind spots, notes, negative evidence ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOSSIERS))
def test_truncated_always_comes_with_its_reason(name: str) -> None:
    md = render(DOSSIERS[name]())
    uses = [m.start() for m in re.finditer(r"truncated", md)]
    assert uses
    for start in uses:
        after = md[start : start + 120]
        assert re.match(r"truncated: \S", after), after
    assert "truncated: query_range hit the 11,000 points per series limit; the step was not lowered" in md


def test_a_truncated_source_without_a_reason_says_so() -> None:
    md = render(busy_dossier())
    assert "| log_file/app | log_file | **partial** | 80 (truncated: the source gave no reason) |" in md
    assert "the source log_file/app was partial (truncated: the source gave no reason)" in md


def test_a_blind_spot_names_its_target_and_telemetry() -> None:
    d = checkout_dossier()
    logs = DetectionGap(
        "blind_spot",
        "checkout",
        "logs",
        at(20),
        at(26),
        "no logs from checkout reached log_file/app",
        target="log_file/app",
        telemetry="logs",
    )
    signal = DetectionGap(
        "blind_spot",
        "payments",
        "error_rate",
        at(30),
        at(31),
        "no data",
        target="signal error_rate",
        telemetry="metrics",
    )
    md = render(dataclasses.replace(d, detection_gaps=(*d.detection_gaps, logs, signal)))
    expected = "no metrics from payments instance `payments-1:9100` from 2026-11-20 10:05:00Z to 2026-11-20 10:12:00Z"
    assert expected in section(md, "Summary")
    assert f"**Blind spot** (`blind_spot`): {expected}" in section(md, "Detection gaps")
    assert "no logs of checkout from `log_file/app` from 2026-11-20 10:20:00Z to 2026-11-20 10:26:00Z (6m)" in md
    assert "no data for `error_rate` of payments from 2026-11-20 10:30:00Z" in md
    assert "no telemetry of payments" not in md


def test_an_older_blind_spot_takes_its_target_from_its_evidence() -> None:
    md = render(older_archive())
    assert "no metrics from payments instance `payments-1:9100` from 2026-11-20 10:05:00Z" in md
    bare = dataclasses.replace(
        older_archive(), timeline=tuple(t for t in older_archive().timeline if t.event != SCRAPE)
    )
    md = render(bare)
    assert "no `up` data of payments from 2026-11-20 10:05:00Z" in md
    assert "no telemetry of payments from" not in md


def test_notes_come_first() -> None:
    md = render(checkout_dossier())
    note = "the incident names the service checkout-api, which is an alias of checkout: the draft uses checkout"
    assert md.index("> **Read this first: about this draft**") < md.index("## Summary")
    assert f"> - {note}" in md
    assert "Read this first" not in render(older_archive())


def test_negative_evidence_is_one_line_each_as_given() -> None:
    d = checkout_dossier()
    causes = section(render(d), "Candidate causes")
    for item in d.negative_evidence:
        assert f"\n- {item}\n" in causes


# ---- the alert review --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DOSSIERS))
def test_stated_delays_add_up_to_the_stated_total(name: str) -> None:
    d = DOSSIERS[name]()
    md = render(d)
    sums = delay_sums(md)
    fired = [r for r in d.alert_review if r.fired_at is not None]
    assert len([s for s in sums if s[0] == "firing"]) == len(fired)
    for _, parts, total in sums:
        assert sum(parts) == total, (parts, total)
    for r in fired:
        if r.onset is None:
            continue
        assert r.fired_at is not None
        expected = round((r.fired_at - r.onset).total_seconds())
        assert any(kind == "firing" and total == expected for kind, _, total in sums), (r.alert, expected, sums)
        if r.notified_at is not None:
            to_notify = round((r.notified_at - r.onset).total_seconds())
            assert any(kind.startswith("notification") and total == to_notify for kind, _, total in sums)


def test_the_delays_say_what_they_do_not_account_for_and_round_to_the_whole() -> None:
    base = checkout_dossier()
    r = dataclasses.replace(
        base.alert_review[0],
        onset=at(2.25) - timedelta(seconds=40.4),
        condition_true_at=at(3.25) + timedelta(seconds=0.6),
        delays={"threshold": 60.6, "evaluation": 14.4, "for": 299.7, "notify": 59.6},
    )
    md = render(dataclasses.replace(base, alert_review=(r, *base.alert_review[1:])))
    sums = delay_sums(md)
    firing = next(parts for kind, parts, _ in sums if kind == "firing")
    assert len(firing) == 4  # threshold, evaluation, for, and what the recorded delays leave out
    assert "not accounted for by the recorded delays" in section(md, "Detection review")
    for _, parts, total in sums:
        assert sum(parts) == total
    assert next(total for kind, _, total in sums if kind == "firing") == 400  # 6m 40.4s from the onset


def test_the_review_is_per_service() -> None:
    review = section(render(busy_dossier()), "Detection review")
    assert review.index("### checkout") < review.index("### payments")
    payments = review[review.index("### payments") :]
    assert "`TargetDown` `{instance=payments-1:9100}` fired at 2026-11-20 10:10:15Z" in payments
    assert "From the onset at 2026-11-20 10:03:00Z to the firing: 2m 15s until its condition held (threshold)" in (
        payments
    )
    assert payments.count("Rule: `up == 0`") == 1


@pytest.mark.parametrize("name", ["checkout", "busy"])
def test_an_alert_that_never_fired_is_never_called_fired_or_resolved(name: str) -> None:
    d = DOSSIERS[name]()
    md = render(d)
    never = [r for r in d.alert_review if r.fired_at is None]
    assert never
    for r in never:
        label = r.alert if not r.labels else r.labels.get("instance", r.alert)
        lines = [line for line in lines_about(md, label) if r.alert in line]
        assert lines
        for line in lines:
            own = line
            for other in d.alert_review:  # a line may also speak of another alert (the summary)
                if other.fired_at is not None and other.alert != r.alert:
                    own = own.split(f"`{other.alert}`")[0]
            assert "resolved" not in own.lower(), line
            bare = re.sub(r"never fired|without firing|did not fire|Fired \|", "", own)
            assert not re.search(r"\bfired\b|\bfiring\b", bare), line
        assert r.finding is None or any(humane(r.finding).split(":")[0] in line for line in lines)


def test_a_pending_alert_without_a_finding_says_what_the_times_show() -> None:
    base = checkout_dossier()
    r = dataclasses.replace(base.alert_review[1], finding=None, resolved_at=None)
    review = section(render(dataclasses.replace(base, alert_review=(base.alert_review[0], r))), "Detection review")
    assert "| never fired | — | still pending at the end |" in review
    assert "`PaymentsSLOBurn` never fired: its condition held from 2026-11-20 10:15:00Z" in review
    assert "but not for the 1h its `for` asks" in review


def test_timeline_titles_of_anomalies_are_rebuilt_with_units() -> None:
    timeline = section(render(checkout_dossier()), "Timeline")
    assert "latency_p99 of payments rose from 210 ms to 1.9 s" in timeline
    assert "rose to 1.9s (baseline 0.21s)" not in timeline  # the raw title gives way to the values
    assert f"`{LATENCY.id}`" in timeline and f"`{ONSET.id}`" in timeline
    assert T0.isoformat()  # the builders' clock


def test_the_end_of_a_pending_only_episode_is_not_called_resolved_in_the_timeline() -> None:
    timeline = section(render(busy_dossier()), "Timeline")
    row = next(line for line in timeline.splitlines() if "2026-11-20 10:17:00Z" in line and "TargetDown" in line)
    assert "TargetDown stopped pending without firing" in row
    assert "resolved" not in row
    # an episode that fired keeps its source's title
    assert "| HighErrorRate resolved |" in timeline


def test_each_alert_without_a_notification_says_so_by_name() -> None:
    review = section(render(unnotified()), "Detection review")
    assert "No notification of `HighErrorRate` was recorded." in review
    assert "No notification of `TargetDown` `{instance=payments-1:9100}` was recorded." in review


def test_without_an_onset_or_threshold_the_delays_start_where_they_do() -> None:
    base = checkout_dossier()
    r = dataclasses.replace(
        base.alert_review[0], onset=None, delays={"threshold": None, "evaluation": None, "for": 300.0, "notify": 60.0}
    )
    md = render(dataclasses.replace(base, alert_review=(r,)))
    review = section(md, "Detection review")
    assert "From going pending at 2026-11-20 10:03:15Z to the firing: 5m pending (`for: 5m`) = 5m." in review
    assert "From the onset" not in review
    for _, parts, total in delay_sums(md):
        assert sum(parts) == total
