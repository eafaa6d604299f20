"""Count and sample the logs in exported log files, as a log store would aggregate them.

The files (one, or every file a glob pattern matches; gzip read as it is) are read one line at a
time, so memory stays flat whatever their size. With the collection window [request.start,
request.end) split into the baseline [request.start, incident.start) and the window
[incident.start, request.end), as the `elasticsearch` collector splits it, the lines of the
incident's services give the same evidence that collector draws from its aggregations:

* per service, a `log_count` series of the lines per `interval` bucket (`logs:*`) and one per level
  (`logs:<level>`), on the same epoch-aligned grid;
* per service, the distinct messages of error levels, counted in the window and in the baseline
  (`LogMessage`);
* the earliest error lines of the window as exemplars (`LogRecord`).

A line that cannot be read is counted, never fatal: one `Problem` per file says how many and where
the first one is. Only a path that names no file, or files none of which can be opened, raises
`SourceQueryError`.
"""

from __future__ import annotations

import glob
import heapq
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from collectors.log_file._reader import (
    MAX_LINE_BYTES,
    BadLine,
    FileTruncated,
    JsonLineParser,
    Line,
    LogStream,
    TextLineParser,
    TimeParser,
    decode,
)
from collectors.log_file.config import LogFileConfig, is_glob
from dossier.errors import SourceQueryError
from dossier.model import LogMessage, LogRecord, Problem, Series, from_epoch, rfc3339, stable_id, utc
from dossier.plugin import Collector, CollectRequest, CollectResult

MAX_BUCKETS = 2_000
"""Most buckets per count series; past it the interval is coarsened (as the log-store collectors do)."""

NICE_INTERVALS: tuple[int, ...] = (
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
)  # fmt: skip
"""Bucket sizes (seconds) a coarsened interval is picked from."""

MAX_ERROR_TYPES = 16
"""Error types counted per message (the most frequent is reported); more are not told apart."""

_HINT_PATH = "check `path` (a relative path is relative to the config file)"


def choose_interval(span: float, configured: float) -> float:
    """`configured` unless it gives more than MAX_BUCKETS buckets over `span` seconds; then the
    smallest nice interval that fits (or whole days beyond a week)."""
    if span / configured <= MAX_BUCKETS:
        return configured
    for nice in NICE_INTERVALS:
        if nice >= configured and span / nice <= MAX_BUCKETS:
            return float(nice)
    return float(math.ceil(span / MAX_BUCKETS / 86400) * 86400)


@dataclass(frozen=True, slots=True)
class _Window:
    start: float  # epoch seconds: the baseline [start, window_start), the window [window_start, end)
    window_start: float
    end: float
    step: float

    @classmethod
    def of(cls, request: CollectRequest, configured: float) -> _Window:
        start, end = request.start.timestamp(), request.end.timestamp()
        window_start = min(max(utc(request.incident.start).timestamp(), start), end)
        return cls(start, window_start, end, choose_interval(end - start, configured))

    @property
    def first_bucket(self) -> int:
        return math.floor(self.start / self.step)

    def grid(self) -> tuple[float, ...]:
        """Bucket starts (epoch seconds) over [start, end), aligned to multiples of the step."""
        first = self.first_bucket * self.step
        n = max(0, math.ceil((self.end - first) / self.step))
        return tuple(first + i * self.step for i in range(n))


@dataclass(slots=True)
class _Message:
    request: int  # index of the file that first held it
    window_count: int = 0
    baseline_count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    error_types: dict[str, int] = field(default_factory=dict)

    @property
    def error_type(self) -> str | None:
        if not self.error_types:
            return None
        return min(self.error_types.items(), key=lambda kv: (-kv[1], kv[0]))[0]


@dataclass(slots=True)
class _ServiceTally:
    """What is kept of one service (or, without incident services, of all lines)."""

    request: int | None = None  # index of the file that first held one of its lines
    counts: dict[str | None, list[int]] = field(default_factory=dict)  # level (None: none) -> per bucket
    lines: int = 0
    messages: dict[tuple[str | None, str, str], _Message] = field(default_factory=dict)  # service, level, text
    dropped: int = 0  # error lines of messages past max_messages
    no_message: int = 0  # error lines without a message


