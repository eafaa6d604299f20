"""The `slack` collector against the stand-in Slack Web API (tests/standins/slack.py), and on the
same workspace written as an export folder."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from collectors.slack import SlackCollector, SlackConfig
from dossier.errors import SourceAuthError, SourceQueryError
from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectContext, CollectRequest, Recorder
from tests.standins.slack import ALL_SCOPES, DEFAULT_TOKEN, Slack

INSTANCE = "slack/incidents"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request() -> CollectRequest:
    inc = Incident("INC-2041", "Checkout returns 500s", t("2026-11-20T10:00:00Z"), t("2026-11-20T12:00:00Z"))
    return CollectRequest(
        incident=inc,
        start=t("2026-11-20T09:00:00Z"),
        end=t("2026-11-20T12:00:00Z"),
        services=(ServiceInfo("checkout"),),
    )


def workspace(slack: Slack) -> None:
    slack.user("U01ALICE", "alice.ng", "Alice Ng")
    slack.user("U02BOB", "bob.ortiz", "Bob Ortiz")
    slack.channel("C0RANDOM", "random").post("U01ALICE", "lunch?", at="2026-11-20T10:30:00Z")
    ch = slack.channel("C0INC2041", "inc-2041")
    ch.post("U01ALICE", "joined", at="2026-11-20T10:12:00Z", subtype="channel_join")
    ch.post("U01ALICE", "Declaring SEV2: checkout returns 500s, <@U02BOB> can you look?", at="2026-11-20T10:12:30Z")
    ch.post(
        "U01ALICE", "dashboard <https://grafana.example.com/d/pay|payments>", at="2026-11-20T10:13:00Z", pinned=True
    )
    ch.post("U02BOB", "looking at the payments deploy", at="2026-11-20T10:20:00Z")
    parent = ch.post("U02BOB", "plan: roll back payments to v2.13.2", at="2026-11-20T10:38:00Z")
    ch.post("U01ALICE", "+1", at="2026-11-20T10:38:30Z", thread_of=parent["ts"])
    ch.post(
        "U02BOB",
        "rollback done, error rate is back to normal: mitigated",
        at="2026-11-20T10:43:00Z",
        thread_of=parent["ts"],
    )
    ch.post("", "[RESOLVED] PaymentsHighErrorRate", at="2026-11-20T10:47:20Z", bot=True)
    ch.post(
        "U01ALICE",
        "All clear, resolving the incident. Mail alice@example.com for the review",
        at="2026-11-20T11:00:00Z",
    )
    ch.post("U01ALICE", "resolved an older thing", at="2026-11-20T08:00:00Z")  # before the window


@pytest.fixture
def slack() -> Iterator[Slack]:
    with Slack() as server:
        workspace(server)
        yield server


def make(data: dict[str, Any], base_dir=None) -> SlackCollector:
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    config = SlackConfig.model_validate(data, context={"base_dir": base_dir} if base_dir else None)
    return SlackCollector(config, ctx)


def api(slack: Slack, **extra: Any) -> SlackCollector:
    data = {"url": slack.url, "token": DEFAULT_TOKEN, "channel": "$incident_id", "http": {"retries": 2}}
    return make({**data, **extra})


EXPECTED = [
    ("declare", "participant 1 in #inc-2041: Declaring SEV2: checkout returns 500s, @participant 2 can you look?"),
    ("pinned", "participant 1 in #inc-2041: dashboard payments (https://grafana.example.com/d/pay)"),
    ("rollback", "participant 2 in #inc-2041: plan: roll back payments to v2.13.2"),
    ("rollback", "participant 2 in #inc-2041: rollback done, error rate is back to normal: mitigated"),
    (
        "resolve",
        "participant 1 in #inc-2041: All clear, resolving the incident. Mail participant 3 for the review",
    ),
]


def test_the_channel_reduced_to_what_a_postmortem_needs(slack):
    collector = api(slack)
    result = collector.collect(make_request())
    assert [(e.attrs["intent"], e.title) for e in result.events] == EXPECTED
    assert all(e.kind == "message" and e.service is None for e in result.events)
    assert [e.attrs["pinned"] for e in result.events] == [False, True, False, False, False]
    assert result.events[3].attrs["thread_ts"] == result.events[2].attrs["ts"]
    assert (
        result.events[0].link
        == f"https://acme.slack.com/archives/C0INC2041/p{result.events[0].attrs['ts'].replace('.', '')}"
    )
    assert "?thread_ts=" in (result.events[3].link or "")
    dumped = json.dumps([[e.title, dict(e.attrs)] for e in result.events])
    assert "Alice" not in dumped and "Bob" not in dumped and "U01ALICE" not in dumped and "@example.com" not in dumped
    assert result.problems == [] and not result.truncated
    history = [r for r in slack.requests if r.path == "/conversations.history"]
    assert history[0].param("channel") == "C0INC2041" and history[0].param("inclusive") == "true"
    assert float(history[0].param("oldest") or 0) == t("2026-11-20T09:00:00Z").timestamp()


def test_names_when_the_config_asks(slack):
    result = api(slack, names=True).collect(make_request())
    assert (
        result.events[0].title
        == "Alice Ng in #inc-2041: Declaring SEV2: checkout returns 500s, @Bob Ortiz can you look?"
    )
    assert result.events[2].attrs["author"] == "Bob Ortiz"


def test_cursor_paging_and_a_rate_limit_waited_out(slack):
    ch = slack.channels["C0INC2041"]
    for n in range(450):
        ch.post("U02BOB", f"chatter {n}", at=f"2026-11-20T11:{n // 60 % 60:02d}:{n % 60:02d}Z")
    slack.inject(
        429, headers={"Retry-After": "0"}, body={"ok": False, "error": "ratelimited"}, path="/conversations.history"
    )
    result = api(slack).collect(make_request())
    assert [(e.attrs["intent"], e.title) for e in result.events] == EXPECTED
    cursors = [r.param("cursor") for r in slack.requests if r.path == "/conversations.history"]
    assert cursors[0] is None and cursors[1] is None  # the 429, then the same first page again
    assert len(cursors) == 4 and all(c for c in cursors[2:])  # 457 top-level messages in pages of 200


def test_a_rate_limit_tier_is_waited_out_as_retry_after_says(slack):
    ch = slack.channels["C0INC2041"]
    for n in range(250):
        ch.post("U02BOB", f"chatter {n}", at=f"2026-11-20T11:{n // 60 % 60:02d}:{n % 60:02d}Z")
    slack.rate_limit("conversations.history", 1, per=1.0)  # one call a second
    t0 = time.monotonic()
    result = api(slack, http={"retries": 3, "retry_max_delay": "10s"}).collect(make_request())
    elapsed = time.monotonic() - t0
    assert [(e.attrs["intent"], e.title) for e in result.events] == EXPECTED
    assert slack.calls["conversations.history"] >= 3  # two pages, at least one 429 between them
    assert elapsed >= 0.9  # the second page waited for the limit's window


def test_max_messages_truncates_saying_so(slack):
    ch = slack.channels["C0INC2041"]
    for n in range(450):
        ch.post("U02BOB", f"chatter {n}", at=f"2026-11-20T11:{n // 60 % 60:02d}:{n % 60:02d}Z")
    result = api(slack, max_messages=200).collect(make_request())
    assert result.truncated and "max_messages" in (result.truncated_reason or "")


def test_a_missing_scope_names_it(slack):
    slack.tokens["xoxb-narrow"] = frozenset({"channels:read"})
    with pytest.raises(SourceAuthError, match="missing_scope: the token needs 'channels:history'"):
        api(slack, token="xoxb-narrow").collect(make_request())
    with pytest.raises(SourceAuthError, match="invalid_auth: check `token`"):
        api(slack, token="xoxb-wrong").collect(make_request())


def test_an_unknown_channel_says_which_are_close(slack):
    with pytest.raises(
        SourceQueryError, match=r"no channel named 'inc-2014' the token can see \(did you mean 'inc-2041'\?\)"
    ):
        api(slack, channel="inc-2014").collect(make_request())
    slack.channels["C0INC2041"].members.discard("UBOT")
    with pytest.raises(SourceQueryError, match="not_in_channel: check `channel`, and invite the app"):
        api(slack).collect(make_request())


def test_threads_can_be_left_out(slack):
    result = api(slack, threads=False).collect(make_request())
    assert len(result.events) == len(EXPECTED) - 1
    assert not [r for r in slack.requests if r.path == "/conversations.replies"]


def test_intents_are_configurable(slack):
    result = api(slack, intents={"declare": r"(?i)\blooking at\b"}).collect(make_request())
    declared = [e.title for e in result.events if e.attrs["intent"] == "declare"]
    assert declared == ["participant 2 in #inc-2041: looking at the payments deploy"]


# ---- the export folder ----------------------------------------------------------------------


def test_an_export_folder_gives_the_same_events(slack, tmp_path):
    from_api = api(slack).collect(make_request())
    slack.export(tmp_path / "export")
    collector = make(
        {"path": "export", "channel": "#inc-2041", "workspace_url": "https://acme.slack.com"}, base_dir=tmp_path
    )
    from_file = collector.collect(make_request())
    assert [(e.id, e.title, e.attrs["intent"], e.link) for e in from_file.events] == [
        (e.id, e.title, e.attrs["intent"], e.link) for e in from_api.events
    ]
    assert collector.check().endswith("a Slack export with 2 channels")
    named = make({"path": "export", "channel": "inc-2041", "names": True}, base_dir=tmp_path).collect(make_request())
    assert named.events[0].title.startswith("Alice Ng in #inc-2041: ")


def test_a_broken_export_is_one_line_naming_the_fix(slack, tmp_path):
    with pytest.raises(SourceQueryError, match="not a folder: `path` must be the unzipped Slack export folder"):
        make({"path": "nowhere", "channel": "inc-2041"}, base_dir=tmp_path).collect(make_request())
    slack.export(tmp_path / "export")
    with pytest.raises(SourceQueryError, match=r"no channel 'inc-2014' in the export \(did you mean 'inc-2041'\?\)"):
        make({"path": "export", "channel": "inc-2014"}, base_dir=tmp_path).collect(make_request())
    (tmp_path / "export" / "inc-2041" / "2026-11-20.json").write_text("[{not json")
    result = make({"path": "export", "channel": "inc-2041"}, base_dir=tmp_path).collect(make_request())
    assert (
        result.events == [] and len(result.problems) == 1 and "2026-11-20.json: not JSON" in result.problems[0].reason
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"channel": "x"}, "give either `token` (read the Web API) or `path` (read a workspace export)"),
        ({"channel": "x", "token": "a", "path": "b"}, "give either `token`"),
        ({"channel": "two words", "token": "a"}, "is not a channel"),
        ({"channel": "x", "token": "a", "intents": {"resolve": "("}}, "is not a regular expression"),
        ({"channel": "x", "token": "a", "intents": {"closed": "x"}}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors(data, message):
    with pytest.raises(ValidationError) as err:
        SlackConfig.model_validate(data)
    assert message in str(err.value)


def test_scopes_of_the_default_token_are_all_it_needs():
    assert {"channels:history", "channels:read", "users:read"} <= ALL_SCOPES
