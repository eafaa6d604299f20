"""The `log_file` collector, over log files the tests write in tmp_path."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.log_file import LogFileCollector, LogFileConfig
from dossier.errors import SourceQueryError
from dossier.model import Incident, ServiceInfo, stable_id
from dossier.plugin import CollectContext, CollectRequest, Recorder

INSTANCE = "log_file/test"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # the incident's start
E0 = T0.timestamp()


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def make_request(start: str = "2026-11-20T09:50:00Z", end: str = "2026-11-20T10:10:00Z") -> CollectRequest:
    incident = Incident(
        id="INC-2041", title="Checkout returns 500s", start=T0, end=t(end), services=("checkout", "payments")
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


def make_collector(data: dict[str, Any], base_dir: Path) -> LogFileCollector:
    config = LogFileConfig.model_validate(data, context={"base_dir": base_dir})
    ctx = CollectContext(
        instance=INSTANCE, log=logging.LoggerAdapter(logging.getLogger("t"), {}), recorder=Recorder(INSTANCE)
    )
    return LogFileCollector(config, ctx)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ecs(at: str, service: str | None, level: str | None, message: Any, **extra: Any) -> dict[str, Any]:
    """An ecs-logging line: flat log.level, nested service.name."""
    doc: dict[str, Any] = {"@timestamp": at, "message": message, **extra}
    if level is not None:
        doc["log.level"] = level
    if service is not None:
        doc["service"] = {"name": service}
    return doc


def jsonl(*docs: dict[str, Any]) -> str:
    return "".join(json.dumps(d) + "\n" for d in docs)


def series_of(result: Any) -> dict[tuple[str | None, str], Any]:
    return {(s.service, s.signal): s for s in result.series}


def values(series: Any) -> list[float | None]:
    return [None if math.isnan(v) else v for v in series.values]


def total(series: Any) -> float:
    """The lines counted in a series (buckets outside the files' time span are NaN)."""
    return sum(v for v in series.values if not math.isnan(v))


def problems(result: Any) -> list[Any]:
    """The result's problems, less those that small test files cause anyway: the files do not cover the
    whole window, an incident service has no lines (both tested on their own)."""
    return [
        p
        for p in result.problems
        if not p.reason.endswith(("before it are unknown", "after it are unknown"))
        and not p.reason.startswith("no log lines of ")
    ]


def reasons(result: Any) -> list[str]:
    return [p.reason for p in problems(result)]


# Lines of the default tests: 09:50 to 10:10, the incident starts at 10:00.
LINES = [
    ecs("2026-11-20T09:49:59Z", "checkout", "error", "before the window"),  # outside: left out
    ecs("2026-11-20T09:50:00Z", "checkout", "info", "cart updated"),
    ecs("2026-11-20T09:51:30.250Z", "checkout-api", "ERROR", "upstream payments returned 502"),  # alias, upper
    {
        "@timestamp": "2026-11-20T09:55:00+00:00",
        "service.name": "payments-api",  # flat ECS keys
        "log.level": "error",
        "message": "card declined",
        "error.type": "CardDeclined",
        "trace.id": "abc",
    },
    ecs("2026-11-20T10:00:00Z", "checkout", "error", "upstream payments returned 502", trace={"id": "t1"}),
    ecs("2026-11-20T11:00:30+01:00", "checkout", "warn", "payment retry"),  # 10:00:30Z
    {
        "@timestamp": "2026-11-20T10:01:00Z",
        "service": {"name": "payments"},
        "log": {"level": "fatal"},  # nested log.level
        "message": "PSP client pool exhausted",
        "error": {"type": "PoolExhausted"},
        "trace": {"id": "t2"},
    },
    ecs("2026-11-20T10:02:00Z", "search", "error", "not an incident service"),  # left out
    ecs("2026-11-20T10:03:00Z", None, "error", "no service"),  # left out: no `service` configured
    ecs("2026-11-20T10:04:59.999Z", "checkout", "error", "upstream payments returned 502"),
    ecs("2026-11-20T10:09:00Z", "checkout", None, "no level"),
    ecs("2026-11-20T10:10:00Z", "checkout", "error", "at the end of the window"),  # [start, end): left out
]


def test_jsonl_with_ecs_fields_nested_and_flat(tmp_path: Path) -> None:
    path = write(tmp_path / "logs.jsonl", jsonl(*LINES))
    collector = make_collector({"path": "logs.jsonl", "interval": "5m"}, tmp_path)

    result = collector.collect(make_request())

    assert result.problems == []
    assert result.truncated is False
    (read,) = collector.ctx.recorder.requests
    assert read.method == "READ"
    assert read.url == path.as_uri()
    assert read.params == {
        "format": "jsonl",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
    }
    assert read.items == len(LINES)
    assert (read.status, read.sha256, read.bytes, read.error) == (None, None, 0, None)

    # counts per 5-minute bucket, aligned on the epoch, over [09:50, 10:10)
    s = series_of(result)
    assert sorted(s) == [
        ("checkout", "logs:*"),
        ("checkout", "logs:error"),
        ("checkout", "logs:info"),
        ("checkout", "logs:warn"),
        ("payments", "logs:*"),
        ("payments", "logs:error"),
        ("payments", "logs:fatal"),
    ]
    times = (E0 - 600, E0 - 300, E0, E0 + 300)
    err = s["checkout", "logs:error"]
    assert err.times == times
    assert err.step == 300.0
    assert values(err) == [1, 0, 2, 0]
    assert values(s["checkout", "logs:info"]) == [1, 0, 0, 0]
    assert values(s["checkout", "logs:warn"]) == [0, 0, 1, 0]
    assert values(s["checkout", "logs:*"]) == [2, 0, 3, 1]  # the line without a level counts here only
    assert values(s["payments", "logs:*"]) == [0, 1, 1, 0]
    assert values(s["payments", "logs:fatal"]) == [0, 0, 1, 0]
    assert err.id == stable_id(INSTANCE, "log_count", "checkout", "logs:error")
    assert (err.role, err.source, err.labels, err.request) == ("log_count", INSTANCE, {"level": "error"}, read.id)
    assert (err.direction, err.link) == ("up", None)
    assert err.query == f"{path} level=error"
    assert s["checkout", "logs:*"].labels == {}
    assert s["checkout", "logs:*"].query == f"{path} level=*"

    # error messages: window (from 10:00) and baseline counts
    messages = {(m.service, m.level, m.message): m for m in result.log_messages}
    assert sorted(messages) == [
        ("checkout", "error", "upstream payments returned 502"),
        ("payments", "error", "card declined"),
        ("payments", "fatal", "PSP client pool exhausted"),
    ]
    upstream = messages["checkout", "error", "upstream payments returned 502"]
    assert (upstream.window_count, upstream.baseline_count) == (2, 1)
    assert upstream.first_seen == t("2026-11-20T10:00:00Z")
    assert upstream.last_seen == t("2026-11-20T10:04:59.999Z")
    assert upstream.id == stable_id(INSTANCE, "checkout", "error", "upstream payments returned 502")
    assert (upstream.source, upstream.link, upstream.request, upstream.error_type) == (INSTANCE, None, read.id, None)
    declined = messages["payments", "error", "card declined"]
    assert (declined.window_count, declined.baseline_count, declined.first_seen, declined.last_seen) == (
        0,
        1,
        None,
        None,
    )
    assert declined.error_type == "CardDeclined"
    pool = messages["payments", "fatal", "PSP client pool exhausted"]
    assert (pool.window_count, pool.baseline_count, pool.error_type) == (1, 0, "PoolExhausted")

    # exemplars: the error lines of the window, in time order
    records = result.log_records
    assert [(r.at, r.service, r.level, r.message) for r in records] == [
        (t("2026-11-20T10:00:00Z"), "checkout", "error", "upstream payments returned 502"),
        (t("2026-11-20T10:01:00Z"), "payments", "fatal", "PSP client pool exhausted"),
        (t("2026-11-20T10:04:59.999Z"), "checkout", "error", "upstream payments returned 502"),
    ]
    first = records[0]
    assert first.id == stable_id(INSTANCE, str(path), "5")
    assert dict(first.attrs) == {"file": str(path), "line": "5", "trace.id": "t1"}
    assert dict(records[1].attrs) == {"file": str(path), "line": "7", "trace.id": "t2", "error.type": "PoolExhausted"}
    assert (first.source, first.link, first.request) == (INSTANCE, None, read.id)


def test_buckets_are_epoch_aligned_with_zero_buckets_and_exact_counts(tmp_path: Path) -> None:
    # one line every 10 s from 09:50:05 to 10:09:55, except 10:02:00-10:05:00 (an ingestion hole)
    docs = []
    at = T0 - timedelta(minutes=10) + timedelta(seconds=5)
    while at < T0 + timedelta(minutes=10):
        if not T0 + timedelta(minutes=2) <= at < T0 + timedelta(minutes=5):
            docs.append(ecs(at.isoformat(), "checkout", "info", "tick"))
        at += timedelta(seconds=10)
    write(tmp_path / "logs.jsonl", jsonl(*docs))
    # the window does not start on a bucket boundary: the first bucket is the one holding it
    request = make_request(start="2026-11-20T09:50:30Z", end="2026-11-20T10:09:59Z")
    for service in request.services[1:]:
        assert service.name == "payments"  # no lines: an all-zero count and a problem, tested below

    result = make_collector({"path": "logs.jsonl"}, tmp_path).collect(request)

    total = series_of(result)["checkout", "logs:*"]
    assert total.times == tuple(E0 - 600 + 60 * i for i in range(20))
    assert values(total) == [3] + [6] * 11 + [0, 0, 0] + [6] * 5
    assert sum(total.values) == len(docs) - 3  # the three lines before 09:50:30
    assert values(series_of(result)["payments", "logs:*"]) == [0] * 20
    assert [p.reason for p in result.problems] == [
        f"no log lines of 'payments' (service.name in ['payments', 'payments-api', 'pay']) in "
        f"{tmp_path / 'logs.jsonl'} from 2026-11-20T09:50:30Z to 2026-11-20T10:09:59Z: does it log under another "
        "name (add it to the service's aliases) or another field (fields.service)?"
    ]
    (problem,) = result.problems
    assert (problem.kind, problem.service, problem.signal) == ("blind_spot", "payments", "logs:*")
    assert (problem.start, problem.end) == (request.start, request.end)


def test_buckets_outside_the_files_are_unknown_not_zero(tmp_path: Path) -> None:
    write(
        tmp_path / "logs.jsonl",
        jsonl(
            ecs("2026-11-20T09:55:10Z", "checkout", "info", "first"),
            ecs("2026-11-20T09:58:00Z", "payments", "info", "a payment"),
            ecs("2026-11-20T10:03:59Z", "checkout", "info", "last"),
        ),
    )
    result = make_collector({"path": "logs.jsonl", "interval": "2m"}, tmp_path).collect(make_request())

    total = series_of(result)["checkout", "logs:*"]
    assert total.times == tuple(E0 - 600 + 120 * i for i in range(10))
    # 09:50, 09:52 before the first line; 09:54 holds it; 10:04 and after: no line of any service
    assert values(total) == [None, None, 1, 0, 0, 0, 1, None, None, None]
    assert [p.reason for p in result.problems] == [
        f"{tmp_path / 'logs.jsonl'}: the logs begin at 2026-11-20T09:55:10Z, after the start of the window "
        "2026-11-20T09:50:00Z: counts before it are unknown",
        f"{tmp_path / 'logs.jsonl'}: the logs end at 2026-11-20T10:03:59Z, before the end of the window "
        "2026-11-20T10:10:00Z: counts after it are unknown",
    ]
    assert (result.problems[1].start, result.problems[1].end) == (t("2026-11-20T10:03:59Z"), t("2026-11-20T10:10:00Z"))
    # the file answered: what it does not cover is a blind spot of the logs, not a failed source
    assert {(p.kind, p.signal) for p in result.problems} == {("blind_spot", "logs:*")}


def test_aliases_and_a_fixed_service(tmp_path: Path) -> None:
    write(
        tmp_path / "pay.jsonl",
        jsonl(
            ecs("2026-11-20T10:00:01Z", None, "error", "pool exhausted"),  # the configured service
            ecs("2026-11-20T10:00:02Z", "pay", "error", "pool exhausted"),  # its own name wins (an alias)
            ecs("2026-11-20T10:00:03Z", "checkout-api", "error", "upstream 502"),
        ),
    )
    result = make_collector({"path": "pay.jsonl", "service": "payments-api"}, tmp_path).collect(make_request())

    assert {(m.service, m.message, m.window_count) for m in result.log_messages} == {
        ("payments", "pool exhausted", 2),
        ("checkout", "upstream 502", 1),
    }
    assert [r.service for r in result.log_records] == ["payments", "payments", "checkout"]


def test_fields_renamed(tmp_path: Path) -> None:
    write(
        tmp_path / "app.ndjson",
        jsonl(
            {"ts": "2026-11-20T10:00:01Z", "app": {"id": "checkout"}, "severity": "Error", "msg": "boom", "err": "E"},
        ),
    )
    fields = {"timestamp": "ts", "service": "app.id", "level": "severity", "message": "msg", "error_type": "err"}
    result = make_collector({"path": "app.ndjson", "fields": fields}, tmp_path).collect(make_request())

    ((m),) = result.log_messages
    assert (m.service, m.level, m.message, m.error_type, m.window_count) == ("checkout", "error", "boom", "E", 1)


TEXT_PATTERN = r"^(?P<timestamp>\S+ \S+) (?P<level>[A-Z]+) +(?P<service>[\w-]+): (?P<message>.*)$"


def test_text_lines_with_a_pattern(tmp_path: Path) -> None:
    write(
        tmp_path / "app.log",
        "2026-11-20 09:59:00,120 INFO  checkout: cart updated\n"
        "2026-11-20 10:00:01,500 ERROR checkout-api: upstream payments returned 502\n"
        "java.lang.IllegalStateException: bad gateway\n"  # does not match, not indented: a bad line
        "    at com.example.Checkout.pay(Checkout.java:42)\n"  # a stack frame: belongs to the line above
        "\n"
        "2026-11-20 10:00:02,000 ERROR payments: PSP client pool exhausted\n",
    )
    collector = make_collector(
        {"path": "app.log", "pattern": TEXT_PATTERN, "timestamp_format": "%Y-%m-%d %H:%M:%S,%f", "timezone": "UTC"},
        tmp_path,
    )
    assert collector.config.line_format == "text"

    result = collector.collect(make_request())

    assert [(r.at, r.service, r.level, r.message) for r in result.log_records] == [
        (t("2026-11-20T10:00:01.5Z"), "checkout", "error", "upstream payments returned 502"),
        (t("2026-11-20T10:00:02Z"), "payments", "error", "PSP client pool exhausted"),
    ]
    assert reasons(result) == [
        f"{tmp_path / 'app.log'}: 1 line could not be read (first at line 3: does not match `pattern`)"
    ]
    assert collector.ctx.recorder.requests[0].params["format"] == "text"
    assert collector.ctx.recorder.requests[0].items == 6


def test_text_lines_of_one_service_with_iso_timestamps(tmp_path: Path) -> None:
    write(
        tmp_path / "checkout.log",
        "2026-11-20T10:00:01Z [error] upstream payments returned 502\n2026-11-20T10:00:02Z [info] cart updated\n",
    )
    pattern = r"(?P<timestamp>\S+) \[(?P<level>\w+)\] (?P<message>.*)"
    result = make_collector({"path": "checkout.log", "pattern": pattern, "service": "checkout"}, tmp_path).collect(
        make_request()
    )

    assert [(m.service, m.message) for m in result.log_messages] == [("checkout", "upstream payments returned 502")]
    assert total(series_of(result)["checkout", "logs:*"]) == 2


def test_gzip_is_read_transparently_and_hashed_as_stored(tmp_path: Path) -> None:
    text = jsonl(*LINES)
    path = tmp_path / "logs.jsonl.gz"
    path.write_bytes(gzip.compress(text.encode()))
    write(tmp_path / "plain" / "logs.jsonl", text)

    zipped = make_collector({"path": "logs.jsonl.gz", "interval": "5m"}, tmp_path)
    plain = make_collector({"path": "plain/logs.jsonl", "interval": "5m"}, tmp_path)
    a, b = zipped.collect(make_request()), plain.collect(make_request())

    assert [(s.signal, s.service, s.values) for s in a.series] == [(s.signal, s.service, s.values) for s in b.series]
    assert [(m.id, m.window_count, m.baseline_count) for m in a.log_messages] == [
        (m.id, m.window_count, m.baseline_count) for m in b.log_messages
    ]
    (read,) = zipped.ctx.recorder.requests
    assert read.params["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert read.params["bytes"] == path.stat().st_size
    assert read.items == len(LINES)


def test_a_damaged_gzip_file_keeps_what_was_read(tmp_path: Path) -> None:
    text = jsonl(*(ecs(f"2026-11-20T10:00:{i:02d}Z", "checkout", "error", f"e{i}") for i in range(50)))
    data = gzip.compress(text.encode())
    path = tmp_path / "logs.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])

    collector = make_collector({"path": "logs.jsonl.gz"}, tmp_path)
    result = collector.collect(make_request())

    kept = sum(m.window_count for m in result.log_messages)
    assert 0 < kept < 50
    (problem,) = problems(result)
    assert problem.reason.startswith(f"{path}: cannot read past line ")
    assert problem.reason.endswith(": the compressed stream ends early (a truncated .gz file)")
    (read,) = collector.ctx.recorder.requests
    assert read.error == problem.reason
    assert read.params["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_glob_reads_every_matching_file(tmp_path: Path) -> None:
    write(tmp_path / "logs" / "a-checkout.jsonl", jsonl(ecs("2026-11-20T10:00:05Z", "checkout", "error", "502")))
    (tmp_path / "logs" / "b-payments.jsonl.gz").write_bytes(
        gzip.compress(
            jsonl(
                ecs("2026-11-20T10:00:01Z", "payments", "error", "pool"),
                ecs("2026-11-20T10:00:09Z", "checkout", "error", "502"),
            ).encode()
        )
    )
    write(tmp_path / "logs" / "notes.txt", "not matched\n")
    (tmp_path / "logs" / "old.jsonl").mkdir()  # a folder that matches: not a file, skipped
    collector = make_collector({"path": "logs/*.jsonl*"}, tmp_path)

    result = collector.collect(make_request())

    reads = collector.ctx.recorder.requests
    assert [r.url for r in reads] == [
        (tmp_path / "logs" / "a-checkout.jsonl").as_uri(),
        (tmp_path / "logs" / "b-payments.jsonl.gz").as_uri(),
    ]
    assert all(r.params["path"] == str(tmp_path / "logs" / "*.jsonl*") for r in reads)
    by_id: dict[str | None, str] = {r.id: r.url for r in reads}
    msgs = {(m.service, m.message): m for m in result.log_messages}
    assert msgs["checkout", "502"].window_count == 2
    assert by_id[msgs["checkout", "502"].request].endswith("a-checkout.jsonl")  # the file it was first read from
    assert by_id[msgs["payments", "pool"].request].endswith("b-payments.jsonl.gz")
    assert by_id[series_of(result)["payments", "logs:*"].request].endswith("b-payments.jsonl.gz")
    # exemplars in time order across the files, each with its own file and request
    assert [(r.message, r.attrs["file"].rsplit("/", 1)[1], r.attrs["line"]) for r in result.log_records] == [
        ("pool", "b-payments.jsonl.gz", "1"),
        ("502", "a-checkout.jsonl", "1"),
        ("502", "b-payments.jsonl.gz", "2"),
    ]
    assert by_id[result.log_records[0].request].endswith("b-payments.jsonl.gz")
    size = sum(p.stat().st_size for p in (tmp_path / "logs").glob("*.jsonl*") if p.is_file())
    assert collector.check() == f"{tmp_path / 'logs' / '*.jsonl*'}: 2 files, {size:,} bytes"


def test_max_exemplars_keeps_the_earliest_even_out_of_order(tmp_path: Path) -> None:
    seconds = [7, 3, 9, 1, 5, 2, 8]
    write(
        tmp_path / "logs.jsonl",
        jsonl(*(ecs(f"2026-11-20T10:00:0{s}Z", "checkout", "error", f"e{s}") for s in seconds)),
    )
    result = make_collector({"path": "logs.jsonl", "max_exemplars": 3}, tmp_path).collect(make_request())

    assert [r.message for r in result.log_records] == ["e1", "e2", "e3"]
    assert [r.attrs["line"] for r in result.log_records] == ["4", "6", "2"]
    assert result.truncated is True  # more error lines than exemplars, as a log store reports it
    assert result.truncated_reason == "more error lines than max_exemplars (3): the first 3 are kept as exemplars"
    none = make_collector({"path": "logs.jsonl", "max_exemplars": 0}, tmp_path).collect(make_request())
    assert none.log_records == [] and len(none.log_messages) == 7


def test_truncation_past_max_messages(tmp_path: Path) -> None:
    docs = [ecs("2026-11-20T09:55:00Z", "checkout", "error", "old")]
    docs += [ecs(f"2026-11-20T10:00:{i:02d}Z", "checkout", "error", f"order {i % 5} failed") for i in range(20)]
    docs += [ecs("2026-11-20T10:01:00Z", "checkout", "error", "old")]  # kept texts are still counted
    docs += [ecs("2026-11-20T10:01:00Z", "payments", "error", f"p{i}") for i in range(2)]  # another service
    path = write(tmp_path / "logs.jsonl", jsonl(*docs))

    collector = make_collector({"path": "logs.jsonl", "max_messages": 2}, tmp_path)
    result = collector.collect(make_request())

    assert result.truncated is True
    assert sorted((m.service, m.message, m.baseline_count, m.window_count) for m in result.log_messages) == [
        ("checkout", "old", 1, 1),
        ("checkout", "order 0 failed", 0, 4),
        ("payments", "p0", 0, 1),
        ("payments", "p1", 0, 1),
    ]
    (problem,) = problems(result)
    assert problem.reason == (
        f"{path}: distinct error messages of 'checkout': more than max_messages (2) distinct messages: the first 2 "
        "seen first are kept, 16 error lines of other messages are not among them (they are in the logs:<level> "
        "counts)"
    )
    assert problem.service == "checkout"
    assert problem.request == collector.ctx.recorder.requests[0].id
    # counts do not depend on the messages kept
    assert total(series_of(result)["checkout", "logs:error"]) == 22


def test_bad_lines_are_counted_with_the_first_line_number(tmp_path: Path) -> None:
    path = write(
        tmp_path / "logs.jsonl",
        "\n".join(
            [
                json.dumps(ecs("2026-11-20T10:00:00Z", "checkout", "error", "ok")),
                "",
                "{not json",
                json.dumps(["a", "list"]),
                json.dumps({"message": "no time", "service": {"name": "checkout"}}),
                json.dumps(ecs("2026-11-20 10:00:00", "checkout", "error", "naive")),
                json.dumps(ecs("yesterday", "checkout", "error", "not a time")),
                json.dumps({"@timestamp": 1763632800, "message": "epoch"}),
                json.dumps({"@timestamp": "2026-11-20T08:00:00Z"}),  # outside the window: not checked further
            ]
        )
        + "\n",
    )
    (tmp_path / "bin.jsonl").write_bytes(
        json.dumps(ecs("2026-11-20T10:00:00Z", "checkout", "error", "ok")).encode() + b"\n\xff\xfe\n"
    )

    collector = make_collector({"path": "*.jsonl"}, tmp_path)
    result = collector.collect(make_request())

    assert reasons(result) == [
        f"{tmp_path / 'bin.jsonl'}: 1 line could not be read (first at line 2: not UTF-8 text (byte 1 of the line))",
        f"{path}: 6 lines could not be read (first at line 3: invalid JSON: Expecting property name enclosed in "
        "double quotes (column 2))",
    ]
    assert [p.request for p in problems(result)] == [r.id for r in collector.ctx.recorder.requests]
    assert sum(m.window_count for m in result.log_messages) == 2

    # each reason, one file at a time
    def why(line: str) -> str:
        write(tmp_path / "one" / "l.jsonl", line + "\n")
        (problem,) = problems(make_collector({"path": "one/l.jsonl"}, tmp_path).collect(make_request()))
        return problem.reason.split("(first at line 1: ", 1)[1][:-1]

    assert why(json.dumps(["a"])) == "expected a JSON object"
    assert why(json.dumps({"message": "x"})) == "timestamp: no '@timestamp' field (set fields: {timestamp: <key>})"
    assert why(json.dumps({"@timestamp": "2026-11-20 10:00:00"})) == (
        "timestamp: naive time '2026-11-20 10:00:00': set `timezone` (e.g. UTC) or log with an offset"
    )
    assert why(json.dumps({"@timestamp": "yesterday"})) == (
        "timestamp: 'yesterday' is not a time (RFC 3339, e.g. 2026-11-20T10:00:00Z): check `timestamp_format`"
    )
    assert why(json.dumps({"@timestamp": 1763632800})) == "timestamp: expected the time as text, got a number"


def test_a_line_longer_than_the_limit_is_a_bad_line(tmp_path: Path) -> None:
    long = json.dumps(ecs("2026-11-20T10:00:00Z", "checkout", "error", "x" * (1 << 20)))
    ok = json.dumps(ecs("2026-11-20T10:00:01Z", "checkout", "error", "short"))
    path = write(tmp_path / "logs.jsonl", f"{ok}\n{long}\n{ok}\n")

    result = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request())

    assert reasons(result) == [f"{path}: 1 line could not be read (first at line 2: longer than 1048576 bytes)"]
    assert [(m.message, m.window_count) for m in result.log_messages] == [("short", 2)]
    assert [r.attrs["line"] for r in result.log_records] == ["1", "3"]


def test_naive_timestamps_need_a_timezone(tmp_path: Path) -> None:
    write(
        tmp_path / "logs.jsonl",
        jsonl(
            ecs("2026-11-20T11:00:01", "checkout", "error", "naive"),  # 10:00:01Z in Berlin (CET, UTC+1)
            ecs("2026-11-20T10:00:02Z", "checkout", "error", "aware"),  # its own offset wins
        ),
    )
    refused = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request())
    assert [m.message for m in refused.log_messages] == ["aware"]
    assert reasons(refused) == [
        f"{tmp_path / 'logs.jsonl'}: 1 line could not be read (first at line 1: timestamp: naive time "
        "'2026-11-20T11:00:01': set `timezone` (e.g. UTC) or log with an offset)"
    ]

    berlin = make_collector({"path": "logs.jsonl", "timezone": "Europe/Berlin"}, tmp_path).collect(make_request())
    assert problems(berlin) == []
    assert [(r.message, r.at) for r in berlin.log_records] == [
        ("naive", t("2026-11-20T10:00:01Z")),
        ("aware", t("2026-11-20T10:00:02Z")),
    ]
    utc = make_collector({"path": "logs.jsonl", "timezone": "UTC"}, tmp_path).collect(make_request())
    assert [r.message for r in utc.log_records] == ["aware"]  # 11:00:01Z is after the window


def test_timestamp_format(tmp_path: Path) -> None:
    write(
        tmp_path / "access.jsonl",
        jsonl({"time": "20/Nov/2026:11:00:01 +0100", "service": "checkout", "level": "error", "message": "502"}),
    )
    fields = {"timestamp": "time", "service": "service", "level": "level"}
    result = make_collector(
        {"path": "access.jsonl", "fields": fields, "timestamp_format": "%d/%b/%Y:%H:%M:%S %z"}, tmp_path
    ).collect(make_request())
    assert [(r.at, r.message) for r in result.log_records] == [(t("2026-11-20T10:00:01Z"), "502")]


def test_error_levels_are_configurable_and_case_insensitive(tmp_path: Path) -> None:
    write(
        tmp_path / "logs.jsonl",
        jsonl(
            ecs("2026-11-20T10:00:01Z", "checkout", "Warning", "slow"),
            ecs("2026-11-20T10:00:02Z", "checkout", "error", "boom"),
        ),
    )
    result = make_collector({"path": "logs.jsonl", "error_levels": ["WARNING"]}, tmp_path).collect(make_request())
    assert [(m.level, m.message) for m in result.log_messages] == [("warning", "slow")]


def test_a_long_window_coarsens_the_interval(tmp_path: Path) -> None:
    write(tmp_path / "logs.jsonl", jsonl(ecs("2026-11-20T10:00:01Z", "checkout", "error", "boom")))
    request = make_request(start="2026-11-17T10:00:00Z", end="2026-11-20T10:10:00Z")  # 3 days: 4,330 minutes
    result = make_collector({"path": "logs.jsonl"}, tmp_path).collect(request)
    total = series_of(result)["checkout", "logs:*"]
    assert total.step == 300.0  # the smallest round interval that gives at most 2,000 buckets
    assert len(total.times) == 866
    assert total.times[0] == t("2026-11-17T10:00:00Z").timestamp()
    assert total.times[-1] == t("2026-11-20T10:05:00Z").timestamp()


def test_error_lines_without_a_message_are_counted_but_not_among_the_messages(tmp_path: Path) -> None:
    path = write(
        tmp_path / "logs.jsonl",
        jsonl(
            {"@timestamp": "2026-11-20T10:00:01Z", "service": {"name": "checkout"}, "log.level": "error"},
            {"@timestamp": "2026-11-20T10:00:02Z", "service": {"name": "checkout"}, "log.level": "info"},
            ecs("2026-11-20T10:00:03Z", "checkout", "error", {"structured": True}),  # not text: no message
        ),
    )
    result = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request())

    assert result.log_messages == []
    assert total(series_of(result)["checkout", "logs:error"]) == 2
    assert [r.message for r in result.log_records] == ["", ""]
    assert reasons(result) == [
        f"{path}: distinct error messages of 'checkout': 2 error lines without a message ('message'): counted in "
        "logs:<level> but not among the distinct messages"
    ]


