"""How true is the whole draft? Synthetic incidents with known truth, through a real Prometheus.

Each scenario is `tests.harness.synth.checkout_incident` with its own noise (seed), rule
evaluation phase and fault time, loaded into a fresh local Prometheus (Debian package) and
collected with `dossier.jobs.collect` exactly as `dossier collect` does. Every claim the draft
makes that the truth can check is scored:

* started: |onset - fault| (s); detected: == the first firing (s); recovered: |recovered - truth| (s)
* late alerts: the services flagged equal the services whose first alert fired more than
  `late_alert_after` after that service's true onset;
* unalerted signals: exactly payments latency (the one signal no rule reads);
* blind spot: the unscraped instance, named, within one scrape interval of the truth;
* phantom onsets: anomaly starts on a signal the truth says did not move, or a second start
  on one that moved once;
* cause: the culprit deploy ranks first;
* delays: every alert's delays add up to fired - onset.

    python bench/draft_truth.py                  # 12 scenarios
    python bench/draft_truth.py --scenarios 4
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dossier import jobs
from dossier.config import load_config
from dossier.incident import load_incident
from dossier.model import parse_time
from tests.harness.prometheus import LocalPrometheus
from tests.harness.synth import ERROR_RATE_QUERY, LATENCY_QUERY, checkout_incident

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LATE_AFTER = 300.0


def at(text: str | None) -> float | None:
    return None if text is None else parse_time(text).timestamp()


def scenarios(n: int) -> list[tuple[int, float, int]]:
    """(seed, evaluation phase in s, fault minutes after the window start), spread evenly."""
    return [(100 + i, float((i * 7) % 15), 2 + (i * 11) % 45) for i in range(n)]


def run_one(seed: int, eval_offset: float, fault_min: int, work: Path) -> dict:
    sc = checkout_incident(START, seed, eval_offset=eval_offset, fault_after=timedelta(minutes=fault_min))
    truth = sc.truth
    (work / "changes.jsonl").write_text("".join(json.dumps(c) + "\n" for c in sc.changes))
    with LocalPrometheus(sc.openmetrics, sc.rules_yaml) as prom:
        config = {
            "collectors": {
                "prometheus/bench": {
                    "url": prom.url,
                    "signals": [
                        {"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"},
                        {"name": "latency", "query": LATENCY_QUERY, "direction": "up"},
                    ],
                },
                "deploy_file/changes": {"path": "changes.jsonl"},
            },
            "services": {"checkout": {"depends_on": ["payments"]}, "payments": {}, "inventory": {}},
            "correlate": {"baseline": "1h", "late_alert_after": "5m", "cause_lookback": "2h"},
            "output": {"dir": "out", "formats": ["json"]},
        }
        (work / "dossier.yaml").write_text(yaml.safe_dump(config))
        (work / "incident.yaml").write_text(yaml.safe_dump(dict(truth.incident)))
        outcome = jobs.collect(load_config(work / "dossier.yaml"), load_incident(work / "incident.yaml"), work / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    m = data["milestones"]
    gaps = data["detection_gaps"]
    moved = {(s.service, s.signal): s.onset_at for s in truth.signals}
    starts: dict[tuple, int] = {}
    for e in data["timeline"]:
        if e["kind"] == "anomaly_start" and e["phase"] != "context":
            key = (e["service"], e["attrs"]["signal"])
            starts[key] = starts.get(key, 0) + 1
    phantoms = sum(n for k, n in starts.items() if k not in moved) + sum(max(0, n - 1) for n in starts.values())
    expected_late = set()
    for alert in truth.alerts.values():
        service = alert.labels.get("service")
        fired = [ep.fired_at for ep in alert.episodes if ep.fired_at is not None]
        if service and fired and (service, "error_rate") in moved:
            if min(fired) - moved[(service, "error_rate")] > LATE_AFTER:
                expected_late.add(service)
    flagged_late = {g["service"] for g in gaps if g["kind"] == "late_alert"}
    unalerted = {(g["service"], g["signal"]) for g in gaps if g["kind"] == "unalerted_signal"}
    blind = [g for g in gaps if g["kind"] == "blind_spot"]
    gap = truth.scrape_gaps[0]
    blind_ok = len(blind) == 1 and blind[0]["target"] == gap.instance
    blind_ok = blind_ok and abs(at(blind[0]["start"]) - gap.start) <= truth.scrape_interval
    events = {e["id"]: e for e in data["timeline"]}
    causes = data["candidate_causes"]
    culprit = bool(causes) and events[causes[0]["evidence"]]["attrs"].get("id") == truth.culprit_change_id
    sums = all(
        abs(
            sum(r["delays"][k] or 0.0 for k in ("threshold", "evaluation", "for"))
            - (at(r["fired_at"]) - at(r["onset"]))
        )
        < 0.01
        for r in data["alert_review"]
        if r["fired_at"] and r["onset"]
    )
    return {
        "scenario": f"seed {seed}, eval +{eval_offset:g}s, fault +{fault_min}m",
        "started_err": None if m["started"] is None else abs(at(m["started"]) - truth.fault_at),
        "detected_err": None if m["detected"] is None else abs(at(m["detected"]) - truth.detected_at),
        "recovered_err": None if m["recovered"] is None else abs(at(m["recovered"]) - truth.recovered_at),
        "late_ok": flagged_late == expected_late,
        "unalerted_ok": unalerted == {("payments", "latency")},
        "blind_ok": blind_ok,
        "phantoms": phantoms,
        "culprit_first": culprit,
        "delays_sum": sums,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "draft_truth.md")
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    for seed, offset, fault in scenarios(args.scenarios):
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(run_one(seed, offset, fault, Path(tmp)))
        print(rows[-1], file=sys.stderr)

    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.0f}"

    def share(key: str) -> str:
        return f"{sum(1 for r in rows if r[key])}/{len(rows)}"

    errs = {k: sorted(r[k] for r in rows if r[k] is not None) for k in ("started_err", "detected_err", "recovered_err")}
    started = errs["started_err"]
    median_started = fmt(started[len(started) // 2] if started else None)
    lines = [
        "# Truth of the draft on synthetic incidents (real Prometheus)",
        "",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.python_version()}; "
        f"{len(rows)} scenarios in {time.perf_counter() - t0:.0f} s. Command: `python bench/draft_truth.py`.",
        "",
        "| claim | result |",
        "|---|---|",
        f"| started within 120 s of the fault | {sum(1 for e in errs['started_err'] if e <= 120)}/{len(rows)} "
        f"(median error {median_started} s) |",
        f"| detected = the first firing (within 1 s) | {sum(1 for e in errs['detected_err'] if e <= 1)}/{len(rows)} |",
        f"| recovered within 180 s of the truth | {sum(1 for e in errs['recovered_err'] if e <= 180)}/{len(rows)} |",
        f"| late alerts flagged for exactly the late services | {share('late_ok')} |",
        f"| unalerted signal = payments latency only | {share('unalerted_ok')} |",
        f"| blind spot names the unscraped instance | {share('blind_ok')} |",
        f"| culprit ranked first | {share('culprit_first')} |",
        f"| alert delays add up | {share('delays_sum')} |",
        f"| phantom onsets (total) | {sum(r['phantoms'] for r in rows)} |",
        "",
        "| scenario | started err (s) | detected err (s) | recovered err (s) | late | unalerted | blind | "
        "phantoms | culprit | sums |",
        "|---|---:|---:|---:|---|---|---|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {fmt(r['started_err'])} | {fmt(r['detected_err'])} | {fmt(r['recovered_err'])} | "
            f"{'ok' if r['late_ok'] else 'WRONG'} | {'ok' if r['unalerted_ok'] else 'WRONG'} | "
            f"{'ok' if r['blind_ok'] else 'WRONG'} | {r['phantoms']} | {'ok' if r['culprit_first'] else 'WRONG'} | "
            f"{'ok' if r['delays_sum'] else 'WRONG'} |"
        )
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
