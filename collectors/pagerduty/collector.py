"""Read PagerDuty's incident log entries: who was paged, notified how, who acknowledged, escalations,
resolution.

From the REST API v2 (`Authorization: Token token=...`, `Accept: application/vnd.pagerduty+json;version=2`):

    GET /incidents?since=&until=&time_zone=UTC&sort_by=created_at:asc&statuses[]=...&limit=100&offset=N
    GET /incidents/{id}/log_entries?time_zone=UTC&is_overview=false&limit=100&offset=N

both paged with `limit`/`offset` while the answer says `more: true` (PagerDuty's classic pagination,
which stops at an offset of 10,000). Or from an export file of log entries in the same shape
(`path`). Each log entry becomes an event:

    trigger_log_entry      page          the incident opened: the page went out
    notify_log_entry       notification  a person notified, and how (SMS, phone, email, push)
    acknowledge_log_entry  ack           a person acknowledged
    escalate_log_entry     page          escalated to the next level (or reassigned: assign_log_entry)
    resolve_log_entry      incident_resolved

People are "responder N" unless `names: true` (collectors/_people.py). The alert's name is read
from the incident's title (`alertname_pattern`), so the alert review can tell when that alert
paged. One incident whose log cannot be read is a `Problem` (the source is partial); a rejected
key fails the whole collection.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors._http import HttpApi, one_line, token_from
from collectors._people import People, obj, shorten
from collectors.pagerduty.config import PAGE, PagerDutyConfig
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, parse_time, rfc3339, stable_id
from dossier.plugin import Collector, CollectRequest, CollectResult

ACCEPT = "application/vnd.pagerduty+json;version=2"
MAX_OFFSET = 10_000  # classic pagination ends here
STATUSES = ("triggered", "acknowledged", "resolved")
METHODS = {
    "sms": "SMS",
    "phone": "phone call",
    "email": "email",
    "push_notification": "push notification",
    "push": "push notification",
}
_NUMBERED = re.compile(r"^\[#(\d+)\]\s*(.*)$")


@dataclass(frozen=True, slots=True)
class _Entry:
    body: Mapping[str, Any]
    incident: Mapping[str, Any]
    request: str | None


class PagerDutyCollector(Collector[PagerDutyConfig]):
    """Pages, notifications, acknowledgements and resolutions from PagerDuty."""

    type = "pagerduty"
    Config = PagerDutyConfig
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
                headers={"Authorization": f"Token token={token_from(self.config.token)}", "Accept": ACCEPT},
                credential="`token` (a REST API key)",
            )
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    # ---- sources check -----------------------------------------------------------------------

    def check(self) -> str:
        if self.config.path is not None:
            entries, _ = self._read_file()
            incidents = {str((e.incident or {}).get("id")) for e in entries}
            return f"{self.config.path}: {len(entries)} log entries of {len(incidents)} incidents"
        body, _, _ = self.api.get_json("/abilities")
        abilities = body.get("abilities") if isinstance(body, Mapping) else None
        if not isinstance(abilities, list):
            raise SourceQueryError(
                self.ctx.instance, f"GET {self.config.url}/abilities: not a PagerDuty answer: is `url` the REST API?"
            )
        return f"PagerDuty REST API v2 at {self.config.url} ({len(abilities)} abilities)"

    # ---- collection --------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        result = CollectResult()
        if self.config.path is not None:
            entries, _ = self._read_file()
        else:
            entries = self._read_api(request, result)
        people = People(names=self.config.names)
        pattern = re.compile(self.config.alertname_pattern)
        ordered = sorted(entries, key=lambda e: (str(e.body.get("created_at") or ""), str(e.body.get("id") or "")))
        for entry in ordered:
            event = self._event(entry, request, people, pattern, result)
            if event is not None:
                result.events.append(event)
        return result

    # -- the API

    def _read_api(self, request: CollectRequest, result: CollectResult) -> list[_Entry]:
        params: dict[str, Any] = {
            "since": rfc3339(request.start),
            "until": rfc3339(request.end),
            "time_zone": "UTC",
            "sort_by": "created_at:asc",
            "statuses[]": list(STATUSES),
        }
        if self.config.service_ids:
            params["service_ids[]"] = list(self.config.service_ids)
        incidents: list[Mapping[str, Any]] = []
        for items, _ in self._offset_pages("/incidents", params, "incidents", result):
            for incident in items:
                if not isinstance(incident, Mapping) or not incident.get("id"):
                    continue
                if not self.config.service_ids and self._service(incident, request)[1] is False:
                    continue  # an incident of a service this config does not know: not ours
                if len(incidents) >= self.config.max_incidents:
                    result.truncate(
                        f"max_incidents: only the first {self.config.max_incidents} incidents of the window were "
                        "read: raise max_incidents or narrow service_ids"
                    )
                    break
                incidents.append(incident)
        entries: list[_Entry] = []
        for incident in incidents:
            path = f"/incidents/{incident['id']}/log_entries"
            try:
                for items, rid in self._offset_pages(
                    path, {"time_zone": "UTC", "is_overview": "false"}, "log_entries", result
                ):
                    entries.extend(_Entry(e, incident, rid) for e in items if isinstance(e, Mapping))
            except SourceAuthError:
                raise
            except CollectorError as exc:
                number = incident.get("incident_number") or incident["id"]
                result.problems.append(
                    Problem(
                        source=self.ctx.instance,
                        reason=f"the log of PagerDuty incident #{number} could not be read: {exc}",
                        service=self._service(incident, request)[0],
                    )
                )
        return entries

    def _offset_pages(
        self, path: str, params: Mapping[str, Any], key: str, result: CollectResult
    ) -> Iterator[tuple[list[Any], str]]:
        offset = 0
        while True:
            body, _, rid = self.api.get_json(path, {**params, "limit": PAGE, "offset": offset})
            items = body.get(key) if isinstance(body, Mapping) else None
            if not isinstance(items, list):
                raise SourceQueryError(
                    self.ctx.instance,
                    f"GET {self.config.url}{path}: unexpected answer, no `{key}` list: is `url` the REST API v2?",
                )
            self.ctx.recorder.set_items(rid, len(items))
            yield items, rid
            if not body.get("more") or not items:
                return
            offset += len(items)
            if offset + PAGE > MAX_OFFSET:
                result.truncate(
                    f"PagerDuty pages only the first {MAX_OFFSET:,} items of {path}: narrow the window or service_ids"
                )
                return

    # -- the export file

    def _read_file(self) -> tuple[list[_Entry], str]:
        path = self.config.path
        assert path is not None
        started, t0 = time.time(), time.monotonic()
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise SourceQueryError(
                self.ctx.instance, f"{path}: file not found: check `path` (relative to the config file)"
            ) from None
        except OSError as exc:
            raise SourceUnavailable(self.ctx.instance, f"{path}: cannot read: {exc.strerror or exc}") from None
        try:
            items = _parse_export(body.decode("utf-8-sig"))
        except ValueError as exc:
            self._record_file(path, body, None, started, t0, str(exc))
            raise SourceQueryError(self.ctx.instance, f"{path}: {exc}") from None
        rid = self._record_file(path, body, len(items), started, t0, None)
        return [_Entry(e, e.get("incident") or {}, rid) for e in items], rid

    def _record_file(
        self, path: Path, body: bytes, items: int | None, started: float, t0: float, error: str | None
    ) -> str:
        return self.ctx.recorder.record(
            method="READ",
            url=path.absolute().as_uri(),
            params={"format": "pagerduty log entries"},
            status=None,
            body=body,
            items=items,
            started=started,
            duration=time.monotonic() - t0,
            error=error,
        )

    # -- events

    def _service(self, incident: Mapping[str, Any], request: CollectRequest) -> tuple[str | None, bool]:
        """The config's service of a PagerDuty incident (or its raw name), and whether it maps."""
        service = obj(incident.get("service"))
        name = str(service.get("summary") or service.get("name") or "") or None
        sid = str(service.get("id") or "") or None
        mapped = self.config.services.get(name or "") or self.config.services.get(sid or "")
        found = request.canonical(mapped or name)
        if found is not None:
            return found, True
        return (mapped or name), False

    def _event(
        self,
        entry: _Entry,
        request: CollectRequest,
        people: People,
        pattern: re.Pattern[str],
        result: CollectResult,
    ) -> Event | None:
        e = entry.body
        kind_of = str(e.get("type") or "").removesuffix("_reference")
        try:
            at = parse_time(str(e.get("created_at") or ""))
        except ValueError:
            result.problems.append(
                Problem(self.ctx.instance, f"log entry {e.get('id')!r} has no readable created_at: skipped")
            )
            return None
        if not request.start <= at <= request.end:
            return None
        incident = dict(entry.incident)
        if not incident.get("service") and isinstance(e.get("service"), Mapping):
            incident["service"] = e["service"]
        number, title = _number_and_title(incident)
        service, mapped = self._service(incident, request)
        name = f"PagerDuty incident #{number}" if number else "a PagerDuty incident"
        who = self._who(e.get("agent"), people)
        channel = obj(e.get("channel"))
        via = str(channel.get("type") or "") or None
        attrs: dict[str, Any] = {"log_entry_type": kind_of, "incident_id": str(incident.get("id") or "")}
        if number:
            attrs["incident_number"] = number
        raw_service = (
            (incident.get("service") or {}).get("summary") if isinstance(incident.get("service"), Mapping) else None
        )
        if raw_service:
            attrs["pagerduty_service"] = str(raw_service)
        if not mapped:
            attrs["service_mapped"] = "false"
        found = pattern.search(title or "")
        if found and found.group("alertname"):
            attrs["alertname"] = found.group("alertname")
        if kind_of == "trigger_log_entry":
            kind, text = "page", f"{name} triggered: {shorten(title or 'untitled', 160)}"
            attrs["action"] = "trigger"
        elif kind_of == "notify_log_entry":
            person = self._who(e.get("user"), people) if isinstance(e.get("user"), Mapping) else who
            method = METHODS.get(via or "", via or "an unknown channel")
            kind, text = "notification", f"{person} notified by {method} ({name})"
            attrs.update(responder=person, method=via or "unknown")
        elif kind_of == "acknowledge_log_entry":
            kind, text = "ack", f"{who} acknowledged {name}" + (f" (via {via})" if via else "")
            attrs["responder"] = who
        elif kind_of in ("escalate_log_entry", "assign_log_entry"):
            to = [self._who(a, people) for a in e.get("assignees") or () if isinstance(a, Mapping)]
            verb = "escalated" if kind_of == "escalate_log_entry" else "reassigned"
            level = e.get("escalation_level") or e.get("level")
            where = f" to level {level}" if level else ""
            kind, text = "page", f"{name} {verb}{where}" + (f" to {', '.join(to)}" if to else "")
            attrs["action"] = "escalate" if kind_of == "escalate_log_entry" else "reassign"
            if to:
                attrs["responders"] = to
        elif kind_of == "resolve_log_entry":
            by = f" by {who}" if _is_user(e.get("agent")) else ""
            kind, text = "incident_resolved", f"{name} resolved{by}"
        else:
            return None
        return Event(
            id=stable_id(self.ctx.instance, str(e.get("id") or f"{kind_of}:{rfc3339(at)}:{incident.get('id')}")),
            at=at,
            kind=kind,
            source=self.ctx.instance,
            title=text,
            service=service,
            attrs=attrs,
            link=str(e.get("html_url") or incident.get("html_url") or "") or None,
            request=entry.request,
        )

    def _who(self, agent: Any, people: People) -> str:
        if not isinstance(agent, Mapping):
            return "someone"
        if not _is_user(agent):
            return "PagerDuty" if "service" in str(agent.get("type") or "") else "an integration"
        return people(str(agent.get("id") or agent.get("email") or agent.get("summary") or ""), agent.get("summary"))


