"""`dossier report DIR`: over many drafts (made here from the exporters' builders and written by the
json exporter), the percentiles equal those computed directly from their dossier.json files, per
service and per month; detection by people, recurring gaps, alerts late more than once and the
kinds of change ranked first are counted as the files say; md, json and html agree."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import statistics
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from dossier.cli import cli
from dossier.errors import ExitCode
from dossier.exporters.json import JsonExporter
from dossier.model import Cause, DetectionGap, Dossier, Milestones, parse_time
from dossier.report import NO_SERVICE, PERCENTILE_METHOD
from dossier.units import fmt_duration
from tests.exporters.builders import DEPLOY, FIRING, FLAG, ONSET, ROLLBACK, T0, checkout_dossier

MEASURES = ("time_to_detect", "time_to_acknowledge", "time_to_mitigate", "time_to_recover", "time_to_resolve")
SERVICES = (("checkout",), ("payments",), ("checkout", "payments"), ("inventory",), ())


def make(n: int, rng: random.Random) -> Dossier:
    """One incident: its own id, services, month and times; some milestones unknown; detected by an
    alert or by people; its late alert told by its firing evidence or by the alert review; its top
    cause a deploy, a flag, a rollback, or none."""
    base = checkout_dossier()
    began = T0 + timedelta(days=rng.randrange(0, 120), minutes=rng.randrange(0, 600))
    minutes = sorted(rng.uniform(0.5, 240) for _ in range(5))

    def maybe(i: int, p: float = 0.15):  # type: ignore[no-untyped-def]
        return None if rng.random() < p else began + timedelta(minutes=minutes[i])

    milestones = Milestones(
        started=began,
        detected=maybe(0, 0.05),
        acknowledged=maybe(1),
        mitigated=maybe(2),
        recovered=maybe(3),
        resolved=maybe(4, 0.05),
    )
    gaps: list[DetectionGap] = []
    late, unalerted, blind, source = base.detection_gaps
    style = rng.random()
    if style < 0.35:  # late, told by its firing event (HighErrorRate of checkout)
        gaps.append(late)
    elif style < 0.55:  # late, told by the review: the alert of its service that fired at the gap's end
        gaps.append(dataclasses.replace(late, evidence=(ONSET.id,), end=base.alert_review[0].fired_at))
    elif style < 0.7:
        gaps.append(DetectionGap("human_detected", "checkout", None, began, began, "people declared it first"))
    if rng.random() < 0.5:
        gaps.append(blind)
    if rng.random() < 0.3:
        gaps.append(unalerted)
    if rng.random() < 0.1:
        gaps.append(source)
    top = rng.choice([DEPLOY, FLAG, ROLLBACK, None])
    causes = () if top is None else (Cause(1, top.id, 0.8, ("a reason",)), Cause(2, DEPLOY.id, 0.1, ("another",)))
    incident = dataclasses.replace(
        base.incident,
        id=f"INC-{n:03d}",
        start=began - timedelta(minutes=10),
        end=began + timedelta(hours=5),
        services=rng.choice(SERVICES),
        declared_at=None,
        resolved_at=None,
    )
    return dataclasses.replace(
        base,
        incident=incident,
        milestones=milestones,
        detection_gaps=tuple(gaps),
        candidate_causes=causes,
        notes=(),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(20261120)
    out = tmp_path_factory.mktemp("dossiers")
    for n in range(80):
        d = make(n, rng)
        (out / d.incident.id).mkdir()
        JsonExporter().write(d, out / d.incident.id)
    return out


def files(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/dossier.json"))]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["report", *args])
    return result.exit_code, result.stdout, result.stderr


def began(d: dict) -> str:
    return d["milestones"]["started"] or d["incident"]["start"]


def expected(drafts: list[dict], key: str) -> dict:
    """Median and 90th percentile computed here, with the standard library ("inclusive" quantiles
    interpolate between the closest ranks, as numpy's linear method does)."""
    values = [d["durations"][key] for d in drafts if d["durations"][key] is not None]
    if not values:
        return {"count": 0, "median": None, "p90": None}
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]
    return {"count": len(values), "median": statistics.median(values), "p90": p90}


def same(actual: dict, wanted: dict) -> None:
    assert actual["count"] == wanted["count"]
    for stat in ("median", "p90"):
        if wanted[stat] is None:
            assert actual[stat] is None
        else:
            assert actual[stat] == pytest.approx(wanted[stat], rel=1e-12, abs=1e-9), stat


