"""What each webhook says, as an incident: pure functions over the parsed body (no I/O, no clock).

* `alertmanager(body, ...)`: Alertmanager's webhook, version 4. A `resolved` notification closes
  the incident of its alert group; a `firing` one is not an incident yet (None). The id is
  `am-` and a hash of the group key and the group's earliest `startsAt`: stable, so the same
  notification sent again is the same incident, while the group firing again another day (a new
  `startsAt`) is a new one. The window is [earliest startsAt - padding, latest endsAt + padding].
* `pagerduty(body, ...)`: PagerDuty's v3 webhook; `incident.resolved` gives the incident
  `pd-<incident id>` over [created_at - padding, resolved + padding]; other events are None.
* `verify_pagerduty(body, header, secret)`: the `X-PagerDuty-Signature` check (HMAC-SHA256 of
  the raw body, hex, `v1=`; several signatures while a secret is rotated).

A malformed body raises `BadRequest` with the reason (the server answers 400).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from dossier.model import Incident, parse_time

__all__ = ["BadRequest", "alertmanager", "pagerduty", "verify_pagerduty"]


class BadRequest(ValueError):
    """The body is not what the endpoint takes; the message says why."""


_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads microseconds


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{where}: expected an RFC 3339 time, got {type(value).__name__}")
    try:
        return parse_time(_FRACTION.sub(r"\1", value))
    except ValueError as exc:
        raise BadRequest(f"{where}: {exc}") from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected an object")
    return value


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def alertmanager(
    body: Any, *, service_label: str, padding: float, canonical: Callable[[str], str] = lambda s: s
) -> Incident | None:
    """The incident a resolved Alertmanager notification closes, or None for a firing one."""
    body = _mapping(body, "body")
    if str(body.get("version")) != "4":
        raise BadRequest(f"version: {body.get('version')!r} is not 4 (Alertmanager's webhook version 4 is supported)")
    status = body.get("status")
    if status not in ("firing", "resolved"):
        raise BadRequest(f"status: {status!r} is neither 'firing' nor 'resolved'")
    group_key = body.get("groupKey")
    if not isinstance(group_key, str) or not group_key:
        raise BadRequest("groupKey: missing")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise BadRequest("alerts: expected a non-empty list")
    starts, ends, services, names = [], [], [], []
    for i, raw in enumerate(alerts):
        alert = _mapping(raw, f"alerts[{i}]")
        starts.append(_time(alert.get("startsAt"), f"alerts[{i}].startsAt"))
        if status == "resolved":
            ends.append(_time(alert.get("endsAt"), f"alerts[{i}].endsAt"))
        labels = _labels(alert.get("labels"))
        names.append((starts[-1], labels.get("alertname", "")))
        service = labels.get(service_label)
        if service:
            services.append(canonical(service))
    if status == "firing":
        return None
    group_labels = _labels(body.get("groupLabels"))
    common = _labels(body.get("commonAnnotations"))
    start, end = min(starts), max(ends)
    if end < start:
        raise BadRequest("alerts: endsAt before startsAt")
    # the alerts' names, first fired first: "PaymentsHighErrorRate, CheckoutHighErrorRate"
    name = ", ".join(dict.fromkeys(n for _, n in sorted(names) if n)) or "alerts"
    title = f"{name}: {common['summary']}" if common.get("summary") else name
    incident_id = "am-" + hashlib.sha256(f"{group_key}\n{start.isoformat()}".encode()).hexdigest()[:16]
    labels = {f"alertmanager.{k}": v for k, v in group_labels.items()}
    if isinstance(body.get("receiver"), str):
        labels["alertmanager.receiver"] = body["receiver"]
    return Incident(
        id=incident_id,
        title=title,
        start=start - timedelta(seconds=padding),
        end=end + timedelta(seconds=padding),
        services=tuple(dict.fromkeys(services)),
        resolved_at=end,
        labels=labels,
    )


def verify_pagerduty(body: bytes, header: str | None, secret: str) -> bool:
    """True when one of the header's `v1=` signatures is the HMAC-SHA256 of `body` with `secret`."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for part in header.split(","):
        version, _, signature = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(signature.strip(), expected):
            return True
    return False


_PD_ID = re.compile(r"[A-Za-z0-9]{1,64}\Z")


def pagerduty(body: Any, *, padding: float, canonical: Callable[[str], str] = lambda s: s) -> Incident | None:
    """The incident an `incident.resolved` v3 event closes, or None for any other event."""
    event = _mapping(_mapping(body, "body").get("event"), "event")
    if event.get("event_type") != "incident.resolved":
        if not isinstance(event.get("event_type"), str):
            raise BadRequest("event.event_type: missing")
        return None
    data = _mapping(event.get("data"), "event.data")
    pd_id = data.get("id")
    if not isinstance(pd_id, str) or not _PD_ID.match(pd_id):
        raise BadRequest(f"event.data.id: {pd_id!r} is not a PagerDuty incident id")
    created = _time(data.get("created_at"), "event.data.created_at")
    resolved = _time(event.get("occurred_at"), "event.occurred_at")
    if resolved < created:
        raise BadRequest("event.occurred_at: before event.data.created_at")
    service = data.get("service")
    services = []
    if isinstance(service, dict) and isinstance(service.get("summary"), str):
        services.append(canonical(service["summary"]))
    labels = {"pagerduty.incident": pd_id}
    if isinstance(data.get("urgency"), str):
        labels["pagerduty.urgency"] = data["urgency"]
    if isinstance(data.get("html_url"), str):
        labels["pagerduty.url"] = data["html_url"]
    priority = data.get("priority")
    severity = priority.get("summary") if isinstance(priority, dict) else None
    given = data.get("title")
    title = given if isinstance(given, str) else f"PagerDuty incident {pd_id}"
    return Incident(
        id=f"pd-{pd_id}",
        title=title,
        start=created - timedelta(seconds=padding),
        end=resolved + timedelta(seconds=padding),
        services=tuple(services),
        declared_at=created,
        resolved_at=resolved,
        severity=severity if isinstance(severity, str) else None,
        labels=labels,
    )