def test_the_most_frequent_error_type_names_a_message(tmp_path: Path) -> None:
    types = ["B", "A", "B", "A", None]
    docs = [ecs(f"2026-11-20T10:00:0{i}Z", "checkout", "error", "boom", error={"type": e}) for i, e in enumerate(types)]
    write(tmp_path / "logs.jsonl", jsonl(*docs))
    (m,) = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request()).log_messages
    assert m.error_type == "A"  # a tie goes to the first name


def test_a_fixed_service_is_the_only_one_expected(tmp_path: Path) -> None:
    write(tmp_path / "checkout.jsonl", jsonl({"@timestamp": "2026-11-20T10:00:01Z", "message": "hello"}))
    result = make_collector({"path": "checkout.jsonl", "service": "checkout-api"}, tmp_path).collect(make_request())
    assert sorted(series_of(result)) == [("checkout", "logs:*")]
    assert [p.reason for p in result.problems if "no log lines" in p.reason] == []  # none for payments
    nobody = make_collector({"path": "checkout.jsonl", "service": "search"}, tmp_path).collect(make_request())
    assert (nobody.series, nobody.log_messages) == ([], [])


def test_without_incident_services_every_line_counts(tmp_path: Path) -> None:
    write(
        tmp_path / "logs.jsonl",
        jsonl(
            ecs("2026-11-20T10:00:01Z", "search", "error", "boom"),
            ecs("2026-11-20T10:00:02Z", "checkout-api", "error", "boom"),
            ecs("2026-11-20T10:00:03Z", None, "info", "hello"),
        ),
    )
    request = make_request()
    unscoped = CollectRequest(incident=request.incident, start=request.start, end=request.end, services=())
    result = make_collector({"path": "logs.jsonl"}, tmp_path).collect(unscoped)

    assert sorted(series_of(result)) == [(None, "logs:*"), (None, "logs:error"), (None, "logs:info")]
    assert total(series_of(result)[None, "logs:*"]) == 3
    assert sorted((m.service, m.message) for m in result.log_messages) == [("checkout-api", "boom"), ("search", "boom")]
    assert [r.service for r in result.log_records] == ["search", "checkout-api"]


