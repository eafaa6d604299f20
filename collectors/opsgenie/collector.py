"""Read Opsgenie's alerts of the window and each one's activity log.

From the Alert API (`Authorization: GenieKey <key>`):

    GET /v2/alerts?query=createdAt>=<ms> AND createdAt<=<ms> [AND (<query>)]&sort=createdAt&order=asc
                  &limit=100&offset=N                 -> {"data": [...], "paging": {"next": ...}}
    GET /v2/alerts/{id}/logs?identifierType=id&order=asc&direction=next&limit=100&offset=<offset>
                                                      -> {"data": [{log, type, owner, createdAt, offset}], "paging"}

Alerts are paged by `offset` (up to Opsgenie's 20,000), log lines by the `offset` token of the last
line read, while `paging.next` is given. The alert's creation is a `page`; its log lines, which are
free text ("Alert acknowledged via Web", "Sent [SMS] notification to ..."), become by their words:

    acknowledged (not "unacknowledged")    ack
    sent / notified / notification         notification  (the method in [brackets], e.g. [SMS])
    escalat...                             page          (action escalate)
    closed                                 incident_resolved

and every other line is left out. People are "responder N" unless `names: true`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from collectors._http import HttpApi, token_from
from collectors._people import People, obj, shorten
from collectors.opsgenie.config import MAX_OFFSET, PAGE, OpsgenieConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError
from dossier.model import Event, Problem, parse_time, stable_id
from dossier.plugin import Collector, CollectRequest, CollectResult

_ACK = re.compile(r"(?i)(?<!un)acknowledged\b")
_NOTIFY = re.compile(r"(?i)\b(?:sent|notified|notification)\b")
_ESCALATE = re.compile(r"(?i)\bescalat")
_CLOSE = re.compile(r"(?i)\bclosed\b")
_METHOD = re.compile(r"\[([A-Za-z ]+)\]")
_VIA = re.compile(r"(?i)\bvia \[?([A-Za-z ]+?)\]?(?:$|[.,\s])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True, slots=True)
class _Line:
    body: Mapping[str, Any]
    alert: Mapping[str, Any]
    request: str


class OpsgenieCollector(Collector[OpsgenieConfig]):
    """Alerts and their activity from Opsgenie."""

    type = "opsgenie"
    Config = OpsgenieConfig
    kinds = frozenset({"page"})

    _api: HttpApi | None = None

    @property
    def api(self) -> HttpApi:
        if self._api is None:
            self._api = HttpApi(
                self.config.url,
                instance=self.ctx.instance,
                recorder=self.ctx.recorder,
                settings=self.config.http,
                headers={"Authorization": f"GenieKey {token_from(self.config.api_key)}"},
                credential="`api_key` (an API integration's key)",
            )
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def check(self) -> str:
        body, _, _ = self.api.get_json("/v2/alerts", {"limit": 1})
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
            raise SourceQueryError(self.ctx.instance, f"GET {self.config.url}/v2/alerts: not an Opsgenie answer")
        return f"Opsgenie Alert API at {self.config.url}"

    def collect(self, request: CollectRequest) -> CollectResult:
        result = CollectResult()
        alerts: list[tuple[Mapping[str, Any], str]] = []
        for items, rid in self._alert_pages(request, result):
            for alert in items:
                if not isinstance(alert, Mapping) or not alert.get("id"):
                    continue
                if self._service(alert, request)[1] is False and not self.config.query:
                    continue  # an alert of no configured service: not ours (unless `query` chose it)
                if len(alerts) >= self.config.max_alerts:
                    result.truncate(f"max_alerts: only the first {self.config.max_alerts} alerts were read")
                    break
                alerts.append((alert, rid))
        people = People(names=self.config.names)
        pattern = re.compile(self.config.alertname_pattern)
        lines: list[_Line] = []
        for alert, _ in alerts:
            try:
                lines += [_Line(b, alert, rid) for b, rid in self._log_lines(str(alert["id"]))]
            except SourceAuthError:
                raise
            except CollectorError as exc:
                result.problems.append(
                    Problem(
                        self.ctx.instance,
                        f"the activity log of Opsgenie alert #{alert.get('tinyId') or alert['id']} could not be "
                        f"read: {exc}",
                        service=self._service(alert, request)[0],
                    )
                )
        found: list[tuple[str, int, Event | None]] = [
            (str(a.get("createdAt") or ""), 0, self._opened(a, rid, request, pattern)) for a, rid in alerts
        ]
        # people are numbered in the order of the log, so its lines are read in time order
        for ln in sorted(lines, key=lambda ln: (str(ln.body.get("createdAt") or ""), str(ln.body.get("offset")))):
            found.append((str(ln.body.get("createdAt") or ""), 1, self._logged(ln, request, people, pattern)))
        for _, _, event in sorted(found, key=lambda x: (x[0], x[1])):
            if event is not None and request.start <= event.at <= request.end:
                result.events.append(event)
        return result

    # -- reading

    def _alert_pages(self, request: CollectRequest, result: CollectResult) -> Iterator[tuple[list[Any], str]]:
        start, end = int(request.start.timestamp() * 1000), int(request.end.timestamp() * 1000)
        query = f"createdAt>={start} AND createdAt<={end}"
        if self.config.query:
            query += f" AND ({self.config.query})"
        offset = 0
        while True:
            params = {"query": query, "sort": "createdAt", "order": "asc", "limit": PAGE, "offset": offset}
            body, _, rid = self.api.get_json("/v2/alerts", params)
            items = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise SourceQueryError(
                    self.ctx.instance, f"GET {self.config.url}/v2/alerts: unexpected answer, no `data` list"
                )
            self.ctx.recorder.set_items(rid, len(items))
            yield items, rid
            paging = obj(body.get("paging"))
            if len(items) < PAGE or not paging.get("next"):
                return
            offset += len(items)
            if offset + PAGE > MAX_OFFSET:
                result.truncate(f"Opsgenie lists only the first {MAX_OFFSET:,} alerts of a search: narrow `query`")
                return

    def _log_lines(self, alert_id: str) -> Iterator[tuple[Mapping[str, Any], str]]:
        offset = ""
        path = f"/v2/alerts/{alert_id}/logs"
        while True:
            params: dict[str, Any] = {"identifierType": "id", "order": "asc", "direction": "next", "limit": PAGE}
            if offset:
                params["offset"] = offset
            body, _, rid = self.api.get_json(path, params)
            items = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise SourceQueryError(
                    self.ctx.instance, f"GET {self.config.url}{path}: unexpected answer, no `data` list"
                )
            self.ctx.recorder.set_items(rid, len(items))
            for item in items:
                if isinstance(item, Mapping):
                    yield item, rid
            paging = obj(body.get("paging"))
            last = str(items[-1].get("offset") or "") if items and isinstance(items[-1], Mapping) else ""
            if not items or not paging.get("next") or not last or last == offset:
                return
            offset = last

    # -- events

    def _service(self, alert: Mapping[str, Any], request: CollectRequest) -> tuple[str | None, bool]:
        names = [str(t) for t in alert.get("tags") or ()] + ([str(alert["entity"])] if alert.get("entity") else [])
        for name in names:
            found = request.canonical(self.config.services.get(name) or name)
            if found is not None:
                return found, True
        return None, False

    def _base(self, alert: Mapping[str, Any], request: CollectRequest, pattern: re.Pattern[str]) -> dict[str, Any]:
        service, mapped = self._service(alert, request)
        attrs: dict[str, Any] = {"alert_id": str(alert.get("id")), "tiny_id": str(alert.get("tinyId") or "")}
        found = pattern.search(str(alert.get("message") or ""))
        if found and found.group("alertname"):
            attrs["alertname"] = found.group("alertname")
        if not mapped:
            attrs["service_mapped"] = "false"
        return {"service": service, "attrs": attrs}

    def _opened(
        self, alert: Mapping[str, Any], rid: str, request: CollectRequest, pattern: re.Pattern[str]
    ) -> Event | None:
        try:
            at = parse_time(str(alert.get("createdAt") or ""))
        except ValueError:
            return None
        base = self._base(alert, request, pattern)
        message = shorten(str(alert.get("message") or ""), 160)
        base["attrs"]["action"] = "trigger"
        if alert.get("priority"):
            base["attrs"]["priority"] = str(alert["priority"])
        return Event(
            id=stable_id(self.ctx.instance, str(alert["id"]), "created"),
            at=at,
            kind="page",
            source=self.ctx.instance,
            title=f"Opsgenie alert #{alert.get('tinyId') or '?'} opened: {message}",
            link=f"{_web(self.config.url)}/alert/detail/{alert['id']}/details",
            request=rid,
            **base,
        )

    def _logged(self, line: _Line, request: CollectRequest, people: People, pattern: re.Pattern[str]) -> Event | None:
        text = str(line.body.get("log") or "")
        try:
            at = parse_time(str(line.body.get("createdAt") or ""))
        except ValueError:
            return None
        alert = line.alert
        name = f"Opsgenie alert #{alert.get('tinyId') or '?'}"
        owner = str(line.body.get("owner") or "")
        who = people(owner.lower()) if owner and owner.lower() != "system" else "Opsgenie"
        base = self._base(alert, request, pattern)
        attrs = base["attrs"]
        attrs["log_type"] = str(line.body.get("type") or "")
        via = _VIA.search(text)
        if _ACK.search(text):
            kind, title = "ack", f"{who} acknowledged {name}" + (f" (via {via.group(1).strip()})" if via else "")
            attrs["responder"] = who
        elif _ESCALATE.search(text):
            kind, title = "page", f"{name} escalated"
            attrs["action"] = "escalate"
        elif _CLOSE.search(text):
            kind, title = "incident_resolved", f"{name} closed" + (f" by {who}" if who != "Opsgenie" else "")
        elif _NOTIFY.search(text):
            method = _METHOD.search(text)
            recipient = _EMAIL.search(text)
            person = people(recipient.group(0).lower()) if recipient else who
            how = method.group(1).strip() if method else (via.group(1).strip() if via else "an unknown channel")
            kind, title = "notification", f"{person} notified by {how} ({name})"
            attrs.update(responder=person, method=how.lower())
        else:
            return None
        return Event(
            id=stable_id(self.ctx.instance, str(alert["id"]), str(line.body.get("offset") or ""), text),
            at=at,
            kind=kind,
            source=self.ctx.instance,
            title=title,
            link=f"{_web(self.config.url)}/alert/detail/{alert['id']}/logs",
            request=line.request,
            **base,
        )


def _web(api_url: str) -> str:
    """The web app of an API address (api.opsgenie.com -> app.opsgenie.com)."""
    return api_url.replace("://api.", "://app.", 1)
