"""What the `elasticsearch` and `opensearch` collectors do, written once.

For one incident, with the collection window [request.start, request.end) split into the
baseline [request.start, incident.start) and the window [incident.start, request.end):

1. **counts**, one aggregation per incident service (its name and aliases in a `terms` filter):
   a `date_histogram` of all documents (`logs:*`) and one per level (`logs:<level>`);
2. **distinct error messages** with their window and baseline counts: a paged `composite`
   aggregation over (level, message keyword[, error type]) when `message_keyword` is set, else
   the error documents read through a point in time and counted here in a bounded dict;
3. **exemplars**: the first error documents of the window, through a point in time.

Memory stays flat whatever the number of matching documents: the cluster aggregates, and what
is read is read one page at a time into structures of bounded size.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

from collectors._logstore._api import Backend, Capture, RequestFailure, StoreAPI
from collectors._logstore.config import LogStoreConfig
from collectors._logstore.links import UI, discover, kql_and, kql_field, kql_value
from collectors._logstore.parse import (
    MessageCounter,
    as_text,
    get_path,
    parse_counts,
    parse_time,
    shard_failure,
    shards_total,
    text_field,
)
from collectors._logstore.query import (
    KEEP_ALIVE,
    SORT_FORMAT,
    Target,
    Window,
    compact,
    composite_body,
    count_body,
    exemplar_body,
    iso,
    level_variants,
    scan_body,
    source_path,
    with_page,
)
from dossier.errors import CollectorError, SourceQueryError
from dossier.model import LogMessage, LogRecord, Problem, Series, from_epoch, stable_id
from dossier.plugin import CollectContext, Collector, CollectRequest, CollectResult

C = TypeVar("C", bound=LogStoreConfig)


class _Stop(Exception):
    """Nothing more to collect (the index pattern matched nothing); already reported."""


class LogStoreCollector(Collector[C], Generic[C]):
    """Log evidence from an Elasticsearch-like store (see the module docstring)."""

    kinds = frozenset({"log"})
    ui: ClassVar[UI]
    backend_class: ClassVar[type[Backend]]
    sort_format: ClassVar[str | None] = SORT_FORMAT  # the date format of sort values; None: epoch milliseconds
    tiebreaker: ClassVar[str | None] = None  # sorted on after the timestamp (None: the server adds its own)

    def __init__(self, config: C, ctx: CollectContext) -> None:
        super().__init__(config, ctx)
        self._api: StoreAPI | None = None

    @property
    def api(self) -> StoreAPI:
        if self._api is None:
            try:
                backend = self.backend_class(self.config, Capture())
            except (ValueError, OSError) as exc:
                product = self.backend_class.product
                raise CollectorError(
                    self.ctx.instance, f"cannot set up the {product} client: {exc}: check hosts and tls"
                ) from None
            self._api = StoreAPI(self.config, self.ctx.instance, self.ctx.recorder, backend)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def version_line(self, info: dict[str, Any]) -> str:
        """`Elasticsearch 9.1.0 (cluster x)` from `GET /`; raise CollectorError for another product."""
        raise NotImplementedError

    def check(self) -> str:
        api = self.api
        index = self.config.index_expr
        try:
            info, _ = api.info()
            line = self.version_line(info)
        except RequestFailure as failure:
            if failure.status != 403:
                raise api.source_error(failure) from None
            line = f"{api.product} (version unknown: GET / needs the cluster privilege monitor)"
        try:
            answer, _ = api.count({"query": {"match_all": {}}})
        except RequestFailure as failure:
            if failure.index_not_found:
                raise SourceQueryError(
                    self.ctx.instance, f"index pattern {index!r} matched nothing: {failure.reason}: check index"
                ) from None
            raise api.source_error(failure) from None
        if shards_total(answer) == 0:
            raise SourceQueryError(
                self.ctx.instance,
                f"index pattern {index!r} matched nothing: no index, alias or data stream of that name: check index",
            )
        return f"{line}; {int(answer.get('count') or 0):,} documents in {index!r}"

    def collect(self, request: CollectRequest) -> CollectResult:
        return _Run(self, request).execute()


def _label(target: Target) -> str:
    return repr(target.name) if target.name else "all services"


class _Run:
    """One `collect` call: its window, the parts to collect and the result being built."""

    def __init__(self, collector: LogStoreCollector[Any], request: CollectRequest) -> None:
        self.collector = collector
        self.config: LogStoreConfig = collector.config
        self.fields = self.config.fields
        self.instance = collector.ctx.instance
        self.request = request
        self.api = collector.api
        self.window = Window.of(request.start, request.incident.start, request.end, self.config.interval)
        self.targets = [Target(s.name, (s.name, *s.aliases)) for s in request.services] or [Target(None)]
        self.result = CollectResult()
        self.successes = 0
        self.rejected: list[RequestFailure] = []
        self.link_base = self.config.link_base
        self.error_totals: dict[str | None, int] = {}  # error documents per service, from the counts

    # ---- the run -----------------------------------------------------------------------------

    def execute(self) -> CollectResult:
        parts: list[tuple[str, Callable[[], None]]] = []
        for t in self.targets:
            parts.append((f"log counts of {_label(t)}", partial(self.counts, t)))
        for t in self.targets:
            parts.append((f"distinct error messages of {_label(t)}", partial(self.messages, t)))
        if self.config.max_exemplars:
            parts.append(("exemplar error documents", self.exemplars))
        for i, (what, run) in enumerate(parts):
            try:
                run()
            except _Stop:
                return self.result
            except RequestFailure as failure:
                if not self._failed(what, failure, [w for w, _ in parts[i + 1 :]]):
                    break
        if self.successes == 0 and self.rejected:
            raise self.api.source_error(self.rejected[0])
        return self.result

    def _problem(self, reason: str, *, truncated: bool = False, **kw: Any) -> None:
        """Report `reason`; with `truncated`, the result is also marked incomplete for that reason."""
        self.result.problems.append(Problem(source=self.instance, reason=reason, **kw))
        if truncated:
            self.result.truncate(reason)

    def _failed(self, what: str, failure: RequestFailure, rest: list[str]) -> bool:
        """Report a failed part; True to go on with the next part."""
        span = {"start": self.window.start, "end": self.window.end, "request": failure.request_id}
        if failure.index_not_found:  # the cluster answered: nothing to search is a blind spot
            self._problem(self._no_index(failure.reason), kind="blind_spot", signal="logs:*", **span)
            return False
        if failure.auth and (self.successes == 0 or failure.status == 401):
            if self.successes == 0:
                raise self.api.source_error(failure)
            self._problem(f"{what}: {self.api.source_error(failure)}", **span)
            return False
        if failure.kind in ("product", "protocol") and self.successes == 0:
            raise self.api.source_error(failure)  # not the store this collector speaks to: nothing will work
        if failure.status == 403:
            self._problem(f"{what}: {failure.detail()}: {self.api.privilege_hint(failure)}", **span)
            return True
        if failure.unavailable:
            if self.successes == 0:
                raise self.api.source_error(failure)
            skipped = f"; not collected after it: {', '.join(rest)}" if rest else ""
            self._problem(f"{what} failed: {failure.where}: {failure.detail()}{skipped}", **span)
            return False
        self.rejected.append(failure)
        self._problem(f"{what}: {failure.where} rejected: {failure.detail()}{self._hint(failure)}", **span)
        return True

    def _hint(self, failure: RequestFailure) -> str:
        field = text_field(failure.error.reason if failure.error else None)
        if not field:
            return ""
        names = {f"fields.{k}": v for k, v in self.fields.model_dump().items() if v}
        names["message_keyword"] = self.config.message_keyword or ""
        key = next((k for k, v in names.items() if v == field), "the setting that names it")
        return f": {field!r} is a text field: set {key} to a keyword field (e.g. {field + '.keyword'!r})"

    def _no_index(self, why: str) -> str:
        return f"index pattern {self.config.index_expr!r} matched nothing: {why}: check index"

    def _check_shards(self, what: str, answer: dict[str, Any], rid: str) -> None:
        if shards_total(answer) == 0:
            self._problem(
                self._no_index("no index, alias or data stream of that name"),
                kind="blind_spot",
                signal="logs:*",
                start=self.window.start,
                end=self.window.end,
                request=rid,
            )
            raise _Stop
        failed_shards = shard_failure(answer)
        if failed_shards:
            self._problem(f"{what}: partial answer: {failed_shards}", request=rid)

    # ---- links ---------------------------------------------------------------------------

    def _service_kql(self, target: Target) -> str | None:
        return kql_field(self.fields.service, target.names) if target.names else None

    def _link(self, kql: str, start: datetime, end: datetime) -> str | None:
        return discover(self.link_base, self.collector.ui, kql, start, end)

    # ---- 1. counts -----------------------------------------------------------------------

    def counts(self, target: Target) -> None:
        what = f"log counts of {_label(target)}"
        body = count_body(self.fields, target, self.window)
        answer, rid = self.api.search(body, _histogram_buckets)
        self.successes += 1
        self._check_shards(what, answer, rid)
        grid = self.window.grid()
        counts = parse_counts(answer.get("aggregations") or {}, grid)
        query = compact(body)
        w = self.window
        service_kql = self._service_kql(target)
        svc = target.name or ""

        def series(signal: str, labels: dict[str, str], values: list[float], kql: str) -> Series:
            return Series(
                id=stable_id(self.instance, "log_count", svc, signal),
                source=self.instance,
                signal=signal,
                service=target.name,
                labels=labels,
                query=query,
                times=grid,
                values=tuple(values),
                direction="up",
                step=w.interval,
                link=self._link(kql, w.start, w.end),
                request=rid,
                role="log_count",
            )

        for level, values in counts.levels.items():
            level_kql = kql_field(self.fields.level, level_variants([level])) if level else None
            self.result.series.append(
                series(f"logs:{level}", {"level": level}, values, kql_and(service_kql, level_kql))
            )
        self.result.series.append(series("logs:*", {}, counts.total, service_kql or ""))
        levels = set(self.config.error_levels)
        self.error_totals[target.name] = int(sum(sum(v) for lv, v in counts.levels.items() if lv in levels))
        if target.name and not any(counts.total):
            names = ", ".join(repr(n) for n in target.names)
            self._problem(
                f"no log documents of {target.name!r} ({self.fields.service} in [{names}]) in "
                f"{self.config.index_expr!r} from {iso(w.start)} to {iso(w.end)}: does it log under another name "
                f"(add it to the service's aliases) or another field (fields.service)?",
                kind="blind_spot",
                service=target.name,
                signal="logs:*",
                start=w.start,
                end=w.end,
                request=rid,
            )

    # ---- 2. distinct messages --------------------------------------------------------------

    def messages(self, target: Target) -> None:
        cfg = self.config
        counter = MessageCounter(cfg.max_messages)
        what = f"distinct error messages of {_label(target)}"
        if cfg.message_keyword:
            message_field = cfg.message_keyword
            capped, more = self._composite(target, counter, what)
        else:
            message_field = self.fields.message
            capped, more = self._scan(target, counter, what), False
        self._emit_messages(target, counter, message_field)
        who = _label(target)
        if counter.dropped_documents or more:
            kept = sum(t.window_count + t.baseline_count for t in counter.tallies.values())
            total = self.error_totals.get(target.name)
            left = total - kept - counter.no_message if total is not None and not capped else None
            if left is None or left < counter.dropped_documents:
                left_out = (
                    f"at least {counter.dropped_documents:,}" if more or capped else f"{counter.dropped_documents:,}"
                )
            else:
                left_out = f"{left:,}"
            self._problem(
                f"{what}: more than max_messages ({cfg.max_messages:,}) distinct messages: "
                f"{len(counter.tallies):,} are kept, of {len(counter.forms):,} forms (texts alike but for their words "
                f"holding digits; half of max_messages is kept for new forms), {left_out} error documents of other "
                f"messages are not among them (they are in the logs:<level> counts)",
                service=target.name,
                truncated=True,
            )
        if capped and cfg.message_keyword:
            self._problem(
                f"{what}: only the first {cfg.scan_limit:,} distinct messages (in level and message order) were "
                f"read (scan_limit): later ones are not counted",
                service=target.name,
                truncated=True,
            )
        elif capped:
            self._problem(
                f"{what}: only the first {cfg.scan_limit:,} error documents were read (scan_limit): later "
                f"messages are not counted; set message_keyword to a keyword field of the message so that the "
                f"cluster counts them all",
                service=target.name,
                truncated=True,
            )
        if counter.no_message and not counter.tallies and cfg.message_keyword:
            self._problem(
                f"{what}: none of the {counter.no_message:,} error documents of {who} has a value in "
                f"{message_field!r}: is message_keyword a keyword field of {cfg.index_expr!r}? (without "
                f"message_keyword the documents are read and counted here)",
                service=target.name,
            )
        elif counter.no_message:
            self._problem(
                f"{what}: {counter.no_message:,} error documents of {who} have no value in {message_field!r} "
                f"(missing, or longer than the keyword's ignore_above): counted in logs:<level> but not among "
                f"the distinct messages",
                service=target.name,
            )

    def _composite(self, target: Target, counter: MessageCounter, what: str) -> tuple[bool, bool]:
        """Page the composite aggregation of `target`: (scan_limit cut it short, max_messages filled up
        while more buckets may follow)."""
        after: dict[str, Any] | None = None
        limit = self.config.scan_limit
        read = 0
        while True:
            size = min(self.config.page_size, limit - read)
            body = composite_body(self.config, target, self.window, after, size)
            answer, rid = self.api.search(body, _buckets)
            self.successes += 1
            self._check_shards(what, answer, rid)
            agg = (answer.get("aggregations") or {}).get("messages") or {}
            buckets = agg.get("buckets") or []
            for bucket in buckets:
                counter.add_bucket(bucket, rid)
            read += len(buckets)
            after = agg.get("after_key")
            if not after or len(buckets) < size:
                return False, False
            if counter.full:
                return False, True
            if read >= limit:
                return True, False

    def _scan(self, target: Target, counter: MessageCounter, what: str) -> bool:
        """Read the error documents of `target` through a PIT; True when scan_limit cut it short."""
        cfg, fields = self.config, self.fields
        body = scan_body(cfg, target, self.window, self.collector.sort_format, self.collector.tiebreaker)
        limit = cfg.scan_limit
        window_start = self.window.window_start.timestamp()
        read = 0
        with _PointInTime(self) as pit:
            after: list[Any] | None = None
            while True:
                size = min(cfg.page_size, limit + 1 - read)
                answer, rid = self.api.search_pit(with_page(body, pit.id, after, size), _hits)
                self.successes += 1
                pit.update(answer)
                self._check_shards(what, answer, rid)
                hits = (answer.get("hits") or {}).get("hits") or []
                for hit in hits:
                    if read == limit:
                        return True
                    read += 1
                    src = hit.get("_source") or {}
                    sort = hit.get("sort") or [None]
                    counter.add_document(
                        None if target.name else as_text(get_path(src, source_path(fields.service))),
                        as_text(get_path(src, source_path(fields.level))) or "",
                        as_text(get_path(src, source_path(fields.message))),
                        as_text(get_path(src, source_path(fields.error_type))) if fields.error_type else None,
                        parse_time(sort[0]) or parse_time(get_path(src, source_path(fields.timestamp))),
                        window_start,
                        rid,
                    )
                if len(hits) < size or not hits:
                    return False
                after = hits[-1].get("sort")
                if not after:
                    return False

    def _emit_messages(self, target: Target, counter: MessageCounter, message_field: str) -> None:
        w = self.window
        for (raw_service, level, message), tally in counter.tallies.items():
            service = target.name or self.request.canonical(raw_service) or raw_service
            names = target.names or ((raw_service,) if raw_service else ())
            kql = kql_and(
                kql_field(self.fields.service, names) if names else None,
                kql_field(self.fields.level, level_variants([level])) if level else None,
                f"{message_field}:{kql_value(message)}",
            )
            self.result.log_messages.append(
                LogMessage(
                    id=stable_id(self.instance, service or "", level, message),
                    source=self.instance,
                    service=service,
                    level=level or None,
                    message=message,
                    window_count=tally.window_count,
                    baseline_count=tally.baseline_count,
                    first_seen=from_epoch(tally.first_seen) if tally.first_seen is not None else None,
                    last_seen=from_epoch(tally.last_seen) if tally.last_seen is not None else None,
                    error_type=tally.error_type,
                    link=self._link(kql, w.start, w.end),
                    request=tally.request,
                )
            )

    # ---- 3. exemplars ----------------------------------------------------------------------

    def exemplars(self) -> None:
        cfg = self.config
        what = "exemplar error documents"
        body = exemplar_body(cfg, self.targets, self.window, self.collector.sort_format, self.collector.tiebreaker)
        cap = cfg.max_exemplars
        kept = 0
        with _PointInTime(self) as pit:
            after: list[Any] | None = None
            while True:
                size = min(cfg.page_size, cap + 1 - kept)
                answer, rid = self.api.search_pit(with_page(body, pit.id, after, size), _hits)
                self.successes += 1
                pit.update(answer)
                self._check_shards(what, answer, rid)
                hits = (answer.get("hits") or {}).get("hits") or []
                for hit in hits:
                    if kept == cap:
                        self.result.truncate(
                            f"more than max_exemplars ({cap:,}) error documents in the window: "
                            f"the first {cap:,} are kept"
                        )
                        return
                    record = self._record(hit, rid)
                    if record is not None:
                        self.result.log_records.append(record)
                    kept += 1
                after = hits[-1].get("sort") if hits else None
                if len(hits) < size or not after:
                    return

    def _record(self, hit: dict[str, Any], rid: str) -> LogRecord | None:
        fields = self.fields
        src = hit.get("_source") or {}
        sort = hit.get("sort") or [None]
        at = parse_time(sort[0]) or parse_time(get_path(src, source_path(fields.timestamp)))
        if at is None:
            return None
        index, doc_id = str(hit.get("_index") or ""), str(hit.get("_id") or "")
        raw_service = as_text(get_path(src, source_path(fields.service)))
        attrs: dict[str, Any] = {"index": index, "_id": doc_id}
        for key, name in (("trace.id", fields.trace_id), ("error.type", fields.error_type), ("host.name", "host.name")):
            value = as_text(get_path(src, source_path(name))) if name else None
            if value is not None:
                attrs[key] = value
        return LogRecord(
            id=stable_id(self.instance, index, doc_id),
            source=self.instance,
            at=at,
            service=self.request.canonical(raw_service) or raw_service,
            level=(as_text(get_path(src, source_path(fields.level))) or "").lower() or None,
            message=as_text(get_path(src, source_path(fields.message))) or "",
            link=self._link(f"_id:{kql_value(doc_id)}", self.window.window_start, self.window.end),
            request=rid,
            attrs=attrs,
        )


def _hits(answer: dict[str, Any]) -> int:
    return len((answer.get("hits") or {}).get("hits") or [])


def _histogram_buckets(answer: dict[str, Any]) -> int:
    return len(((answer.get("aggregations") or {}).get("total") or {}).get("buckets") or [])


def _buckets(answer: dict[str, Any]) -> int:
    return len(((answer.get("aggregations") or {}).get("messages") or {}).get("buckets") or [])


class _PointInTime:
    """A point in time over the index pattern: opened on enter, closed (with its latest id) on exit."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.id = ""

    def __enter__(self) -> _PointInTime:
        self.id, _ = self.run.api.open_pit(KEEP_ALIVE)
        return self

    def update(self, answer: dict[str, Any]) -> None:
        """Keep the id the last page gave: it may change from page to page."""
        new = answer.get("pit_id")
        if isinstance(new, str) and new:
            self.id = new

    def __exit__(self, *exc: object) -> None:
        try:
            self.run.api.close_pit(self.id)
        except RequestFailure:
            pass  # recorded; the point in time expires after its keep_alive anyway