# ---- the file as a whole ------------------------------------------------------------------


def test_missing_file_glob_matching_nothing_and_a_folder(tmp_path: Path) -> None:
    cases = {
        "nope.jsonl": f"{tmp_path / 'nope.jsonl'}: file not found: check `path` (a relative path is relative to "
        "the config file)",
        "logs/*.jsonl": f"{tmp_path / 'logs' / '*.jsonl'}: no file matches the pattern: check `path` (a relative "
        "path is relative to the config file)",
        ".": f"{tmp_path}: is a directory: name a file, or a pattern such as {tmp_path / '*.jsonl'}",
    }
    for path, message in cases.items():
        collector = make_collector({"path": path}, tmp_path)
        with pytest.raises(SourceQueryError) as info:
            collector.collect(make_request())
        assert str(info.value) == message
        assert info.value.instance == INSTANCE
        with pytest.raises(SourceQueryError) as info:
            collector.check()
        assert str(info.value) == message


def test_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write(tmp_path / "a.jsonl", jsonl(ecs("2026-11-20T10:00:01Z", "checkout", "error", "boom")))
    bad = write(tmp_path / "b.jsonl", "")
    real_open = Path.open

    def fake_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == bad:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", fake_open)
    collector = make_collector({"path": "*.jsonl"}, tmp_path)
    result = collector.collect(make_request())

    message = f"{bad}: cannot read: Permission denied: check the file's permissions"
    assert [m.message for m in result.log_messages] == ["boom"]
    assert reasons(result) == [message]
    assert [(r.url, r.error) for r in collector.ctx.recorder.requests] == [
        (good.as_uri(), None),
        (bad.as_uri(), message),
    ]
    with pytest.raises(SourceQueryError, match="Permission denied"):
        make_collector({"path": "b.jsonl"}, tmp_path).collect(make_request())


