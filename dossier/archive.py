"""The evidence archive: everything correlation needs, on disk, hashed.

    <folder>/evidence/manifest.json        incident, settings, generated_at, sources, every request
    <folder>/evidence/<type>/<name>.jsonl  the evidence one collector instance returned, a JSON object a line

The draft is always correlated from what `read` returns, after collection as in `dossier replay`,
so a replay of an archive gives the same `dossier.json`, byte for byte.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from dossier import codec
from dossier.errors import ConfigError
from dossier.model import (
    AlertRule,
    CorrelateSettings,
    Event,
    Evidence,
    Incident,
    LogMessage,
    LogRecord,
    Problem,
    Request,
    Series,
    SourceReport,
    parse_time,
    rfc3339,
)

MANIFEST_SCHEMA = "dossier-evidence/v1"


@dataclass(frozen=True, slots=True)
class InstanceEvidence:
    report: SourceReport
    events: Sequence[Event] = ()
    series: Sequence[Series] = ()
    rules: Sequence[AlertRule] = ()
    problems: Sequence[Problem] = ()
    requests: Sequence[Request] = ()
    log_messages: Sequence[LogMessage] = ()
    log_records: Sequence[LogRecord] = ()


@dataclass(frozen=True, slots=True)
class Archive:
    incident: Incident
    settings: CorrelateSettings
    generated_at: datetime
    formats: tuple[str, ...]
    evidence: Evidence


def _lines(item: InstanceEvidence) -> Iterable[dict[str, Any]]:
    for e in item.events:
        yield {"type": "event", **codec.event_to_dict(e)}
    for s in item.series:
        yield {"type": "series", **codec.series_to_dict(s)}
    for r in item.rules:
        yield {"type": "rule", **codec.rule_to_dict(r)}
    for p in item.problems:
        yield {"type": "problem", **codec.problem_to_dict(p)}
    for m in item.log_messages:
        yield {"type": "log_message", **codec.log_message_to_dict(m)}
    for lr in item.log_records:
        yield {"type": "log_record", **codec.log_record_to_dict(lr)}


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write(
    folder: Path,
    *,
    incident: Incident,
    settings: CorrelateSettings,
    generated_at: datetime,
    formats: Sequence[str],
    instances: Sequence[InstanceEvidence],
) -> Path:
    """Write the archive under `folder/evidence/`; returns the manifest's path."""
    evidence_dir = folder / "evidence"
    files: dict[str, dict[str, Any]] = {}
    requests: list[dict[str, Any]] = []
    for item in sorted(instances, key=lambda i: i.report.instance):
        rel = f"{item.report.instance}.jsonl"
        body = "".join(
            json.dumps(line, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n" for line in _lines(item)
        ).encode()
        _atomic_write(evidence_dir / rel, body)
        files[item.report.instance] = {
            "path": rel,
            "sha256": hashlib.sha256(body).hexdigest(),
            "lines": body.count(b"\n"),
        }
        requests.extend(codec.request_to_dict(r) for r in item.requests)
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "incident": codec.incident_to_dict(incident),
        "generated_at": rfc3339(generated_at),
        "correlate": codec.settings_to_dict(settings),
        "formats": list(formats),
        "sources": [codec.source_to_dict(i.report) for i in sorted(instances, key=lambda i: i.report.instance)],
        "files": files,
        "requests": requests,
    }
    path = evidence_dir / "manifest.json"
    _atomic_write(path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    return path


_CHUNK = 1 << 24  # bytes read, hashed and split at a time: memory stays flat in the file's size
_EVENT_TAIL = b', "type": "event"}'  # how every event line `write` wrote ends (keys sorted, "type" last)
_decode_event = msgspec.json.Decoder(Event).decode
_intern = sys.intern
_set = object.__setattr__


def _file_lines(path: Path, digest: Any, hasher: Executor) -> Iterator[bytes]:
    """The lines of `path` without their newline, hashing every byte into `digest` as they are read.
    The hashing runs on `hasher`'s one thread, in order (hashlib lets go of the GIL), beside the
    decoding of the same bytes: 0.5 s of the 1M-event read off the critical path."""
    rest = b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.submit(digest.update, chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield from lines
    if rest:
        yield rest


def _event(raw: bytes) -> Event | None:
    """The fast path for an event line as `write` writes it: msgspec decodes straight into the frozen
    `Event` (its `__post_init__` checks run). None when the line is anything else, or its times carry
    sub-millisecond digits that `parse_time` might read differently: then the general path reads it."""
    if not raw.endswith(_EVENT_TAIL):
        return None
    try:
        e = _decode_event(raw)
    except (msgspec.DecodeError, ValueError, TypeError):
        return None
    if e.at.microsecond % 1000 or (e.end is not None and e.end.microsecond % 1000):
        return None
    # One shared string per kind, source and service, as in the collector that made them: a million
    # events hold a few hundred of them, not three million copies, and every dict lookup or comparison
    # on them downstream finds the hash cached and the memory warm. Equal values, so nothing else
    # changes (done before the value leaves the reader, as its __post_init__ does for times).
    _set(e, "kind", _intern(e.kind))
    _set(e, "source", _intern(e.source))
    if e.service is not None:
        _set(e, "service", _intern(e.service))
    return e


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Reading (and correlating) a million events allocates millions of small, acyclic, long-lived
    objects: the cyclic collector would only rescan them again and again (a third of the read
    time, 60% of the correlation time at 300k events: bench/results/correlate_scale.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _evidence_paths(folder: Path, manifest: dict[str, Any], manifest_path: Path) -> dict[str, Path]:
    """Each source's evidence file, as the manifest names it; refused when a name leads outside
    `evidence/` or a source of the manifest has no file (a replay reads only what was collected)."""
    evidence = (folder / "evidence").resolve()
    paths: dict[str, Path] = {}
    for instance, meta in manifest.get("files", {}).items():
        path = (evidence / str(meta.get("path", ""))).resolve()
        if not path.is_relative_to(evidence) or path == evidence:
            raise ConfigError(
                str(manifest_path), [f"files::{instance}::path: {meta.get('path')!r} is outside the archive"]
            )
        paths[instance] = path
    for source in manifest.get("sources", []):
        if source.get("instance") not in paths:
            raise ConfigError(str(manifest_path), [f"sources: {source.get('instance')!r} has no evidence file"])
    return paths


def read(folder: Path) -> Archive:
    """Read an archive back; a missing, altered or unreadable file is a ConfigError naming it.

    Each evidence file is read in chunks, hashed as it is read and decoded line by line (event lines
    by msgspec straight into `Event`, every other line by `json` and then `codec`, as before); the values are
    exactly those the general path gives. An altered file is reported as altered even when one of its
    lines also fails to decode."""
    manifest_path = folder / "evidence" / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            str(manifest_path), ["no evidence archive here: give the folder `dossier collect` wrote"]
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(str(manifest_path), [f"cannot read: {exc}"]) from None
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ConfigError(
            str(manifest_path), [f"schema: expected {MANIFEST_SCHEMA!r}, found {manifest.get('schema')!r}"]
        )

    events: list[Event] = []
    series: list[Series] = []
    rules: list[AlertRule] = []
    problems: list[Problem] = []
    log_messages: list[LogMessage] = []
    log_records: list[LogRecord] = []
    readers: dict[str, tuple[Callable[[dict[str, Any]], Any], list[Any]]] = {
        "event": (codec.event_from_dict, events),
        "series": (codec.series_from_dict, series),
        "rule": (codec.rule_from_dict, rules),
        "problem": (codec.problem_from_dict, problems),
        "log_message": (codec.log_message_from_dict, log_messages),
        "log_record": (codec.log_record_from_dict, log_records),
    }
    paths = _evidence_paths(folder, manifest, manifest_path)
    with gc_paused(), ThreadPoolExecutor(max_workers=1) as hasher:
        for instance, meta in sorted(manifest["files"].items()):
            path = paths[instance]
            digest = hashlib.sha256()
            failed: tuple[int, Exception] | None = None
            try:
                lines = _file_lines(path, digest, hasher)
                for n, raw in enumerate(lines, 1):
                    e = _event(raw)
                    if e is not None:
                        events.append(e)
                        continue
                    try:
                        line = json.loads(raw.decode())
                        kind = line.pop("type")
                        if kind not in readers:
                            raise ValueError(f"unknown line type {kind!r}")
                        from_dict, into = readers[kind]
                        into.append(from_dict(line))
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        failed = (n, exc)
                        for _ in lines:  # hash the rest: an altered file is reported as altered
                            pass
                        break
            except OSError as exc:
                raise ConfigError(str(path), [f"cannot read evidence of {instance}: {exc.strerror}"]) from None
            hasher.submit(int).result()  # every chunk of this file hashed
            if digest.hexdigest() != meta["sha256"]:
                raise ConfigError(str(path), ["sha256 differs from evidence/manifest.json: the evidence was altered"])
            if failed is not None:
                raise ConfigError(f"{path}:{failed[0]}", [f"cannot read evidence line: {failed[1]}"]) from None

    return Archive(
        incident=codec.incident_from_dict(manifest["incident"]),
        settings=codec.settings_from_dict(manifest["correlate"]),
        generated_at=parse_time(manifest["generated_at"]),
        formats=tuple(manifest.get("formats") or ("json", "md")),
        evidence=Evidence(
            events=tuple(events),
            series=tuple(series),
            rules=tuple(rules),
            problems=tuple(problems),
            sources=tuple(codec.source_from_dict(s) for s in manifest["sources"]),
            log_messages=tuple(log_messages),
            log_records=tuple(log_records),
        ),
    )