@dataclass(slots=True)
class _FileRead:
    path: Path
    lines: int = 0
    bad: int = 0
    first_bad: tuple[int, str] | None = None
    truncated: str | None = None  # why the file could not be read to its end


class LogFileCollector(Collector[LogFileConfig]):
    """Log counts, error messages and exemplars from exported log files (JSON lines or text)."""

    type = "log_file"
    Config = LogFileConfig
    kinds = frozenset({"log"})

    def check(self) -> str:
        files = self._files()
        total = 0
        for path in files:
            try:
                total += path.stat().st_size
            except OSError as exc:
                raise SourceQueryError(self.ctx.instance, f"{path}: cannot read: {exc.strerror or exc}") from None
        return f"{self.config.path}: {_plural(len(files), 'file')}, {total:,} bytes"

    def collect(self, request: CollectRequest) -> CollectResult:
        return _Run(self, request).execute()

    def _files(self) -> list[Path]:
        """The files to read; raises SourceQueryError when there are none."""
        path = self.config.path
        if is_glob(str(path)):
            files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not files:
                raise SourceQueryError(self.ctx.instance, f"{path}: no file matches the pattern: {_HINT_PATH}")
            return files
        if path.is_dir():
            raise SourceQueryError(
                self.ctx.instance, f"{path}: is a directory: name a file, or a pattern such as {path / '*.jsonl'}"
            )
        if not path.exists():
            raise SourceQueryError(self.ctx.instance, f"{path}: file not found: {_HINT_PATH}")
        return [path]