def test_check_counts_files_and_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "logs.jsonl", jsonl(*LINES))
    assert make_collector({"path": "logs.jsonl"}, tmp_path).check() == f"{path}: 1 file, {path.stat().st_size:,} bytes"


def test_same_input_same_evidence(tmp_path: Path) -> None:
    write(tmp_path / "logs.jsonl", jsonl(*LINES))
    a = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request())
    b = make_collector({"path": "logs.jsonl"}, tmp_path).collect(make_request())
    assert (a.series, a.log_messages, a.log_records, a.problems) == (
        b.series,
        b.log_messages,
        b.log_records,
        b.problems,
    )


# ---- memory --------------------------------------------------------------------------------


@pytest.mark.slow
def test_memory_stays_flat_on_a_large_file(tmp_path: Path) -> None:
    """200,000 lines (about 40 MB): the peak of what the collector allocates stays under 3 MB."""
    path = tmp_path / "big.jsonl"
    levels = ("info", "info", "info", "warn", "error")
    with path.open("w", encoding="utf-8") as f:
        for i in range(200_000):
            at = T0 - timedelta(minutes=10) + timedelta(milliseconds=6 * i)  # 09:50 to 10:10
            service = ("checkout", "payments-api", "search")[i % 3]
            level = levels[i % 5]
            message = f"request {i} handled in {i % 97}ms" if level != "error" else f"upstream failed ({i // 5 % 50})"
            f.write(json.dumps(ecs(at.isoformat(), service, level, message, trace={"id": f"{i:032x}"})) + "\n")
    assert path.stat().st_size > 30_000_000
    collector = make_collector({"path": "big.jsonl"}, tmp_path)
    request = make_request()

    tracemalloc.start()
    try:
        result = collector.collect(request)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    print(f"peak {peak} bytes")
    assert peak < 3_000_000, peak
    assert total(series_of(result)["checkout", "logs:*"]) == 66_667
    assert len(result.log_messages) == 100  # 50 texts in each of two services
    assert len(result.log_records) == 200
