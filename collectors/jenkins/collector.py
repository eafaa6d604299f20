"""Read the builds of Jenkins deploy jobs: each build that finished in the window is a change.

For each job, `GET {job}/api/json?tree=builds[...]{0,100}` returns its newest 100 builds, newest
first; older ones are read with `allBuilds[...]{100,200}`, `{200,300}`, ... until a build started
before the window (or `max_builds`). `timestamp` is when the build started and `duration` how
long it ran, both in milliseconds: a finished build is placed at `timestamp + duration`, when
the deploy was done; a running one at `timestamp`, with status "building".

One job failing (forbidden, missing, unreachable) is a `Problem` and the others are still
read; only when every job fails does the collection raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collectors._http import RestSource, TargetOutcome, merged, one_line, token_from
from collectors.jenkins._api import ROOT, JenkinsApi, detail_of, permission_of, status_of, what_of
from collectors.jenkins.config import PAGE, JenkinsConfig, Job
from dossier.errors import CollectorError, SourceAuthError, SourceQueryError
from dossier.model import Event, Problem, from_epoch, rfc3339, stable_id
from dossier.plugin import CollectRequest, CollectResult

CONCURRENCY = 4
"""Jobs read at once."""

VERSION_PARAMETERS = ("VERSION", "IMAGE_TAG", "TAG")
"""Build parameters that say what was deployed, first found wins (names compared ignoring case)."""

ROLLBACK_PARAMETER = "ROLLBACK"
_ROLLBACK_WORDS = re.compile(r"\broll[\s_-]?back", re.I)
_TRUE = frozenset({"true", "yes", "on", "1"})
STATUS = {"SUCCESS": "succeeded", "FAILURE": "failed", "UNSTABLE": "unstable", "ABORTED": "aborted"}
TEXT_LIMIT = 300

_CREDENTIAL_HINT = (
    "check `username` and `api_token`: the token must be an API token of that user (user menu > Security > "
    "API Token), not a password"
)
_PERMISSION_HINT = "the user needs the Overall/Read and Job/Read permissions (on Jenkins, or on the job's folder)"


_Outcome = TargetOutcome


@dataclass(frozen=True, slots=True)
class _Target:
    job: Job
    raw_service: str
    service: str
    mapped: bool


class JenkinsCollector(RestSource[JenkinsConfig]):
    """Builds of Jenkins deploy jobs."""

    type = "jenkins"
    Config = JenkinsConfig
    kinds = frozenset({"change"})

    concurrency = CONCURRENCY

    def make_api(self) -> JenkinsApi:
        return JenkinsApi(
            self.config.url,
            instance=self.ctx.instance,
            recorder=self.ctx.recorder,
            settings=self.config.http,
            auth=(self.config.username, token_from(self.config.api_token) or ""),
            credential="`username` and `api_token`",
        )

    # ---- sources check -----------------------------------------------------------------------

    def check(self) -> str:
        try:
            body, response, _ = self.api.get_json(ROOT, {"tree": "mode,nodeDescription"})
        except CollectorError as exc:
            if status_of(exc) == 401:
                raise self._auth_error(exc) from None
            if status_of(exc) == 403:
                message = f"{what_of(exc)}: forbidden ({detail_of(exc)}): {_PERMISSION_HINT}"
                raise SourceAuthError(self.ctx.instance, message) from None
            raise
        version = response.headers.get("x-jenkins")
        if not version:
            raise SourceQueryError(
                self.ctx.instance,
                f"GET {self.config.url}{ROOT}: the answer has no X-Jenkins header: is `url` a Jenkins server?",
            )
        body = body if isinstance(body, Mapping) else {}
        return f"Jenkins {version} (mode {body.get('mode') or 'unknown'}, {body.get('nodeDescription') or 'no node'})"

    # ---- collection --------------------------------------------------------------------------

    def collect(self, request: CollectRequest) -> CollectResult:
        targets = []
        for job in self.config.jobs:
            raw = job.service or job.name
            mapped = request.canonical(raw)
            targets.append(_Target(job, raw, mapped or raw, mapped is not None))
        outcomes = self.read_all(targets, lambda t: self._read(t, request))
        failed = [(t, o.error) for t, o in zip(targets, outcomes, strict=True) if o.error is not None]
        if len(failed) == len(targets):
            target, first = failed[0]
            more = f" (and {len(failed) - 1} more failed the same way or otherwise)" if len(failed) > 1 else ""
            cls = type(first) if all(type(e) is type(first) for _, e in failed) else CollectorError
            raise cls(self.ctx.instance, f"every job failed: {self._reason(target, first)}{more}")
        return merged(outcomes)

    def _read(self, target: _Target, request: CollectRequest) -> _Outcome:
        """The job's builds, newest first, page by page until one started before the window."""
        job = target.job
        start_ms = request.start.timestamp() * 1000
        out = _Outcome()
        seen: set[int] = set()
        oldest: Mapping[str, Any] | None = None
        first, complete = 0, False
        while True:
            try:
                page, rid = self.api.builds(job.path, first=first, count=PAGE)
            except CollectorError as exc:
                if status_of(exc) == 401:  # the credentials themselves: nothing else will work either
                    raise self._auth_error(exc) from None
                if first == 0:
                    return _Outcome(problems=[self._problem(target, exc)], error=exc)
                out.problems.append(self._problem(target, exc, older_than=oldest, request=request))
                out.truncate(out.problems[-1].reason)
                break
            for build in page:
                number = build.get("number")
                if not isinstance(number, int) or number in seen:  # a new build shifts the pages by one
                    continue
                seen.add(number)
                if oldest is None or number < oldest["number"]:
                    oldest = build
                event = self._event(target, build, rid, request)
                if event is not None:
                    out.events.append(event)
            if len(page) < PAGE:
                complete = True
                break
            if min(_ms(b.get("timestamp")) for b in page) < start_ms:
                break
            first += PAGE
            if first >= self.config.max_builds:
                out.problems.append(self._cut_short(target, oldest, request))
                out.truncate(out.problems[-1].reason)
                break
        if complete and oldest is not None and oldest["number"] > 1 and _ms(oldest.get("timestamp")) > start_ms:
            out.problems.append(self._discarded(target, oldest, request))
            out.truncate(out.problems[-1].reason)
        return out

    # ---- output ------------------------------------------------------------------------------

    def _event(self, target: _Target, build: Mapping[str, Any], rid: str, request: CollectRequest) -> Event | None:
        job = target.job
        started_ms = _ms(build.get("timestamp"))
        if started_ms <= 0:
            return None
        building = bool(build.get("building"))
        started = from_epoch(started_ms / 1000)
        at = started if building else from_epoch((started_ms + _ms(build.get("duration"))) / 1000)
        if not request.start <= at <= request.end:
            return None
        number = build["number"]
        params = _parameters(build)
        result = build.get("result")
        version_name, version = _version(params)
        kind = "rollback" if _is_rollback(params, build) else job.kind
        url = str(build.get("url") or f"{self.config.url}{job.path}/{number}/")
        status = "building" if building else STATUS.get(str(result), str(result or "unknown").lower())
        attrs: dict[str, Any] = {
            "id": f"{job.job}#{number}",
            "job": job.job,
            "build": str(number),
            "result": str(result) if result else "BUILDING",
            "status": status,
            "parameters": {name: _text(params[name]) for name in job.parameters if name in params},
            "causes": _causes(build),
            "commits": str(sum(len(cs.get("items") or []) for cs in build.get("changeSets") or [])),
            "started_at": rfc3339(started),
            "service_mapped": "true" if target.mapped else "false",
            "raw_service": target.raw_service,
            "url": url,
        }
        if not building:
            attrs["duration"] = f"{_ms(build.get('duration')) / 1000:g}"
        if version is not None:
            attrs["version"] = version
            if kind == "rollback":
                attrs["rolled_back_to"] = version
        if build.get("displayName") and build["displayName"] != f"#{number}":
            attrs["display_name"] = one_line(str(build["displayName"]), TEXT_LIMIT)
        if build.get("description"):
            attrs["description"] = one_line(str(build["description"]), TEXT_LIMIT)
        title = f"{job.name} #{number} {attrs['result']}"
        if version is not None:
            title += f" ({version_name}={version})"
        return Event(
            id=stable_id(self.ctx.instance, attrs["id"]),
            at=at,
            kind=kind,
            source=self.ctx.instance,
            title=title,
            service=target.service,
            attrs=attrs,
            link=url,
            request=rid,
        )

    # ---- failures ----------------------------------------------------------------------------

    def _auth_error(self, exc: CollectorError) -> SourceAuthError:
        detail = detail_of(exc)
        return SourceAuthError(
            self.ctx.instance,
            f"{what_of(exc)}: not authenticated" + (f" ({detail})" if detail else "") + f": {_CREDENTIAL_HINT}",
        )

    def _problem(
        self,
        target: _Target,
        exc: CollectorError,
        *,
        older_than: Mapping[str, Any] | None = None,
        request: CollectRequest | None = None,
    ) -> Problem:
        reason = self._reason(target, exc)
        if older_than is None or request is None:
            return Problem(source=self.ctx.instance, reason=reason, service=target.service)
        until = from_epoch(_ms(older_than.get("timestamp")) / 1000)
        return Problem(
            source=self.ctx.instance,
            reason=f"builds older than #{older_than['number']} could not be read: {reason}",
            service=target.service,
            start=request.start,
            end=min(until, request.end),
        )

    def _reason(self, target: _Target, exc: CollectorError) -> str:
        status = status_of(exc)
        detail = detail_of(exc)
        job = target.job.job
        if status == 403:
            missing = permission_of(exc)
            why = detail + (f"; Jenkins requires {missing}" if missing and missing not in detail else "")
            return f"job {job!r}: {what_of(exc)}: forbidden ({why or 'no detail'}): {_PERMISSION_HINT}"
        if status == 404:
            return (
                f"job {job!r}: {what_of(exc)}: not found: check its full name (folders as path segments, e.g. "
                "deploy/payments-prod); Jenkins also answers 404 for a job the user may not see (Job/Read)"
            )
        return f"job {job!r}: {exc}"

    def _cut_short(self, target: _Target, oldest: Mapping[str, Any] | None, request: CollectRequest) -> Problem:
        until = from_epoch(_ms((oldest or {}).get("timestamp")) / 1000)
        return Problem(
            source=self.ctx.instance,
            reason=(
                f"job {target.job.job!r}: stopped after {self.config.max_builds} builds (max_builds), back to "
                f"#{(oldest or {}).get('number')} started at {rfc3339(until)}: older builds in the window are "
                "not read: raise max_builds"
            ),
            service=target.service,
            start=request.start,
            end=min(until, request.end),
        )

    def _discarded(self, target: _Target, oldest: Mapping[str, Any], request: CollectRequest) -> Problem:
        until = from_epoch(_ms(oldest.get("timestamp")) / 1000)
        return Problem(
            source=self.ctx.instance,
            reason=(
                f"job {target.job.job!r}: the oldest build Jenkins still keeps is #{oldest['number']}, started at "
                f"{rfc3339(until)}: older builds were discarded (the job's build discarder), so builds from "
                f"{rfc3339(request.start)} until then are not known"
            ),
            service=target.service,
            start=request.start,
            end=min(until, request.end),
        )


