"""dossier.incident: the incident file and the incident given by command-line options, every problem at once.

Errors are user interface: each test compares the full text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dossier.errors import ConfigError, ExitCode
from dossier.incident import incident_from_options, load_incident
from dossier.model import Incident

# ---- the incident file ---------------------------------------------------------------------

GOOD_INCIDENT = """\
id: INC-2041
title: Checkout returns 500s
start: 2026-11-20T10:00:00Z
end: 2026-11-20T12:00:00+01:00
services: [checkout]
declared_at: "2026-11-20T10:20:00Z"
resolved_at: 2026-11-20T11:30:00.5Z
severity: SEV2
labels: {team: payments, tier: 1}
"""


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 11, 20, hour, minute, second, micro, tzinfo=UTC)


def test_incident_yaml(tmp_path: Path) -> None:
    path = tmp_path / "incident.yaml"
    path.write_text(GOOD_INCIDENT)

    assert load_incident(path) == Incident(
        id="INC-2041",
        title="Checkout returns 500s",
        start=at(10),
        end=at(11),
        services=("checkout",),
        declared_at=at(10, 20),
        resolved_at=at(11, 30, 0, 500000),
        severity="SEV2",
        labels={"team": "payments", "tier": "1"},
    )


def test_incident_json_and_title_default(tmp_path: Path) -> None:
    path = tmp_path / "incident.json"
    path.write_text(json.dumps({"id": "INC-7", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T10:30:00Z"}))

    assert load_incident(path) == Incident(id="INC-7", title="INC-7", start=at(10), end=at(10, 30))


def incident_problems(tmp_path: Path, text: str, name: str = "incident.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_incident(path)
    return str(exc.value).replace(f"{path}: ", "")


@pytest.mark.parametrize(
    ("id_", "message"),
    [
        ('"../x"', "id: \"../x\" is not a safe folder name: use letters, digits, '.', '_' and '-'"),
        ('".."', "id: \"..\" is not a safe folder name: use letters, digits, '.', '_' and '-'"),
        ('"."', "id: \".\" is not a safe folder name: use letters, digits, '.', '_' and '-'"),
        ('"INC 1"', "id: \"INC 1\" is not a safe folder name: use letters, digits, '.', '_' and '-'"),
        ('""', "id: must not be empty"),
        ("x" * 129, "id: is 129 characters long: at most 128, as it is used as a folder name"),
        ("[a]", "id: Input should be a valid string"),
    ],
)
def test_incident_unsafe_ids(tmp_path: Path, id_: str, message: str) -> None:
    text = f"id: {id_}\nstart: 2026-11-20T10:00:00Z\nend: 2026-11-20T11:00:00Z\n"
    assert incident_problems(tmp_path, text) == message


def test_incident_numeric_id_is_text(tmp_path: Path) -> None:
    path = tmp_path / "incident.yaml"
    path.write_text("id: 2041\nstart: 2026-11-20T10:00:00Z\nend: 2026-11-20T11:00:00Z\n")
    assert load_incident(path).id == "2041"


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2026-11-20T10:00:00", "start: naive time '2026-11-20T10:00:00': add Z or an offset"),  # a YAML timestamp
        ("2026-11-20 10:00:00", "start: naive time '2026-11-20T10:00:00': add Z or an offset"),
        ('"2026-11-20T10:00:00"', "start: naive time '2026-11-20T10:00:00': add Z or an offset"),  # a string
        ("2026-11-20", "start: '2026-11-20' is a date: give a time, e.g. 2026-11-20T00:00:00Z"),
        ("yesterday", "start: 'yesterday' is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)"),
        ('"2026-13-20T10:00:00Z"', "start: '2026-13-20T10:00:00Z' is not a valid time: month must be in 1..12"),
        ("1700000000", "start: expected an RFC 3339 time such as 2026-11-20T10:00:00Z, got a number"),
    ],
)
def test_incident_bad_times(tmp_path: Path, start: str, message: str) -> None:
    text = f"id: INC-1\nstart: {start}\nend: 2026-11-20T11:00:00Z\n"
    assert incident_problems(tmp_path, text) == message


def test_incident_end_before_start(tmp_path: Path) -> None:
    text = "id: INC-1\nstart: 2026-11-20T10:00:00Z\nend: 2026-11-20T10:30:00+01:00\n"
    assert incident_problems(tmp_path, text) == "end: is before start 2026-11-20T10:00:00Z"

    text = "id: INC-1\nstart: 2026-11-20T10:00:00Z\nend: 2026-11-20T10:00:00Z\n"
    assert incident_problems(tmp_path, text) == "end: equals start 2026-11-20T10:00:00Z: the window is empty"


def test_incident_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        "id: ../x\ntitel: Checkout\nstart: 2026-11-20T12:00:00Z\nend: 2026-11-20T11:00:00Z\n"
        "services: checkout\nresolved_at: 2026-11-20T10:00:00\nlabels: {team: [a]}\n"
    )
    assert incident_problems(tmp_path, text) == "\n".join(
        [
            "end: is before start 2026-11-20T12:00:00Z",
            "id: \"../x\" is not a safe folder name: use letters, digits, '.', '_' and '-'",
            "labels::team: Input should be a valid string",
            "resolved_at: naive time '2026-11-20T10:00:00': add Z or an offset",
            "services: Input should be a valid list",
            'titel: unknown key "titel" (did you mean "title"?)',
        ]
    )


def test_incident_missing_keys(tmp_path: Path) -> None:
    assert incident_problems(tmp_path, "title: x\n") == "\n".join(
        ["end: Field required", "id: Field required", "start: Field required"]
    )


def test_incident_yaml_syntax_error(tmp_path: Path) -> None:
    text = "id: INC-1\nstart: [2026-11-20T10:00:00Z\nend: 2026-11-20T11:00:00Z\n"
    assert incident_problems(tmp_path, text) == (
        "cannot read: invalid YAML at line 3, column 4: expected ',' or ']', but got ':'"
    )


def test_incident_json_syntax_error(tmp_path: Path) -> None:
    text = '{"id": "INC-1",\n "start": "2026-11-20T10:00:00Z"\n "end": "2026-11-20T11:00:00Z"}'
    assert incident_problems(tmp_path, text, "incident.json") == (
        "cannot read: invalid JSON at line 3, column 2: expecting ',' delimiter"
    )


def test_incident_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "incident.yaml"
    with pytest.raises(ConfigError) as exc:
        load_incident(path)
    assert str(exc.value) == f"{path}: cannot read: no such file"


def test_incident_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert incident_problems(tmp_path, "INC-1\n") == "cannot read: expected a mapping of keys to values, got a string"
    assert incident_problems(tmp_path, "") == "cannot read: the file is empty"


# ---- the incident from command-line options ------------------------------------------------


def test_incident_from_options() -> None:
    assert incident_from_options(
        "INC-1", "2026-11-20T10:00:00Z", "2026-11-20T12:00:00+01:00", ["checkout", "payments", "checkout"]
    ) == Incident(id="INC-1", title="INC-1", start=at(10), end=at(11), services=("checkout", "payments"))
    assert incident_from_options("INC-1", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z", (), title="T").title == "T"


def test_incident_options_problems_name_the_option() -> None:
    with pytest.raises(ConfigError) as exc:
        incident_from_options("../x", "2026-11-20T10:00:00", "2026-11-20T09:00:00Z", [""])
    assert str(exc.value) == "\n".join(
        [
            "--id: \"../x\" is not a safe folder name: use letters, digits, '.', '_' and '-'",
            "--start: naive time '2026-11-20T10:00:00': add Z or an offset",
        ]
    )
    assert exc.value.exit_code == ExitCode.CONFIG

    with pytest.raises(ConfigError) as exc:
        incident_from_options("INC-1", "2026-11-20T10:00:00Z", "2026-11-20T09:00:00Z", [])
    assert str(exc.value) == "--end: is before start 2026-11-20T10:00:00Z"

    with pytest.raises(ConfigError) as exc:
        incident_from_options("INC-1", None, None, [])
    assert str(exc.value) == "--end: Field required\n--start: Field required"
