"""The demo: load config/demo/'s sample incident into a local Prometheus and draft it.

    python -m deploy.demo.demo              # what `bash deploy/demo/run.sh` runs
    python -m deploy.demo.demo --regenerate # rewrite config/demo/ from tests.harness.synth

The sample (INC-2041, 2026-11-20): a bad payments deploy breaks payments and, downstream,
checkout; a later checkout deploy is innocent; the payments alert is late (`for: 5m`); nothing
alerts on payments latency; payments-1 cannot be scraped for five minutes; payments logs an error
never seen before; checkout's logs stop reaching the log store for six minutes; a rollback fixes it.

And the people: PagerDuty pages the payments on-call 10 s after the payments alert fires (an export of
its log entries, `pagerduty.json`), who acknowledges before the incident is declared in Slack; the
incident channel (a workspace export, `slack-export/`) declares it, pins the dashboard, announces the
rollback, says it is mitigated and resolves it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.harness.prometheus import LocalPrometheus
from tests.harness.synth import checkout_incident, checkout_logs

DEMO_DIR = Path(__file__).resolve().parents[2] / "config" / "demo"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
URL_VARIABLE = "DOSSIER_DEMO_PROMETHEUS_URL"


def regenerate(folder: Path = DEMO_DIR) -> list[Path]:
    """Write the sample incident's data files (deterministic: the same bytes every time)."""
    openmetrics, rules, truth, changes = checkout_incident(START)
    logs = checkout_logs(truth)
    incident = dict(truth.incident)
    files = {
        "logs_truth.json": json.dumps(logs.truth.to_dict(), indent=2, sort_keys=True) + "\n",
        "metrics.om": openmetrics,
        "rules.yml": rules,
        "changes.jsonl": "".join(json.dumps(c, sort_keys=True) + "\n" for c in changes),
        "incident.yaml": yaml.safe_dump(incident, sort_keys=False),
        "truth.json": json.dumps(truth.to_dict(), indent=2, sort_keys=True) + "\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    with (folder / "logs.jsonl.gz").open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(logs.text.encode())  # mtime 0: the same bytes every time
    return [*(folder / n for n in files), folder / "logs.jsonl.gz", *write_people(truth.to_dict(), folder)]


# ---- the people: pages (a PagerDuty export) and the incident channel (a Slack export) -------------

PD_WEB = "https://acme.pagerduty.com"
_PEOPLE = {  # PagerDuty user id, Slack user id, name: the names stay out of the draft
    "alice": ("PUSR0A1", "U01ALICE", "Alice Ng", "alice.ng"),
    "bob": ("PUSR0B2", "U02BOB", "Bob Ortiz", "bob.ortiz"),
    "carol": ("PUSR0C3", "U03CAROL", "Carol Ibe", "carol.ibe"),
}


def _at(text: str, seconds: float = 0.0) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(seconds=seconds)


def _z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pagerduty_entries(truth: dict[str, Any]) -> list[dict[str, Any]]:
    """The log entries of two PagerDuty incidents, as GET /log_entries?include[]=incidents returns
    them: the payments alert pages Alice 10 s after it fires, she acknowledges in 2.5 min, then
    escalates to Bob; the checkout alert pages Carol; both are resolved by the people."""
    out: list[dict[str, Any]] = []
    alerts = truth["alerts"]
    resolved = _at(truth["incident"]["resolved_at"], -60)

    def user(key: str) -> dict[str, Any]:
        uid, _, name, _ = _PEOPLE[key]
        return {"id": uid, "type": "user_reference", "summary": name, "html_url": f"{PD_WEB}/users/{uid}"}

    def incident(number: int, alert: str, service: str, sid: str, steps: list[tuple[str, float, dict]]) -> None:
        iid = f"Q0DEMO{number}"
        fired = _at(alerts[alert]["fired_at"])
        ref = {
            "id": iid,
            "type": "incident_reference",
            "summary": f"[#{number}] [FIRING:1] {alert} {service} (page {service})",
            "html_url": f"{PD_WEB}/incidents/{iid}",
        }
        svc = {"id": sid, "type": "service_reference", "summary": f"{service}-prod"}
        for n, (what, after, extra) in enumerate(steps, 1):
            at = fired + timedelta(seconds=after) if after >= 0 else resolved
            eid = f"R0DEMO{number}{n:02d}"
            out.append(
                {
                    "id": eid,
                    "type": f"{what}_log_entry",
                    "created_at": _z(at),
                    "html_url": f"{PD_WEB}/incidents/{iid}/log_entries/{eid}",
                    "incident": ref,
                    "service": svc,
                    "channel": {"type": extra.pop("channel", "auto")},
                    **extra,
                }
            )

    incident(
        2041,
        "PaymentsHighErrorRate",
        "payments",
        "PSVCPAY",
        [
            ("trigger", 10, {"channel": "api", "agent": {"type": "service_reference", "summary": "payments-prod"}}),
            ("notify", 15, {"channel": "sms", "user": user("alice"), "summary": "Notified Alice Ng by SMS."}),
            ("notify", 16, {"channel": "push_notification", "user": user("alice")}),
            ("acknowledge", 155, {"channel": "mobile", "agent": user("alice"), "summary": "Acknowledged by Alice Ng."}),
            ("escalate", 600, {"assignees": [user("bob")], "summary": "Escalated to Bob Ortiz."}),
            ("resolve", -1, {"channel": "web", "agent": user("alice")}),
        ],
    )
    incident(
        2042,
        "CheckoutHighErrorRate",
        "checkout",
        "PSVCCHK",
        [
            ("trigger", 10, {"channel": "api", "agent": {"type": "service_reference", "summary": "checkout-prod"}}),
            ("notify", 14, {"channel": "phone", "user": user("carol")}),
            ("acknowledge", 200, {"channel": "mobile", "agent": user("carol")}),
            ("resolve", -1, {"channel": "web", "agent": user("carol")}),
        ],
    )
    out.sort(key=lambda e: (e["created_at"], e["id"]))
    return out


def slack_messages(truth: dict[str, Any], rollback_at: datetime) -> list[dict[str, Any]]:
    """The incident channel's messages of the day (a Slack export's day file)."""
    declared = _at(truth["incident"]["declared_at"])
    resolved = _at(truth["incident"]["resolved_at"])
    recovered = _at(truth["recovered_at"])
    said = [
        (
            "alice",
            declared,
            "Declaring SEV2: checkout returns 500s, payments errors since ~10:02. <@U02BOB> <@U03CAROL>",
        ),
        (
            "alice",
            declared + timedelta(seconds=40),
            "payments dashboard: <https://grafana.example.com/d/payments|payments>",
        ),
        ("bob", declared + timedelta(minutes=8), "payments v2.14.0 went out at 09:59, looking at the PSP client"),
        ("carol", declared + timedelta(minutes=12), "checkout only fails on calls to payments"),
        ("bob", rollback_at - timedelta(minutes=2), "rolling back payments to v2.13.2"),
        ("bob", recovered + timedelta(minutes=1), "error rates back to baseline, mitigated"),
        ("alice", resolved, "All clear: resolving INC-2041. Postmortem owner <@U02BOB>"),
    ]
    out = []
    for n, (who, at, text) in enumerate(said):
        uid, name = _PEOPLE[who][1], _PEOPLE[who][2]
        m: dict[str, Any] = {
            "type": "message",
            "ts": f"{at.timestamp():.6f}",
            "user": uid,
            "text": text,
            "user_profile": {"display_name": name, "real_name": name, "name": _PEOPLE[who][3]},
        }
        if n == 1:
            m["pinned_to"] = ["C0INC2041"]
        out.append(m)
    out.insert(
        0,
        {
            "type": "message",
            "subtype": "channel_join",
            "ts": f"{(declared - timedelta(seconds=5)).timestamp():.6f}",
            "user": "U01ALICE",
            "text": "<@U01ALICE> has joined the channel",
        },
    )
    return out


def write_people(truth: dict[str, Any], folder: Path = DEMO_DIR) -> list[Path]:
    """Write pagerduty.json and slack-export/ for the sample incident (the same bytes every time)."""
    changes = [json.loads(line) for line in (folder / "changes.jsonl").read_text().splitlines() if line.strip()]
    rollback_at = min(_at(c["at"]) for c in changes if c["kind"] == "rollback")
    pd = folder / "pagerduty.json"
    body = {"log_entries": pagerduty_entries(truth), "limit": 100, "offset": 0, "more": False, "total": None}
    pd.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    export = folder / "slack-export"
    (export / "inc-2041").mkdir(parents=True, exist_ok=True)
    channels = [
        {
            "id": "C0INC2041",
            "name": "inc-2041",
            "created": 1763633400,
            "is_archived": False,
            "members": sorted(p[1] for p in _PEOPLE.values()),
            "pins": [{"id": "", "type": "C", "created": 1763633560, "user": "U01ALICE"}],
        }
    ]
    users = [
        {"id": p[1], "name": p[3], "real_name": p[2], "profile": {"display_name": p[2], "real_name": p[2]}}
        for p in _PEOPLE.values()
    ]
    day = _at(truth["incident"]["start"]).date().isoformat()
    files = {
        export / "channels.json": channels,
        export / "users.json": users,
        export / "inc-2041" / f"{day}.json": slack_messages(truth, rollback_at),
    }
    for path, data in files.items():
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return [pd, *files]


def run(out: Path, folder: Path = DEMO_DIR) -> int:
    from click.testing import CliRunner  # the real CLI, in-process, with its exit code

    from dossier.cli import cli

    with LocalPrometheus(folder / "metrics.om", folder / "rules.yml") as prom:
        print(f"prometheus: {prom.url} (sample incident loaded from {folder / 'metrics.om'})", file=sys.stderr)
        args = ["collect", "--config", str(folder / "dossier.yaml"), "--incident", str(folder / "incident.yaml")]
        result = CliRunner().invoke(
            cli, [*args, "--out", str(out)], env={**os.environ, URL_VARIABLE: prom.url}, catch_exceptions=False
        )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.exit_code in (0, 1):
        draft = out / "INC-2041" / "draft.md"
        print(f"\nthe draft: {draft}\nthe evidence: {draft.parent / 'evidence'}")
    return result.exit_code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regenerate", action="store_true", help="rewrite config/demo/ data from the generator")
    ap.add_argument("--out", type=Path, default=Path("dossiers"), help="output folder (default ./dossiers)")
    args = ap.parse_args()
    if args.regenerate:
        for path in regenerate():
            print(path)
        return
    sys.exit(run(args.out))


if __name__ == "__main__":
    main()
