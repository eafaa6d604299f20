"""A stand-in Jenkins (stdlib only) for the `jenkins` collector's tests.

It answers the remote access API the way Jenkins does for the requests the collector makes:

    GET /api/json                         the controller (hudson.model.Hudson): mode, nodeDescription, jobs
    GET /job/<f>/job/<j>/api/json         a job (folders as /job/ segments): `builds` holds the newest
                                          100 builds, `allBuilds` (shown only when asked for) all of them

with the `tree` parameter (`builds[number,actions[parameters[name,value]]]{0,100}`; ranges `{M,N}`
`{M,}` `{,N}` `{N}`; every object keeps its `_class`; an object asked for without sub-fields is just
its `_class`), the `X-Jenkins` version header on every answer, basic authentication with API tokens
(a wrong token: 401 with `WWW-Authenticate: Basic realm="Jenkins"`), 403 pages naming the missing
permission (with `X-Required-Permission`), and Jetty's HTML error page for a job that does not exist
or that the user may not see.

    with Jenkins() as ci:
        ci.add_job("deploy/payments-prod", [build(412, "2026-11-20T09:53:00Z", 95, parameters={...})])
        ci.inject(503, count=2)            # the next two requests answer 503
        ... ci.url, ci.requests

Run it alone with `python tests/standins/jenkins.py [--port 8080]` to serve a small demo.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_USER = "dossier"
DEFAULT_TOKEN = "11d3c2f8a9b04e6f8d2a7c5b1e0f9a3d4c"
BUILDS_LIMIT = 100  # `builds` of a job holds the newest 100 (since Jenkins 1.485); `allBuilds` has all
WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
WORKFLOW_RUN = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
PERMISSION_IDS = {"Overall/Read": "hudson.model.Hudson.Read", "Job/Read": "hudson.model.Item.Read"}


def epoch_ms(value: datetime | str | float) -> int:
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return int(value.timestamp() * 1000)


# ---- building builds ---------------------------------------------------------------------------


def build(
    number: int,
    started: datetime | str | float,
    duration_s: float = 60.0,
    *,
    result: str | None = "SUCCESS",
    building: bool = False,
    parameters: Mapping[str, Any] | None = None,
    user: str | None = "alice",
    causes: Sequence[str] | None = None,
    commits: Sequence[tuple[str, str, str]] = (),
    display_name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A build (WorkflowRun) as the job's full API shows it; `url` is filled in when it is served.

    `commits` are (commitId, msg, author); `user` starts it (a UserIdCause) unless `causes` says otherwise.
    """
    actions: list[dict[str, Any]] = []
    if parameters:
        values = []
        for name, value in parameters.items():
            kind = "Boolean" if isinstance(value, bool) else "String"
            cls = f"hudson.model.{kind}ParameterValue"
            values.append({"_class": cls, "name": name, "value": value})
        actions.append({"_class": "hudson.model.ParametersAction", "parameters": values})
    cause_list: list[dict[str, Any]] = []
    if causes is not None:
        cause_list = [{"_class": "hudson.model.Cause$UpstreamCause", "shortDescription": c} for c in causes]
    elif user:
        cause_list = [
            {
                "_class": "hudson.model.Cause$UserIdCause",
                "shortDescription": f"Started by user {user.title()}",
                "userId": user,
                "userName": user.title(),
            }
        ]
    actions.append({"_class": "hudson.model.CauseAction", "causes": cause_list})
    actions.append({"_class": "org.jenkinsci.plugins.workflow.libs.LibrariesAction"})
    actions.append({})  # actions without exported fields show as empty objects
    actions.append({"_class": "org.jenkinsci.plugins.displayurlapi.actions.RunDisplayAction"})
    change_sets = []
    if commits:
        items = [
            {
                "_class": "hudson.plugins.git.GitChangeSet",
                "affectedPaths": ["src/main.py"],
                "commitId": cid,
                "timestamp": epoch_ms(started) - 600_000,
                "author": {"absoluteUrl": f"https://ci/user/{author}", "fullName": author},
                "msg": msg,
            }
            for cid, msg, author in commits
        ]
        change_sets = [{"_class": "hudson.plugins.git.GitChangeSetList", "items": items, "kind": "git"}]
    return {
        "_class": WORKFLOW_RUN,
        "actions": actions,
        "artifacts": [],
        "building": building,
        "description": description,
        "displayName": display_name or f"#{number}",
        "duration": 0 if building else int(duration_s * 1000),
        "estimatedDuration": int(duration_s * 1000),
        "executor": {} if building else None,
        "fullDisplayName": None,  # filled in when served
        "id": str(number),
        "keepLog": False,
        "number": number,
        "queueId": 9000 + number,
        "result": None if building else result,
        "timestamp": epoch_ms(started),
        "url": None,  # filled in when served
        "changeSets": change_sets,
        "culprits": [],
        "inProgress": building,
    }


