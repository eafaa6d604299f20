"""Aggregate the spans of OTLP/JSON trace files, as a trace store would, without keeping them.

The files (one, or every file a glob pattern matches; gzip read as it is) hold one
`ExportTraceServiceRequest` a line, as the OpenTelemetry Collector's `file` exporter writes them.
Each line is decoded, its spans fed to `TraceAggregator` one by one and dropped, so memory stays
flat whatever the number of spans (bench/traces_scale.py measures it). What comes out is
`collectors._traces.aggregate`: error ratio and p95 latency per service and operation, the calls
between services, a few exemplar traces.

A line that cannot be read is counted, never fatal: one `Problem` per file says how many and
where the first one is. Only a path that names no file, or files none of which can be opened,
raises `SourceQueryError`.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from collectors._traces.aggregate import TraceAggregator, window_of
from collectors._traces.files import FileTruncated, LineFile
from collectors._traces.result import emit
from collectors._traces.spans import BadSpan, otlp_spans
from collectors.otlp_file.config import OtlpFileConfig
from dossier.errors import SourceQueryError
from dossier.model import Problem
from dossier.plugin import Collector, CollectRequest, CollectResult

_HINT_PATH = "check `path` (a relative path is relative to the config file)"
_decode = msgspec.json.Decoder().decode


def _is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


@dataclass(slots=True)
class _FileRead:
    path: Path
    lines: int = 0
    spans: int = 0
    bad: int = 0
    first_bad: tuple[int, str] | None = None
    truncated: str | None = None

    def bad_line(self, number: int, why: str) -> None:
        self.bad += 1
        if self.first_bad is None:
            self.first_bad = (number, why)


class OtlpFileCollector(Collector[OtlpFileConfig]):
    """Error ratio, latency, calls and exemplars from OTLP/JSON trace files."""

    type = "otlp_file"
    Config = OtlpFileConfig
    kinds = frozenset({"trace"})

    def check(self) -> str:
        files = self._files()
        total = 0
        for path in files:
            try:
                total += path.stat().st_size
            except OSError as exc:
                raise SourceQueryError(self.ctx.instance, f"{path}: cannot read: {exc.strerror or exc}") from None
        return f"{self.config.path}: {len(files)} file{'s' if len(files) != 1 else ''}, {total:,} bytes"

    def _files(self) -> list[Path]:
        path = self.config.path
        if _is_glob(str(path)):
            files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not files:
                raise SourceQueryError(self.ctx.instance, f"{path}: no file matches the pattern: {_HINT_PATH}")
            return files
        if path.is_dir():
            raise SourceQueryError(
                self.ctx.instance, f"{path}: is a directory: name a file, or a pattern such as {path / '*.json'}"
            )
        if not path.exists():
            raise SourceQueryError(self.ctx.instance, f"{path}: file not found: {_HINT_PATH}")
        return [path]

    def collect(self, request: CollectRequest) -> CollectResult:
        cfg = self.config
        instance = self.ctx.instance
        grid = window_of(request.start, request.incident.start, request.end, cfg.interval)
        agg = TraceAggregator(
            grid,
            name=lambda raw: request.canonical(raw) or raw,
            max_services=cfg.max_services,
            join_window=cfg.join_window,
        )
        files = self._files()
        failures: list[str] = []
        reads: list[_FileRead] = []
        first_request: str | None = None
        for path in files:
            read, rid, failure = self._read(path, agg)
            reads.append(read)
            first_request = first_request or rid
            if failure:
                failures.append(failure)
        if len(failures) == len(files):
            raise SourceQueryError(instance, failures[0])
        result = CollectResult()
        result.problems.extend(Problem(source=instance, reason=why) for why in failures)
        for read in reads:
            if read.bad and read.first_bad is not None:
                number, why = read.first_bad
                result.problems.append(
                    Problem(
                        source=instance,
                        reason=(
                            f"{read.path}: {read.bad:,} of {read.lines:,} lines (or spans) could not be read, "
                            f"the first at line {number}: {why}"
                        ),
                    )
                )
            if read.truncated:
                result.truncate(f"{read.path}: {read.truncated}")
        if agg.evicted:
            result.truncate(
                f"{agg.evicted:,} spans whose parent was not found within join_window ({cfg.join_window:,} spans) "
                "are left out of the call graph (raise join_window if their parents are further apart in the files)"
            )
        where = str(cfg.path)

        def query(service: str, op: str | None, signal: str) -> str:
            what = "error spans / spans" if signal == "trace_errors" else "p95 duration of spans"
            of = f"{service} {op!r}" if op else service
            return f"{what} of {of} (server, consumer and root spans) per {grid.step:g}s in {where}"

        return emit(
            agg,
            result,
            instance=instance,
            request=request,
            config=cfg,
            query=query,
            where=where,
            request_id=first_request,
        )

    def _read(self, path: Path, agg: TraceAggregator) -> tuple[_FileRead, str, str | None]:
        read = _FileRead(path)
        started, t0 = time.time(), time.monotonic()
        params = {"path": str(self.config.path)} if _is_glob(str(self.config.path)) else {}
        try:
            stream = LineFile(path)
        except OSError as exc:
            why = f"{path}: cannot read: {exc.strerror or exc}: check the file's permissions"
            rid = self.ctx.recorder.record(
                method="READ",
                url=path.absolute().as_uri(),
                params=params,
                status=None,
                body=None,
                started=started,
                duration=time.monotonic() - t0,
                error=why,
            )
            return read, rid, why
        add = agg.add
        with stream:
            try:
                for number, raw in stream.lines():
                    read.lines += 1
                    if raw is None:
                        read.bad_line(number, "longer than 256 MB")
                        continue
                    if not raw.strip():
                        continue
                    try:
                        body = _decode(raw)
                    except msgspec.DecodeError as exc:
                        read.bad_line(number, f"invalid JSON: {exc}")
                        continue
                    for span in otlp_spans(body):
                        if isinstance(span, BadSpan):
                            read.bad_line(number, str(span))
                        else:
                            read.spans += 1
                            add(span)
            except FileTruncated as exc:
                read.truncated = str(exc)
        rid = self.ctx.recorder.record(
            method="READ",
            url=path.absolute().as_uri(),
            params={**params, "sha256": stream.sha256, "bytes": stream.size},
            status=None,
            body=None,
            items=read.spans,
            started=started,
            duration=time.monotonic() - t0,
            error=f"{path}: {read.truncated}" if read.truncated else None,
        )
        return read, rid, None
