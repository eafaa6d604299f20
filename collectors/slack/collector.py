"""Read the incident's Slack channel, reduced to what a postmortem needs: pinned messages and those
that declare, mitigate, roll back or resolve.

From the Web API (`Authorization: Bearer <token>`; every answer is `{"ok": true, ...}` or
`{"ok": false, "error": "..."}`):

    GET auth.test                                        the workspace's address, for links
    GET conversations.list?types=public_channel,private_channel&limit=200&cursor=   a channel by name
    GET conversations.history?channel=&oldest=&latest=&inclusive=true&limit=200&cursor=
    GET conversations.replies?channel=&ts=&oldest=&latest=&limit=200&cursor=        replies in threads
    GET users.info?user=                                 names, only with `names: true`

paged with cursors (`response_metadata.next_cursor`) while `has_more`; 429 answers are waited
out as their `Retry-After` says (collectors/_http.py). Or from a workspace export folder
(`path`): `channels.json` and `groups.json` name the channels, `<channel>/<YYYY-MM-DD>.json` hold
each day's messages, `users.json` the names.

A message is kept when it is pinned (`pinned_to` holds the channel) or says something the
`intents` recognise; each is a `message` event with `attrs.intent` (`rollback`, `mitigate`,
`resolve`, `declare`, or `pinned` for a pinned message that says none of these), which the draft
uses for the message's phase and the `mitigated` milestone. People are "participant N" unless
`names: true`, in the author and in mentions.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from collectors._http import HttpApi, token_from
from collectors._people import People, obj, shorten
from collectors.slack.config import PAGE, SlackConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, from_epoch, stable_id
from dossier.plugin import Collector, CollectRequest, CollectResult

AUTH_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
    }
)
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_CHANNEL_REF = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
SKIPPED_SUBTYPES = frozenset(
    {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "pinned_item", "tombstone"}
)
TEXT_LIMIT = 300


@dataclass(frozen=True, slots=True)
class _Message:
    body: Mapping[str, Any]
    request: str | None


class SlackCollector(Collector[SlackConfig]):
    """Pinned and telling messages of the incident's channel."""

    type = "slack"
    Config = SlackConfig
    kinds = frozenset({"chat"})

    _api: HttpApi | None = None

    @property
    def api(self) -> HttpApi:
        if self._api is None:
            self._api = HttpApi(
                self.config.url,
                instance=self.ctx.instance,
                recorder=self.ctx.recorder,
                settings=self.config.http,
                headers={"Authorization": f"Bearer {token_from(self.config.token)}"},
                credential="`token`",
            )
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # ---- sources check -----------------------------------------------------------------------

    def check(self) -> str:
        if self.config.path is not None:
            channels = self._export_channels()
            return f"{self.config.path}: a Slack export with {len(channels)} channel{'' if len(channels) == 1 else 's'}"
        body, _ = self._call("auth.test", {})
        where = body.get("url") or self.config.url
        return f"Slack workspace {body.get('team') or '?'} ({where}) as {body.get('user') or '?'}"

    # ---- collection --------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        result = CollectResult()
        name = self.config.channel_for(request.incident.id)
        names: dict[str, str] = {}
        if self.config.path is not None:
            channel_id, channel_name, folder = self._export_channel(name)
            messages = self._export_messages(folder, request, result)
            workspace = self.config.workspace_url
            if self.config.names:
                names = self._export_users()
        else:
            auth, _ = self._call("auth.test", {})
            workspace = self.config.workspace_url or (str(auth.get("url") or "").rstrip("/") or None)
            channel_id, channel_name = self._api_channel(name)
            messages = self._api_messages(channel_id, request, result)
        messages.sort(key=lambda m: (float(m.body.get("ts") or 0), str(m.body.get("ts"))))
        people = People(names=self.config.names, label="participant")
        intents = self.config.intents.compiled()
        kept: list[tuple[_Message, str]] = []
        for m in messages:
            intent = self._intent(m.body, channel_id, intents)
            if intent is not None:
                kept.append((m, intent))
        if self.config.names and self.config.path is None:
            names = self._api_users({str(m.body.get("user")) for m, _ in kept if m.body.get("user")}, result)
        for m, intent in kept:
            result.events.append(self._event(m, intent, channel_id, channel_name, workspace, people, names))
        return result

    def _intent(
        self, body: Mapping[str, Any], channel_id: str, intents: list[tuple[str, re.Pattern[str]]]
    ) -> str | None:
        if body.get("type", "message") != "message" or body.get("subtype") in SKIPPED_SUBTYPES:
            return None
        if not self.config.bots and (body.get("bot_id") or body.get("subtype") == "bot_message"):
            return None
        text = _plain(str(body.get("text") or ""))
        for name, pattern in intents:
            if pattern.search(text):
                return name
        pinned = body.get("pinned_to") or ()
        return "pinned" if channel_id in pinned or (pinned and not channel_id) else None

    def _event(
        self,
        m: _Message,
        intent: str,
        channel_id: str,
        channel_name: str,
        workspace: str | None,
        people: People,
        names: Mapping[str, str],
    ) -> Event:
        body = m.body
        ts = str(body.get("ts"))
        profile = obj(body.get("user_profile"))
        key = str(body.get("user") or body.get("bot_id") or "")
        shown = names.get(key) or profile.get("display_name") or profile.get("real_name") or None
        who = people(key, shown) if key else str(body.get("username") or "someone")
        text = shorten(people.scrub(_plain(str(body.get("text") or "")), names), TEXT_LIMIT)
        thread = body.get("thread_ts")
        attrs: dict[str, Any] = {
            "intent": intent,
            "pinned": bool(channel_id and channel_id in (body.get("pinned_to") or ())),
            "channel": channel_name,
            "author": who,
            "ts": ts,
        }
        if thread and thread != ts:
            attrs["thread_ts"] = str(thread)
        link = None
        if workspace and channel_id:
            link = f"{workspace}/archives/{channel_id}/p{ts.replace('.', '')}"
            if thread and thread != ts:
                link += f"?thread_ts={thread}&cid={channel_id}"
        return Event(
            id=stable_id(self.ctx.instance, channel_id or channel_name, ts),
            at=from_epoch(float(ts)),
            kind="message",
            source=self.ctx.instance,
            title=f"{who} in #{channel_name}: {text}",
            attrs=attrs,
            link=link,
            request=m.request,
        )

    # -- the Web API

    def _call(self, method: str, params: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
        body, _, rid = self.api.get_json(f"/{method}", params)
        if not isinstance(body, Mapping) or "ok" not in body:
            raise SourceQueryError(
                self.ctx.instance,
                f"GET {self.config.url}/{method}: unexpected answer, not the Web API's (no `ok`): "
                "is `url` https://slack.com/api?",
            )
        if body.get("ok") is True:
            return body, rid
        error = str(body.get("error") or "unknown_error")
        what = f"GET {self.config.url}/{method}: {error}"
        if error in AUTH_ERRORS:
            needed = f": the token needs {body['needed']!r}" if body.get("needed") else ""
            raise SourceAuthError(self.ctx.instance, f"{what}{needed or ': check `token`'}")
        if error in ("channel_not_found", "not_in_channel"):
            raise SourceQueryError(
                self.ctx.instance,
                f"{what}: check `channel`, and invite the app to a private channel (/invite @app)",
            )
        if error in ("ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"):
            raise SourceUnavailable(self.ctx.instance, what)
        raise SourceQueryError(self.ctx.instance, what)

    def _cursor_pages(self, method: str, params: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], str]]:
        cursor = ""
        while True:
            query = {**params, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            body, rid = self._call(method, query)
            yield body, rid
            meta = obj(body.get("response_metadata"))
            cursor = str(meta.get("next_cursor") or "")
            if not cursor or body.get("has_more") is False:
                return

    def _api_channel(self, name: str) -> tuple[str, str]:
        if _CHANNEL_ID.match(name):
            return name, name
        seen: list[str] = []
        for body, _ in self._cursor_pages(
            "conversations.list", {"types": "public_channel,private_channel", "exclude_archived": "false"}
        ):
            for ch in body.get("channels") or ():
                if isinstance(ch, Mapping) and ch.get("name") == name:
                    return str(ch["id"]), name
                if isinstance(ch, Mapping) and ch.get("name"):
                    seen.append(str(ch["name"]))
        raise SourceQueryError(
            self.ctx.instance, f"no channel named {name!r} the token can see{_did_you_mean(name, seen)}"
        )

    def _api_messages(self, channel_id: str, request: CollectRequest, result: CollectResult) -> list[_Message]:
        window = {
            "channel": channel_id,
            "oldest": f"{request.start.timestamp():.6f}",
            "latest": f"{request.end.timestamp():.6f}",
            "inclusive": "true",
        }
        out: list[_Message] = []
        threads: list[str] = []
        for body, rid in self._cursor_pages("conversations.history", window):
            items = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
            self.ctx.recorder.set_items(rid, len(items))
            out.extend(_Message(m, rid) for m in items)
            threads += [str(m["ts"]) for m in items if m.get("reply_count") and m.get("thread_ts") == m.get("ts")]
            if len(out) >= self.config.max_messages:
                result.truncate(
                    f"max_messages: only {self.config.max_messages:,} messages were read: raise max_messages"
                )
                return out
        if not self.config.threads:
            return out
        for ts in threads:
            try:
                for body, rid in self._cursor_pages("conversations.replies", {**window, "ts": ts}):
                    replies = [m for m in body.get("messages") or () if isinstance(m, Mapping) and m.get("ts") != ts]
                    out.extend(_Message(m, rid) for m in replies)
            except SourceAuthError:
                raise
            except CollectorError as exc:
                result.problems.append(
                    Problem(self.ctx.instance, f"the replies of the thread at {_when(ts)} could not be read: {exc}")
                )
            if len(out) >= self.config.max_messages:
                result.truncate(
                    f"max_messages: only {self.config.max_messages:,} messages were read: raise max_messages"
                )
                break
        return out

    def _api_users(self, ids: set[str], result: CollectResult) -> dict[str, str]:
        names: dict[str, str] = {}
        for uid in sorted(ids):
            try:
                body, _ = self._call("users.info", {"user": uid})
            except CollectorError as exc:
                result.problems.append(
                    Problem(self.ctx.instance, f"names asked for, but {exc}", kind="source_unavailable")
                )
                return names
            user = obj(body.get("user"))
            profile = obj(user.get("profile"))
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
            if name:
                names[uid] = str(name)
        return names

    # -- the export folder

    def _read_json(self, path: Path) -> tuple[Any, str]:
        started, t0 = time.time(), time.monotonic()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SourceQueryError(
                self.ctx.instance, f"{path}: not found: `path` must be the unzipped Slack export folder"
            ) from None
        except OSError as exc:
            raise SourceUnavailable(self.ctx.instance, f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw.decode("utf-8-sig"))
            error = None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            data, error = None, f"{path}: not JSON: {exc}"
        rid = self.ctx.recorder.record(
            method="READ",
            url=path.absolute().as_uri(),
            params={"format": "slack export"},
            status=None,
            body=raw,
            items=len(data) if isinstance(data, list) else None,
            started=started,
            duration=time.monotonic() - t0,
            error=error,
        )
        if error:
            raise SourceQueryError(self.ctx.instance, error)
        return data, rid

    def _export_channels(self) -> list[Mapping[str, Any]]:
        folder = self.config.path
        assert folder is not None
        if not folder.is_dir():
            raise SourceQueryError(
                self.ctx.instance, f"{folder}: not a folder: `path` must be the unzipped Slack export folder"
            )
        channels: list[Mapping[str, Any]] = []
        for name in ("channels.json", "groups.json"):
            if (folder / name).exists():
                data, _ = self._read_json(folder / name)
                channels += [c for c in data or () if isinstance(c, Mapping)]
        if not channels and not (folder / "channels.json").exists():
            raise SourceQueryError(
                self.ctx.instance, f"{folder}: no channels.json: is `path` the unzipped Slack export folder?"
            )
        return channels

    def _export_channel(self, name: str) -> tuple[str, str, Path]:
        assert self.config.path is not None
        channels = self._export_channels()
        for ch in channels:
            if name in (ch.get("id"), ch.get("name")):
                return (
                    str(ch.get("id") or ""),
                    str(ch.get("name") or name),
                    self.config.path / str(ch.get("name") or name),
                )
        seen = [str(c.get("name")) for c in channels if c.get("name")]
        raise SourceQueryError(
            self.ctx.instance, f"{self.config.path}: no channel {name!r} in the export{_did_you_mean(name, seen)}"
        )

    def _export_messages(self, folder: Path, request: CollectRequest, result: CollectResult) -> list[_Message]:
        if not folder.is_dir():
            raise SourceQueryError(self.ctx.instance, f"{folder}: the channel's folder is missing from the export")
        out: list[_Message] = []
        day = (request.start - timedelta(days=1)).date()  # days are in the workspace's time zone: one more each side
        last = (request.end + timedelta(days=1)).date()
        start, end = request.start.timestamp(), request.end.timestamp()
        while day <= last:
            path = folder / f"{day.isoformat()}.json"
            day += timedelta(days=1)
            if not path.exists():
                continue
            try:
                data, rid = self._read_json(path)
            except SourceQueryError as exc:
                result.problems.append(Problem(self.ctx.instance, str(exc)))
                continue
            for m in data or ():
                if isinstance(m, Mapping) and start <= _ts(m) <= end:
                    out.append(_Message(m, rid))
            if len(out) >= self.config.max_messages:
                result.truncate(
                    f"max_messages: only {self.config.max_messages:,} messages were read: raise max_messages"
                )
                break
        return out

    def _export_users(self) -> dict[str, str]:
        assert self.config.path is not None
        path = self.config.path / "users.json"
        if not path.exists():
            return {}
        data, _ = self._read_json(path)
        names = {}
        for u in data or ():
            if isinstance(u, Mapping) and u.get("id"):
                profile = obj(u.get("profile"))
                name = profile.get("display_name") or profile.get("real_name") or u.get("real_name") or u.get("name")
                if name:
                    names[str(u["id"])] = str(name)
        return names


def _ts(m: Mapping[str, Any]) -> float:
    try:
        return float(m.get("ts") or "nan")
    except ValueError:
        return float("nan")


def _when(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(text: str) -> str:
    """Slack's mrkdwn as text: links as their label (and address), channel references as #name."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE_LINK.sub(lambda m: m.group(1), text)
    text = _CHANNEL_REF.sub(lambda m: f"#{m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
