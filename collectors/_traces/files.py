"""Reading trace files one line at a time: gzip, hashing the file's bytes as they go by (no I/O
beyond the one file open; a line is held only while it is parsed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

MAX_LINE_BYTES = 256 << 20  # an OTLP export line holds a whole batch: allow big ones, not unbounded ones
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class FileTruncated(Exception):
    """The file could not be read past some point (a damaged gzip stream)."""


class _Hashing(io.RawIOBase):
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


class LineFile:
    """The lines of one file, plain or gzip; `sha256` and `size` are final once `lines()` is exhausted."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._hashing = _Hashing(self._file)
        self._buffered = io.BufferedReader(self._hashing, _CHUNK)
        self.compressed = self._buffered.peek(2)[:2] == _GZIP_MAGIC
        self._stream: BinaryIO = (
            gzip.GzipFile(fileobj=self._buffered, mode="rb")  # type: ignore[assignment]
            if self.compressed
            else self._buffered
        )

    def __enter__(self) -> LineFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    @property
    def sha256(self) -> str:
        return self._hashing.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._hashing.bytes

    def lines(self) -> Iterator[tuple[int, bytes | None]]:
        """(line number, bytes); None for a line longer than MAX_LINE_BYTES (skipped, not held)."""
        number = 0
        try:
            while True:
                chunk = self._stream.readline(MAX_LINE_BYTES + 1)
                if not chunk:
                    break
                number += 1
                if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                    while chunk and not chunk.endswith(b"\n"):
                        chunk = self._stream.readline(_CHUNK)
                    yield number, None
                    continue
                yield number, chunk
        except (EOFError, OSError, zlib.error) as exc:
            why = (
                "the compressed stream ends early (a truncated .gz file)"
                if isinstance(exc, EOFError)
                else f"damaged compressed data ({exc})"
            )
            raise FileTruncated(f"cannot read past line {number}: {why}") from None
        finally:
            try:
                while self._buffered.read(_CHUNK):
                    pass
            except (OSError, ValueError):
                pass
