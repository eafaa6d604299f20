"""A webhook receiver that follows what the `webhook` push destination documents.

POST /hooks/dossier    202 {"id": <Idempotency-Key>, "received": <n>}: the record is kept per key
                       (a later delivery with the same key replaces it), 400 without a key or a
                       JSON body, 401 when a secret is set and X-Dossier-Signature is not the
                       body's HMAC-SHA256 (`sha256=<hex>`), or when the bearer token is wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tests.standins._rest import Answer, Req, RestStandin


class WebhookReceiver(RestStandin):
    def __init__(self, *, secret: str | None = None, token: str | None = None) -> None:
        super().__init__()
        self.secret, self.token = secret, token
        self.records: dict[str, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []

    def authorized(self, req: Req) -> bool:
        return self.token is None or req.headers.get("Authorization") == f"Bearer {self.token}"

    def routes(self):
        return [("POST", "/hooks/dossier", self.receive)]

    def receive(self, req: Req) -> Answer:
        if self.secret is not None:
            want = "sha256=" + hmac.new(self.secret.encode(), req.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(req.headers.get("X-Dossier-Signature", ""), want):
                return 401, {"error": "bad signature"}, {}
        key = req.headers.get("Idempotency-Key")
        try:
            body = json.loads(req.body)
        except ValueError:
            return 400, {"error": "not JSON"}, {}
        if not key:
            return 400, {"error": "Idempotency-Key header required"}, {}
        self.deliveries.append(body)
        self.records[key] = body
        return 202, {"id": key, "received": len(self.deliveries)}, {}

    def created(self) -> int:
        return len(self.records)
