"""Alertmanager: when it notified, and what it was told to keep quiet.

* The notification log (`notification_log`, see notification_log.py): each firing alert of each
  webhook notification a receiver got is a `notification` event at the time it was received, with
  `attrs.alertname`, so the alert review's notify delay (firing -> notification) is measured.
* The API v2 (`url`): `GET /api/v2/status` (version, for the provenance) and `GET /api/v2/silences`
  (which holds expired silences too, for `--data.retention`, 120h by default): each silence that
  overlaps the window is a `note` event from its start to its end, naming its matchers and comment,
  since a silenced alert notifies no one. The alerts API is a live view (resolved alerts leave it)
  and says nothing about notifications, so it is not read.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from collectors._http import HttpApi, one_line
from collectors._people import People, shorten
from collectors.alertmanager import notification_log
from collectors.alertmanager.config import AlertmanagerConfig
from dossier.errors import CollectorError, SourceQueryError, SourceUnavailable
from dossier.model import Event, Problem, parse_time, rfc3339, stable_id
from dossier.plugin import Collector, CollectRequest, CollectResult


class AlertmanagerCollector(Collector[AlertmanagerConfig]):
    """Notification times and silences from Alertmanager."""

    type = "alertmanager"
    Config = AlertmanagerConfig
    kinds = frozenset({"alert", "page"})

    _api: HttpApi | None = None

    @property
    def api(self) -> HttpApi:
        if self._api is None:
            assert self.config.url is not None
            self._api = HttpApi(
                self.config.url,
                instance=self.ctx.instance,
                recorder=self.ctx.recorder,
                settings=self.config.http,
                headers=self.config.headers,
                credential="`headers`",
            )
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def check(self) -> str:
        said = []
        if self.config.url is not None:
            body, _, _ = self.api.get_json("/api/v2/status")
            version = (body.get("versionInfo") or {}).get("version") if isinstance(body, Mapping) else None
            if not version:
                raise SourceQueryError(
                    self.ctx.instance, f"GET {self.config.url}/api/v2/status: not Alertmanager's API v2"
                )
            said.append(f"Alertmanager {version}")
        if self.config.notification_log is not None:
            path = self.config.notification_log
            lines = sum(1 for _ in path.open()) if path.exists() else None
            said.append(f"{path}: {lines} notifications" if lines is not None else f"{path}: not written yet")
        return "; ".join(said)

    def collect(self, request: CollectRequest) -> CollectResult:
        result = CollectResult()
        people = People(names=self.config.names)
        failures: list[CollectorError] = []
        parts = 0
        if self.config.notification_log is not None:
            parts += 1
            try:
                self._notifications(request, result)
            except CollectorError as exc:
                failures.append(exc)
        if self.config.url is not None:
            parts += 1
            try:
                self._silences(request, result, people)
            except CollectorError as exc:
                failures.append(exc)
        if len(failures) == parts:
            raise failures[0]
        for failure in failures:  # one part failed, the other answered: partial
            result.problems.append(Problem(self.ctx.instance, str(failure)))
        result.events.sort(key=lambda e: (e.at, e.id))
        return result

    # -- the notification log

    def _notifications(self, request: CollectRequest, result: CollectResult) -> None:
        path = self.config.notification_log
        assert path is not None
        started, t0 = time.time(), time.monotonic()
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SourceQueryError(
                self.ctx.instance,
                f"{path}: no notification log: is the webhook receiver (dossier serve) writing it? check "
                "`notification_log`",
            ) from None
        except OSError as exc:
            raise SourceUnavailable(self.ctx.instance, f"{path}: cannot read: {exc.strerror or exc}") from None
        rid = self.ctx.recorder.record(
            method="READ",
            url=path.absolute().as_uri(),
            params={"format": "alertmanager notification log"},
            status=None,
            body=raw,
            started=started,
            duration=time.monotonic() - t0,
        )
        bad = []
        for item in notification_log.read(raw.decode("utf-8", errors="replace")):
            if isinstance(item, notification_log.Bad):
                bad.append(item)
                continue
            if not request.start <= item.at <= request.end:
                continue
            body = item.body
            receiver = str(body.get("receiver") or "")
            if self.config.receiver is not None and receiver != self.config.receiver:
                continue
            for alert in body.get("alerts") or ():
                if isinstance(alert, Mapping) and alert.get("status") == "firing":
                    result.events.append(self._notification(item, body, alert, rid, request))
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            result.problems.append(
                Problem(
                    self.ctx.instance, f"{path}: line {bad[0].line}: {bad[0].reason}{more}: those lines were skipped"
                )
            )

    def _notification(
        self,
        item: notification_log.Received,
        body: Mapping[str, Any],
        alert: Mapping[str, Any],
        rid: str,
        request: CollectRequest,
    ) -> Event:
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        name = labels.get("alertname", "an alert")
        raw_service = labels.get(self.config.service_label)
        service = request.canonical(raw_service) or raw_service
        receiver = str(body.get("receiver") or "a receiver")
        attrs: dict[str, Any] = {
            "alertname": name,
            "labels": labels,
            "receiver": receiver,
            "status": "firing",
            "group_key": str(body.get("groupKey") or ""),
            "fingerprint": str(alert.get("fingerprint") or ""),
        }
        if alert.get("startsAt"):
            attrs["starts_at"] = str(alert["startsAt"])
        if raw_service and request.canonical(raw_service) is None:
            attrs["service_mapped"] = "false"
        return Event(
            id=stable_id(self.ctx.instance, rfc3339(item.at) or "", attrs["group_key"], attrs["fingerprint"], name),
            at=item.at,
            kind="notification",
            source=self.ctx.instance,
            title=f"Alertmanager notified {receiver}: {name} firing",
            service=service,
            attrs=attrs,
            link=str(body.get("externalURL") or "") or None,
            request=rid,
        )

    # -- the API: silences

    def _silences(self, request: CollectRequest, result: CollectResult, people: People) -> None:
        self.api.get_json("/api/v2/status")  # the version, in the provenance
        body, _, rid = self.api.get_json("/api/v2/silences")
        if not isinstance(body, list):
            raise SourceQueryError(
                self.ctx.instance, f"GET {self.config.url}/api/v2/silences: not a list: {one_line(str(body))!r}"
            )
        kept = 0
        for s in sorted(
            (s for s in body if isinstance(s, Mapping)), key=lambda s: (str(s.get("startsAt")), str(s.get("id")))
        ):
            try:
                start, end = parse_time(str(s.get("startsAt"))), parse_time(str(s.get("endsAt")))
            except ValueError:
                continue
            if end < request.start or start > request.end:
                continue
            matchers = [m for m in s.get("matchers") or () if isinstance(m, Mapping)]
            text = ", ".join(_matcher(m) for m in matchers) or "everything"
            service = None
            for m in matchers:
                if m.get("name") == self.config.service_label and not m.get("isRegex") and m.get("isEqual", True):
                    service = request.canonical(str(m.get("value"))) or str(m.get("value"))
            who = people(str(s.get("createdBy") or "")) if s.get("createdBy") else "someone"
            comment = people.scrub(shorten(str(s.get("comment") or ""), 160))
            kept += 1
            result.events.append(
                Event(
                    id=stable_id(self.ctx.instance, "silence", str(s.get("id"))),
                    at=start,
                    end=end,
                    kind="note",
                    source=self.ctx.instance,
                    title=f"silence by {who} of {text}" + (f": {comment}" if comment else ""),
                    service=service,
                    attrs={
                        "silence_id": str(s.get("id")),
                        "matchers": text,
                        "created_by": who,
                        "state": str((s.get("status") or {}).get("state") or ""),
                    },
                    link=f"{self.config.url}/#/silences/{s.get('id')}",
                    request=rid,
                )
            )
        self.ctx.recorder.set_items(rid, kept)


def _matcher(m: Mapping[str, Any]) -> str:
    op = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else ("!~" if m.get("isRegex") else "!=")
    return f'{m.get("name")}{op}"{m.get("value")}"'
