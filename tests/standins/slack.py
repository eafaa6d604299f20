"""A stand-in Slack Web API (stdlib only) for the `slack` collector's tests, and the same
workspace written as a workspace export folder.

It answers the methods the collector calls as https://docs.slack.dev/reference/methods documents:

    GET /auth.test                 {"ok": true, "url": "https://acme.slack.com/", "team", "user", ...}
    GET /conversations.list        types, exclude_archived, limit, cursor -> channels, response_metadata
    GET /conversations.history     channel, oldest, latest, inclusive, limit, cursor -> messages (newest
                                   first), has_more, response_metadata.next_cursor
    GET /conversations.replies     channel, ts, oldest, latest, limit, cursor -> the parent, then replies
    GET /users.info                user -> user {id, name, real_name, profile {display_name, real_name}}

Every answer is HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "..."}` (`not_authed`,
`invalid_auth`, `missing_scope` with `needed` and `provided`, `channel_not_found`, `not_in_channel`,
`invalid_cursor`), as Slack's are; tokens carry scopes (channels:history, groups:history,
channels:read, users:read); `limit` above 999 is cut to 999. A method can be rate limited
(`rate_limit(method, calls, per)`): past that many calls in `per` seconds it answers HTTP 429 with
`Retry-After` (the seconds until a call is allowed again), as Slack's tiers do.

    with Slack() as slack:
        ch = slack.channel("C0INC2041", "inc-2041")
        ch.post("U01ALICE", "declaring SEV2: checkout 500s", at="2026-11-20T10:12:30Z", pinned=True)
        slack.export(tmp_path / "export")        # the same workspace as an export folder
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    from tests.standins._base import StandIn
except ImportError:  # run as a script
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.standins._base import StandIn

DEFAULT_TOKEN = "xoxb-1111-2222-standin"
ALL_SCOPES = frozenset({"channels:history", "groups:history", "channels:read", "groups:read", "users:read"})
MAX_LIMIT = 999


def ts_of(at: str) -> str:
    return f"{datetime.fromisoformat(at.replace('Z', '+00:00')).timestamp():.6f}"


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    members: set[str] = field(default_factory=lambda: {"UBOT"})  # the app is a member unless removed
    messages: list[dict[str, Any]] = field(default_factory=list)  # in posting order

    def post(
        self,
        user: str,
        text: str,
        *,
        at: str,
        pinned: bool = False,
        thread_of: str | None = None,
        bot: bool = False,
        subtype: str | None = None,
        profile: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        ts = ts_of(at)
        while any(m["ts"] == ts for m in self.messages):  # one ts per message in a channel
            ts = f"{float(ts) + 0.000001:.6f}"
        m: dict[str, Any] = {"type": "message", "ts": ts, "text": text}
        if bot:
            m.update(subtype="bot_message", bot_id="B0ALERTS", username="Alertmanager")
        else:
            m["user"] = user
        if subtype:
            m["subtype"] = subtype
        if profile:
            m["user_profile"] = profile
        if pinned:
            m["pinned_to"] = [self.id]
        if thread_of:
            m["thread_ts"] = thread_of
            m["parent_user_id"] = next(p.get("user") for p in self.messages if p["ts"] == thread_of)
            parent = next(p for p in self.messages if p["ts"] == thread_of)
            parent["thread_ts"] = thread_of
            parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages.append(m)
        return m


def _cursor(n: int) -> str:
    return base64.b64encode(f"next:{n}".encode()).decode()


def _offset(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor.encode()).decode()
        return int(text.removeprefix("next:")) if text.startswith("next:") else None
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Slack(StandIn):
    tokens: dict[str, frozenset[str]] = field(default_factory=lambda: {DEFAULT_TOKEN: ALL_SCOPES})
    channels: dict[str, Channel] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: dict[str, tuple[int, float]] = field(default_factory=dict)  # method -> (calls, per seconds)
    calls: dict[str, int] = field(default_factory=dict)
    _recent: dict[str, list[float]] = field(default_factory=dict)

    name = "slack"

    def channel(self, cid: str, name: str, *, private: bool = False) -> Channel:
        ch = self.channels[cid] = Channel(cid, name, private)
        return ch

    def user(self, uid: str, name: str, display: str) -> None:
        self.users[uid] = {
            "id": uid,
            "name": name,
            "real_name": display,
            "profile": {"display_name": display, "real_name": display},
        }

    def rate_limit(self, method: str, calls: int, per: float = 60.0) -> None:
        """At most `calls` calls of `method` in any `per` seconds; more answer 429 with Retry-After."""
        self.limits[method] = (calls, per)

    def answer(self, method, path, query, headers, body):
        name = path.strip("/")
        q = {k: v[0] for k, v in query.items()}
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else q.get("token")
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        scopes = self.tokens.get(token)
        if scopes is None:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            wait = None
            if name in self.limits:
                most, per = self.limits[name]
                now = time.monotonic()
                recent = [t for t in self._recent.get(name, []) if now - t < per]
                if len(recent) >= most:
                    wait = per - (now - recent[0])
                else:
                    recent.append(now)
                self._recent[name] = recent
        if wait is not None:
            return 429, {"Retry-After": str(max(1, math.ceil(wait)))}, {"ok": False, "error": "ratelimited"}
        handler = {
            "auth.test": self._auth_test,
            "conversations.list": self._list,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "users.info": self._user_info,
        }.get(name)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(q, scopes)

    # -- methods

    def _missing(self, needed: str, scopes: frozenset[str]) -> dict[str, Any]:
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(scopes))}

    def _auth_test(self, q: dict[str, str], scopes: frozenset[str]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.com/",
            "team": "Acme",
            "user": "dossier",
            "team_id": "T0ACME",
            "user_id": "UBOT",
            "bot_id": "B0DOSSIER",
        }

    def _list(self, q: dict[str, str], scopes: frozenset[str]) -> dict[str, Any]:
        if "channels:read" not in scopes:
            return self._missing("channels:read", scopes)
        start = _offset(q.get("cursor"))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
        limit = min(int(q.get("limit", "100")), 1000)
        listed = [
            {"id": c.id, "name": c.name, "is_channel": not c.private, "is_private": c.private, "is_archived": False}
            for c in self.channels.values()
        ]
        chunk = listed[start : start + limit]
        more = start + limit < len(listed)
        return {
            "ok": True,
            "channels": chunk,
            "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
        }

    def _visible(self, q: dict[str, str], scopes: frozenset[str]) -> tuple[Channel | None, dict[str, Any] | None]:
        ch = self.channels.get(q.get("channel", ""))
        if ch is None:
            return None, {"ok": False, "error": "channel_not_found"}
        needed = "groups:history" if ch.private else "channels:history"
        if needed not in scopes:
            return None, self._missing(needed, scopes)
        if "UBOT" not in ch.members:
            return None, {"ok": False, "error": "not_in_channel"}
        return ch, None

    def _window(self, q: dict[str, str], messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        oldest, latest = float(q.get("oldest") or 0), float(q.get("latest") or 1e12)
        inclusive = q.get("inclusive") in ("true", "1")

        def inside(m: dict[str, Any]) -> bool:
            t = float(m["ts"])
            return (oldest <= t <= latest) if inclusive else (oldest < t < latest)

        return [m for m in messages if inside(m)]

    def _history(self, q: dict[str, str], scopes: frozenset[str]) -> dict[str, Any]:
        ch, error = self._visible(q, scopes)
        if error:
            return error
        assert ch is not None
        start = _offset(q.get("cursor"))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
        limit = min(int(q.get("limit", "100")), MAX_LIMIT)
        top = [m for m in ch.messages if m.get("thread_ts") in (None, m["ts"])]  # replies stay in threads
        found = sorted(self._window(q, top), key=lambda m: float(m["ts"]), reverse=True)
        chunk = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": chunk,
            "has_more": more,
            "pin_count": sum(1 for m in ch.messages if m.get("pinned_to")),
            "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
        }

    def _replies(self, q: dict[str, str], scopes: frozenset[str]) -> dict[str, Any]:
        ch, error = self._visible(q, scopes)
        if error:
            return error
        assert ch is not None
        parent = next((m for m in ch.messages if m["ts"] == q.get("ts")), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        start = _offset(q.get("cursor"))
        if start is None:
            return {"ok": False, "error": "invalid_cursor"}
        limit = min(int(q.get("limit", "100")), MAX_LIMIT)
        replies = [m for m in ch.messages if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]]
        found = [parent, *self._window(q, replies)]
        chunk = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": chunk,
            "has_more": more,
            "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""},
        }

    def _user_info(self, q: dict[str, str], scopes: frozenset[str]) -> dict[str, Any]:
        if "users:read" not in scopes:
            return self._missing("users:read", scopes)
        user = self.users.get(q.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    # -- the same workspace as an export folder

    def export(self, folder: Path) -> Path:
        """Write the workspace as Slack's export does: channels.json (public), groups.json (private),
        users.json, and one <channel>/<YYYY-MM-DD>.json a day (UTC here), each a list of messages."""
        folder.mkdir(parents=True, exist_ok=True)
        for kind, private in (("channels.json", False), ("groups.json", True)):
            listed = [
                {"id": c.id, "name": c.name, "created": 1763600000, "is_archived": False, "members": sorted(c.members)}
                for c in self.channels.values()
                if c.private == private
            ]
            if listed or kind == "channels.json":
                (folder / kind).write_text(json.dumps(listed, indent=1))
        (folder / "users.json").write_text(json.dumps(list(self.users.values()), indent=1))
        for ch in self.channels.values():
            days: dict[str, list[dict[str, Any]]] = {}
            for m in sorted(ch.messages, key=lambda m: float(m["ts"])):
                day = datetime.fromtimestamp(float(m["ts"]), UTC).date().isoformat()
                shown = dict(m)
                if "user" in m and m["user"] in self.users:
                    shown["user_profile"] = {
                        "display_name": self.users[m["user"]]["profile"]["display_name"],
                        "real_name": self.users[m["user"]]["real_name"],
                        "name": self.users[m["user"]]["name"],
                    }
                days.setdefault(day, []).append(shown)
            (folder / ch.name).mkdir(exist_ok=True)
            for day, items in days.items():
                (folder / ch.name / f"{day}.json").write_text(json.dumps(items, indent=1))
        return folder
