"""Configuration of the `deploy_file` collector: where the change log is and how to read it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from dossier.plugin import PluginConfig, RelPath

Format = Literal["jsonl", "csv", "yaml"]
ChangeKind = Literal["deploy", "config_change", "rollback", "feature_flag"]

# The fields Dossier reads from each record; every other column is kept as it is.
RECORD_FIELDS: tuple[str, ...] = ("at", "service", "kind", "version", "id", "title", "author", "url")

EXTENSIONS: Mapping[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".yaml": "yaml",
    ".yml": "yaml",
}


class DeployFileConfig(PluginConfig):
    """A change log the team already keeps, as JSON lines, CSV or YAML."""

    path: RelPath = Field(
        description="The change log file; a relative path is relative to the config file that names it.",
    )
    format: Literal["auto", "jsonl", "csv", "yaml"] = Field(
        default="auto",
        validate_default=True,
        description=(
            "How the file is written: jsonl (one JSON object a line), csv (with a header row) or yaml "
            "(a list of records, or {changes: [...]}); auto picks it from the extension "
            "(.jsonl, .ndjson, .csv, .yaml, .yml)."
        ),
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where each record field is found when the file names it differently, as {field: column}, "
            "e.g. {at: timestamp, service: app}. Fields: at, service, kind, version, id, title, author, url."
        ),
    )
    default_kind: ChangeKind = Field(
        default="deploy",
        description="The kind of a record that names none: deploy, config_change, rollback or feature_flag.",
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for name, column in value.items():
            if name not in RECORD_FIELDS:
                close = difflib.get_close_matches(name, RECORD_FIELDS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown field {name!r}{hint}: use one of {', '.join(RECORD_FIELDS)}")
            elif not column.strip():
                problems.append(f"field {name!r} is mapped to an empty column name")
        columns: dict[str, str] = {}
        for name, column in value.items():
            if column in columns:
                problems.append(f"fields {columns[column]!r} and {name!r} both read column {column!r}")
            columns.setdefault(column, name)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("format")
    @classmethod
    def _format_known(cls, value: str, info: ValidationInfo) -> str:
        path = info.data.get("path")  # absent when `path` itself is invalid
        if value == "auto" and path is not None and path.suffix.lower() not in EXTENSIONS:
            raise ValueError(
                f"cannot tell the format of {str(path)!r} from its extension: set format: jsonl, csv or yaml"
            )
        return value

    @property
    def file_format(self) -> Format:
        """The format the file is read as: `format`, or the one its extension names."""
        if self.format != "auto":
            return self.format
        return EXTENSIONS[self.path.suffix.lower()]

    def column(self, name: str) -> str:
        """The column of the file that holds record field `name`."""
        return self.fields.get(name, name)
