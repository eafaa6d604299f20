"""dossier.archive and dossier.codec: the round trip is exact, and the fast paths read exactly what the
general ones do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dossier import archive, codec
from dossier.errors import ConfigError
from dossier.exporters import json as json_exporter
from dossier.model import CorrelateSettings, Event, Incident, Problem, Series, ServiceInfo, SourceReport

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
INCIDENT = Incident("INC-1", "t", T0, T0 + timedelta(hours=1), services=("checkout",))
SETTINGS = CorrelateSettings(services=(ServiceInfo("checkout", ("co",), ("payments",)),))
REST = b'"id": "x", "kind": "deploy", "source": "s", "title": "t"'
REPORT = SourceReport("prometheus/p", "prometheus", "ok", None, 3, 0.5, kinds=("alert",))


def events() -> list[Event]:
    return [
        Event("a", T0, "deploy", "prometheus/p", "deploy 1", "checkout", attrs={"n": 1, "x": [1.5, None]}),
        Event("b", T0 + timedelta(milliseconds=1), "alert_firing", "prometheus/p", "ü \u2028 line", None),
        Event("c", T0, "telemetry_gap", "prometheus/p", "gap", "checkout", end=T0 + timedelta(seconds=90)),
        Event("d", T0, "note", "prometheus/p", "big", attrs={"big": 2**70, "f": 1e300, "s": '\\"{}'}, link="l"),
    ]


def write(tmp_path, evs, **kw) -> None:
    archive.write(
        tmp_path,
        incident=INCIDENT,
        settings=SETTINGS,
        generated_at=T0,
        formats=("json",),
        instances=[archive.InstanceEvidence(report=REPORT, events=evs, **kw)],
    )


def test_round_trip_is_exact(tmp_path) -> None:
    series = Series("s", "prometheus/p", "err", "checkout", {"a": "b"}, "q", (1.0, 2.0), (0.5, float("nan")))
    problem = Problem("prometheus/p", "scrape failed", "blind_spot", "checkout", None, T0, T0 + timedelta(minutes=1))
    write(tmp_path, events(), series=[series], problems=[problem])
    a = archive.read(tmp_path)
    assert list(a.evidence.events) == events()
    assert [e.at.tzinfo for e in a.evidence.events] == [UTC] * 4
    assert a.evidence.problems == (problem,)
    (s,) = a.evidence.series
    assert s.times == series.times and s.values[0] == 0.5 and s.values[1] != s.values[1]
    assert a.incident == INCIDENT and a.settings == SETTINGS and a.generated_at == T0


def test_fast_event_path_reads_what_the_general_path_reads(tmp_path) -> None:
    write(tmp_path, events())
    for raw in (tmp_path / "evidence" / "prometheus/p.jsonl").read_bytes().splitlines():
        general = json.loads(raw)
        general.pop("type")
        fast = archive._event(raw)
        assert fast is not None
        assert fast == codec.event_from_dict(general)


@pytest.mark.parametrize(
    "line",
    [
        b'{"at": "2026-11-20T10:00:00.1234567Z", ' + REST + b', "type": "event"}',
        b'{"at": "2026-11-20T10:00:00.000001Z", ' + REST + b', "type": "event"}',
        b'{"at": "2026-11-20T10:00:00Z", "attrs": null, ' + REST + b', "type": "event"}',
        b'{"at": "2026-11-20T10:00:00Z", "id": 5, "kind": "deploy", "source": "s", "title": "t", "type": "event"}',
        b'{"at": "2026-11-20T10:00:00Z", ' + REST + b', "zzz": 1, "type": "event"}',
    ],
)
def test_lines_the_fast_path_leaves_to_the_general_one(line: bytes) -> None:
    assert archive._event(line) is None or archive._event(line) == codec.event_from_dict(
        {k: v for k, v in json.loads(line).items() if k != "type"}
    )


def test_altered_file_is_reported_as_altered_even_with_a_bad_line(tmp_path) -> None:
    write(tmp_path, events())
    path = tmp_path / "evidence" / "prometheus/p.jsonl"
    path.write_bytes(b"not json\n" + path.read_bytes())
    with pytest.raises(ConfigError, match="altered"):
        archive.read(tmp_path)


def test_bad_line_is_named_with_its_number(tmp_path) -> None:
    write(tmp_path, events())
    path = tmp_path / "evidence" / "prometheus/p.jsonl"
    body = path.read_bytes().replace(b'"kind": "deploy"', b'"kind": "bogus"')
    path.write_bytes(body)
    manifest_path = tmp_path / "evidence" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    import hashlib

    manifest["files"]["prometheus/p"]["sha256"] = hashlib.sha256(body).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ConfigError) as info:
        archive.read(tmp_path)
    assert "p.jsonl:1" in str(info.value) or "p.jsonl:1" in repr(info.value.args)


def test_time_fast_path_matches_parse_time() -> None:
    from dossier.model import parse_time

    for text in ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00.5Z", "2026-11-20T12:00:00+02:00", " 2026-11-20T10:00Z"):
        assert codec._time(text) == parse_time(text) and codec._time(text).tzinfo is UTC
    with pytest.raises(ValueError):
        codec._time("2026-11-20T10:00:00")


def test_json_exporter_text_is_the_standard_library_indented_text(tmp_path) -> None:
    value = {"a": [], "b": {}, "c": [1, 2.5, 1e16, None, True, 'é\u2028\\"x\t', {"d": [[]]}], "k": 2**70}
    assert json_exporter.dumps(value) == json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    with pytest.raises(ValueError):
        json_exporter.dumps({"x": float("nan")})


def test_json_exporter_writes_atomically(tmp_path, monkeypatch) -> None:
    path = tmp_path / "dossier.json"
    json_exporter.write_atomic(path, b"old\n")
    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        json_exporter.write_atomic(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["dossier.json"]  # no temporary file left behind
