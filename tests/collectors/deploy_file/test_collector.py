"""The `deploy_file` collector, over change logs the tests write in tmp_path."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from collectors.deploy_file import DeployFileCollector, DeployFileConfig
from dossier.errors import SourceQueryError
from dossier.model import Incident, ServiceInfo, stable_id
from dossier.plugin import CollectContext, CollectRequest, Recorder

HERE = Path(__file__).resolve()
PLUGIN_DIR = HERE.parents[3] / "collectors" / "deploy_file"
INSTANCE = "deploy_file/test"


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request(start: str = "2026-11-20T08:00:00Z", end: str = "2026-11-20T12:00:00Z") -> CollectRequest:
    incident = Incident(
        id="INC-2041",
        title="Checkout returns 500s",
        start=t("2026-11-20T10:00:00Z"),
        end=t("2026-11-20T12:00:00Z"),
        services=("checkout",),
    )
    return CollectRequest(
        incident=incident,
        start=t(start),
        end=t(end),
        services=(
            ServiceInfo("checkout", aliases=("checkout-api",), depends_on=("payments",)),
            ServiceInfo("payments", aliases=("payments-api", "pay")),
        ),
    )


def make_collector(data: dict, base_dir: Path) -> DeployFileCollector:
    config = DeployFileConfig.model_validate(data, context={"base_dir": base_dir})
    ctx = CollectContext(
        instance=INSTANCE, log=logging.LoggerAdapter(logging.getLogger("t"), {}), recorder=Recorder(INSTANCE)
    )
    return DeployFileCollector(config, ctx)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# ---- the three formats -------------------------------------------------------------------

DEPLOY = {
    "at": "2026-11-20T09:55:00Z",
    "service": "payments-api",
    "kind": "deploy",
    "version": "v2.14.0",
    "id": "4711",
    "title": "Deploy payments v2.14.0",
    "author": "alice",
    "url": "https://ci.example.com/runs/4711",
    "region": "eu-west-1",
}
FLAG = {"at": "2026-11-20T10:40:00+01:00", "service": "checkout", "kind": "feature_flag", "version": "new-pricing=on"}
UNMAPPED = {"at": "2026-11-20T09:30:00Z", "service": "search", "kind": "config_change", "version": "42"}


def test_jsonl_records_become_change_events(tmp_path: Path) -> None:
    path = write(tmp_path / "changes.jsonl", jsonl(DEPLOY, FLAG, UNMAPPED))
    collector = make_collector({"path": "changes.jsonl"}, tmp_path)

    result = collector.collect(make_request())

    assert result.problems == []
    assert [e.title for e in result.events] == [  # in time order
        "config_change search 42",
        "feature_flag checkout new-pricing=on",
        "Deploy payments v2.14.0",
    ]
    unmapped, flag, deploy = result.events

    # an alias maps onto the configured name; every field is kept, the extra column too
    assert deploy.kind == "deploy"
    assert deploy.service == "payments"
    assert deploy.at == datetime(2026, 11, 20, 9, 55, tzinfo=UTC)
    assert deploy.source == INSTANCE
    assert deploy.link == "https://ci.example.com/runs/4711"
    assert deploy.id == stable_id(INSTANCE, "4711")
    assert dict(deploy.attrs) == DEPLOY

    # the configured name itself; the offset is converted to UTC; no id: a hash of what the record says
    assert flag.service == "checkout"
    assert flag.at == datetime(2026, 11, 20, 9, 40, tzinfo=UTC)
    assert flag.id == stable_id(INSTANCE, "2026-11-20T09:40:00Z", "checkout", "new-pricing=on", "feature_flag")
    assert flag.link is None
    assert "service_mapped" not in flag.attrs

    # a service the config does not know is kept under its own name, and flagged
    assert unmapped.service == "search"
    assert unmapped.attrs["service_mapped"] == "false"

    # every event points at the recorded read of the file
    (read,) = collector.ctx.recorder.requests
    assert read.method == "READ"
    assert read.url == path.as_uri()
    assert read.status is None
    assert read.items == 3
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read.error is None
    assert {e.request for e in result.events} == {read.id}


def test_json_values_that_are_not_strings_are_kept_as_text(tmp_path: Path) -> None:
    record = {**DEPLOY, "canary": True, "replicas": 3, "labels": {"team": "payments"}, "note": None}
    write(tmp_path / "changes.ndjson", jsonl(record))

    (event,) = make_collector({"path": "changes.ndjson"}, tmp_path).collect(make_request()).events

    assert event.attrs["canary"] == "true"
    assert event.attrs["replicas"] == "3"
    assert event.attrs["labels"] == '{"team":"payments"}'
    assert "note" not in event.attrs


def test_csv_with_renamed_columns(tmp_path: Path) -> None:
    write(
        tmp_path / "log" / "deploys.csv",
        "deployed_at,app,kind,version,id,title,author,url,region\n"
        '2026-11-20T09:55:00Z,payments-api,deploy,v2.14.0,4711,"Deploy payments, v2.14.0",alice,'
        "https://ci.example.com/runs/4711,eu-west-1\n"
        "\n"
        "2026-11-20T10:40:00Z,checkout-api,Rollback,v2.13.2,4712,,bob,,\n",
    )
    collector = make_collector({"path": "log/deploys.csv", "fields": {"at": "deployed_at", "service": "app"}}, tmp_path)

    result = collector.collect(make_request())

    assert result.problems == []
    deploy, rollback = result.events
    assert deploy.title == "Deploy payments, v2.14.0"
    assert deploy.service == "payments"
    assert dict(deploy.attrs) == {
        "at": "2026-11-20T09:55:00Z",
        "service": "payments-api",
        "kind": "deploy",
        "version": "v2.14.0",
        "id": "4711",
        "title": "Deploy payments, v2.14.0",
        "author": "alice",
        "url": "https://ci.example.com/runs/4711",
        "region": "eu-west-1",
    }
    # kind is not case sensitive; empty cells are absent; the default title uses the configured name
    assert rollback.kind == "rollback"
    assert rollback.title == "rollback checkout v2.13.2"
    assert rollback.link is None
    assert set(rollback.attrs) == {"at", "service", "kind", "version", "id", "author"}


@pytest.mark.parametrize("wrapped", [False, True], ids=["list", "changes-mapping"])
def test_yaml_list_or_changes_mapping(tmp_path: Path, wrapped: bool) -> None:
    items = """\
