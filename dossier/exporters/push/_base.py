"""What every push destination shares: its config base, the HTTP calls, the content of the draft.

A destination (`Destination`) turns the draft into one remote object (a page, an issue, a
delivery) and returns the `state` to keep in `pushed.json` (the remote id, its link, and for Jira
the issues of the action items); given the state of an earlier run it updates that object instead
of creating a second one. It raises `PushError` (one line, no secret) when the remote refuses.
"""

from __future__ import annotations

import abc
import builtins
import functools
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from dossier.codec import dossier_to_dict
from dossier.errors import ExportError
from dossier.model import ActionItem, Dossier, format_duration, rfc3339
from dossier.plugin import Duration

BODY_LIMIT = 200


class PushError(ExportError):
    """A destination refused or could not be reached: `push <name>: <what failed>: <why>`."""


class PushConfig(BaseModel):
    """Keys every destination has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None,
        description="Names this destination in pushed.json and in messages (default: its type); "
        "give one when two destinations have the same type.",
    )
    timeout: Duration = Field(default=30.0, gt=0, description="Timeout of each request.")
    insecure_skip_verify: bool = Field(default=False, description="Do not verify the server's certificate.")

    @property
    def key(self) -> str:
        return self.name or str(getattr(self, "type"))  # noqa: B009

    def secrets(self) -> list[str]:
        """Every secret value of this config, to keep them out of any message."""
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out.append(value.get_secret_value())
            elif isinstance(value, Mapping):
                out += [v.get_secret_value() for v in value.values() if isinstance(v, SecretStr)]
        return [s for s in out if s]


def check_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


class UrlConfig(PushConfig):
    url: str = Field(description="Base URL of the API.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_url(value)


@dataclass(frozen=True, slots=True)
class Draft:
    """The draft as a destination needs it."""

    dossier: Dossier
    markdown: str  # draft.md as written
    document: dict[str, Any]  # dossier.json's content

    @property
    def title(self) -> str:
        i = self.dossier.incident
        return f"Postmortem draft: {i.id} {i.title}" if i.title and i.title != i.id else f"Postmortem draft: {i.id}"

    @property
    def items(self) -> tuple[ActionItem, ...]:
        return self.dossier.action_items


def load_draft(dossier: Dossier, folder: Path) -> Draft:
    md_path = folder / "draft.md"
    if md_path.is_file():
        text = md_path.read_text(encoding="utf-8")
    else:
        from dossier.exporters.markdown import MarkdownExporter

        text = MarkdownExporter().render(dossier)
    return Draft(dossier=dossier, markdown=text, document=dossier_to_dict(dossier))


def item_text(item: ActionItem) -> str:
    """An action item in plain words (Markdown), for an issue of its own."""
    lines = [item.reason, "", f"*{item.cause} cause, {item.kind.replace('_', ' ')}*"]
    cf = item.counterfactual
    if cf is not None and cf.fired_at is not None:
        early = f", {format_duration(cf.earlier_by)} earlier" if cf.earlier_by else ""
        lines += ["", f"Counterfactual on {cf.source}: would have fired at {rfc3339(cf.fired_at)}{early}."]
    if item.rule:
        lines += ["", "Proposed rule:", "", "```yaml", item.rule, "```"]
    if item.checked:
        lines += ["", f"Checked: {item.checked}"]
    return "\n".join(lines)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One verifying TLS context for every push (building one costs tens of milliseconds)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class Http:
    """One destination's HTTP calls: one-line errors, secrets redacted, bodies cut to 200 chars."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        secrets: list[str] | None = None,
    ) -> None:
        self.name = name
        self.secrets = secrets or []
        self.client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            verify=_tls() if verify else False,
        )

    def close(self) -> None:
        self.client.close()

    def _redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else str(self.client.base_url).rstrip("/") + path
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PushError(self._redact(f"push {self.name}: {method} {url}: {type(exc).__name__}: {exc}")) from exc
        if response.status_code not in ok:
            body = " ".join(response.text.split())
            body = body if len(body) <= BODY_LIMIT else body[: BODY_LIMIT - 3] + "..."
            raise PushError(self._redact(f"push {self.name}: {method} {url}: HTTP {response.status_code}: {body}"))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise PushError(f"push {self.name}: {method} {path}: the answer is not JSON") from exc


def gone(exc: PushError) -> bool:
    """The remote object of an earlier push no longer exists (deleted, moved): create it again."""
    return any(f"HTTP {code}:" in str(exc) for code in (404, 410))


class Destination(abc.ABC):
    type: ClassVar[str]
    Config: ClassVar[builtins.type[PushConfig]]

    def __init__(self, config: PushConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def push(self, draft: Draft, state: Mapping[str, Any] | None) -> dict[str, Any]:
        """Create (no `state`) or update (the `state` of an earlier push) the remote object; the new state."""
