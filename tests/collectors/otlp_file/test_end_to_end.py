"""The call graph in the cause ranking, end to end: OTLP traces of checkout -> payments where payments
fails first, no depends_on in the config, only checkout in the incident: `dossier collect` with an
otlp_file and a deploy_file source ranks the payments deploy first, with the call in its reasons."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from dossier.cli import cli
from tests.collectors._traces.synth import caller_callee, otlp_lines

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(hhmm: str) -> datetime:
    h, m = hhmm.split(":")
    return T0.replace(hour=int(h), minute=int(m))


def write_case(tmp_path: Path, *, traces: bool = True) -> tuple[Path, Path]:
    lines = otlp_lines(
        caller_callee(at("08:50"), at("11:00"), callee_fails_at=at("10:05"), caller_fails_at=at("10:06"))
    )
    (tmp_path / "traces.jsonl").write_text("\n".join(lines) + "\n")
    changes = [
        {"at": "2026-11-20T09:55:00Z", "service": "payments", "kind": "deploy", "id": "pay-412", "version": "v2.14.0"},
        {"at": "2026-11-20T10:03:00Z", "service": "checkout", "kind": "deploy", "id": "co-88", "version": "v5.2.0"},
    ]
    (tmp_path / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in changes))
    sources = "  otlp_file/traces: {path: traces.jsonl}\n" if traces else ""
    config = tmp_path / "dossier.yaml"
    config.write_text(
        "collectors:\n"
        + sources
        + "  deploy_file/changes: {path: changes.jsonl}\n"
        + "services:\n  checkout: {}\n  payments: {}\n"
        + "correlate: {baseline: 1h}\n"
    )
    incident = tmp_path / "incident.yaml"
    incident.write_text(
        "id: INC-7\ntitle: Checkout fails\n"
        "start: 2026-11-20T10:00:00Z\nend: 2026-11-20T11:00:00Z\nservices: [checkout]\n"
    )
    return config, incident


def collect(tmp_path: Path, config: Path, incident: Path) -> dict:
    result = CliRunner().invoke(
        cli, ["collect", "--config", str(config), "--incident", str(incident), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads((tmp_path / "out" / "INC-7" / "dossier.json").read_text())


def cause_services(d: dict) -> list[str]:
    by_id = {e["id"]: e for e in d["timeline"]}
    return [by_id[c["evidence"]]["service"] for c in d["candidate_causes"]]


def test_the_callee_that_failed_first_is_the_cause_with_the_call_in_its_reasons(tmp_path):
    config, incident = write_case(tmp_path)
    d = collect(tmp_path, config, incident)

    assert cause_services(d)[:2] == ["payments", "checkout"]
    first = d["candidate_causes"][0]
    reasons = " | ".join(first["reasons"])
    assert "payments is where the telemetry went wrong first" in reasons
    assert "checkout calls payments, seen in " in reasons
    assert "payments' errors began 1m 0s earlier" in reasons
    n = int(reasons.split("seen in ")[1].split(" traces")[0].replace(",", ""))
    assert n > 1000  # every trace of the window carries the call
    # the onsets are trace events, from the same detector as metrics, and payments' comes first
    kinds = [(e["kind"], e["service"]) for e in d["timeline"] if e["kind"] in ("trace_errors", "latency_shift")]
    assert ("trace_errors", "payments") in kinds and ("trace_errors", "checkout") in kinds
    assert "2026-11-20T10:03:00Z" < d["milestones"]["started"] <= "2026-11-20T10:05:00Z"
    draft_md = (tmp_path / "out" / "INC-7" / "draft.md").read_text()
    assert re.search(r"the trouble began at 2026-11-20 10:0\d:00Z in payments:", draft_md)
    payments_errors = next(e for e in d["timeline"] if e["kind"] == "trace_errors" and e["service"] == "payments")
    assert payments_errors["attrs"].get("exemplar_trace")  # linked to a failing trace the collector kept


def test_without_the_traces_the_caller_deploy_is_the_only_candidate(tmp_path):
    # the same incident without the trace source: nothing links payments to checkout, so the
    # payments deploy is not even a candidate; this is what the call graph changes
    config, incident = write_case(tmp_path, traces=False)
    result = CliRunner().invoke(
        cli, ["collect", "--config", str(config), "--incident", str(incident), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    d = json.loads((tmp_path / "out" / "INC-7" / "dossier.json").read_text())
    assert "payments" not in cause_services(d)


def test_a_failing_trace_source_is_a_stated_gap_not_a_crash(tmp_path):
    config, incident = write_case(tmp_path)
    (tmp_path / "traces.jsonl").unlink()
    result = CliRunner().invoke(
        cli, ["collect", "--config", str(config), "--incident", str(incident), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    d = json.loads((tmp_path / "out" / "INC-7" / "dossier.json").read_text())
    gaps = [g for g in d["detection_gaps"] if g["kind"] == "source_unavailable"]
    assert any("otlp_file/traces" in g["explanation"] and "file not found" in g["explanation"] for g in gaps)
    assert {s["instance"]: s["status"] for s in d["sources"]}["otlp_file/traces"] == "failed"


def test_unreadable_lines_make_the_source_partial_with_a_gap(tmp_path):
    config, incident = write_case(tmp_path)
    with (tmp_path / "traces.jsonl").open("a") as f:
        f.write("{not json\n")
    result = CliRunner().invoke(
        cli, ["collect", "--config", str(config), "--incident", str(incident), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    d = json.loads((tmp_path / "out" / "INC-7" / "dossier.json").read_text())
    assert {s["instance"]: s["status"] for s in d["sources"]}["otlp_file/traces"] == "partial"
    assert any("could not be read" in g["explanation"] for g in d["detection_gaps"])
    assert cause_services(d)[0] == "payments"  # the rest of the file still counts
