"""Read the changes (deploys, config changes, rollbacks, feature flags) from a change log file.

The file is one the team already keeps, as JSON lines, CSV or YAML. Each record becomes a
change `Event`; a record that cannot be read becomes a `Problem` naming its line, and the
other records are still collected. Only a file that cannot be read or parsed as a whole
raises `SourceQueryError`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from collectors.deploy_file.config import RECORD_FIELDS, DeployFileConfig
from dossier.errors import SourceQueryError
from dossier.model import CHANGE_KINDS, Event, Problem, rfc3339, stable_id
from dossier.plugin import Collector, CollectRequest, CollectResult

MAX_LISTED_PROBLEMS = 20
"""Bad records listed one by one; the rest are summed up in one more problem."""

_KINDS_TEXT = "deploy, config_change, rollback or feature_flag"


@dataclass(frozen=True, slots=True)
class _Record:
    line: int  # where the record starts in the file, 1-based
    values: dict[str, str]  # column -> value as text; empty values are left out


@dataclass(frozen=True, slots=True)
class _Bad:
    line: int
    reason: str  # "<field>: <why>" or "<why>"
    service: str | None = None


@dataclass(frozen=True, slots=True)
class _Change:
    line: int
    at: datetime
    kind: str
    service: str | None  # as the record names it
    values: dict[str, str]
    id: str
    error: str | None = None  # why the record cannot become an event: "<field>: <why>"


class _FileError(Exception):
    """The file as a whole cannot be read: "<why>: <hint>"."""

    def __init__(self, message: str, body: bytes | None = None) -> None:
        super().__init__(message)
        self.body = body


class DeployFileCollector(Collector[DeployFileConfig]):
    """Changes from a deploy or change log file (JSON lines, CSV or YAML)."""

    type = "deploy_file"
    Config = DeployFileConfig
    kinds = frozenset({"change"})

    def check(self) -> str:
        try:
            _, records, bad = self._load()
        except _FileError as exc:
            raise SourceQueryError(self.ctx.instance, f"{self.config.path}: {exc}") from None
        total = len(records) + len(bad)
        changes, undated = self._interpret(records)
        bad.extend(undated)
        bad.extend(_Bad(c.line, c.error) for c in changes if c.error)
        bad.sort(key=lambda b: b.line)
        text = f"{self.config.path}: {total} records"
        if bad:
            text += f", {len(bad)} bad (line {bad[0].line}: {bad[0].reason})"
        return text

    def collect(self, request: CollectRequest) -> CollectResult:
        path = self.config.path
        started, t0 = time.time(), time.monotonic()
        params = {"format": self.config.file_format}
        try:
            body, records, bad = self._load()
        except _FileError as exc:
            message = f"{path}: {exc}"
            self.ctx.recorder.record(
                method="READ",
                url=_uri(path),
                params=params,
                status=None,
                body=exc.body,
                started=started,
                duration=time.monotonic() - t0,
                error=message,
            )
            raise SourceQueryError(self.ctx.instance, message) from None
        request_id = self.ctx.recorder.record(
            method="READ",
            url=_uri(path),
            params=params,
            status=None,
            body=body,
            items=len(records) + len(bad),
            started=started,
            duration=time.monotonic() - t0,
        )

        changes, undated = self._interpret(records)
        bad.extend(undated)
        result = CollectResult()
        for change in sorted(changes, key=lambda c: (c.at, c.line)):
            if not request.start <= change.at <= request.end:
                continue  # a bad record outside the window does not concern this incident either
            if change.error:
                bad.append(_Bad(change.line, change.error, change.service))
            else:
                result.events.append(self._event(change, request, request_id))
        bad.sort(key=lambda b: b.line)
        result.problems.extend(self._problems(bad, request, request_id))
        return result

    # ---- reading ---------------------------------------------------------------------------

    def _load(self) -> tuple[bytes, list[_Record], list[_Bad]]:
        """Read and parse the file: its bytes, its records, and the records that do not parse."""
        path = self.config.path
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            raise _FileError("file not found: check `path` (a relative path is relative to the config file)") from None
        except IsADirectoryError:
            raise _FileError("is a directory: `path` must name the change log file") from None
        except OSError as exc:
            raise _FileError(f"cannot read: {exc.strerror or exc}: check the file's permissions") from None
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _FileError(f"not UTF-8 text (byte offset {exc.start}): save the file as UTF-8", body) from None
        parse = {"jsonl": _parse_jsonl, "csv": _parse_csv, "yaml": _parse_yaml}[self.config.file_format]
        try:
            records, bad = parse(text)
        except _FileError as exc:
            raise _FileError(str(exc), body) from None
        return body, records, bad

    def _interpret(self, records: list[_Record]) -> tuple[list[_Change], list[_Bad]]:
        """The records with a readable time (`error` set when they cannot become an event), and the
        records without one. Ids are assigned over the whole file, so they do not depend on the window."""
        cfg = self.config
        changes: list[_Change] = []
        undated: list[_Bad] = []
        seen: dict[str, _Change] = {}
        for record in records:
            values = record.values
            service = _get(values, cfg.column("service"))
            at_text = _get(values, cfg.column("at"))
            if at_text is None:
                hint = "" if "at" in cfg.fields else " (name its column with fields: {at: <column>})"
                why = f"at: missing: every record needs the time of the change{hint}"
                undated.append(_Bad(record.line, why, service))
                continue
            try:
                at = _parse_at(at_text)
            except ValueError as exc:
                undated.append(_Bad(record.line, f"at: {exc}", service))
                continue
            raw_kind = _get(values, cfg.column("kind"))
            kind = raw_kind.lower() if raw_kind is not None else cfg.default_kind
            error = None if kind in CHANGE_KINDS else f"kind: unknown kind {raw_kind!r}: use {_KINDS_TEXT}"
            version = _get(values, cfg.column("version"))
            native = _get(values, cfg.column("id"))
            base = (
                stable_id(self.ctx.instance, native)
                if native is not None
                else stable_id(self.ctx.instance, rfc3339(at) or "", service or "", version or "", kind)
            )
            event_id, n = base, 1
            while event_id in seen and seen[event_id].values != values:
                n += 1
                event_id = f"{base}-{n}"
            if event_id in seen:  # the very same record again
                error = f"duplicate of line {seen[event_id].line}: skipped"
            change = _Change(record.line, at, kind, service, values, event_id, error)
            seen.setdefault(event_id, change)
            changes.append(change)
        return changes, undated

    # ---- output ----------------------------------------------------------------------------

    def _event(self, change: _Change, request: CollectRequest, request_id: str) -> Event:
        cfg = self.config
        values = change.values
        mapped = request.canonical(change.service)
        service = mapped or change.service
        attrs = _attrs(values, cfg)
        if change.service is not None and mapped is None:
            attrs["service_mapped"] = "false"
        version = _get(values, cfg.column("version"))
        title = _get(values, cfg.column("title")) or " ".join(part for part in (change.kind, service, version) if part)
        return Event(
            id=change.id,
            at=change.at,
            kind=change.kind,
            source=self.ctx.instance,
            title=title,
            service=service,
            attrs=attrs,
            link=_get(values, cfg.column("url")),
            request=request_id,
        )

    def _problems(self, bad: list[_Bad], request: CollectRequest, request_id: str) -> Iterator[Problem]:
        path = self.config.path
        for b in bad[:MAX_LISTED_PROBLEMS]:
            yield Problem(
                source=self.ctx.instance,
                reason=f"{path} line {b.line}: {b.reason}",
                service=request.canonical(b.service) or b.service,
                request=request_id,
            )
        rest = bad[MAX_LISTED_PROBLEMS:]
        if rest:
            yield Problem(
                source=self.ctx.instance,
                reason=(f"{path}: {len(rest)} more bad records not listed (lines {rest[0].line} to {rest[-1].line})"),
                request=request_id,
            )


# ---- parsing ---------------------------------------------------------------------------------


def _parse_jsonl(text: str) -> tuple[list[_Record], list[_Bad]]:
    records: list[_Record] = []
    bad: list[_Bad] = []
    lines = 0
    parsed = 0
    first_error = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            why = f"invalid JSON: {exc.msg} (column {exc.colno})"
            first_error = first_error or f"line {number}: {why}"
            bad.append(_Bad(number, why))
            continue
        parsed += 1
        if not isinstance(value, dict):
            bad.append(_Bad(number, f"expected a JSON object, got {_json_type(value)}"))
            continue
        records.append(_Record(number, _texts(value)))
    if lines and not parsed:
        raise _FileError(f"not JSON lines: {first_error}: check the file, or set `format`")
    return records, bad


def _parse_csv(text: str) -> tuple[list[_Record], list[_Bad]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[_Record] = []
    bad: list[_Bad] = []
    header: list[str] | None = None
    try:
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                named = [h for h in header if h]
                dupes = sorted({h for h in named if named.count(h) > 1})
                if dupes:
                    raise _FileError(
                        f"line {line}: the header names {', '.join(map(repr, dupes))} more than once: "
                        "rename the columns"
                    )
                continue
            if len(row) != len(header):
                bad.append(_Bad(line, f"{len(row)} values but the header has {len(header)} columns"))
                continue
            values = {}
            for i, (name, cell) in enumerate(zip(header, row, strict=True)):
                if cell.strip():
                    values[name or f"column_{i + 1}"] = cell
            records.append(_Record(line, values))
    except csv.Error as exc:
        raise _FileError(f"invalid CSV at line {reader.line_num}: {exc}: check the quoting") from None
    return records, bad


def _parse_yaml(text: str) -> tuple[list[_Record], list[_Bad]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _FileError(f"invalid YAML{where}: {problem}: check the indentation and quoting") from None
    if root is None:
        return [], []
    items = root
    if isinstance(root, yaml.MappingNode):
        changes = [v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "changes"]
        items = changes[0] if changes else None
    if not isinstance(items, yaml.SequenceNode):
        if isinstance(items, yaml.ScalarNode) and items.tag.endswith(":null"):
            return [], []
        raise _FileError("expected a list of records, or a mapping with `changes:` holding that list")
    records: list[_Record] = []
    bad: list[_Bad] = []
    for node in items.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            bad.append(_Bad(line, f"expected a mapping of fields, got {_node_type(node)}"))
            continue
        value = _from_node(node, [YAML_MAX_VALUES])
        records.append(_Record(line, _texts(value)))
    return records, bad


YAML_MAX_VALUES = 10_000  # values of one record once aliases are expanded (a record has a dozen)


def _from_node(node: yaml.Node, budget: list[int]) -> Any:
    """The node as Python values; scalars stay the text written (`1.10` is not the float 1.1).

    Every value taken counts against the record's `budget`, aliases as often as they are used, so a
    "billion laughs" record (anchors of anchors) stops with an error instead of expanding into memory."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _FileError(f"anchors and aliases expand a record to more than {YAML_MAX_VALUES:,} values: write it out")
    if isinstance(node, yaml.MappingNode):
        return {str(_from_node(k, budget)): _from_node(v, budget) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_from_node(v, budget) for v in node.value]
    if node.tag.endswith(":null"):
        return None
    return node.value


