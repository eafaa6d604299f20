"""Exporter `json`: `dossier.json`, the machine-readable draft (schema dossier/v1).

The text is exactly `json.dumps(..., indent=2, ensure_ascii=False, allow_nan=False)`, made fast: the
standard library's C encoder writes it compact (with `indent` it falls back to pure Python), and
msgspec only re-indents that text, leaving every string and number as the encoder wrote it. The file
is written to a temporary file in the same folder and renamed over `dossier.json`, so a reader never
sees half a draft and a failed write leaves the previous one in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import ClassVar

import msgspec

from dossier.codec import dossier_to_dict
from dossier.model import Dossier
from dossier.plugin import Exporter


def dumps(value: object) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)`, byte for byte, faster."""
    compact = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return msgspec.json.format(compact, indent=2)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # as a plain write would leave it (mkstemp makes it 0600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class JsonExporter(Exporter):
    format: ClassVar[str] = "json"
    filename: ClassVar[str] = "dossier.json"

    def render(self, dossier: Dossier) -> str:
        return dumps(dossier_to_dict(dossier)) + "\n"

    def write(self, dossier: Dossier, folder: Path) -> Path:
        path = folder / self.filename
        write_atomic(path, self.render(dossier).encode("utf-8"))
        return path