def _is_user(agent: Any) -> bool:
    return isinstance(agent, Mapping) and str(agent.get("type") or "").startswith("user")


def _number_and_title(incident: Mapping[str, Any]) -> tuple[int | None, str | None]:
    number = incident.get("incident_number")
    title = incident.get("title")
    summary = str(incident.get("summary") or "")
    m = _NUMBERED.match(summary)
    if m:
        number = number or int(m.group(1))
        title = title or m.group(2)
    return (int(number) if isinstance(number, int | str) and str(number).isdigit() else None), (
        str(title) if title else (summary or None)
    )


def _parse_export(text: str) -> list[Mapping[str, Any]]:
    """Log entries from an export: a JSON body ({log_entries: [...]}, a list of those or of entries)
    or JSON lines of entries."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        data: Any = json.loads(stripped)
    except json.JSONDecodeError:
        data = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"line {n}: not JSON ({exc.msg}): write one log entry a line, or one JSON body"
                ) from None
    pages = data if isinstance(data, list) else [data]
    entries: list[Mapping[str, Any]] = []
    for n, page in enumerate(pages, 1):
        if isinstance(page, Mapping) and isinstance(page.get("log_entries"), list):
            entries.extend(e for e in page["log_entries"] if isinstance(e, Mapping))
        elif isinstance(page, Mapping) and "type" in page and "created_at" in page:
            entries.append(page)
        else:
            raise ValueError(
                f"item {n} is neither a log entry (type, created_at) nor a page of them ({{log_entries: [...]}}): "
                f"{one_line(json.dumps(page)[:120])!r}"
            )
    return entries