class _Run:
    """One `collect` call: the window, the tallies being built, the files read."""

    def __init__(self, collector: LogFileCollector, request: CollectRequest) -> None:
        cfg = collector.config
        self.collector = collector
        self.config = cfg
        self.instance = collector.ctx.instance
        self.recorder = collector.ctx.recorder
        self.request = request
        self.window = _Window.of(request, cfg.interval)
        self.n_buckets = len(self.window.grid())
        self.scoped = bool(request.services)
        self.errors = frozenset(cfg.error_levels)
        times = TimeParser(cfg.timestamp_format, cfg.zone)
        self.parser: JsonLineParser | TextLineParser = (
            TextLineParser(cfg.pattern, times)
            if cfg.line_format == "text" and cfg.pattern is not None
            else JsonLineParser(cfg.fields.model_dump(), times)
        )
        # The services every count is made for, lines or not: the incident's (the configured one only,
        # when `service` says the files hold one service's logs), or all lines together without them.
        fixed = request.service_for(cfg.service) if cfg.service else None
        if not self.scoped:
            targets: list[str | None] = [None]
        elif cfg.service:
            targets = [fixed] if fixed else []
        else:
            targets = [s.name for s in request.services]
        self.tallies: dict[str | None, _ServiceTally] = {name: _ServiceTally() for name in targets}
        self.service_of: dict[str | None, str | None] = {}
        self.exemplars: list[tuple[float, int, int, Line, str | None]] = []  # max-heap by negated keys
        self.more_exemplars = False
        self.covered = [math.inf, -math.inf]  # earliest and latest readable time in all the files
        self.request_ids: list[str] = []
        self.reads: list[_FileRead] = []
        self.failures: list[str] = []
        self.result = CollectResult()

    def execute(self) -> CollectResult:
        files = self.collector._files()
        for index, path in enumerate(files):
            self._read(index, path)
        if len(self.failures) == len(files):
            raise SourceQueryError(self.instance, self.failures[0])
        result = self.result
        result.problems.extend(Problem(source=self.instance, reason=why) for why in self.failures)
        for read, rid in zip(self.reads, self.request_ids, strict=True):
            result.problems.extend(self._file_problems(read, rid))
        for name in sorted(self.tallies, key=lambda n: n or ""):
            self._emit(name, self.tallies[name])
        for _, neg_index, neg_number, line, service in sorted(self.exemplars, reverse=True):
            rid = self.request_ids[-neg_index]
            result.log_records.append(self._record(files[-neg_index], -neg_number, line, service, rid))
        if self.more_exemplars:
            result.truncate(
                f"more error lines than max_exemplars ({self.config.max_exemplars:,}): "
                f"the first {self.config.max_exemplars:,} are kept as exemplars"
            )
        for read in self.reads:
            if read.truncated:
                result.truncate(f"{read.path}: {read.truncated}")
        if self.tallies:
            result.problems.extend(self._coverage_problems())
        return result

    # ---- reading ---------------------------------------------------------------------------

    def _read(self, index: int, path: Path) -> None:
        read = _FileRead(path)
        started, t0 = time.time(), time.monotonic()
        params: dict[str, Any] = {"format": self.config.line_format}
        if is_glob(str(self.config.path)):
            params["path"] = str(self.config.path)
        try:
            stream = LogStream(path)
        except OSError as exc:
            why = f"{path}: cannot read: {exc.strerror or exc}: check the file's permissions"
            self.failures.append(why)
            rid = self.recorder.record(
                method="READ",
                url=path.absolute().as_uri(),
                params=params,
                status=None,
                body=None,
                started=started,
                duration=time.monotonic() - t0,
                error=why,
            )
            self.request_ids.append(rid)  # one per file, in file order
            self.reads.append(read)
            return
        with stream:
            try:
                for number, raw in stream.lines():
                    read.lines += 1
                    try:
                        line = self._parse(raw, number)
                    except BadLine as exc:
                        read.bad += 1
                        if read.first_bad is None:
                            read.first_bad = (number, str(exc))
                        continue
                    if line is not None:
                        self._count(line, index, number)
            except FileTruncated as exc:
                read.truncated = str(exc)
        # The file is hashed as it streams by, so its SHA-256 and size go in the params: the
        # recorder hashes a body held in memory, which a large file must not be.
        self.request_ids.append(
            self.recorder.record(
                method="READ",
                url=path.absolute().as_uri(),
                params={**params, "sha256": stream.sha256, "bytes": stream.size},
                status=None,
                body=None,
                items=read.lines,
                started=started,
                duration=time.monotonic() - t0,
                error=f"{path}: {read.truncated}" if read.truncated else None,
            )
        )
        self.reads.append(read)

    def _parse(self, raw: bytes | None, number: int) -> Line | None:
        """The line as a record, None when it is blank or outside the window; BadLine if unreadable."""
        if raw is None:
            raise BadLine(f"longer than {MAX_LINE_BYTES} bytes")
        text = decode(raw, number)
        if not text.strip():
            return None
        parser = self.parser
        try:
            parsed, at = parser.timestamp(text)
        except BadLine:
            if isinstance(parser, TextLineParser) and parser.is_continuation(text):
                return None
            raise
        epoch = at.timestamp()
        covered = self.covered
        if epoch < covered[0]:
            covered[0] = epoch
        if epoch > covered[1]:
            covered[1] = epoch
        if not self.window.start <= epoch < self.window.end:
            return None  # a line outside the window is not checked further
        return parser.rest(parsed, at)  # type: ignore[arg-type]

    def _count(self, line: Line, index: int, number: int) -> None:
        raw_service = line.service or self.config.service
        if self.scoped:
            if raw_service not in self.service_of:
                self.service_of[raw_service] = self.request.service_for(raw_service)
            service = self.service_of[raw_service]
            if service is None:
                return
        else:
            service = None
        tally = self.tallies.get(service)
        if tally is None:
            tally = self.tallies[service] = _ServiceTally()
        if tally.request is None:
            tally.request = len(self.request_ids)
        tally.lines += 1
        counts = tally.counts.get(line.level)
        if counts is None:
            counts = tally.counts[line.level] = [0] * self.n_buckets
        counts[math.floor(line.epoch / self.window.step) - self.window.first_bucket] += 1
        if line.level not in self.errors:
            return
        named = service if self.scoped else raw_service
        self._count_message(tally, named, line)
        if line.epoch >= self.window.window_start and self.config.max_exemplars:
            key = (-line.epoch, -index, -number, line, named)
            if len(self.exemplars) < self.config.max_exemplars:
                heapq.heappush(self.exemplars, key)
            else:
                self.more_exemplars = True
                if key[:3] > self.exemplars[0][:3]:
                    heapq.heapreplace(self.exemplars, key)

    def _count_message(self, tally: _ServiceTally, service: str | None, line: Line) -> None:
        if line.message is None:
            tally.no_message += 1
            return
        key = (None if self.scoped else service, line.level or "", line.message)
        m = tally.messages.get(key)
        if m is None:
            if len(tally.messages) >= self.config.max_messages:
                tally.dropped += 1
                return
            m = tally.messages[key] = _Message(request=len(self.request_ids))
        if line.epoch >= self.window.window_start:
            m.window_count += 1
            if m.first_seen is None or line.at < m.first_seen:
                m.first_seen = line.at
            if m.last_seen is None or line.at > m.last_seen:
                m.last_seen = line.at
        else:
            m.baseline_count += 1
        if line.error_type is not None:
            types = m.error_types
            if line.error_type in types:
                types[line.error_type] += 1
            elif len(types) < MAX_ERROR_TYPES:
                types[line.error_type] = 1

    # ---- output ----------------------------------------------------------------------------

    def _emit(self, name: str | None, tally: _ServiceTally) -> None:
        result, cfg = self.result, self.config
        rid = self.request_ids[tally.request] if tally.request is not None else self._first_request()
        result.series.extend(self._series(name, tally, rid))
        for (raw_service, level, message), m in sorted(tally.messages.items(), key=lambda kv: _sort_key(kv[0])):
            result.log_messages.append(self._log_message(name if self.scoped else raw_service, level, message, m))
        what = f"{cfg.path}: distinct error messages of {_label(name)}"
        if tally.dropped:
            result.problems.append(
                Problem(
                    source=self.instance,
                    reason=(
                        f"{what}: more than max_messages ({cfg.max_messages:,}) distinct messages: the first "
                        f"{cfg.max_messages:,} seen first are kept, {tally.dropped:,} error lines of other messages "
                        "are not among them (they are in the logs:<level> counts)"
                    ),
                    service=name,
                    request=rid,
                )
            )
            result.truncate(result.problems[-1].reason)
        if tally.no_message:
            result.problems.append(
                Problem(
                    source=self.instance,
                    reason=(
                        f"{what}: {_plural(tally.no_message, 'error line')} without a message "
                        f"({self._message_field()}): counted in logs:<level> but not among the distinct messages"
                    ),
                    service=name,
                    request=rid,
                )
            )
        if name is not None and not tally.lines:
            w = self.window
            names = ", ".join(repr(n) for n in self._names(name))
            result.problems.append(
                Problem(
                    source=self.instance,
                    reason=(
                        f"no log lines of {name!r} ({self._service_field()} in [{names}]) in {cfg.path} from "
                        f"{rfc3339(from_epoch(w.start))} to {rfc3339(from_epoch(w.end))}: does it log under another "
                        f"name (add it to the service's aliases) or another field ({self._service_setting()})?"
                    ),
                    kind="blind_spot",
                    service=name,
                    signal="logs:*",
                    start=from_epoch(w.start),
                    end=from_epoch(w.end),
                    request=rid,
                )
            )

    def _series(self, service: str | None, tally: _ServiceTally, request_id: str | None) -> Iterator[Series]:
        step = self.window.step
        times = self.window.grid()
        lo, hi = self.covered
        # Buckets wholly outside the time the files cover are unknown, not zero.
        known = tuple(lo < t + step and t <= hi for t in times)
        total = [0] * self.n_buckets
        for counts in tally.counts.values():
            for i, n in enumerate(counts):
                total[i] += n
        levels = sorted(level for level in tally.counts if level is not None)
        series: list[tuple[str, dict[str, str], list[int]]] = [
            (f"logs:{level}", {"level": level}, tally.counts[level]) for level in levels
        ]
        series.append(("logs:*", {}, total))
        for signal, labels, counts in series:
            yield Series(
                id=stable_id(self.instance, "log_count", service or "", signal),
                source=self.instance,
                signal=signal,
                service=service,
                labels=labels,
                query=f"{self.config.path} level={labels.get('level', '*')}",
                times=times,
                values=tuple(float(n) if ok else math.nan for n, ok in zip(counts, known, strict=True)),
                direction="up",
                step=step,
                link=None,
                request=request_id,
                role="log_count",
            )

    def _log_message(self, service: str | None, level: str, message: str, m: _Message) -> LogMessage:
        return LogMessage(
            id=stable_id(self.instance, service or "", level, message),
            source=self.instance,
            service=service,
            level=level or None,
            message=message,
            window_count=m.window_count,
            baseline_count=m.baseline_count,
            first_seen=m.first_seen,
            last_seen=m.last_seen,
            error_type=m.error_type,
            link=None,
            request=self.request_ids[m.request],
        )

    def _record(self, path: Path, number: int, line: Line, service: str | None, request_id: str) -> LogRecord:
        attrs: dict[str, Any] = {"file": str(path), "line": str(number)}
        for key, value in (("trace.id", line.trace_id), ("error.type", line.error_type), ("host.name", line.host)):
            if value is not None:
                attrs[key] = value
        return LogRecord(
            id=stable_id(self.instance, str(path), str(number)),
            source=self.instance,
            at=line.at,
            service=service,
            level=line.level,
            message=line.message or "",
            link=None,
            request=request_id,
            attrs=attrs,
        )

    def _file_problems(self, read: _FileRead, request_id: str) -> Iterator[Problem]:
        if read.first_bad is not None:
            number, why = read.first_bad
            yield Problem(
                source=self.instance,
                reason=f"{read.path}: {_plural(read.bad, 'line')} could not be read (first at line {number}: {why})",
                request=request_id,
            )
        if read.truncated:
            yield Problem(source=self.instance, reason=f"{read.path}: {read.truncated}", request=request_id)

    def _coverage_problems(self) -> Iterator[Problem]:
        """The files begin after, or end before, the window by more than a bucket: say so."""
        w, (lo, hi), path = self.window, self.covered, self.config.path
        if lo > hi:
            return  # no readable line at all: the bad-line problems say why
        if lo - w.start > w.step:
            yield Problem(
                source=self.instance,
                reason=(
                    f"{path}: the logs begin at {rfc3339(from_epoch(lo))}, after the start of the window "
                    f"{rfc3339(from_epoch(w.start))}: counts before it are unknown"
                ),
                kind="blind_spot",  # the file answered: what it does not cover is a hole in the evidence
                signal="logs:*",
                start=from_epoch(w.start),
                end=from_epoch(lo),
                request=self._first_request(),
            )
        if w.end - hi > w.step:
            yield Problem(
                source=self.instance,
                reason=(
                    f"{path}: the logs end at {rfc3339(from_epoch(hi))}, before the end of the window "
                    f"{rfc3339(from_epoch(w.end))}: counts after it are unknown"
                ),
                kind="blind_spot",
                signal="logs:*",
                start=from_epoch(hi),
                end=from_epoch(w.end),
                request=self._first_request(),
            )

    # ---- helpers ---------------------------------------------------------------------------

    def _first_request(self) -> str | None:
        return next((rid for rid in self.request_ids if rid), None)

    def _names(self, name: str) -> tuple[str, ...]:
        for svc in self.request.services:
            if svc.name == name:
                return (svc.name, *svc.aliases)
        return (name,)

    def _service_field(self) -> str:
        if self.config.line_format == "text":
            return "the service group"
        return self.config.fields.service

    def _service_setting(self) -> str:
        return "the service group of pattern" if self.config.line_format == "text" else "fields.service"

    def _message_field(self) -> str:
        if self.config.line_format == "text":
            return "the message group"
        return repr(self.config.fields.message)


def _label(name: str | None) -> str:
    return repr(name) if name else "all services"


def _sort_key(key: tuple[str | None, str, str]) -> tuple[str, str, str]:
    return (key[0] or "", key[1], key[2])


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
