"""The whole path against a real Prometheus: an incident with known truth, collected and drafted.

The incident (tests.harness.synth.checkout_incident): a bad payments deploy at T-3m breaks
payments at T and checkout downstream at T+1m; a later checkout deploy at T-1m is innocent; the
payments alert is late (`for: 5m`); payments latency has no alert; payments-1 cannot be scraped
for 5 minutes; a rollback at T+40m brings everything back by T+42m.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dossier import jobs
from dossier.cli import cli
from dossier.config import load_config
from dossier.incident import load_incident
from dossier.model import parse_time
from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY


def write_case(folder: Path, url: str, truth, changes, *, incident_overrides=None, change_filter=None) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    kept = [c for c in changes if change_filter is None or change_filter(c)]
    (folder / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in kept))
    config = {
        "collectors": {
            "prometheus/test": {
                "url": url,
                "retries": 1,
                "signals": [
                    {"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"},
                    {"name": "latency", "query": LATENCY_QUERY, "direction": "up"},
                ],
            },
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {
            "checkout": {"aliases": ["checkout-api"], "depends_on": ["payments"]},
            "payments": {"depends_on": []},
            "inventory": {},
        },
        "correlate": {"baseline": "1h", "late_alert_after": "5m", "cause_lookback": "2h"},
        "output": {"dir": "out", "formats": ["json", "md"]},
    }
    (folder / "dossier.yaml").write_text(yaml.safe_dump(config))
    incident = dict(truth.incident)
    incident.update(incident_overrides or {})
    (folder / "incident.yaml").write_text(yaml.safe_dump(incident))
    return folder / "dossier.yaml", folder / "incident.yaml"


def at(text: str | None) -> float | None:
    return None if text is None else parse_time(text).timestamp()


@pytest.fixture(scope="module")
def drafted(checkout_prometheus, tmp_path_factory):
    url, truth, changes = checkout_prometheus
    folder = tmp_path_factory.mktemp("e2e")
    config_path, incident_path = write_case(folder, url, truth, changes)
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), folder / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    return outcome, data, truth


def test_onset_lands_within_two_minutes_of_the_fault(drafted):
    _, data, truth = drafted
    started = at(data["milestones"]["started"])
    assert started is not None
    assert abs(started - truth.fault_at) <= 120, (data["milestones"], truth.fault_at)


def test_detected_is_the_first_firing_alert(drafted):
    _, data, truth = drafted
    detected = at(data["milestones"]["detected"])
    assert detected == pytest.approx(truth.detected_at, abs=1)
    evidence = data["milestone_evidence"]["detected"]
    event = next(e for e in data["timeline"] if e["id"] == evidence)
    assert event["kind"] == "alert_firing"
    assert event["attrs"]["alertname"] == "PaymentsHighErrorRate"
    ttd = data["durations"]["time_to_detect"]
    assert ttd == pytest.approx(truth.detected_at - at(data["milestones"]["started"]), abs=1)
    assert abs(ttd - (truth.detected_at - truth.fault_at)) <= 120


def test_recovered_matches_the_truth(drafted):
    _, data, truth = drafted
    recovered = at(data["milestones"]["recovered"])
    assert recovered is not None
    assert abs(recovered - truth.recovered_at) <= 180, (data["milestones"]["recovered"], truth.recovered_at)
    assert at(data["milestones"]["mitigated"]) == pytest.approx(truth.mitigated_at, abs=1)


def test_alert_review_matches_the_rule_engine(drafted):
    _, data, truth = drafted
    rows = {r["alert"]: r for r in data["alert_review"]}
    for name in ("PaymentsHighErrorRate", "CheckoutHighErrorRate"):
        alert = truth.alerts[name]
        row = rows[name]
        assert at(row["pending_at"]) == pytest.approx(alert.pending_at, abs=1), name
        assert at(row["fired_at"]) == pytest.approx(alert.fired_at, abs=1), name
        assert at(row["resolved_at"]) == pytest.approx(alert.resolved_at, abs=truth.eval_interval + 1), name
        assert at(row["condition_true_at"]) <= at(row["pending_at"])
        assert at(row["pending_at"]) - at(row["condition_true_at"]) <= truth.eval_interval + 1
    pay = rows["PaymentsHighErrorRate"]
    assert pay["for"] == 300.0
    assert pay["delays"]["for"] == pytest.approx(300.0, abs=truth.eval_interval)


def test_gaps_are_the_right_ones_and_no_others(drafted):
    _, data, truth = drafted
    kinds = sorted(g["kind"] for g in data["detection_gaps"])
    assert kinds == ["blind_spot", "late_alert", "late_alert", "unalerted_signal"], data["detection_gaps"]
    by_kind = {g["kind"]: g for g in data["detection_gaps"]}
    late = {g["service"]: g for g in data["detection_gaps"] if g["kind"] == "late_alert"}
    pay = late["payments"]
    assert "PaymentsHighErrorRate" in pay["explanation"] and "for: 5m" in pay["explanation"]
    assert pay["signal"] == "error_rate"
    # each service's first alert is judged against that service's onset on the signal its rule reads
    for service, alert in (("payments", "PaymentsHighErrorRate"), ("checkout", "CheckoutHighErrorRate")):
        onset = truth.signal(service, "error_rate").onset_at
        assert at(late[service]["start"]) == pytest.approx(onset, abs=60), (service, late[service])
        assert at(late[service]["end"]) == pytest.approx(truth.alerts[alert].fired_at, abs=1)
        assert alert in late[service]["explanation"] and late[service]["signal"] == "error_rate"
    unalerted = by_kind["unalerted_signal"]
    assert (unalerted["service"], unalerted["signal"]) == ("payments", "latency")
    blind = by_kind["blind_spot"]
    gap = truth.scrape_gaps[0]
    assert blind["service"] == "payments"
    assert (blind["target"], blind["telemetry"]) == (gap.instance, "metrics")
    assert gap.instance in blind["explanation"] and "no telemetry" not in blind["explanation"]
    assert at(blind["start"]) == pytest.approx(gap.start, abs=truth.scrape_interval)
    assert at(blind["end"]) == pytest.approx(gap.end, abs=truth.scrape_interval)
    # TargetDown (for: 10m) only went pending over the 5-minute gap: a finding, not a "resolved" alert
    assert "TargetDown" in blind["explanation"] and "for: 10m" in blind["explanation"]


def test_alert_delays_add_up_and_pending_only_alerts_say_why(drafted):
    _, data, _ = drafted
    for row in data["alert_review"]:
        if row["fired_at"] is None:
            continue
        parts = sum(row["delays"][k] or 0.0 for k in ("threshold", "evaluation", "for"))
        assert parts == pytest.approx(at(row["fired_at"]) - at(row["onset"]), abs=0.01), row
    target_down = [r for r in data["alert_review"] if r["alert"] == "TargetDown"]
    assert target_down and target_down[0]["fired_at"] is None
    assert "without firing" in target_down[0]["finding"] and "for: 10m" in target_down[0]["finding"]
    titles = [e["title"] for e in data["timeline"] if "TargetDown" in e["title"]]
    assert not any("resolved" in t for t in titles), titles


def test_no_phantom_onsets_and_recovered_is_filled(drafted):
    _, data, truth = drafted
    starts = [e for e in data["timeline"] if e["kind"] == "anomaly_start"]
    per_series: dict[tuple, int] = {}
    for e in starts:
        key = (e["service"], e["attrs"]["signal"])
        per_series[key] = per_series.get(key, 0) + 1
        assert e["attrs"]["peak"] != e["attrs"]["baseline"], e["title"]
    assert all(n == 1 for n in per_series.values()), per_series
    assert {(s.service, s.signal) for s in truth.signals} <= set(per_series), per_series
    assert data["milestones"]["recovered"] is not None
    assert data["notes"] == []


def test_culprit_ranks_first_over_a_later_downstream_deploy(drafted):
    _, data, truth = drafted
    causes = data["candidate_causes"]
    events = {e["id"]: e for e in data["timeline"]}
    top = events[causes[0]["evidence"]]
    assert top["attrs"]["id"] == truth.culprit_change_id
    second = [events[c["evidence"]]["attrs"]["id"] for c in causes[1:]]
    assert "deploy-checkout-1187" in second
    assert all("inventory" not in events[c["evidence"]]["service"] for c in causes)
    assert any("went wrong first" in r for r in causes[0]["reasons"])
    assert any("rolled back at" in r for r in causes[0]["reasons"]), causes[0]["reasons"]


def test_every_claim_links_to_a_recorded_request(drafted):
    outcome, data, _ = drafted
    manifest = json.loads((outcome.folder / "evidence" / "manifest.json").read_text())
    request_ids = {r["id"] for r in manifest["requests"]}
    for entry in data["timeline"]:
        if entry["source"] != "incident":
            assert entry["request"] in request_ids, entry
    assert all(r["sha256"] and r["status"] == 200 for r in manifest["requests"] if r["source"] == "prometheus/test")


def test_replay_is_byte_for_byte(drafted, tmp_path):
    outcome, _, _ = drafted
    copy = tmp_path / outcome.folder.name
    shutil.copytree(outcome.folder, copy)
    before = (copy / "dossier.json").read_bytes(), (copy / "draft.md").read_bytes()
    (copy / "dossier.json").unlink()
    (copy / "draft.md").unlink()
    result = CliRunner().invoke(cli, ["replay", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "dossier.json").read_bytes() == before[0]
    assert (copy / "draft.md").read_bytes() == before[1]


def test_no_qualifying_change_claims_no_cause(checkout_prometheus, tmp_path):
    url, truth, changes = checkout_prometheus
    config_path, incident_path = write_case(
        tmp_path, url, truth, changes, change_filter=lambda c: c["service"] == "inventory"
    )
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    assert data["candidate_causes"] == []
    assert any("deploy_file/changes: no deploy" in n for n in data["negative_evidence"]), data["negative_evidence"]


def test_human_declared_first_is_human_detected(checkout_prometheus, tmp_path):
    url, truth, changes = checkout_prometheus
    declared = truth.fault_at + 120
    from dossier.model import from_epoch, rfc3339

    config_path, incident_path = write_case(
        tmp_path, url, truth, changes, incident_overrides={"declared_at": rfc3339(from_epoch(declared))}
    )
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    assert at(data["milestones"]["detected"]) == declared
    kinds = [g["kind"] for g in data["detection_gaps"]]
    assert "human_detected" in kinds
    human = next(g for g in data["detection_gaps"] if g["kind"] == "human_detected")
    assert "declared by people" in human["explanation"]


def test_dead_prometheus_still_writes_the_draft(checkout_prometheus, tmp_path):
    _, truth, changes = checkout_prometheus
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    config_path, incident_path = write_case(tmp_path, dead, truth, changes)
    result = CliRunner().invoke(
        cli, ["collect", "--config", str(config_path), "--incident", str(incident_path), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1, result.output
    data = json.loads((tmp_path / "o" / "INC-2041" / "dossier.json").read_text())
    statuses = {s["instance"]: s["status"] for s in data["sources"]}
    assert statuses == {"prometheus/test": "failed", "deploy_file/changes": "ok"}
    gap = next(g for g in data["detection_gaps"] if g["kind"] == "source_unavailable")
    assert "prometheus/test" in gap["explanation"]
    assert any(e["kind"] == "deploy" for e in data["timeline"])


@pytest.mark.parametrize(
    ("seed", "eval_offset", "fault_after_min"),
    [(1, 7.0, 2), (2, 3.0, 17), (3, 11.0, 31)],
)
def test_truth_holds_across_seeds_and_timings(local_prometheus, tmp_path, seed, eval_offset, fault_after_min):
    """Other noise, other rule-evaluation phases, other fault times: the same answers."""
    from datetime import UTC, datetime, timedelta

    from tests.harness.synth import checkout_incident

    scenario = checkout_incident(
        datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        seed,
        eval_offset=eval_offset,
        fault_after=timedelta(minutes=fault_after_min),
    )
    prom = local_prometheus(scenario.openmetrics, scenario.rules_yaml)
    truth = scenario.truth
    config_path, incident_path = write_case(tmp_path, prom.url, truth, scenario.changes)
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    m = data["milestones"]
    assert abs(at(m["started"]) - truth.fault_at) <= 120, (m, truth.fault_at)
    assert at(m["detected"]) == pytest.approx(truth.detected_at, abs=1)
    assert abs(at(m["recovered"]) - truth.recovered_at) <= 180
    assert {g["kind"] for g in data["detection_gaps"]} == {"blind_spot", "late_alert", "unalerted_signal"}
    late = {g["service"]: g for g in data["detection_gaps"] if g["kind"] == "late_alert"}
    assert late["payments"]["signal"] == "error_rate"
    moved = {(s.service, s.signal) for s in truth.signals}
    starts = [(e["service"], e["attrs"]["signal"]) for e in data["timeline"] if e["kind"] == "anomaly_start"]
    assert sorted(starts) == sorted(set(starts)) and set(starts) <= moved, starts  # no phantom, no second onset
    for service, gap in late.items():
        assert abs(at(gap["start"]) - truth.signal(service, "error_rate").onset_at) <= 120, gap
    events = {e["id"]: e for e in data["timeline"]}
    assert events[data["candidate_causes"][0]["evidence"]]["attrs"]["id"] == truth.culprit_change_id


def test_logs_add_the_new_error_and_the_ingestion_hole(checkout_prometheus, tmp_path):
    """The issue's promise for logs: a new error after a deploy is on the timeline with its first
    occurrence and exemplars; a service whose logs stop shows a blind spot."""
    from tests.harness.synth import checkout_logs

    url, truth, changes = checkout_prometheus
    logs = checkout_logs(truth)
    (tmp_path / "logs.jsonl").write_text(logs.text)
    config_path, incident_path = write_case(tmp_path, url, truth, changes)
    config = yaml.safe_load(config_path.read_text())
    config["collectors"]["log_file/app"] = {"path": "logs.jsonl"}
    config_path.write_text(yaml.safe_dump(config))
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    lt = logs.truth
    new = [e for e in data["timeline"] if e["kind"] == "new_log_signature"]
    assert len(new) == 1, new
    assert new[0]["service"] == lt.new_signature_service and new[0]["important"]
    assert at(new[0]["at"]) == pytest.approx(lt.new_signature_first_at, abs=0.01)
    assert new[0]["attrs"]["count"] == lt.new_signature_count
    assert len(new[0]["attrs"]["exemplars"]) == 3
    holes = [g for g in data["detection_gaps"] if g["kind"] == "blind_spot" and g["signal"] == "logs"]
    assert [(g["service"], at(g["start"]), at(g["end"])) for g in holes] == [
        (lt.silence_service, lt.silence_start, lt.silence_end)
    ]
    spikes = [e for e in data["timeline"] if e["kind"] == "log_spike" and e["service"] == lt.spike_service]
    assert len(spikes) == 1, "a log hole must not split one burst of errors in two"
    assert abs(at(data["milestones"]["started"]) - truth.fault_at) <= 120
    events = {e["id"]: e for e in data["timeline"]}
    assert events[data["candidate_causes"][0]["evidence"]]["attrs"]["id"] == truth.culprit_change_id
    assert "## Log evidence" in (outcome.folder / "draft.md").read_text()


def test_pages_and_the_channel_through_their_apis(checkout_prometheus, tmp_path):
    """The people, through the PagerDuty and Slack stand-ins' APIs: the page after the firing gives
    the alert's notify delay, the acknowledgement the `acknowledged` milestone, the channel's
    messages are in their phases, and the rollback (a change) is `mitigated`."""
    from datetime import timedelta

    from tests.standins.pagerduty import DEFAULT_TOKEN, PagerDuty, incident, log_entry, user
    from tests.standins.slack import DEFAULT_TOKEN as SLACK_TOKEN
    from tests.standins.slack import Slack

    url, truth, changes = checkout_prometheus
    t = truth.to_dict()
    fired = parse_time(t["alerts"]["PaymentsHighErrorRate"]["fired_at"])

    def z(dt) -> str:
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")

    alice = user("PUSR001", "Alice Ng")
    with PagerDuty() as pd, Slack() as slack:
        pd.add(
            incident(
                77,
                "[FIRING:1] PaymentsHighErrorRate payments",
                "payments",
                z(fired + timedelta(seconds=20)),
                entries=[
                    log_entry("trigger", z(fired + timedelta(seconds=20))),
                    log_entry("notify", z(fired + timedelta(seconds=25)), user_ref=alice, channel="phone"),
                    log_entry("acknowledge", z(fired + timedelta(minutes=2)), agent=alice),
                ],
            )
        )
        ch = slack.channel("C0INC", "inc-2041")
        ch.post("U1", "declaring SEV2", at=z(fired + timedelta(minutes=3)))
        ch.post("U1", "rolling back payments", at=z(fired + timedelta(minutes=30)))
        config_path, incident_path = write_case(tmp_path, url, truth, changes)
        config = yaml.safe_load(config_path.read_text())
        config["collectors"]["pagerduty/oncall"] = {"url": pd.url, "token": DEFAULT_TOKEN}
        config["collectors"]["slack/inc"] = {"url": slack.url, "token": SLACK_TOKEN, "channel": "$incident_id"}
        config_path.write_text(yaml.safe_dump(config))
        outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    assert {s["instance"]: s["status"] for s in data["sources"]}["pagerduty/oncall"] == "ok"
    review = next(r for r in data["alert_review"] if r["alert"] == "PaymentsHighErrorRate")
    assert review["delays"]["notify"] == 20.0
    assert data["milestones"]["acknowledged"] == z(fired + timedelta(minutes=2))
    rollback = next(c for c in changes if c["kind"] == "rollback")
    assert at(data["milestones"]["mitigated"]) == at(rollback["at"])
    phases = {e["title"].split(": ", 1)[-1]: e["phase"] for e in data["timeline"] if e["kind"] == "message"}
    assert phases == {"declaring SEV2": "detection", "rolling back payments": "mitigation"}
