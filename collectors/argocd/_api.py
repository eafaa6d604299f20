"""The few Argo CD API calls the collector makes, over the shared `HttpApi`.

Argo CD's REST API is the gRPC gateway in front of its gRPC services (`server/application/
application.proto`, `assets/swagger.json`): errors come back as `runtimeError`
`{"error", "code", "message", "details"}` where `code` is the gRPC status code (5 NotFound,
7 PermissionDenied, 16 Unauthenticated) and the HTTP status follows from it (404, 403, 401).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from collectors._http import HttpApi, one_line
from dossier.errors import CollectorError

APPLICATIONS = "/api/v1/applications"
VERSION = "/api/version"
USERINFO = "/api/v1/session/userinfo"


class ArgoApi(HttpApi):
    """`HttpApi` whose errors also carry the HTTP status, the request and Argo CD's own message."""

    def _error(self, method: str, url: str, response: httpx.Response) -> Exception:
        exc = super()._error(method, url, response)
        error: Any = getattr(exc, "error", exc)  # a retriable error travels inside the retry wrapper
        error.what = f"{method} {url}: HTTP {response.status_code}"
        error.detail = self._message(response)
        return exc

    def application(self, name: str, *, project: str | None, namespace: str | None) -> tuple[Any, str]:
        """`GET /api/v1/applications/{name}`: the whole Application, with `status.history`."""
        params: dict[str, Any] = {}
        if project:
            params["projects"] = project
        if namespace:
            params["appNamespace"] = namespace
        body, _, rid = self.get_json(f"{APPLICATIONS}/{quote(name, safe='')}", params)
        return body, rid

    def applications(
        self, *, projects: list[str], selector: str | None, namespace: str | None
    ) -> tuple[list[Mapping[str, Any]], str]:
        """`GET /api/v1/applications`: every application the token may `get` (Argo CD filters by RBAC)."""
        params: dict[str, Any] = {}
        if projects:
            params["projects"] = list(projects)
        if selector:
            params["selector"] = selector
        if namespace:
            params["appNamespace"] = namespace
        body, _, rid = self.get_json(APPLICATIONS, params)
        items = body.get("items") if isinstance(body, Mapping) else None
        return [i for i in items or [] if isinstance(i, Mapping)], rid  # `items` is null when there are none


def status_of(exc: CollectorError) -> int | None:
    return exc.status


def what_of(exc: CollectorError) -> str:
    """`GET https://argocd/api/v1/applications/payments: HTTP 403`, or the whole message."""
    return str(getattr(exc, "what", "") or exc)


def detail_of(exc: CollectorError) -> str:
    return one_line(str(getattr(exc, "detail", "") or ""))