# ---- the `tree` parameter ---------------------------------------------------------------------

Tree = dict[str, tuple["Tree | None", "slice | None"]]
_NAME = re.compile(r"[A-Za-z_$][\w$]*")


def parse_tree(text: str) -> Tree:
    tree, i = _parse(text, 0)
    if i != len(text):
        raise ValueError(f"unexpected {text[i]!r} at {i} in tree={text!r}")
    return tree


def _parse(text: str, i: int) -> tuple[Tree, int]:
    fields: Tree = {}
    while i < len(text):
        m = _NAME.match(text, i)
        if m is None:
            raise ValueError(f"expected a field name at {i} in tree={text!r}")
        name, i = m.group(), m.end()
        children: Tree | None = None
        rng: slice | None = None
        if i < len(text) and text[i] == "[":
            children, i = _parse(text, i + 1)
            if i >= len(text) or text[i] != "]":
                raise ValueError(f"missing ']' in tree={text!r}")
            i += 1
        if i < len(text) and text[i] == "{":
            end = text.index("}", i)
            rng = _range(text[i + 1 : end])
            i = end + 1
        fields[name] = (children, rng)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        break
    return fields, i


def _range(text: str) -> slice:
    """`M,N` (M inclusive, N exclusive), `M,`, `,N`, `N` (just the Nth)."""
    if "," not in text:
        n = int(text)
        return slice(n, n + 1)
    lo, hi = text.split(",", 1)
    return slice(int(lo) if lo.strip() else None, int(hi) if hi.strip() else None)