# ---- the shapes of Jenkins' values -----------------------------------------------------------


def _ms(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _parameters(build: Mapping[str, Any]) -> dict[str, Any]:
    """Every build parameter by name (ParametersAction; a password parameter has no value)."""
    params: dict[str, Any] = {}
    for action in build.get("actions") or []:
        if not isinstance(action, Mapping):
            continue
        for p in action.get("parameters") or []:
            if isinstance(p, Mapping) and isinstance(p.get("name"), str):
                params.setdefault(p["name"], p.get("value"))
    return params


def _causes(build: Mapping[str, Any]) -> list[str]:
    causes: list[str] = []
    for action in build.get("actions") or []:
        if not isinstance(action, Mapping):
            continue
        for c in action.get("causes") or []:
            if isinstance(c, Mapping) and c.get("shortDescription"):
                causes.append(str(c["shortDescription"]))
    return causes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _version(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    by_upper = {name.upper(): name for name in params}
    for wanted in VERSION_PARAMETERS:
        name = by_upper.get(wanted)
        if name is not None and _text(params[name]).strip():
            return name, _text(params[name]).strip()
    return None, None


def _is_rollback(params: Mapping[str, Any], build: Mapping[str, Any]) -> bool:
    for name, value in params.items():
        if name.upper() == ROLLBACK_PARAMETER and _text(value).strip().lower() in _TRUE:
            return True
    return any(_ROLLBACK_WORDS.search(str(build.get(key) or "")) for key in ("displayName", "description"))
