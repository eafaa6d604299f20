"""A stand-in Opsgenie Alert API (stdlib only) for the `opsgenie` collector's tests.

It answers the requests the collector makes as https://docs.opsgenie.com/docs/alert-api documents:

    GET /v2/alerts?query=&sort=&order=&limit=&offset=       {"data": [...], "paging": {"first", "next"?,
                                                              "last"}, "took", "requestId"}
    GET /v2/alerts/{id}/logs?identifierType=id&offset=&direction=next&limit=&order=asc
                                                             {"data": [{log, type, owner, createdAt, offset}],
                                                              "paging": {"next"?, "first"}, "took", "requestId"}

`Authorization: GenieKey <key>` (else 401 "Could not authenticate"), `limit` at most 100, alerts only
up to `offset + limit` = 20,000 (else 422), the search terms the collector sends (`createdAt>=<ms>`,
`createdAt<=<ms>`, `tag:<t>`, `status:<s>`, ANDed, in parentheses or not); any other term is 422
"Invalid query". Log lines are paged by the `offset` token of the last line read. Faults on demand:
`inject(429, headers={"X-RateLimit-State": "THROTTLED"})`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

try:
    from tests.standins._base import StandIn
except ImportError:  # run as a script
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.standins._base import StandIn

DEFAULT_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
MAX_LIMIT = 100
MAX_OFFSET = 20_000


def ms(at: str) -> int:
    return int(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000)


def alert(
    tiny: int,
    message: str,
    created_at: str,
    *,
    tags: Sequence[str] = (),
    entity: str | None = None,
    status: str = "closed",
    logs: Sequence[tuple[str, str, str, str]] = (),
) -> dict[str, Any]:
    """An alert as the list shows it; `logs` are (createdAt, log, type, owner)."""
    aid = str(uuid.UUID(int=tiny))
    item: dict[str, Any] = {
        "id": aid,
        "tinyId": str(tiny),
        "alias": f"alias-{tiny}",
        "message": message,
        "status": status,
        "acknowledged": any("acknowledged" in text.lower() for _, text, _, _ in logs),
        "isSeen": True,
        "tags": list(tags),
        "snoozed": False,
        "count": 1,
        "lastOccurredAt": created_at,
        "createdAt": created_at,
        "updatedAt": created_at,
        "source": "Alertmanager",
        "owner": "",
        "priority": "P2",
        "responders": [{"type": "team", "id": "t-1"}],
        "integration": {"id": "i-1", "name": "Prometheus", "type": "Prometheus"},
    }
    if entity:
        item["entity"] = entity
    item["_logs"] = [
        {"log": text, "type": kind, "owner": owner, "createdAt": at, "offset": f"{ms(at)}_{n}"}
        for n, (at, text, kind, owner) in enumerate(sorted(logs))
    ]
    return item


_TERM = re.compile(r"^\(?\s*(createdAt>=|createdAt<=|tag:|tags:|status:)\s*([^\s()]+)\s*\)?$")


def _matches(item: dict[str, Any], query: str) -> bool | None:
    """Whether the alert matches the query; None when the query has a term this stand-in does not know."""
    terms = [_TERM.match(t.strip()) for t in query.split(" AND ") if t.strip()]
    if any(m is None for m in terms):
        return None
    for m in terms:
        assert m is not None
        op, value = m.groups()
        created = ms(item["createdAt"])
        if op == "createdAt>=" and not created >= int(value):
            return False
        if op == "createdAt<=" and not created <= int(value):
            return False
        if op in ("tag:", "tags:") and value not in item["tags"]:
            return False
        if op == "status:" and item["status"] != value:
            return False
    return True


@dataclass
class Opsgenie(StandIn):
    keys: set[str] = field(default_factory=lambda: {DEFAULT_KEY})
    alerts: list[dict[str, Any]] = field(default_factory=list)

    name = "opsgenie"

    def add(self, *items: dict[str, Any]) -> Opsgenie:
        self.alerts.extend(items)
        return self

    def _reply(self, status: int, body: dict[str, Any]) -> tuple[int, dict, Any]:
        return status, {}, {**body, "took": 0.005, "requestId": str(uuid.uuid4())}

    def answer(self, method, path, query, headers, body):
        auth = headers.get("authorization", "")
        if not auth.startswith("GenieKey ") or auth.removeprefix("GenieKey ") not in self.keys:
            return self._reply(401, {"message": "Could not authenticate"})
        q = {k: v[0] for k, v in query.items()}
        try:
            limit = int(q.get("limit", "20"))
        except ValueError:
            return self._reply(422, {"message": "limit must be an integer"})
        if not 1 <= limit <= MAX_LIMIT:
            return self._reply(422, {"message": f"limit should be between 1 and {MAX_LIMIT}"})
        if path == "/v2/alerts":
            return self._list(q, limit)
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v2", "alerts"] and parts[3] == "logs":
            found = next((a for a in self.alerts if a["id"] == parts[2]), None)
            if found is None:
                return self._reply(404, {"message": "Alert does not exist"})
            return self._logs(found, q, limit, path)
        return self._reply(404, {"message": "Not found"})

    def _list(self, q: dict[str, str], limit: int) -> tuple[int, dict, Any]:
        offset = int(q.get("offset", "0"))
        if offset + limit > MAX_OFFSET:
            return self._reply(422, {"message": f"offset + limit must be at most {MAX_OFFSET}"})
        probe = {"createdAt": "1970-01-01T00:00:00Z", "tags": [], "status": ""}
        if _matches(probe, q.get("query", "")) is None:
            return self._reply(422, {"message": f"Invalid query: {q.get('query')!r}"})
        found = [item for item in self.alerts if _matches(item, q.get("query", ""))]
        found.sort(key=lambda a: a["createdAt"], reverse=q.get("order") == "desc")
        chunk = [{k: v for k, v in a.items() if not k.startswith("_")} for a in found[offset : offset + limit]]
        paging = {"first": f"{self.url}/v2/alerts?{urlencode({**q, 'offset': 0})}"}
        if offset + limit < len(found):
            paging["next"] = f"{self.url}/v2/alerts?{urlencode({**q, 'offset': offset + limit})}"
        return self._reply(200, {"data": chunk, "paging": paging})

    def _logs(self, item: dict[str, Any], q: dict[str, str], limit: int, path: str) -> tuple[int, dict, Any]:
        lines = item["_logs"] if q.get("order", "desc") == "asc" else list(reversed(item["_logs"]))
        after = q.get("offset")
        start = 0
        if after:
            known = [n for n, line in enumerate(lines) if line["offset"] == after]
            if not known:
                return self._reply(422, {"message": "Invalid offset"})
            start = known[0] + 1
        chunk = lines[start : start + limit]
        paging: dict[str, str] = {"first": f"{self.url}{path}?{urlencode({**q, 'offset': ''})}"}
        if start + limit < len(lines) and chunk:
            paging["next"] = f"{self.url}{path}?{urlencode({**q, 'offset': chunk[-1]['offset']})}"
        return self._reply(200, {"data": chunk, "paging": paging})