def _texts(record: dict[str, Any]) -> dict[str, str]:
    """A record's values as text, leaving out the empty ones."""
    out: dict[str, str] = {}
    for key, value in record.items():
        if value is None:
            continue
        if isinstance(value, str):
            text = value
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if text.strip():
            out[str(key)] = text
    return out


def _parse_at(text: str) -> datetime:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time (e.g. 2026-11-20T10:00:00Z)") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive time {text!r}: give an offset, e.g. 2026-11-20T10:00:00Z")
    return dt


def _get(values: dict[str, str], column: str) -> str | None:
    value = values.get(column)
    return value.strip() if value is not None and value.strip() else None


def _attrs(values: dict[str, str], cfg: DeployFileConfig) -> dict[str, str]:
    """Every field of the record: the known ones under their own names, other columns as named."""
    columns = {cfg.column(name): name for name in RECORD_FIELDS}
    known = {columns[col]: value for col, value in values.items() if col in columns}
    extra = {col: value for col, value in values.items() if col not in columns and col not in known}
    return {**extra, **known}


def _uri(path: Path) -> str:
    return path.absolute().as_uri()


def _json_type(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _node_type(node: yaml.Node) -> str:
    return "a list" if isinstance(node, yaml.SequenceNode) else f"the scalar {node.value!r}"
