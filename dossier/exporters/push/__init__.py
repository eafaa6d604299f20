"""Push exporters: the draft, once written locally, sent to where the team writes postmortems.

    output:
      push:
        - {type: jira, url: https://acme.atlassian.net, project: OPS, user: sre@acme.com, token: "${env:JIRA_TOKEN}"}
        - {type: confluence, url: https://acme.atlassian.net/wiki, space: OPS, user: ..., token: ...}
        - {type: github, repo: acme/postmortems, token: "${env:GITHUB_TOKEN}"}
        - {type: gitlab, project: acme/postmortems, token: "${env:GITLAB_TOKEN}"}
        - {type: notion, database_id: ..., token: "${env:NOTION_TOKEN}"}
        - {type: webhook, url: https://hooks.example.com/dossier, secret: "${env:HOOK_SECRET}"}

`push_all(dossier, folder, configs)` runs after the local files are written. Each destination's
remote id is kept in `folder/pushed.json` (never a secret), so that a rerun (`dossier collect`
again, or `dossier replay --config`) updates what it created instead of creating a second copy.
A destination that fails leaves the local draft as written, keeps its earlier state, and is
returned as a failed `PushOutcome` (the CLI states it on stderr and exits 1, "written, but ...").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossier.exporters.push._base import Destination, Draft, PushConfig, PushError, load_draft
from dossier.exporters.push.confluence import ConfluenceConfig, ConfluenceDestination
from dossier.exporters.push.github import GitHubConfig, GitHubDestination
from dossier.exporters.push.gitlab import GitLabConfig, GitLabDestination
from dossier.exporters.push.jira import JiraConfig, JiraDestination
from dossier.exporters.push.notion import NotionConfig, NotionDestination
from dossier.exporters.push.webhook import WebhookConfig, WebhookDestination
from dossier.model import Dossier

__all__ = [
    "CONFIGS",
    "DESTINATIONS",
    "STATE_FILE",
    "ConfluenceConfig",
    "Destination",
    "Draft",
    "GitHubConfig",
    "GitLabConfig",
    "JiraConfig",
    "NotionConfig",
    "PushConfig",
    "PushError",
    "PushOutcome",
    "WebhookConfig",
    "push_all",
    "read_state",
]

STATE_FILE = "pushed.json"
STATE_SCHEMA = "dossier-pushed/v1"

DESTINATIONS: dict[str, type[Destination]] = {
    d.type: d
    for d in (
        ConfluenceDestination,
        GitHubDestination,
        GitLabDestination,
        JiraDestination,
        NotionDestination,
        WebhookDestination,
    )
}
CONFIGS: dict[str, type[PushConfig]] = {name: d.Config for name, d in DESTINATIONS.items()}


@dataclass(frozen=True, slots=True)
class PushOutcome:
    name: str
    ok: bool
    created: bool  # a new remote object (False: the one of an earlier push was updated)
    url: str | None
    error: str | None = None
    note: str | None = None


def read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PushError(f"{path}: cannot be read ({exc}): fix or remove it (a push would create copies)") from exc
    destinations = data.get("destinations") if isinstance(data, dict) else None
    return dict(destinations) if isinstance(destinations, dict) else {}


def _write_state(folder: Path, state: Mapping[str, Any]) -> None:
    path = folder / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps({"schema": STATE_SCHEMA, "destinations": dict(state)}, indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    tmp.replace(path)


def push_all(dossier: Dossier, folder: Path, configs: Sequence[PushConfig]) -> list[PushOutcome]:
    """Push the draft written in `folder` to each destination, one after the other; never raises
    for a destination that fails (its outcome says why)."""
    if not configs:
        return []
    try:
        state = read_state(folder)
    except PushError as exc:  # pushing blind would create copies: every destination fails, saying why
        return [PushOutcome(c.key, ok=False, created=False, url=None, error=f"push {c.key}: {exc}") for c in configs]
    draft = load_draft(dossier, folder)
    outcomes = []
    for config in configs:
        kind = str(getattr(config, "type"))  # noqa: B009
        before = state.get(config.key)
        if before is not None and before.get("type") != kind:
            before = None  # the name now means another kind of destination
        try:
            after = DESTINATIONS[kind](config).push(draft, before)
        except PushError as exc:
            outcomes.append(PushOutcome(config.key, ok=False, created=False, url=None, error=str(exc)))
            continue
        note = after.pop("note", None)
        created = before is None or before.get("id") != after.get("id") or note is not None
        state[config.key] = {"type": kind, **after}
        _write_state(folder, state)  # after each success: a later crash does not forget it
        outcomes.append(PushOutcome(config.key, ok=True, created=created, url=after.get("url"), note=note))
    return outcomes
