"""A stand-in PagerDuty REST API v2 (stdlib only) for the `pagerduty` collector's tests and demo.

It answers the requests the collector makes the way the documented API does
(https://developer.pagerduty.com/api-reference/):

    GET /abilities                              {"abilities": [...]}
    GET /incidents?since&until&statuses[]&service_ids[]&sort_by&limit&offset&time_zone
                                                {"incidents": [...], "limit", "offset", "more", "total": null}
    GET /incidents/{id}/log_entries?is_overview&limit&offset&time_zone
                                                {"log_entries": [...], "limit", "offset", "more", "total": null}

`Authorization: Token token=<key>` (otherwise 401 with PagerDuty's error object), classic pagination
(`limit` at most 100, `offset + limit` at most 10,000, else 400 "Invalid Input Provided"), incidents
filtered by creation time, status and service, and log entries whose server-made `summary` names
people ("Notified Alice Ng by SMS"), as PagerDuty's do. Faults on demand: `inject(429, headers=...)`.

    with PagerDuty() as pd:
        pd.add(incident(2041, "[FIRING:1] PaymentsHighErrorRate payments", "payments-prod",
                        "2026-11-20T10:08:40Z", entries=[log_entry("trigger", "2026-11-20T10:08:40Z"), ...]))

Run it alone with `python tests/standins/pagerduty.py [--port 8080]` to serve a small demo.
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

try:
    from tests.standins._base import StandIn
except ImportError:  # run as a script
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.standins._base import StandIn

DEFAULT_TOKEN = "u+Xq3bXzt9rN7kVDs2LM"
MAX_LIMIT = 100
MAX_OFFSET = 10_000
WEB = "https://acme.pagerduty.com"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def user(uid: str, name: str) -> dict[str, Any]:
    return {
        "id": uid,
        "type": "user_reference",
        "summary": name,
        "self": f"https://api.pagerduty.com/users/{uid}",
        "html_url": f"{WEB}/users/{uid}",
    }


def service(sid: str, name: str) -> dict[str, Any]:
    return {
        "id": sid,
        "type": "service_reference",
        "summary": name,
        "self": f"https://api.pagerduty.com/services/{sid}",
        "html_url": f"{WEB}/service-directory/{sid}",
    }


_SEQ = [0]


def log_entry(
    what: str,
    at: str,
    *,
    agent: Mapping[str, Any] | None = None,
    user_ref: Mapping[str, Any] | None = None,
    channel: str | None = None,
    assignees: Sequence[Mapping[str, Any]] = (),
    entry_id: str | None = None,
) -> dict[str, Any]:
    """A log entry: `what` is trigger, notify, acknowledge, escalate, assign, resolve or annotate."""
    _SEQ[0] += 1
    eid = entry_id or f"R{_SEQ[0]:012d}"
    entry: dict[str, Any] = {
        "id": eid,
        "type": f"{what}_log_entry",
        "self": f"https://api.pagerduty.com/log_entries/{eid}",
        "html_url": None,
        "created_at": at,
        "agent": dict(agent) if agent else None,
        "channel": {"type": channel or ("api" if what == "trigger" else "auto")},
        "contexts": [],
        "teams": [],
    }
    who = (user_ref or agent or {}).get("summary", "PagerDuty")
    if what == "notify":
        entry["user"] = dict(user_ref or {})
        entry["summary"] = f"Notified {who} by {channel or 'email'}."
    elif what == "acknowledge":
        entry["summary"] = f"Acknowledged by {who}."
        entry["acknowledgement_timeout"] = 1800
    elif what in ("escalate", "assign"):
        entry["assignees"] = [dict(a) for a in assignees]
        names = ", ".join(a["summary"] for a in assignees)
        entry["summary"] = f"{'Escalated' if what == 'escalate' else 'Reassigned'} to {names}."
    elif what == "resolve":
        entry["summary"] = f"Resolved by {who}."
    elif what == "trigger":
        entry["summary"] = "Triggered through the API."
        entry["event_details"] = {"description": "[FIRING:1] alert"}
    else:
        entry["summary"] = f"Note added by {who}."
    return entry


def incident(
    number: int,
    title: str,
    service_name: str,
    created_at: str,
    *,
    status: str = "resolved",
    service_id: str | None = None,
    entries: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    iid = f"Q{number:07d}X"
    svc = service(service_id or f"P{zlib.crc32(service_name.encode()) % 10**6:06d}", service_name)
    ref = {
        "id": iid,
        "type": "incident_reference",
        "summary": f"[#{number}] {title}",
        "self": f"https://api.pagerduty.com/incidents/{iid}",
        "html_url": f"{WEB}/incidents/{iid}",
    }
    full = {
        **ref,
        "type": "incident",
        "incident_number": number,
        "title": title,
        "created_at": created_at,
        "status": status,
        "urgency": "high",
        "service": svc,
        "incident_key": f"key-{number}",
        "last_status_change_at": created_at,
        "assignments": [],
        "escalation_policy": {"id": "PESC001", "type": "escalation_policy_reference", "summary": "Payments"},
    }
    logged = []
    for e in entries:
        entry = dict(e)
        entry["incident"] = ref
        entry["service"] = svc
        entry["html_url"] = f"{WEB}/incidents/{iid}/log_entries/{entry['id']}"
        logged.append(entry)
    full["_log_entries"] = logged
    return full


def _error(status: int, message: str, code: int, errors: Sequence[str] = ()) -> tuple[int, dict, Any]:
    return status, {}, {"error": {"message": message, "code": code, "errors": list(errors)}}


@dataclass
class PagerDuty(StandIn):
    """The stand-in; a context manager that serves on 127.0.0.1 on a free port."""

    tokens: set[str] = field(default_factory=lambda: {DEFAULT_TOKEN})
    incidents: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0  # seconds before each answer

    name = "pagerduty"

    def add(self, *items: dict[str, Any]) -> PagerDuty:
        self.incidents.extend(items)
        return self

    def answer(self, method, path, query, headers, body):
        if self.delay:
            time.sleep(self.delay)
        auth = headers.get("authorization", "")
        if not auth.startswith("Token token=") or auth.removeprefix("Token token=") not in self.tokens:
            return _error(401, "Unauthorized", 2006)
        if method != "GET":
            return _error(405, "Method Not Allowed", 2010)
        try:
            limit = int((query.get("limit") or ["25"])[0])
            offset = int((query.get("offset") or ["0"])[0])
        except ValueError:
            return _error(400, "Invalid Input Provided", 2001, ["Limit and offset must be integers."])
        if limit > MAX_LIMIT or limit < 1 or offset < 0:
            return _error(400, "Invalid Input Provided", 2001, [f"Limit must be between 1 and {MAX_LIMIT}."])
        if offset + limit > MAX_OFFSET:
            return _error(400, "Invalid Input Provided", 2001, [f"Offset must be less than {MAX_OFFSET}."])
        if path == "/abilities":
            return 200, {}, {"abilities": ["teams", "read_only_users", "urgencies"]}
        if path == "/incidents":
            return self._incidents(query, limit, offset)
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "log_entries":
            found = next((i for i in self.incidents if i["id"] == parts[1]), None)
            if found is None:
                return _error(404, "Not Found", 2100)
            return 200, {}, _page("log_entries", found["_log_entries"], limit, offset)
        return _error(404, "Not Found", 2100)

    def _incidents(self, query: dict[str, list[str]], limit: int, offset: int) -> tuple[int, dict, Any]:
        since = query.get("since", [None])[0]
        until = query.get("until", [None])[0]
        statuses = set(query.get("statuses[]", [])) or {"triggered", "acknowledged"}
        services = set(query.get("service_ids[]", []))
        found = [
            i
            for i in self.incidents
            if i["status"] in statuses
            and (not services or i["service"]["id"] in services)
            and (since is None or _time(i["created_at"]) >= _time(since))
            and (until is None or _time(i["created_at"]) <= _time(until))
        ]
        found.sort(key=lambda i: i["created_at"], reverse=query.get("sort_by", [""])[0].endswith(":desc"))
        shown = [{k: v for k, v in i.items() if not k.startswith("_")} for i in found]
        return 200, {}, _page("incidents", shown, limit, offset)


def _page(key: str, items: Sequence[Any], limit: int, offset: int) -> dict[str, Any]:
    chunk = list(items[offset : offset + limit])
    return {key: chunk, "limit": limit, "offset": offset, "more": offset + limit < len(items), "total": None}


def demo() -> PagerDuty:
    alice, bob = user("PUSR001", "Alice Ng"), user("PUSR002", "Bob Ortiz")
    return PagerDuty().add(
        incident(
            2041,
            "[FIRING:1] PaymentsHighErrorRate payments (page)",
            "payments-prod",
            "2026-11-20T10:08:40Z",
            entries=[
                log_entry("trigger", "2026-11-20T10:08:40Z"),
                log_entry("notify", "2026-11-20T10:08:45Z", user_ref=alice, channel="sms"),
                log_entry("acknowledge", "2026-11-20T10:11:02Z", agent=alice, channel="mobile"),
                log_entry("escalate", "2026-11-20T10:20:00Z", assignees=[bob]),
                log_entry("resolve", "2026-11-20T10:58:30Z", agent=alice, channel="web"),
            ],
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="serve a stand-in PagerDuty REST API with one sample incident")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    pd = demo().start(args.port)
    print(f"PagerDuty stand-in at {pd.url} (token {DEFAULT_TOKEN!r}); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        pd.stop()


if __name__ == "__main__":
    main()
