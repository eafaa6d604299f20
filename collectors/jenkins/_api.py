"""The Jenkins remote access API calls the collector makes, over the shared `HttpApi`.

Jenkins answers errors with HTML pages (Jetty's error page for 404 and 401, Jenkins' own page
for 403), so the useful part is picked out: the "<user> is missing the <permission> permission"
sentence, Jetty's MESSAGE cell, or the page title. On a 403 Jenkins also names the permission
in `X-Required-Permission` (e.g. `hudson.model.Hudson.Read`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import httpx

from collectors._http import HttpApi, one_line
from dossier.errors import CollectorError, SourceUnavailable

ROOT = "/api/json"

BUILD_FIELDS = (
    "number,url,result,timestamp,duration,building,displayName,description,"
    "actions[parameters[name,value],causes[shortDescription,userId,userName]],"
    "changeSets[items[commitId,msg,author[fullName]]]"
)

PERMISSIONS = {  # Java permission ids, as in X-Required-Permission, and how the UI names them
    "hudson.model.Hudson.Read": "Overall/Read",
    "hudson.model.Hudson.Administer": "Overall/Administer",
    "hudson.model.Item.Read": "Job/Read",
    "hudson.model.Item.Discover": "Job/Discover",
}

_MISSING = re.compile(r"([^\s<>]+ is missing the [A-Za-z/ ]+ permission)")
_JETTY_MESSAGE = re.compile(r"<th>MESSAGE:</th>\s*<td>(.*?)</td>", re.S | re.I)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)


class JenkinsApi(HttpApi):
    """`HttpApi` that reads Jenkins' HTML error pages and keeps the status on its errors."""

    def _message(self, response: httpx.Response) -> str:
        if "html" not in response.headers.get("content-type", "") and not response.text.lstrip().startswith("<"):
            return super()._message(response)
        text = response.text
        for pattern in (_MISSING, _JETTY_MESSAGE, _TITLE):
            match = pattern.search(text)
            if match:
                return one_line(html.unescape(re.sub(r"<[^>]+>", "", match.group(1))))
        return one_line(html.unescape(re.sub(r"<[^>]+>", " ", text)))

    def _error(self, method: str, url: str, response: httpx.Response) -> Exception:
        exc = super()._error(method, url, response)
        error: Any = getattr(exc, "error", exc)  # a retriable error travels inside the retry wrapper
        error.what = f"{method} {url}: HTTP {response.status_code}"
        error.detail = self._message(response)
        required = response.headers.get("x-required-permission")
        error.permission = PERMISSIONS.get(required, required) if required else None
        return exc

    def builds(self, job_path: str, *, first: int, count: int) -> tuple[list[Mapping[str, Any]], str]:
        """Builds `first` to `first + count` (newest first): `builds` for the newest 100, `allBuilds` after."""
        key = "builds" if first == 0 else "allBuilds"
        tree = f"{key}[{BUILD_FIELDS}]{{{first},{first + count}}}"
        body, _, rid = self.get_json(f"{job_path}/api/json", {"tree": tree})
        page = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(page, list):  # Jenkins always sends the list, empty for a job never built
            raise SourceUnavailable(
                self.instance,
                f"GET {self._url(job_path + '/api/json')}: the answer has no `{key}` list: is url a Jenkins?",
                kind="protocol",
            )
        return [b for b in page if isinstance(b, Mapping)], rid


def status_of(exc: CollectorError) -> int | None:
    return exc.status


def what_of(exc: CollectorError) -> str:
    return str(getattr(exc, "what", "") or exc)


def detail_of(exc: CollectorError) -> str:
    return one_line(str(getattr(exc, "detail", "") or ""))


def permission_of(exc: CollectorError) -> str | None:
    return getattr(exc, "permission", None)
