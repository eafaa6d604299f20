"""Push exporters against stand-ins of the documented APIs (tests/standins/): every destination
creates once and updates on every rerun, states a failure without losing the local draft or its
earlier remote id, and never writes a secret into the output folder."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from correlate import actions
from dossier.exporters import push
from dossier.exporters.json import JsonExporter
from dossier.exporters.markdown import MarkdownExporter
from tests.exporters.builders import checkout_dossier
from tests.standins.confluence import Confluence
from tests.standins.github_issues import GitHubIssues
from tests.standins.gitlab_issues import GitLabIssues
from tests.standins.jira import Jira
from tests.standins.notion import Notion
from tests.standins.webhook import WebhookReceiver

DB = "0f4a6a0e-0000-4000-8000-00000000d001"


@dataclass
class Case:
    name: str
    standin: Callable[[], Any]
    config: Callable[[Any], dict[str, Any]]
    secret: str


CASES = [
    Case(
        "confluence",
        lambda: Confluence(token="conf-SECRET-1"),
        lambda s: {"type": "confluence", "url": s.url, "space": "OPS", "user": "sre@acme.example", "token": s.token},
        "conf-SECRET-1",
    ),
    Case(
        "jira",
        lambda: Jira(token="jira-SECRET-2"),
        lambda s: {"type": "jira", "url": s.url, "project": "OPS", "user": "sre@acme.example", "token": s.token},
        "jira-SECRET-2",
    ),
    Case(
        "github",
        lambda: GitHubIssues(token="ghp_SECRET3"),
        lambda s: {"type": "github", "url": s.url, "repo": "acme/postmortems", "token": s.token},
        "ghp_SECRET3",
    ),
    Case(
        "gitlab",
        lambda: GitLabIssues(token="glpat-SECRET4"),
        lambda s: {"type": "gitlab", "url": s.url, "project": "acme/postmortems", "token": s.token},
        "glpat-SECRET4",
    ),
    Case(
        "notion",
        lambda: Notion(token="secret_SECRET5"),
        lambda s: {"type": "notion", "url": s.url, "database_id": DB, "token": s.token},
        "secret_SECRET5",
    ),
    Case(
        "webhook",
        lambda: WebhookReceiver(secret="hook-SECRET-6"),
        lambda s: {"type": "webhook", "url": s.url + "/hooks/dossier", "secret": s.secret},
        "hook-SECRET-6",
    ),
]


def config_of(case: Case, standin: Any, **extra: Any) -> push.PushConfig:
    raw = {**case.config(standin), **extra}
    return push.CONFIGS[raw["type"]].model_validate(raw)


@functools.cache
def drafted() -> Any:
    d = checkout_dossier()
    return dataclasses.replace(d, action_items=actions.build(d))


def written(tmp_path: Path) -> tuple[Any, Path]:
    d = drafted()
    folder = tmp_path / d.incident.id
    folder.mkdir(parents=True, exist_ok=True)
    MarkdownExporter().write(d, folder)
    JsonExporter().write(d, folder)
    return d, folder


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request):
    c: Case = request.param
    with c.standin() as standin:
        yield c, standin


def test_rerun_updates_what_it_created(case, tmp_path):
    c, standin = case
    d, folder = written(tmp_path)
    config = config_of(c, standin)
    (first,) = push.push_all(d, folder, [config])
    assert first.ok and first.created, first
    created = standin.created()
    state = push.read_state(folder)[c.name]
    # the draft changes (a new note), is written again and pushed again: the same remote object
    d2 = dataclasses.replace(d, notes=(*d.notes, "rerun note"))
    MarkdownExporter().write(d2, folder)
    (second,) = push.push_all(d2, folder, [config])
    assert second.ok and not second.created, second
    assert standin.created() == created
    assert push.read_state(folder)[c.name]["id"] == state["id"]
    (third,) = push.push_all(d2, folder, [config])
    assert third.ok and not third.created and standin.created() == created


def test_a_failing_destination_is_stated_and_forgets_nothing(case, tmp_path):
    c, standin = case
    d, folder = written(tmp_path)
    config = config_of(c, standin)
    push.push_all(d, folder, [config])
    before = (folder / "pushed.json").read_text()
    created = standin.created()
    standin.inject(503, count=1, body={"message": f"down; token {c.secret}"})
    (failed,) = push.push_all(d, folder, [config])
    assert not failed.ok and failed.error.startswith(f"push {c.name}: ") and "HTTP 503" in failed.error
    assert "\n" not in failed.error and c.secret not in failed.error
    assert (folder / "pushed.json").read_text() == before  # the earlier remote id is kept
    assert (folder / "draft.md").is_file() and (folder / "dossier.json").is_file()
    (again,) = push.push_all(d, folder, [config])
    assert again.ok and not again.created and standin.created() == created


def test_no_secret_in_any_output_file(case, tmp_path):
    c, standin = case
    d, folder = written(tmp_path)
    push.push_all(d, folder, [config_of(c, standin)])
    for path in folder.rglob("*"):
        if path.is_file():
            assert c.secret not in path.read_text(errors="replace"), path


def test_wrong_credentials_are_a_one_line_failure(case, tmp_path):
    c, standin = case
    d, folder = written(tmp_path)
    raw = c.config(standin)
    key = "secret" if c.name == "webhook" else "token"
    raw[key] = "wrong-" + raw[key]
    (out,) = push.push_all(d, folder, [push.CONFIGS[raw["type"]].model_validate(raw)])
    assert not out.ok and "HTTP 401" in out.error and "wrong-" not in out.error
    assert not (folder / "pushed.json").exists() and standin.created() == 0


def test_two_destinations_one_failing(tmp_path):
    d, folder = written(tmp_path)
    with GitHubIssues() as gh, Jira() as jira:
        good = push.GitHubConfig(type="github", url=gh.url, repo="acme/postmortems", token="ghp_standin")
        bad = push.JiraConfig(type="jira", url=jira.url, project="NOPE", user="sre@acme.example", token=jira.token)
        outcomes = push.push_all(d, folder, [good, bad])
        assert [o.ok for o in outcomes] == [True, False]
        assert (
            'HTTP 400: {"errorMessages": [], "errors": {"project": "valid project is required"}}' in outcomes[1].error
        )
        assert set(push.read_state(folder)) == {"github"}


def test_jira_action_items_are_linked_issues_and_stay_one_each(tmp_path):
    d, folder = written(tmp_path)
    with Jira() as jira:
        config = push.JiraConfig(type="jira", url=jira.url, project="OPS", user="sre@acme.example", token=jira.token)
        push.push_all(d, folder, [config])
        state = push.read_state(folder)["jira"]
        main = state["key"]
        assert set(state["items"]) == {i.id for i in d.action_items}
        assert jira.created() == 1 + len(d.action_items)
        assert sorted(i for _, i, o in jira.links if o == main) == sorted(v["key"] for v in state["items"].values())
        assert all(t == "Relates" for t, _, _ in jira.links)
        item = d.action_items[1]
        issue = jira.issues[state["items"][item.id]["key"]]
        assert issue["fields"]["summary"] == item.title
        assert jira.issues[main]["fields"]["summary"] == "Postmortem draft: INC-2041 Checkout returns 500s"
        assert jira.issues[main]["fields"]["description"].startswith("h1. INC-2041")
        links = len(jira.links)
        # a rerun with one more action item: one more issue, one more link, nothing else
        extra = dataclasses.replace(item, id="extra-item", title="Page the payments team")
        d2 = dataclasses.replace(d, action_items=(*d.action_items, extra))
        push.push_all(d2, folder, [config])
        assert jira.created() == 2 + len(d.action_items) and len(jira.links) == links + 1
        assert push.read_state(folder)["jira"]["items"]["extra-item"]["key"] == f"OPS-{jira.created()}"


def test_confluence_update_carries_the_next_version_and_stays_xhtml(tmp_path):
    d, folder = written(tmp_path)
    with Confluence() as conf:
        config = push.ConfluenceConfig(
            type="confluence", url=conf.url, space="OPS", user="sre@acme.example", token=conf.token
        )
        push.push_all(d, folder, [config])
        push.push_all(d, folder, [config])
        (page,) = conf.pages.values()
        assert page["version"]["number"] == 2 and push.read_state(folder)["confluence"]["version"] == 2
        assert "<h2>" in page["body"]["storage"]["value"]
        assert push.read_state(folder)["confluence"]["url"] == f"{conf.url}/spaces/OPS/pages/{page['id']}"
        # what a naive exporter would do on a rerun, and why it must not: Confluence refuses the copy
        assert any(r.method == "PUT" for r in conf.requests) and sum(r.method == "POST" for r in conf.requests) == 1


def test_notion_long_draft_in_batches_and_rerun_replaces_the_blocks(tmp_path):
    d, folder = written(tmp_path)
    long_notes = tuple(f"note {i}" for i in range(150))
    d = dataclasses.replace(d, notes=(*d.notes, *long_notes))
    MarkdownExporter().write(d, folder)
    with Notion() as notion:
        config = push.NotionConfig(type="notion", url=notion.url, database_id=DB, token=notion.token)
        push.push_all(d, folder, [config])
        page_id = push.read_state(folder)["notion"]["id"]
        blocks = len(notion.live_blocks(page_id))
        assert blocks > 100 and blocks == len(push.notion.blocks((folder / "draft.md").read_text()))
        push.push_all(d, folder, [config])
        assert len(notion.live_blocks(page_id)) == blocks and notion.created() == 1
        props = notion.pages[page_id]["properties"]
        assert props["Name"]["title"][0]["text"]["content"] == "Postmortem draft: INC-2041 Checkout returns 500s"


def test_a_deleted_remote_object_is_created_again_and_said(tmp_path):
    d, folder = written(tmp_path)
    with GitHubIssues() as gh:
        config = push.GitHubConfig(type="github", url=gh.url, repo="acme/postmortems", token="ghp_standin")
        push.push_all(d, folder, [config])
        gh.issues["acme/postmortems"].clear()
        (out,) = push.push_all(d, folder, [config])
        assert out.ok and out.created and out.note == "issue #1 no longer exists: created anew"


def test_webhook_sends_the_json_draft_with_one_key_per_incident(tmp_path):
    d, folder = written(tmp_path)
    with WebhookReceiver(secret="s3cret") as hook:
        config = push.WebhookConfig(type="webhook", url=hook.url + "/hooks/dossier", secret="s3cret")
        push.push_all(d, folder, [config])
        push.push_all(d, folder, [config])
        assert [x["event"] for x in hook.deliveries] == ["dossier.created", "dossier.updated"]
        assert len(hook.records) == 1
        body = hook.deliveries[-1]
        assert body["dossier"] == json.loads((folder / "dossier.json").read_text())
        assert body["dossier"]["action_items"][0]["cause"] == "proximate"


def test_a_corrupt_pushed_json_stops_every_push(tmp_path):
    d, folder = written(tmp_path)
    (folder / "pushed.json").write_text("{not json")
    with GitHubIssues() as gh:
        config = push.GitHubConfig(type="github", url=gh.url, repo="acme/postmortems", token="ghp_standin")
        (out,) = push.push_all(d, folder, [config])
        assert not out.ok and "pushed.json: cannot be read" in out.error and gh.created() == 0