def test_percentiles_equal_those_computed_from_the_files(folder: Path) -> None:
    code, out, err = run(str(folder), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    drafts = files(folder)
    assert report["incidents"] == len(drafts) == 80
    assert report["percentile_method"] == PERCENTILE_METHOD and "linear" in PERCENTILE_METHOD
    for key in MEASURES:
        same(report["durations"][key], expected(drafts, key))
    services = {s for d in drafts for s in (d["incident"]["services"] or [NO_SERVICE])}
    assert set(report["per_service"]) == services
    for service, group in report["per_service"].items():
        mine = [d for d in drafts if service in (d["incident"]["services"] or [NO_SERVICE])]
        assert group["incidents"] == len(mine)
        for key in MEASURES:
            same(group["durations"][key], expected(mine, key))
    months = {began(d)[:7] for d in drafts}
    assert set(report["per_month"]) == months and len(months) >= 4
    for month, group in report["per_month"].items():
        mine = [d for d in drafts if began(d).startswith(month)]
        for key in MEASURES:
            same(group["durations"][key], expected(mine, key))
    # unknown durations are left out, not counted as zero
    assert report["durations"]["time_to_acknowledge"]["count"] < 80


def test_detection_gaps_late_alerts_and_causes_are_counted_as_the_files_say(folder: Path) -> None:
    report = json.loads(run(str(folder), "--format", "json")[1])
    drafts = files(folder)
    people = [d for d in drafts if any(g["kind"] == "human_detected" for g in d["detection_gaps"])]
    by_alert = [d for d in drafts if d not in people and d["milestones"]["detected"]]
    det = report["detection"]["all"]
    assert (det["people"], det["alert"]) == (len(people), len(by_alert))
    assert det["people_share"] == pytest.approx(len(people) / (len(people) + len(by_alert)))
    kinds = {g["kind"]: g for g in report["gaps"]["by_kind"]}
    blind = [d for d in drafts if any(g["kind"] == "blind_spot" for g in d["detection_gaps"])]
    assert kinds["blind_spot"]["incidents"] == len(blind)
    assert {"kind": "blind_spot", "service": "payments"} in [
        {k: g[k] for k in ("kind", "service")} for g in report["gaps"]["recurring"]
    ]
    # HighErrorRate of checkout: late in every incident with a late_alert gap, whichever way it is told
    late = sorted(d["incident"]["id"] for d in drafts if any(g["kind"] == "late_alert" for g in d["detection_gaps"]))
    told_by_review = [
        d for d in drafts for g in d["detection_gaps"] if g["kind"] == "late_alert" and g["evidence"] == [ONSET.id]
    ]
    assert told_by_review and len(told_by_review) < len(late)
    assert report["late_alerts"] == [
        {
            "alert": "HighErrorRate",
            "service": "checkout",
            "incidents": len(late),
            "ids": late,
            "late_by": report["late_alerts"][0]["late_by"],
        }
    ]
    assert report["late_alerts"][0]["late_by"]["median"] == 360.0  # the builders' late alert: 6m
    kinds_first = {k["kind"]: k["incidents"] for k in report["top_causes"]["by_kind"]}
    titles = {DEPLOY.id: "deploy", FLAG.id: "feature_flag", ROLLBACK.id: "rollback"}
    counted: dict[str, int] = {}
    for d in drafts:
        if d["candidate_causes"]:
            kind = titles[d["candidate_causes"][0]["evidence"]]
            counted[kind] = counted.get(kind, 0) + 1
    assert kinds_first == counted
    assert report["top_causes"]["incidents_without"] == sum(1 for d in drafts if not d["candidate_causes"])
    assert FIRING.id  # the firing evidence the late gaps carry


def test_since_keeps_the_incidents_that_began_at_or_after_it(folder: Path) -> None:
    drafts = files(folder)
    cut = sorted(began(d) for d in drafts)[50]
    report = json.loads(run(str(folder), "--format", "json", "--since", cut)[1])
    kept = [d for d in drafts if parse_time(began(d)) >= parse_time(cut)]
    assert report["incidents"] == len(kept) and report["left_out_before_since"] == 80 - len(kept)
    same(report["durations"]["time_to_recover"], expected(kept, "time_to_recover"))
    code, _, err = run(str(folder), "--since", "2026-12-01T10:00:00")
    assert code == ExitCode.CONFIG and "--since" in err and len(err.strip().splitlines()) == 1


def test_markdown_and_html_say_the_same_numbers(folder: Path) -> None:
    report = json.loads(run(str(folder), "--format", "json")[1])
    code, md, _ = run(str(folder))
    assert code == 0 and md.startswith("# What 80 incidents teach\n")
    ttd = report["durations"]["time_to_detect"]
    row = next(line for line in md.splitlines() if line.startswith("| Detect |"))
    assert row.startswith(f"| Detect | {ttd['count']} | {fmt_duration(ttd['median'])} | {fmt_duration(ttd['p90'])} |")
    assert "Percentiles: numpy's default percentile method" in md
    for title in ("Per service", "Per month", "How incidents were detected", "Alerts late more than once"):
        assert f"\n## {title}\n" in md
    code, html, _ = run(str(folder), "--format", "html")
    assert code == 0 and "<script" not in html and "src=" not in html
    bars = re.findall(r'data-measure="time_to_recover".*?</svg>', html, re.S)
    assert bars
    medians = dict(re.findall(r'data-stat="median" data-month="([^"]+)" data-value="([^"]+)"', bars[0]))
    for month, group in report["per_month"].items():
        wanted = group["durations"]["time_to_recover"]["median"]
        if wanted is not None:
            assert float(medians[month]) == pytest.approx(wanted)
    assert 'data-measure="detected_by"' in html and "90th percentile" in html


def test_a_bad_file_is_named_and_the_others_still_counted(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "d"
    for p in sorted(folder.glob("*/dossier.json"))[:5]:
        (copy / p.parent.name).mkdir(parents=True)
        (copy / p.parent.name / "dossier.json").write_bytes(p.read_bytes())
    (copy / "broken").mkdir()
    (copy / "broken" / "dossier.json").write_text('{"schema": "dossier/v1", "incident"')
    (copy / "other").mkdir()
    (copy / "other" / "dossier.json").write_text('{"schema": "dossier/v9"}')
    out = tmp_path / "r.json"
    code, _, err = run(str(copy), "--format", "json", "--out", str(out))
    assert code == ExitCode.PARTIAL
    report = json.loads(out.read_text())
    assert report["incidents"] == 5 and len(report["skipped"]) == 2
    assert "broken/dossier.json: not readable as JSON" in err and "schema is 'dossier/v9'" in err
    code, _, err = run(str(tmp_path / "nowhere"))
    assert code == ExitCode.CONFIG and len(err.strip().splitlines()) == 1 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(str(tmp_path / "empty"))
    assert code == ExitCode.CONFIG and "no dossier.json under this folder" in err
