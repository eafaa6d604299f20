"""Push destination `webhook`: the JSON draft POSTed to a URL.

The body is `{"event": "dossier.created" | "dossier.updated", "delivery": <n>, "incident": <id>,
"dossier": <dossier.json>}`. Every delivery of one incident carries the same `Idempotency-Key`
header (the incident's id and the destination's name, hashed), so a receiver keeps one record per
incident and replaces it on `dossier.updated`; with a `secret`, `X-Dossier-Signature:
sha256=<hex HMAC-SHA256 of the body>` lets it check the sender. Any 2xx is success; when the
receiver answers JSON with an `id` (or `url`), it is kept in `pushed.json`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from dossier.exporters.push._base import Destination, Draft, Http, UrlConfig


class WebhookConfig(UrlConfig):
    type: Literal["webhook"] = Field(description='Selects this destination: "webhook".')
    url: str = Field(description="The URL that receives the POST.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description='Extra headers, e.g. {Authorization: "Bearer ${env:HOOK_TOKEN}"}.'
    )
    secret: SecretStr | None = Field(
        default=None, description="Key of the X-Dossier-Signature HMAC-SHA256 of the body (use ${env:VAR})."
    )


def idempotency_key(incident: str, name: str) -> str:
    return hashlib.sha256(f"dossier\x1f{name}\x1f{incident}".encode()).hexdigest()[:32]


class WebhookDestination(Destination):
    type: ClassVar[str] = "webhook"
    Config = WebhookConfig

    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        c: WebhookConfig = self.config  # type: ignore[assignment]
        delivery = int(state.get("delivery", 0)) + 1 if state else 1
        body = json.dumps(
            {
                "event": "dossier.updated" if state else "dossier.created",
                "delivery": delivery,
                "incident": draft.dossier.incident.id,
                "dossier": draft.document,
            },
            ensure_ascii=False,
            allow_nan=False,
        ).encode()
        key = idempotency_key(draft.dossier.incident.id, c.key)
        headers = {k: v.get_secret_value() for k, v in c.headers.items()}
        headers |= {"Content-Type": "application/json", "Idempotency-Key": key}
        if c.secret is not None:
            digest = hmac.new(c.secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
            headers["X-Dossier-Signature"] = f"sha256={digest}"
        http = Http("", name=c.key, timeout=c.timeout, verify=not c.insecure_skip_verify, secrets=c.secrets())
        try:
            response = http.call("POST", c.url, content=body, headers=headers, ok=tuple(range(200, 300)))
        finally:
            http.close()
        out: dict[str, Any] = {"id": key, "delivery": delivery}
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            for k in ("id", "url"):
                if isinstance(answer.get(k), str | int):
                    out["remote_" + k] = answer[k]
        return out