- at: 2026-11-20T09:55:00Z
  service: pay
  version: 1.10
  id: 4711
  reviewers: [carol, dave]
- {at: "2026-11-20T10:40:00Z", service: checkout, kind: config_change, title: "pool size 20 -> 40"}
"""
    if wrapped:
        items = "source: spinnaker\nchanges:\n" + "".join("  " + line + "\n" for line in items.splitlines())
    write(tmp_path / "changes.yml", items)

    result = make_collector({"path": "changes.yml", "default_kind": "config_change"}, tmp_path).collect(make_request())

    assert result.problems == []
    first, second = result.events
    # the text written is kept: `1.10` is not the float 1.1, the time is not a YAML timestamp
    assert first.attrs["version"] == "1.10"
    assert first.attrs["at"] == "2026-11-20T09:55:00Z"
    assert first.attrs["reviewers"] == '["carol","dave"]'
    assert first.kind == "config_change"  # default_kind
    assert first.service == "payments"
    assert first.id == stable_id(INSTANCE, "4711")
    assert second.title == "pool size 20 -> 40"


def test_format_option_overrides_the_extension(tmp_path: Path) -> None:
    write(tmp_path / "changes.log", jsonl(DEPLOY))
    collector = make_collector({"path": "changes.log", "format": "jsonl"}, tmp_path)
    assert [e.id for e in collector.collect(make_request()).events] == [stable_id(INSTANCE, "4711")]


def test_empty_files_have_no_changes(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.csv", "c.yaml"):
        write(tmp_path / name, "")
        result = make_collector({"path": name}, tmp_path).collect(make_request())
        assert (result.events, result.problems) == ([], [])


# ---- window -----------------------------------------------------------------------------


def test_only_records_within_the_window_are_returned(tmp_path: Path) -> None:
    times = [
        "2026-11-20T07:59:59Z",
        "2026-11-20T08:00:00Z",
        "2026-11-20T10:00:00Z",
        "2026-11-20T12:00:00Z",
        "2026-11-20T12:00:01Z",
    ]
    write(tmp_path / "c.jsonl", jsonl(*({"at": at, "service": "checkout", "id": at} for at in times)))

    result = make_collector({"path": "c.jsonl"}, tmp_path).collect(make_request())

    assert [e.attrs["at"] for e in result.events] == times[1:4]  # both ends included


def test_ids_do_not_depend_on_the_window(tmp_path: Path) -> None:
    same = {"at": "2026-11-20T09:00:00Z", "service": "checkout", "version": "v1"}
    write(tmp_path / "c.jsonl", jsonl({**same, "title": "a"}, {**same, "title": "b"}, same))
    collector = make_collector({"path": "c.jsonl"}, tmp_path)

    wide = collector.collect(make_request())
    again = collector.collect(make_request())

    base = stable_id(INSTANCE, "2026-11-20T09:00:00Z", "checkout", "v1", "deploy")
    assert [e.id for e in wide.events] == [base, f"{base}-2", f"{base}-3"]
    assert [e.id for e in again.events] == [e.id for e in wide.events]


# ---- bad records --------------------------------------------------------------------------


def test_bad_records_are_reported_with_their_line_and_the_rest_collected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "changes.jsonl",
        jsonl(DEPLOY)
        + '{"at": "2026-11-20 09:56:00", "service": "checkout"}\n'  # 2: naive
        + "\n"
        + '{"at": "2026-11-20T09:57:00Z", "service": "checkout", "kind": "migration"}\n'  # 4
        + '{"service": "checkout", "version": "v3"}\n'  # 5: no time
        + '{"at": "yesterday"}\n'  # 6
        + '{"at": "2026-11-20T09:58:00Z", "oops\n'  # 7: not JSON
        + '["2026-11-20T09:59:00Z", "checkout"]\n'  # 8: not an object
        + jsonl(DEPLOY)  # 9: the same record again
        + jsonl(FLAG),  # 10
    )

    collector = make_collector({"path": "changes.jsonl"}, tmp_path)
    result = collector.collect(make_request())

    assert [e.title for e in result.events] == ["feature_flag checkout new-pricing=on", "Deploy payments v2.14.0"]
    assert [p.reason for p in result.problems] == [
        f"{path} line 2: at: naive time '2026-11-20 09:56:00': give an offset, e.g. 2026-11-20T10:00:00Z",
        f"{path} line 4: kind: unknown kind 'migration': use deploy, config_change, rollback or feature_flag",
        f"{path} line 5: at: missing: every record needs the time of the change "
        "(name its column with fields: {at: <column>})",
        f"{path} line 6: at: 'yesterday' is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)",
        f"{path} line 7: invalid JSON: Unterminated string starting at (column 32)",
        f"{path} line 8: expected a JSON object, got a list",
        f"{path} line 9: duplicate of line 1: skipped",
    ]
    assert {p.source for p in result.problems} == {INSTANCE}
    assert {p.kind for p in result.problems} == {"source_unavailable"}
    assert result.problems[0].service == "checkout"
    (read,) = collector.ctx.recorder.requests
    assert read.items == 9  # the records of the file, good or bad
    assert {p.request for p in result.problems} == {read.id}


def test_naive_time_is_refused_in_every_format(tmp_path: Path) -> None:
    write(tmp_path / "c.csv", "at,service\n2026-11-20T09:55:00,checkout\n")
    write(tmp_path / "c.yaml", "- at: 2026-11-20 09:55:00\n  service: checkout\n")
    for name, line in (("c.csv", 2), ("c.yaml", 1)):
        result = make_collector({"path": name}, tmp_path).collect(make_request())
        assert result.events == []
        (problem,) = result.problems
        assert problem.reason.startswith(f"{tmp_path / name} line {line}: at: naive time ")


def test_a_bad_record_outside_the_window_is_not_reported(tmp_path: Path) -> None:
    write(tmp_path / "c.jsonl", jsonl({"at": "2026-10-01T09:00:00Z", "kind": "migration"}, FLAG))
    result = make_collector({"path": "c.jsonl"}, tmp_path).collect(make_request())
    assert (len(result.events), result.problems) == (1, [])


def test_csv_rows_with_the_wrong_number_of_values(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        'at,service,title\n2026-11-20T09:55:00Z,checkout,"two\nlines"\n2026-11-20T09:56:00Z,checkout\n'
        "2026-11-20T09:57:00Z,checkout,a,b\n2026-11-20T09:58:00Z,payments,ok\n",
    )
    result = make_collector({"path": "c.csv"}, tmp_path).collect(make_request())
    assert [e.title for e in result.events] == ["two\nlines", "ok"]
    assert [p.reason for p in result.problems] == [
        f"{path} line 4: 2 values but the header has 3 columns",  # line numbers count the quoted newline
        f"{path} line 5: 4 values but the header has 3 columns",
    ]


def test_many_bad_records_are_summed_up(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl(*({"service": "checkout", "n": n} for n in range(25))))
    result = make_collector({"path": "c.jsonl"}, tmp_path).collect(make_request())
    assert len(result.problems) == 21
    assert result.problems[19].reason.startswith(f"{path} line 20: at: missing")
    assert result.problems[20].reason == f"{path}: 5 more bad records not listed (lines 21 to 25)"


def test_missing_at_with_a_mapped_column_names_no_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "when,service\n,checkout\n")
    result = make_collector({"path": "c.csv", "fields": {"at": "when"}}, tmp_path).collect(make_request())
    assert [p.reason for p in result.problems] == [
        f"{path} line 2: at: missing: every record needs the time of the change"
    ]


# ---- the file as a whole ---------------------------------------------------------------------


def test_missing_file_fails_the_source(tmp_path: Path) -> None:
    collector = make_collector({"path": "nowhere/changes.jsonl"}, tmp_path)
    with pytest.raises(SourceQueryError) as info:
        collector.collect(make_request())
    message = (
        f"{tmp_path / 'nowhere' / 'changes.jsonl'}: file not found: "
        "check `path` (a relative path is relative to the config file)"
    )
    assert str(info.value) == message
    assert info.value.instance == INSTANCE
    assert not info.value.retriable
    (read,) = collector.ctx.recorder.requests  # the failed read is on record too
    assert (read.error, read.sha256) == (message, None)


@pytest.mark.parametrize(
    ("name", "text", "why"),
    [
        (
            "c.yaml",
            "- at: 2026-11-20T09:55:00Z\n  service: [checkout\n",
            "invalid YAML at line 3: expected ',' or ']', but got '<stream end>': check the indentation and quoting",
        ),
        (
            "c.yaml",
            "at: 2026-11-20T09:55:00Z\nservice: checkout\n",
            "expected a list of records, or a mapping with `changes:` holding that list",
        ),
        (
            "c.jsonl",
            "at,service\n2026-11-20T09:55:00Z,checkout\n",
            "not JSON lines: line 1: invalid JSON: Expecting value (column 1): check the file, or set `format`",
        ),
        ("c.csv", "at,service,at\n", "line 1: the header names 'at' more than once: rename the columns"),
        (
            "c.csv",
            'at,service\n"2026-11-20T09:55:00Z,checkout\n',
            "invalid CSV at line 2: unexpected end of data: check the quoting",
        ),
    ],
    ids=["yaml-syntax", "yaml-shape", "jsonl-not-json", "csv-duplicate-column", "csv-quote"],
)
def test_a_file_that_does_not_parse_fails_the_source(tmp_path: Path, name: str, text: str, why: str) -> None:
    path = write(tmp_path / name, text)
    collector = make_collector({"path": name}, tmp_path)
    with pytest.raises(SourceQueryError) as info:
        collector.collect(make_request())
    assert str(info.value) == f"{path}: {why}"
    (read,) = collector.ctx.recorder.requests
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_utf8_fails_the_source(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes("at,service\n2026-11-20T09:55:00Z,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SourceQueryError, match=r"c\.csv: not UTF-8 text \(byte offset 35\): save the file as UTF-8$"):
        make_collector({"path": "c.csv"}, tmp_path).collect(make_request())


def test_check_counts_the_records(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", jsonl(DEPLOY, FLAG) + '{"at": "2026-11-20 09:56:00"}\n')
    assert make_collector({"path": "c.jsonl"}, tmp_path).check() == (
        f"{path}: 3 records, 1 bad (line 3: at: naive time '2026-11-20 09:56:00': "
        "give an offset, e.g. 2026-11-20T10:00:00Z)"
    )
    write(tmp_path / "d.jsonl", jsonl(DEPLOY))
    assert make_collector({"path": "d.jsonl"}, tmp_path).check() == f"{tmp_path / 'd.jsonl'}: 1 records"
    with pytest.raises(SourceQueryError, match="file not found"):
        make_collector({"path": "e.jsonl"}, tmp_path).check()


# ---- configuration ------------------------------------------------------------------------


def test_relative_path_is_resolved_against_the_config_files_folder(tmp_path: Path) -> None:
    config = DeployFileConfig.model_validate({"path": "changes/deploys.csv"}, context={"base_dir": tmp_path})
    assert config.path == tmp_path / "changes" / "deploys.csv"
    assert config.file_format == "csv"
    absolute = DeployFileConfig.model_validate({"path": "/srv/deploys.yml"}, context={"base_dir": tmp_path})
    assert absolute.path == Path("/srv/deploys.yml")
    assert absolute.file_format == "yaml"


def test_defaults() -> None:
    config = DeployFileConfig.model_validate({"path": "c.ndjson"})
    assert (config.format, config.file_format, config.fields, config.default_kind) == (
        "auto",
        "jsonl",
        {},
        "deploy",
    )


def errors(data: dict) -> list[tuple[str, str, str]]:
    with pytest.raises(ValidationError) as info:
        DeployFileConfig.model_validate(data, context={"base_dir": "/etc/dossier"})
    return [(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in info.value.errors()]


def test_config_errors() -> None:
    assert errors({"path": "c.csv", "fomat": "csv"}) == [("fomat", "extra_forbidden", "Extra inputs are not permitted")]
    assert errors({}) == [("path", "missing", "Field required")]
    assert errors({"path": "c.csv", "default_kind": "release"}) == [
        ("default_kind", "literal_error", "Input should be 'deploy', 'config_change', 'rollback' or 'feature_flag'"),
    ]
    assert errors({"path": "c.csv", "format": "xml"}) == [
        ("format", "literal_error", "Input should be 'auto', 'jsonl', 'csv' or 'yaml'"),
    ]
    assert errors({"path": "c.csv", "fields": {"time": "ts", "service": "app", "title": "app"}}) == [
        (
            "fields",
            "value_error",
            "Value error, unknown field 'time' (did you mean 'title'?): use one of at, service, kind, version, "
            "id, title, author, url; fields 'service' and 'title' both read column 'app'",
        ),
    ]
    assert errors({"path": "changes.txt"}) == [
        (
            "format",
            "value_error",
            "Value error, cannot tell the format of '/etc/dossier/changes.txt' from its extension: "
            "set format: jsonl, csv or yaml",
        ),
    ]


def test_config_is_frozen() -> None:
    config = DeployFileConfig.model_validate({"path": "c.csv"})
    with pytest.raises(ValidationError):
        config.format = "jsonl"  # type: ignore[misc]


def test_every_config_field_is_described_and_in_the_readme() -> None:
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    for name, field in DeployFileConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in readme and field.description in readme, name


def test_sample_validates_and_is_the_readme_example() -> None:
    sample = (PLUGIN_DIR / "sample.yaml").read_text(encoding="utf-8")
    readme = (PLUGIN_DIR / "README.md").read_text(encoding="utf-8")
    assert f"## Example\n\n```yaml\n{sample}```\n" in readme
    ((instance, data),) = yaml.safe_load(sample)["collectors"].items()
    assert instance.split("/")[0] == DeployFileCollector.type
    config = DeployFileConfig.model_validate(data, context={"base_dir": "/etc/dossier"})
    assert config.path == Path("/etc/dossier/changes/deploys.csv")


def test_plugin_declaration() -> None:
    assert DeployFileCollector.type == "deploy_file"
    assert DeployFileCollector.Config is DeployFileConfig
    assert DeployFileCollector.kinds == frozenset({"change"})
    assert DeployFileConfig.model_config["extra"] == "forbid"
    assert DeployFileConfig.model_config["frozen"] is True
