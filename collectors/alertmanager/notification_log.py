"""The notification log: Alertmanager's webhook notifications as a webhook receiver got them.

Alertmanager's API is a live view: it does not say when it notified anyone. A webhook receiver in
the same route sees each notification when it goes out (after `group_wait`, `group_interval`,
`repeat_interval`), so the time it receives one is the notification time. `dossier serve` (or any
receiver) appends each webhook body it receives to a JSON-lines file with `append`, and the
`alertmanager` collector (`notification_log: <file>`) reads them back as `notification` events.

One line per webhook:

    {"received_at": "2026-11-20T10:08:41.204Z", "body": {<webhook v4 body, as received>}}

The hook, in a receiver (one call per POST /webhooks/alertmanager, before anything else is done):

    from collectors.alertmanager.notification_log import append
    append(path, raw_body_bytes, received_at=datetime.now(UTC))

Each line is written with a single `write` on a file opened in append mode, so concurrent
receivers (threads or processes on one host) never interleave lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dossier.model import parse_time, rfc3339


def append(path: Path | str, body: bytes | str | Mapping[str, Any], *, received_at: datetime) -> None:
    """Append one received webhook body to the notification log (created when missing).

    `body` is the raw request body (bytes or text, which must be JSON) or the parsed object;
    `received_at` is when it arrived (timezone-aware)."""
    if isinstance(body, bytes | str):
        parsed = json.loads(body)
    else:
        parsed = dict(body)
    line = json.dumps({"received_at": rfc3339(received_at), "body": parsed}, sort_keys=True, separators=(",", ":"))
    data = (line + "\n").encode()
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Received:
    line: int
    at: datetime
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Bad:
    line: int
    reason: str


def read(text: str) -> Iterator[Received | Bad]:
    """The lines of a notification log: each a `Received`, or a `Bad` saying why not."""
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield Bad(n, f"not JSON ({exc.msg})")
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("body"), Mapping):
            yield Bad(n, "not {received_at, body}")
            continue
        try:
            at = parse_time(str(item.get("received_at") or ""))
        except ValueError as exc:
            yield Bad(n, f"received_at: {exc}")
            continue
        yield Received(n, at, item["body"])
