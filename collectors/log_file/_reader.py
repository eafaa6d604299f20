"""Reading log files one line at a time: gzip, hashing as the bytes go by, parsing a line.

Nothing here holds more than one line (of at most `MAX_LINE_BYTES`) at a time, so memory stays
flat whatever the size of the file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO

MAX_LINE_BYTES = 1 << 20
"""A longer line is reported as unreadable (and skipped up to its end), not held in memory."""

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16


class BadLine(Exception):
    """A line that cannot be read as a log record; the message says why."""


class FileTruncated(Exception):
    """The file could not be read past some point (a damaged gzip stream)."""


@dataclass(slots=True)
class Line:
    """One log record as the line gives it (the service and level not yet mapped)."""

    at: datetime
    epoch: float
    service: str | None
    level: str | None
    message: str | None  # None: the line has none
    error_type: str | None
    trace_id: str | None
    host: str | None = None


class _HashingReader(io.RawIOBase):
    """Passes a file's bytes through, adding them to a SHA-256 and a byte count."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self.bytes += n
        return n or 0


class LogStream:
    """The lines of one file, plain or gzip-compressed, with the SHA-256 of the file's own bytes.

    Use as a context manager; iterate `lines()` for (line number, bytes) pairs (a line longer than
    `MAX_LINE_BYTES` comes as None); `sha256` and `size` are final once the lines are exhausted.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")  # OSError propagates: the caller says what it means
        self._hashing = _HashingReader(self._file)
        self._buffered = io.BufferedReader(self._hashing, _CHUNK)
        self.compressed = self._buffered.peek(2)[:2] == _GZIP_MAGIC
        self._lines: BinaryIO = (
            gzip.GzipFile(fileobj=self._buffered, mode="rb")  # type: ignore[assignment]
            if self.compressed
            else self._buffered
        )

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def sha256(self) -> str:
        return self._hashing.sha256.hexdigest()

    @property
    def size(self) -> int:
        """Bytes of the file read so far (all of it, once the lines are exhausted)."""
        return self._hashing.bytes

    def lines(self) -> Iterator[tuple[int, bytes | None]]:
        number = 0
        try:
            while True:
                chunk = self._lines.readline(MAX_LINE_BYTES + 1)
                if not chunk:
                    break
                number += 1
                if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                    while chunk and not chunk.endswith(b"\n"):  # skip to the end of the long line
                        chunk = self._lines.readline(_CHUNK)
                    yield number, None
                    continue
                yield number, chunk
        except (EOFError, OSError, zlib.error) as exc:
            raise FileTruncated(f"cannot read past line {number}: {_gzip_why(exc)}") from None
        finally:
            self._drain()

    def _drain(self) -> None:
        """Read what is left of the file, so that the hash covers all of it."""
        try:
            while self._buffered.read(_CHUNK):
                pass
        except (OSError, ValueError):
            pass


def _gzip_why(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the compressed stream ends early (a truncated .gz file)"
    return f"damaged compressed data ({exc})"


def decode(raw: bytes, number: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"not UTF-8 text (byte {exc.start + 1} of the line)") from None
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text.rstrip("\r\n")


# ---- timestamps -------------------------------------------------------------------------------


class TimeParser:
    """RFC 3339 / ISO 8601 by default, or a strptime format; naive times only with a time zone."""

    def __init__(self, fmt: str | None, zone: tzinfo | None) -> None:
        self._fmt = fmt
        self._zone = zone

    def __call__(self, value: Any) -> datetime:
        if not isinstance(value, str):
            kind = "a number" if isinstance(value, int | float) else type(value).__name__
            raise BadLine(f"timestamp: expected the time as text, got {kind}")
        text = value.strip()
        try:
            if self._fmt is None:
                dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
            else:
                dt = datetime.strptime(text, self._fmt)
        except ValueError:
            want = f"format {self._fmt!r}" if self._fmt else "RFC 3339, e.g. 2026-11-20T10:00:00Z"
            raise BadLine(f"timestamp: {value!r} is not a time ({want}): check `timestamp_format`") from None
        if dt.tzinfo is None or dt.utcoffset() is None:
            if self._zone is None:
                raise BadLine(f"timestamp: naive time {value!r}: set `timezone` (e.g. UTC) or log with an offset")
            dt = dt.replace(tzinfo=self._zone)
        return dt


# ---- one line -----------------------------------------------------------------------------------


def as_text(value: Any) -> str | None:
    """A field value as text, as the log-store collectors read it: a list gives its first element;
    missing and structured values give None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, Mapping):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_MISSING = object()


def lookup(record: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    """The value at dotted name `parts`: a flat key ("service.name"), nested objects, or a mix."""
    value = record.get(".".join(parts), _MISSING)
    if value is not _MISSING:
        return value
    for i in range(1, len(parts)):
        inner = record.get(".".join(parts[:i]))
        if isinstance(inner, Mapping):
            value = lookup(inner, parts[i:])
            if value is not None:
                return value
    return None


class JsonLineParser:
    def __init__(self, fields: Mapping[str, str], times: TimeParser) -> None:
        self._fields = {name: tuple(key.split(".")) for name, key in fields.items()}
        self._names = dict(fields)
        self._times = times

    def timestamp(self, text: str) -> tuple[Mapping[str, Any], datetime]:
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadLine(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(record, dict):
            raise BadLine("expected a JSON object")
        value = lookup(record, self._fields["timestamp"])
        if value is None:
            raise BadLine(f"timestamp: no {self._names['timestamp']!r} field (set fields: {{timestamp: <key>}})")
        return record, self._times(value)

    def rest(self, record: Mapping[str, Any], at: datetime) -> Line:
        f = self._fields
        level = as_text(lookup(record, f["level"]))
        return Line(
            at=at,
            epoch=at.timestamp(),
            service=as_text(lookup(record, f["service"])) or None,
            level=(level.lower() or None) if level is not None else None,
            message=as_text(lookup(record, f["message"])),
            error_type=as_text(lookup(record, f["error_type"])) or None,
            trace_id=as_text(lookup(record, f["trace_id"])) or None,
            host=as_text(lookup(record, _HOST)) or None,
        )


_HOST = ("host", "name")


class TextLineParser:
    def __init__(self, pattern: str, times: TimeParser) -> None:
        self._pattern = re.compile(pattern)
        self._optional = {g: g in self._pattern.groupindex for g in ("level", "service", "error_type", "trace_id")}
        self._times = times

    def timestamp(self, text: str) -> tuple[re.Match[str], datetime]:
        match = self._pattern.match(text)
        if match is None:
            raise BadLine("does not match `pattern`")
        value = match.group("timestamp")
        if not value:
            raise BadLine("timestamp: the group is empty")
        return match, self._times(value)

    def rest(self, match: re.Match[str], at: datetime) -> Line:
        def group(name: str) -> str | None:
            return (match.group(name) or None) if self._optional[name] else None

        level = group("level")
        return Line(
            at=at,
            epoch=at.timestamp(),
            service=group("service"),
            level=level.lower() if level else None,
            message=match.group("message") or "",
            error_type=group("error_type"),
            trace_id=group("trace_id"),
        )

    @staticmethod
    def is_continuation(text: str) -> bool:
        """An indented line that does not match (a stack trace frame) belongs to the record above it."""
        return text[:1] in (" ", "\t")
