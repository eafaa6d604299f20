"""The demo (`bash deploy/demo/run.sh` -> deploy.demo.demo) against a real Prometheus: it tells
the whole arc of the sample incident, each event in its phase, with every milestone filled; and a
paging or chat source that fails is a stated gap, never a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from deploy.demo import demo
from tests.conftest import require_prometheus

pytestmark = pytest.mark.slow


def run_demo(out: Path, folder: Path = demo.DEMO_DIR) -> tuple[int, dict[str, Any], str]:
    require_prometheus()
    code = demo.run(out, folder)
    folder_out = out / "INC-2041"
    return code, json.loads((folder_out / "dossier.json").read_text()), (folder_out / "draft.md").read_text()


@pytest.fixture(scope="module")
def drafted(tmp_path_factory) -> tuple[int, dict[str, Any], str]:
    return run_demo(tmp_path_factory.mktemp("demo"))


def test_the_demo_data_is_what_the_generator_writes(tmp_path):
    demo.regenerate(tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            committed = demo.DEMO_DIR / path.relative_to(tmp_path)
            assert committed.read_bytes() == path.read_bytes(), (
                f"{committed}: run python -m deploy.demo.demo --regenerate"
            )


def test_every_milestone_is_filled(drafted):
    code, d, _ = drafted
    truth = json.loads((demo.DEMO_DIR / "truth.json").read_text())
    assert code == 0, [s for s in d["sources"] if s["status"] != "ok"]
    m = d["milestones"]
    assert all(m[k] for k in ("started", "detected", "acknowledged", "mitigated", "recovered", "resolved")), m
    assert m["acknowledged"] == "2026-11-20T10:11:05Z"  # the PagerDuty ack, before the declaration
    assert m["mitigated"] == truth["mitigated_at"]  # the rollback itself
    assert m["resolved"] == truth["incident"]["resolved_at"]
    durations = d["durations"]
    assert durations["time_to_acknowledge"] == 545.0 and durations["time_to_mitigate"] == 2400.0
    assert d["milestone_evidence"]["acknowledged"] and d["milestone_evidence"]["mitigated"]


def test_the_whole_arc_each_in_its_phase(drafted):
    _, d, _ = drafted
    rows = d["timeline"]

    def phases(kind: str, **attrs: str) -> set[str]:
        return {r["phase"] for r in rows if r["kind"] == kind and all(r["attrs"].get(k) == v for k, v in attrs.items())}

    assert phases("anomaly_start") == {"trigger"}  # onset
    assert phases("alert_pending", alertname="PaymentsHighErrorRate") == {"detection"}
    assert phases("alert_firing") == {"detection"}
    assert phases("page") == {"escalation"} and phases("notification") == {"escalation"}
    assert phases("ack") == {"escalation"}
    assert phases("message", intent="declare") == {"detection"}
    assert phases("message", intent="rollback") == phases("message", intent="mitigate") == {"mitigation"}
    assert phases("message", intent="resolve") == {"recovery"}
    assert phases("rollback") == {"mitigation"}
    assert phases("anomaly_end") == {"recovery"}  # recovery
    assert phases("incident_resolved") == {"recovery"}  # resolution
    order = [r["kind"] for r in rows]
    first = {k: order.index(k) for k in ("anomaly_start", "alert_firing", "page", "ack", "rollback", "anomaly_end")}
    assert list(first) == sorted(first, key=first.__getitem__)  # the arc, in this order


def test_the_alert_review_has_the_notify_delay_and_it_adds_up(drafted):
    _, d, _ = drafted
    row = next(r for r in d["alert_review"] if r["alert"] == "PaymentsHighErrorRate")
    assert row["notified_at"] == "2026-11-20T10:08:40Z" and row["delays"]["notify"] == 10.0
    total = sum(v or 0.0 for v in row["delays"].values())
    onset = demo._at(row["onset"])
    assert total == (demo._at(row["notified_at"]) - onset).total_seconds()


def test_no_names_in_what_the_pager_and_the_channel_gave(drafted):
    _, d, draft = drafted
    ours = [r for r in d["timeline"] if r["source"] in ("pagerduty/oncall", "slack/incident")]
    assert len(ours) >= 12
    text = json.dumps(ours) + draft
    for name in ("Alice Ng", "Bob Ortiz", "Carol Ibe", "U01ALICE", "PUSR0A1"):
        assert name not in text
    assert "responder 1 acknowledged PagerDuty incident #2041" in draft


def test_failing_pager_and_channel_are_stated_gaps(tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(demo.DEMO_DIR, folder)
    (folder / "pagerduty.json").write_text("{not json\n")
    shutil.rmtree(folder / "slack-export" / "inc-2041")
    code, d, _ = run_demo(tmp_path / "out", folder)
    assert code == 1
    status = {s["instance"]: s for s in d["sources"]}
    assert status["pagerduty/oncall"]["status"] == "failed" and "pagerduty.json" in status["pagerduty/oncall"]["error"]
    assert status["slack/incident"]["status"] == "failed" and "channel's folder" in status["slack/incident"]["error"]
    unavailable = {g["explanation"] for g in d["detection_gaps"] if g["kind"] == "source_unavailable"}
    assert any("pagerduty/oncall" in e for e in unavailable) and any("slack/incident" in e for e in unavailable)
    assert d["milestones"]["acknowledged"] is None and d["milestones"]["mitigated"] == "2026-11-20T10:42:00Z"
    assert d["milestones"]["started"] and d["milestones"]["recovered"]  # the rest of the draft is whole