def apply_tree(value: Any, tree: Tree) -> Any:
    if isinstance(value, list):
        return [apply_tree(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    if "_class" in value:
        out["_class"] = value["_class"]
    for name, (children, rng) in tree.items():
        if name not in value:
            continue
        v = value[name]
        if isinstance(v, list) and rng is not None:
            v = v[rng]
        out[name] = _shape(v, children)
    return out


def _shape(value: Any, children: Tree | None) -> Any:
    if isinstance(value, list):
        return [_shape(v, children) for v in value]
    if isinstance(value, dict):
        return apply_tree(value, children or {})
    return value


# ---- the server -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class _Injection:
    status: int
    count: int
    body: Any
    headers: dict[str, str]
    path: str | None
    delay: float


@dataclass(slots=True)
class Jenkins:
    """The stand-in; a context manager that serves on 127.0.0.1 on a free port."""

    version: str = "2.479.3"
    users: dict[str, str] = field(default_factory=lambda: {DEFAULT_USER: DEFAULT_TOKEN})
    anonymous_read: bool = False
    no_overall_read: set[str] = field(default_factory=set)  # users without Overall/Read
    hidden: set[str] = field(default_factory=set)  # jobs the users may not see at all (404)
    discover_only: set[str] = field(default_factory=set)  # jobs the users see but may not read (403)
    jobs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # full name -> builds
    requests: list[Recorded] = field(default_factory=list)
    _injections: list[_Injection] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    # -- data

    def add_job(self, full_name: str, builds: Sequence[Mapping[str, Any]]) -> Jenkins:
        self.jobs[full_name] = sorted((dict(b) for b in builds), key=lambda b: -b["number"])  # newest first
        return self

    def inject(
        self,
        status: int,
        count: int = 1,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        path: str | None = None,
        delay: float = 0.0,
    ) -> Jenkins:
        """The next `count` requests (to paths starting with `path`, if given) answer `status` with
        `body` (default: Jenkins' page for that status) after `delay` seconds."""
        with self._lock:
            self._injections.append(_Injection(status, count, body, dict(headers or {}), path, delay))
        return self

    def trees(self) -> list[str | None]:
        return [r.param("tree") for r in self.requests]

    # -- lifecycle

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the stand-in first (use it as a context manager)"
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self, port: int = 0) -> Jenkins:
        handler = type("Handler", (_Handler,), {"ci": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="jenkins-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Jenkins:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering: (status, headers, body); a dict or list body is JSON, a str is HTML

    def answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> tuple:
        with self._lock:
            self.requests.append(Recorded(method, path, query, headers))
            inj = next(
                (i for i in self._injections if i.count > 0 and (i.path is None or path.startswith(i.path))), None
            )
            if inj is not None:
                inj.count -= 1
        if inj is not None:
            if inj.delay:
                time.sleep(inj.delay)
            return inj.status, inj.headers, inj.body if inj.body is not None else _page_for(inj.status, path)
        user, denial = self._authenticate(headers)
        if denial is not None:
            return denial
        if (user is None and not self.anonymous_read) or user in self.no_overall_read:
            return self._forbidden(user or "anonymous", "Overall/Read")
        if method != "GET" or not path.endswith("/api/json"):
            return 404, {}, _jetty(404, "Not Found", path)
        try:
            tree = parse_tree(query["tree"][0]) if query.get("tree") else None
        except ValueError as exc:
            return 400, {}, _jetty(400, html.escape(str(exc)), path)
        item = path[: -len("/api/json")]
        if item == "":
            return 200, {}, self._shaped(self._root(), tree)
        names = _item_names(item)
        if names is None:
            return 404, {}, _jetty(404, "Not Found", path)
        full = "/".join(names)
        if full in self.hidden:
            return 404, {}, _jetty(404, "Not Found", path)
        if full in self.discover_only:
            return self._forbidden(user or "anonymous", "Job/Read")
        if full in self.jobs:
            return 200, {}, self._shaped(self._job(full), tree)
        if any(j.startswith(full + "/") for j in self.jobs):
            return 200, {}, self._shaped(self._folder(full), tree)
        return 404, {}, _jetty(404, "Not Found", path)

    def _authenticate(self, headers: Mapping[str, str]) -> tuple[str | None, tuple | None]:
        auth = headers.get("authorization")
        if not auth:
            return None, None
        scheme, _, value = auth.partition(" ")
        try:
            user, _, token = base64.b64decode(value).decode().partition(":")
        except ValueError:
            user, token = "", ""
        if scheme.lower() != "basic" or self.users.get(user) != token:
            message = f"Invalid password/token for user: {html.escape(user)}"
            return None, (401, {"WWW-Authenticate": 'Basic realm="Jenkins"'}, _jetty(401, message, "/"))
        return user, None

    def _forbidden(self, user: str, permission: str) -> tuple:
        headers = {
            "X-You-Are-Authenticated-As": user,
            "X-You-Are-In-Group-Disabled": "JENKINS-39402: use -Dhudson.security.AccessDeniedException2"
            ".REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose",
            "X-Required-Permission": PERMISSION_IDS[permission],
            "X-Permission-Implied-By": "hudson.model.Hudson.Administer",
        }
        return 403, headers, _access_denied(user, permission)

    def _shaped(self, obj: dict[str, Any], tree: Tree | None) -> dict[str, Any]:
        if tree is not None:
            return apply_tree(obj, tree)
        # No tree: depth 0, as Jenkins does by default (nested objects shallow, allBuilds hidden).
        shallow = {k: v for k, v in obj.items() if k != "allBuilds"}
        if "builds" in shallow:
            shallow["builds"] = [{"_class": b["_class"], "number": b["number"], "url": b["url"]} for b in obj["builds"]]
        return shallow

    def _root(self) -> dict[str, Any]:
        top = sorted({j.split("/", 1)[0] for j in self.jobs})
        return {
            "_class": "hudson.model.Hudson",
            "assignedLabels": [{"name": "built-in"}],
            "mode": "NORMAL",
            "nodeDescription": "the Jenkins controller's built-in node",
            "nodeName": "",
            "numExecutors": 2,
            "description": None,
            "jobs": [self._item_ref(t) for t in top],
            "quietingDown": False,
            "slaveAgentPort": 50000,
            "url": f"{self.url}/",
            "useCrumbs": True,
            "useSecurity": True,
            "views": [{"_class": "hudson.model.AllView", "name": "all", "url": f"{self.url}/"}],
        }

    def _item_ref(self, full: str) -> dict[str, Any]:
        cls = WORKFLOW_JOB if full in self.jobs else FOLDER
        return {"_class": cls, "name": full.rsplit("/", 1)[-1], "url": f"{self.url}{_job_path(full)}/"}

    def _folder(self, full: str) -> dict[str, Any]:
        inside = [j[len(full) + 1 :] for j in self.jobs if j.startswith(full + "/")]
        children = sorted({f"{full}/{rest.split('/', 1)[0]}" for rest in inside})
        return {
            "_class": FOLDER,
            "name": full.rsplit("/", 1)[-1],
            "fullName": full,
            "url": f"{self.url}{_job_path(full)}/",
            "jobs": [self._item_ref(c) for c in children],
        }

    def _job(self, full: str) -> dict[str, Any]:
        url = f"{self.url}{_job_path(full)}/"
        runs = []
        for b in self.jobs[full]:
            run = dict(b)
            run["url"] = f"{url}{b['number']}/"
            run["fullDisplayName"] = f"{' » '.join(full.split('/'))} {b['displayName']}"
            runs.append(run)
        last = runs[0] if runs else None
        ref = lambda r: {"_class": r["_class"], "number": r["number"], "url": r["url"]} if r else None  # noqa: E731
        return {
            "_class": WORKFLOW_JOB,
            "actions": [{}, {"_class": "hudson.plugins.jobConfigHistory.JobConfigHistoryProjectAction"}],
            "description": "",
            "displayName": full.rsplit("/", 1)[-1],
            "fullDisplayName": " » ".join(full.split("/")),
            "fullName": full,
            "name": full.rsplit("/", 1)[-1],
            "url": url,
            "buildable": True,
            "builds": runs[:BUILDS_LIMIT],
            "allBuilds": runs,
            "color": "blue" if last and last["result"] == "SUCCESS" else "red",
            "firstBuild": ref(runs[-1] if runs else None),
            "lastBuild": ref(last),
            "nextBuildNumber": (last["number"] + 1) if last else 1,
            "inQueue": False,
            "keepDependencies": False,
        }


class _Handler(BaseHTTPRequestHandler):
    ci: Jenkins
    server_version = "Jetty(10.0.24)"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, body = self.ci.answer(method, parts.path, query, headers)
        if isinstance(body, str):
            data, content_type = body.encode("iso-8859-1", "replace"), "text/html;charset=iso-8859-1"
        else:
            data, content_type = json.dumps(body).encode(), "application/json;charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Jenkins", self.ci.version)
            self.send_header("X-Jenkins-Session", "5d4b2e1a")
            self.send_header("X-Hudson", "1.395")
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _job_path(full: str) -> str:
    return "".join(f"/job/{quote(p, safe='')}" for p in full.split("/"))


def _item_names(path: str) -> list[str] | None:
    """`/job/deploy/job/payments-prod` -> ["deploy", "payments-prod"]; None when not an item path."""
    parts = path.strip("/").split("/")
    if len(parts) % 2 or any(p != "job" for p in parts[::2]):
        return None
    return [unquote(p) for p in parts[1::2]]


def _jetty(status: int, message: str, uri: str) -> str:
    """Jetty's error page, which Jenkins answers with for a missing job or a bad token."""
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Server Error"}.get(status, "Error")
    return (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
        f"<title>Error {status} {reason}</title>\n"
        "</head>\n"
        f"<body><h2>HTTP ERROR {status} {reason}</h2>\n"
        "<table>\n"
        f"<tr><th>URI:</th><td>{html.escape(uri)}</td></tr>\n"
        f"<tr><th>STATUS:</th><td>{status}</td></tr>\n"
        f"<tr><th>MESSAGE:</th><td>{message}</td></tr>\n"
        "<tr><th>SERVLET:</th><td>Stapler</td></tr>\n"
        "</table>\n"
        '<hr/><a href="https://eclipse.org/jetty">Powered by Jetty:// 10.0.24</a><hr/>\n\n'
        "</body>\n</html>\n"
    )


def _access_denied(user: str, permission: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Access Denied - Jenkins</title></head>"
        '<body><div id="main-panel"><h1>Access Denied</h1>'
        f"<p>{html.escape(user)} is missing the {permission} permission</p>"
        "</div></body></html>"
    )


def _page_for(status: int, path: str) -> str:
    if status == 503:
        return (
            "<!DOCTYPE html><html><head><title>Starting Jenkins</title></head><body>"
            "<h1>Please wait while Jenkins is getting ready to work...</h1></body></html>"
        )
    if status == 403:
        return _access_denied(DEFAULT_USER, "Overall/Read")
    return _jetty(status, {401: "Unauthorized", 404: "Not Found"}.get(status, "Server Error"), path)


# ---- standalone -------------------------------------------------------------------------------


def demo() -> Jenkins:
    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp() * 1000
    builds = [
        build(400 + i, base + i * 600_000, 90, parameters={"VERSION": f"v2.{i}.0", "ENVIRONMENT": "prod"})
        for i in range(1, 13)
    ]
    return Jenkins().add_job("deploy/payments-prod", builds)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a stand-in Jenkins with a demo deploy job.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    args = parser.parse_args(argv)
    ci = demo().start(args.port)
    print(f"Jenkins stand-in at {ci.url} (user {DEFAULT_USER!r}, API token {DEFAULT_TOKEN!r}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        ci.stop()


if __name__ == "__main__":
    main()
