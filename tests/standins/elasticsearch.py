#!/usr/bin/env python3
"""Elasticsearch stand-in: a stdlib-only HTTP server that speaks the Elasticsearch 8.x/9.x REST
protocol (and a few OpenSearch 2.x variants) for the requests Dossier's log collector makes.

Standalone::

    python tests/standins/elasticsearch.py --port 9200 --load docs.jsonl [--major 8|9]
        [--flavor elasticsearch|opensearch] [--api-key ID:KEY] [--basic USER:PASS] [--bearer TOKEN]
        [--fail STATUS:N[:PATH_REGEX]] [--retry-after S] [--delay SECONDS] [--forbidden PATTERN]

From Python::

    with ElasticsearchStandin(docs_or_path, major=9) as es:
        es.url, es.requests, es.inject(429, 2, path_regex="_search"), es.delay = 0.1

Behaviour follows the official REST API docs and the observed wire format of real clusters:
response shapes, error envelopes (`{"error":{"root_cause":[..],"type":..,"reason":..},"status":N}`),
status codes, the `X-Elastic-Product` header, the compatibility media type, data streams and the
built-in `logs-*-*` index template (ecs@mappings), PIT snapshots, search_after, aggregations.
What it does not model is listed in `UNSUPPORTED` and answered with a clear 400
(`standin_unsupported_exception`) instead of a silently wrong result.

Storage is columnar (array module, dictionary-encoded keywords, sorted indexes built lazily), so a
million small log documents fit in well under a GB.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import calendar
import difflib
import gzip
import json
import math
import re
import secrets
import sys
import threading
import time
import zlib
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["ElasticsearchStandin", "EsError", "RecordedRequest", "load_docs_file", "main"]

MISSING = -(2**63)  # "no value" in long columns (also Long.MIN_VALUE, as ES uses for desc missing)
MULTI = -(2**63) + 1  # "several values: look in .multi" in long columns
LONG_MAX = 2**63 - 1
MASK32 = 0xFFFFFFFF
MAX_RESULT_WINDOW = 10_000
MAX_BUCKETS = 65_536
DEFAULT_TRACK_TOTAL_HITS = 10_000
NODE_ID = "sTaNdInNoDe0A1b2C3d4Eg"


# ----------------------------------------------------------------------------------------------
# Errors: the exact envelopes Elasticsearch sends
# ----------------------------------------------------------------------------------------------


class EsError(Exception):
    """An HTTP error response: `status`, JSON `body` (or str for non-JSON), extra `headers`."""

    def __init__(self, status: int, body: Any, headers: dict[str, Any] | None = None):
        super().__init__(json.dumps(body)[:300] if not isinstance(body, str) else body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def cause(type_: str, reason: Any, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"type": type_, "reason": reason}
    d.update({k: v for k, v in extra.items() if v is not None})
    return d


def envelope(status: int, top: dict[str, Any], root_causes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    if root_causes is None:
        root_causes = [{k: v for k, v in top.items() if k != "caused_by"}]
    return {"error": {"root_cause": root_causes, **top}, "status": status}


def es_error(
    status: int,
    type_: str,
    reason: Any,
    *,
    caused_by: dict | None = None,
    root_causes: list | None = None,
    headers: dict | None = None,
    **extra: Any,
) -> EsError:
    top = cause(type_, reason, **extra)
    if caused_by is not None:
        top["caused_by"] = caused_by
    return EsError(status, envelope(status, top, root_causes), headers)


def index_not_found(name: str) -> EsError:
    return es_error(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name},
    )


def parsing_error(reason: str, line: int = 1, col: int = 1, caused_by: dict | None = None) -> EsError:
    return es_error(400, "parsing_exception", reason, line=line, col=col, caused_by=caused_by)


def x_content_error(reason: str, caused_by: dict | None = None) -> EsError:
    return es_error(400, "x_content_parse_exception", reason, caused_by=caused_by)


def validation_error(*messages: str) -> EsError:
    reason = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, 1))
    return es_error(400, "action_request_validation_exception", reason)


def unsupported(what: str) -> EsError:
    return es_error(
        400,
        "standin_unsupported_exception",
        f"the Elasticsearch stand-in does not implement {what}; use a real cluster "
        "(DOSSIER_TEST_ES_URL) or extend tests/standins/elasticsearch.py",
    )


def suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=5, cutoff=0.7)
    if not close:
        return ""
    if len(close) == 1:
        return f" did you mean [{close[0]}]?"
    return f" did you mean any of [{', '.join(close)}]?"


class ShardFailure(Exception):
    """A per-shard failure (field type problems, bad dates...): grouped into
    search_phase_execution_exception "all shards failed" when every shard fails."""

    def __init__(self, status: int, cause_: dict[str, Any]):
        super().__init__(cause_.get("reason"))
        self.status = status
        self.cause = cause_


def text_fielddata_failure(field: str, ftype: str) -> ShardFailure:
    if ftype == "text":
        reason = (
            "Text fields are not optimised for operations that require per-document field data like "
            "aggregations and sorting, so these operations are disabled by default. Please use a keyword "
            f"field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by "
            "uninverting the inverted index. Note that this can use significant memory."
        )
    else:
        reason = f"{ftype} fields do not support sorting and aggregations"
    return ShardFailure(400, cause("illegal_argument_exception", reason))


def all_shards_failed(failures: list[tuple[Any, ShardFailure]], phase: str = "query") -> EsError:
    status = failures[0][1].status
    roots: list[dict] = []
    grouped: list[dict] = []
    seen = set()
    for shard, f in failures:
        key = (f.cause.get("type"), f.cause.get("reason"), shard.name if shard is not None else None)
        if key in seen:
            continue
        seen.add(key)
        grouped.append(
            {
                "shard": 0 if shard is not None else -1,
                "index": shard.name if shard is not None else None,
                "node": NODE_ID if shard is not None else None,
                "reason": f.cause,
            }
        )
        rc = {k: v for k, v in f.cause.items() if k != "caused_by"}
        if rc not in roots:
            roots.append(rc)
    top = {
        "type": "search_phase_execution_exception",
        "reason": "all shards failed",
        "phase": phase,
        "grouped": True,
        "failed_shards": grouped,
        "caused_by": failures[0][1].cause,
    }
    return EsError(status, envelope(status, top, roots))


def json_location(raw: str, needle: str) -> tuple[int, int]:
    """Best-effort 1-based (line, col) of `"needle"` in the raw request body, like XContentLocation."""
    i = raw.find(f'"{needle}"') if raw else -1
    if i < 0:
        return 1, 1
    line = raw.count("\n", 0, i) + 1
    col = i - (raw.rfind("\n", 0, i) + 1) + 1
    return line, col


# ----------------------------------------------------------------------------------------------
# Dates: strict_date_optional_time, epoch_millis, Java patterns, date math, round-up rules
# ----------------------------------------------------------------------------------------------

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
_ISO_RE = re.compile(
    r"([+-]?\d{4,9})(?:-(\d{2})(?:-(\d{2})(?:[Tt](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?\Z"
)
_ISO_FORMATS = {
    "strict_date_optional_time",
    "date_optional_time",
    "strict_date_optional_time_nanos",
    "strict_date_time",
    "date_time",
    "strict_date_time_no_millis",
    "date_time_no_millis",
    "strict_date",
    "date",
    "strict_date_hour_minute_second",
    "strict_date_hour_minute_second_millis",
    "strict_date_hour_minute_second_fraction",
    "date_hour_minute_second",
    "date_hour_minute_second_millis",
    "iso8601",
    "strict_year_month_day",
}


def _zone_minutes(z: str | None) -> int:
    if not z or z in ("Z", "z"):
        return 0
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) >= 4 else 0))


def ms_from_parts(y: int, mo: int, d: int, h: int, mi: int, s: int, nanos: int, zone_min: int = 0) -> int:
    days = date(y, mo, d).toordinal() - EPOCH_ORDINAL
    if not (0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59):
        raise ValueError("time out of range")
    return ((days * 24 + h) * 60 + mi - zone_min) * 60_000 + s * 1000 + nanos // 1_000_000


def parse_iso(text: str, round_up: bool = False) -> int:
    """strict_date_optional_time -> epoch millis. With round_up, missing fields take their maximum
    (hour 23, minute 59, second 59, nanos 999999999), and month/day take 1: exactly the defaults of
    Elasticsearch's round-up parser used for `gt` and `lte` bounds."""
    m = _ISO_RE.match(text)
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, z = m.groups()
    if round_up:
        nanos = int(frac.ljust(9, "0")) if frac else 999_999_999
        return ms_from_parts(
            int(y),
            int(mo or 1),
            int(d or 1),
            int(h) if h else 23,
            int(mi) if mi else 59,
            int(s) if s else 59,
            nanos,
            _zone_minutes(z),
        )
    return ms_from_parts(
        int(y),
        int(mo or 1),
        int(d or 1),
        int(h or 0),
        int(mi or 0),
        int(s or 0),
        int(frac.ljust(9, "0")) if frac else 0,
        _zone_minutes(z),
    )


_EPOCH_RE = re.compile(r"-?\d+(?:\.\d+)?\Z")
_JAVA_TOKEN = re.compile(r"'[^']*'|y+|u+|M+|d+|H+|h+|m+|s+|S+|X+|x+|Z+|a|E+|[^a-zA-Z']+|.")


def _java_regex(pattern: str) -> tuple[re.Pattern, list[str]]:
    out, names = [], []
    for tok in _JAVA_TOKEN.findall(pattern):
        c = tok[0]
        if c == "'":
            out.append(re.escape(tok[1:-1]))
        elif c in "yu":
            out.append(r"([+-]?\d{4,9})" if len(tok) != 2 else r"(\d{2})")
            names.append("y2" if len(tok) == 2 else "y")
        elif c in "MdHhms":
            out.append(r"(\d{1,2})" if len(tok) == 1 else r"(\d{2})")
            names.append({"M": "mo", "d": "d", "H": "h", "h": "h", "m": "mi", "s": "s"}[c])
        elif c == "S":
            out.append(r"(\d{1,9})")
            names.append("frac")
        elif c in "XxZ":
            out.append(r"(Z|[+-]\d{2}(?::?\d{2})?)")
            names.append("z")
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out) + r"\Z"), names


_JAVA_CACHE: dict[str, tuple[re.Pattern, list[str]]] = {}


def parse_java(text: str, pattern: str, round_up: bool = False) -> int:
    if pattern not in _JAVA_CACHE:
        _JAVA_CACHE[pattern] = _java_regex(pattern)
    rx, names = _JAVA_CACHE[pattern]
    m = rx.match(text)
    if not m:
        raise ValueError(text)
    p = dict(zip(names, m.groups(), strict=True))
    y = int(p["y"]) if "y" in p else (2000 + int(p["y2"]) if "y2" in p else 1970)
    if round_up:
        return ms_from_parts(
            y,
            int(p.get("mo") or 1),
            int(p.get("d") or 1),
            int(p.get("h") or 23),
            int(p.get("mi") or 59),
            int(p.get("s") or 59),
            int(p["frac"].ljust(9, "0")) if p.get("frac") else 999_999_999,
            _zone_minutes(p.get("z")),
        )
    return ms_from_parts(
        y,
        int(p.get("mo") or 1),
        int(p.get("d") or 1),
        int(p.get("h") or 0),
        int(p.get("mi") or 0),
        int(p.get("s") or 0),
        int(p["frac"].ljust(9, "0")) if p.get("frac") else 0,
        _zone_minutes(p.get("z")),
    )


def parse_date(value: Any, fmt: str | None = None, round_up: bool = False) -> int:
    """Parse one date value with an ES format string (`a||b` alternatives). Raises ValueError."""
    fmts = (fmt or DEFAULT_DATE_FORMAT).split("||")
    for f in fmts:
        f = f.strip()
        try:
            if f in ("epoch_millis", "epoch_second"):
                if isinstance(value, bool):
                    continue
                if isinstance(value, int | float):
                    v = float(value)
                elif isinstance(value, str) and _EPOCH_RE.match(value):
                    v = float(value)
                else:
                    continue
                return int(v * 1000) if f == "epoch_second" else int(v)
            if not isinstance(value, str):
                continue
            if f in _ISO_FORMATS:
                return parse_iso(value, round_up)
            return parse_java(value, f, round_up)
        except (ValueError, OverflowError):
            continue
    raise ValueError(f"failed to parse date field [{value}] with format [{fmt or DEFAULT_DATE_FORMAT}]")


_MATH_RE = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def _add_months(ms: int, months: int) -> int:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    total = dt.year * 12 + (dt.month - 1) + months
    y, mo = divmod(total, 12)
    d = min(dt.day, calendar.monthrange(y, mo + 1)[1])
    return int((dt.replace(year=y, month=mo + 1, day=d) - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "H": 3_600_000, "m": 60_000, "s": 1000}


def round_down(ms: int, unit: str) -> int:
    if unit in ("y", "M"):
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        dt = dt.replace(month=1 if unit == "y" else dt.month, day=1, hour=0, minute=0, second=0, microsecond=0)
        return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    if unit == "w":  # weeks start on Monday; 1970-01-01 was a Thursday
        return (ms + 3 * 86_400_000) // _UNIT_MS["w"] * _UNIT_MS["w"] - 3 * 86_400_000
    step = _UNIT_MS[unit]
    return ms // step * step


def next_unit(ms: int, unit: str) -> int:
    if unit == "y":
        return _add_months(ms, 12)
    if unit == "M":
        return _add_months(ms, 1)
    return ms + _UNIT_MS[unit]


def parse_date_math(value: Any, fmt: str | None, now_ms: int, round_up: bool) -> int:
    """Date math (`now-15m/m`, `2026-11-20||+1h`) plus the ES round-up rule for gt/lte."""
    if isinstance(value, str) and (value.startswith("now") or "||" in value.replace("||epoch", "")):
        if value.startswith("now"):
            base, expr = now_ms, value[3:]
        else:
            text, expr = value.split("||", 1)
            base = parse_date(text, fmt, round_up and not expr)
        pos = 0
        for m in _MATH_RE.finditer(expr):
            if m.start() != pos:
                raise ValueError(f"operator not supported for date math [{expr}]")
            pos = m.end()
            if m.group(4):
                unit = m.group(4)
                start = round_down(base, unit)
                base = next_unit(start, unit) - 1 if round_up else start
            else:
                n = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
                unit = m.group(3)
                base = _add_months(base, n * (12 if unit == "y" else 1)) if unit in "yM" else base + n * _UNIT_MS[unit]
        if pos != len(expr):
            raise ValueError(f"operator not supported for date math [{expr}]")
        return base
    return parse_date(value, fmt, round_up)


def _parts(ms: int) -> tuple[int, int, int, int, int, int, int]:
    days, rem = divmod(ms, 86_400_000)
    d = date.fromordinal(days + EPOCH_ORDINAL)
    h, rem = divmod(rem, 3_600_000)
    mi, rem = divmod(rem, 60_000)
    s, msec = divmod(rem, 1000)
    return d.year, d.month, d.day, h, mi, s, msec


def format_date(ms: int, fmt: str | None = None) -> str:
    f = (fmt or DEFAULT_DATE_FORMAT).split("||")[0].strip()
    if f == "epoch_millis":
        return str(ms)
    if f == "epoch_second":
        return str(ms // 1000) if ms % 1000 == 0 else f"{ms / 1000:.3f}".rstrip("0")
    try:
        y, mo, d, h, mi, s, msec = _parts(ms)
    except (ValueError, OverflowError):
        return str(ms)
    if f in ("strict_date", "date", "strict_year_month_day"):
        return f"{y:04d}-{mo:02d}-{d:02d}"
    if f in (
        "strict_date_time_no_millis",
        "date_time_no_millis",
        "strict_date_hour_minute_second",
        "date_hour_minute_second",
    ):
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}" + ("Z" if "no_millis" in f else "")
    if f in _ISO_FORMATS:
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{msec:03d}Z"
    out = []
    for tok in _JAVA_TOKEN.findall(f):
        c = tok[0]
        if c == "'":
            out.append(tok[1:-1])
        elif c in "yu":
            out.append(f"{y % 100:02d}" if len(tok) == 2 else f"{y:04d}")
        elif c == "M":
            out.append(
                calendar.month_abbr[mo]
                if len(tok) == 3
                else calendar.month_name[mo]
                if len(tok) > 3
                else f"{mo:0{len(tok)}d}"
            )
        elif c in "dHhms":
            v = {"d": d, "H": h, "h": (h % 12) or 12, "m": mi, "s": s}[c]
            out.append(f"{v:0{len(tok)}d}")
        elif c == "S":
            out.append(f"{msec:03d}".ljust(len(tok), "0")[: len(tok)])
        elif c in "Xx":
            out.append("Z" if c == "X" else "+00" + (":00" if len(tok) >= 3 else "00" if len(tok) == 2 else ""))
        elif c == "Z":
            out.append("+0000" if len(tok) < 4 else "Z")
        elif c == "a":
            out.append("AM" if h < 12 else "PM")
        elif c == "E":
            out.append(calendar.day_abbr[date(y, mo, d).weekday()])
        else:
            out.append(tok)
    return "".join(out)


def parse_duration_ms(v: Any, setting: str = "keep_alive") -> int:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return int(v)
    m = re.fullmatch(r"(-?\d+)(nanos|micros|ms|s|m|h|d)", str(v).strip())
    if not m:
        raise es_error(
            400,
            "illegal_argument_exception",
            f"failed to parse setting [{setting}] with value [{v}] as a time value: unit is missing or unrecognized",
        )
    n, unit = int(m.group(1)), m.group(2)
    return {
        "nanos": n // 1_000_000,
        "micros": n // 1000,
        "ms": n,
        "s": n * 1000,
        "m": n * 60_000,
        "h": n * 3_600_000,
        "d": n * 86_400_000,
    }[unit]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ----------------------------------------------------------------------------------------------
# Text analysis (a close approximation of the standard analyzer: UAX#29-ish words, lowercased)
# ----------------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"\w+(?:[.'\u2019]\w+)*")


def analyze(text: str) -> list[str]:
    return [t[:255] for t in _WORD_RE.findall(text.lower())]


def wildcard_regex(pattern: str, case_insensitive: bool = False) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.S | (re.I if case_insensitive else 0))


def glob_match(pattern: str, name: str) -> bool:
    """ES simple wildcard (`*` only), as used for index names and field paths."""
    if "*" not in pattern:
        return pattern == name
    return wildcard_regex(pattern.replace("?", "\\?")).match(name) is not None


# ----------------------------------------------------------------------------------------------
# Mappings: explicit properties, default dynamic mapping, and the built-in logs-*-* template
# ----------------------------------------------------------------------------------------------

KEYWORD_TYPES = {"keyword", "constant_keyword", "ip", "wildcard", "version", "flattened"}
TEXT_TYPES = {"text", "match_only_text"}
LONG_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}
DOUBLE_TYPES = {"double", "float", "half_float", "scaled_float"}
DATE_TYPES = {"date", "date_nanos"}
INDEXED_TYPES = KEYWORD_TYPES | TEXT_TYPES | LONG_TYPES | DOUBLE_TYPES | DATE_TYPES | {"boolean"}


class FieldDef:
    __slots__ = ("extra", "fields", "format", "ignore_above", "name", "type")

    def __init__(
        self,
        name: str,
        type_: str,
        *,
        ignore_above: int | None = None,
        fmt: str | None = None,
        fields: dict[str, FieldDef] | None = None,
        extra: dict | None = None,
    ):
        self.name, self.type, self.ignore_above, self.format = name, type_, ignore_above, fmt
        self.fields = fields or {}
        self.extra = extra or {}


def _ecs_templates() -> list[dict[str, Any]]:
    """ecs@mappings dynamic templates (elastic/elasticsearch x-pack template-resources), in order."""
    mot = {"text": {"type": "match_only_text"}}
    return [
        {"match": ["@timestamp"], "mapping": {"type": "date"}},
        {"path_match": ["message", "*.message"], "mapping": {"type": "match_only_text"}},
        {"path_match": ["ip", "*.ip", "*_ip"], "match_mapping_type": "string", "mapping": {"type": "ip"}},
        {
            "path_match": ["*.io.text", "*.message_id", "*registry.data.strings", "*url.path"],
            "mapping": {"type": "wildcard"},
        },
        {
            "path_match": ["*.body.content", "*url.full", "*url.original"],
            "mapping": {"type": "wildcard", "fields": mot},
        },
        {"match": ["*command_line", "*stack_trace"], "mapping": {"type": "wildcard", "fields": mot}},
        {
            "path_match": [
                "*.title",
                "*.executable",
                "*.name",
                "*.working_directory",
                "*.full_name",
                "*file.path",
                "*file.target_path",
                "*os.full",
                "email.subject",
                "vulnerability.description",
                "user_agent.original",
            ],
            "mapping": {"type": "keyword", "fields": mot},
        },
        {
            "path_match": [
                "*.timestamp",
                "*_timestamp",
                "*.not_after",
                "*.not_before",
                "*.accessed",
                "created",
                "*.created",
                "*.installed",
                "*.creation_date",
                "*.ctime",
                "*.mtime",
                "ingested",
                "*.ingested",
                "*.start",
                "*.end",
            ],
            "mapping": {"type": "date"},
        },
        {"path_match": ["*.score.*", "*_score*"], "path_unmatch": ["*.version"], "mapping": {"type": "float"}},
        {"path_match": ["*.usage"], "match_mapping_type": "double", "mapping": {"type": "scaled_float"}},
        {"path_match": ["*.usage"], "match_mapping_type": "long", "mapping": {"type": "scaled_float"}},
        {"path_match": ["location", "*.location"], "mapping": {"type": "geo_point"}},
        {"path_match": ["*structured_data", "*exports", "*imports"], "mapping": {"type": "flattened"}},
        {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}},
    ]


class Mapping:
    """One index's mapping: flat dict of leaf field paths (sub-fields included as `a.keyword`)."""

    def __init__(self, *, logs_template: bool = False):
        self.fields: dict[str, FieldDef] = {}
        self.objects: set[str] = set()
        self.dynamic: Any = True
        self.date_detection = not logs_template
        self.templates: list[dict[str, Any]] = _ecs_templates() if logs_template else []
        self.logs_template = logs_template
        if logs_template:
            self.add(FieldDef("@timestamp", "date"))
            for f in ("data_stream.type", "data_stream.dataset", "data_stream.namespace"):
                self.add(FieldDef(f, "constant_keyword"))

    def add(self, fd: FieldDef) -> None:
        self.fields[fd.name] = fd
        parts = fd.name.split(".")
        for i in range(1, len(parts)):
            self.objects.add(".".join(parts[:i]))
        for sub, sfd in fd.fields.items():
            sfd.name = f"{fd.name}.{sub}"
            self.fields[sfd.name] = sfd

    def apply_json(self, body: dict[str, Any]) -> None:
        if not isinstance(body, dict):
            raise es_error(400, "mapper_parsing_exception", "Failed to parse mapping: mapping must be an object")
        if "dynamic" in body:
            dyn = body["dynamic"]
            dyn = str(dyn).lower() if not isinstance(dyn, bool) else dyn
            self.dynamic = {"true": True, "false": False}.get(dyn, dyn) if isinstance(dyn, str) else dyn
        if "date_detection" in body:
            self.date_detection = bool(body["date_detection"])
        if "dynamic_templates" in body:
            tpls = []
            for item in body["dynamic_templates"]:
                for _name, t in item.items():
                    t = dict(t)
                    for k in ("match", "unmatch", "path_match", "path_unmatch"):
                        if k in t and isinstance(t[k], str):
                            t[k] = [t[k]]
                    tpls.append(t)
            self.templates = tpls + self.templates
        self._props(body.get("properties") or {}, "")

    def _props(self, props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            path = prefix + name
            if not isinstance(spec, dict):
                raise es_error(
                    400,
                    "mapper_parsing_exception",
                    f"Expected map for property [fields] on field [{name}] but got a class java.lang.String",
                )
            type_ = spec.get("type", "object" if "properties" in spec or not spec else None)
            if type_ in ("object", "nested", None):
                self.objects.add(path)
                self._props(spec.get("properties") or {}, path + ".")
                continue
            self.add(self._def(path, spec))

    def _def(self, path: str, spec: dict[str, Any]) -> FieldDef:
        t = spec.get("type", "object")
        fmt = spec.get("format") or (DEFAULT_DATE_FORMAT if t in DATE_TYPES else None)
        extra = {k: v for k, v in spec.items() if k not in ("type", "format", "ignore_above", "fields")}
        subs = {k: self._def(f"{path}.{k}", v) for k, v in (spec.get("fields") or {}).items()}
        return FieldDef(path, t, ignore_above=spec.get("ignore_above"), fmt=fmt, fields=subs, extra=extra)

    # dynamic mapping ---------------------------------------------------------------------------
    def dynamic_def(self, path: str, value: Any) -> FieldDef | None:
        if isinstance(value, bool):
            mtype = "boolean"
        elif isinstance(value, int):
            mtype = "long"
        elif isinstance(value, float):
            mtype = "double"
        elif isinstance(value, str):
            mtype = "string"
            if self.date_detection:
                try:
                    parse_iso(value)
                    mtype = "date"
                except (ValueError, OverflowError):
                    try:
                        parse_java(value, "yyyy/MM/dd HH:mm:ss Z") if " " in value else parse_java(value, "yyyy/MM/dd")
                        mtype = "date"
                    except (ValueError, OverflowError):
                        pass
        else:
            return None
        leaf = path.rsplit(".", 1)[-1]
        for t in self.templates:
            mmt = t.get("match_mapping_type")
            if mmt and mmt != "*" and mmt != mtype and not (isinstance(mmt, list) and mtype in mmt):
                continue
            if "match" in t and not any(glob_match(p, leaf) for p in t["match"]):
                continue
            if "unmatch" in t and any(glob_match(p, leaf) for p in t["unmatch"]):
                continue
            if "path_match" in t and not any(glob_match(p, path) for p in t["path_match"]):
                continue
            if "path_unmatch" in t and any(glob_match(p, path) for p in t["path_unmatch"]):
                continue
            return self._def(path, t["mapping"])
        if mtype == "string":
            return FieldDef(path, "text", fields={"keyword": FieldDef(path + ".keyword", "keyword", ignore_above=256)})
        if mtype == "date":
            return FieldDef(path, "date", fmt=DEFAULT_DATE_FORMAT)
        return FieldDef(path, {"boolean": "boolean", "long": "long", "double": "float"}[mtype])


# ----------------------------------------------------------------------------------------------
# Columns
# ----------------------------------------------------------------------------------------------


class LongCol:
    """long/date/boolean values: array('q') with MISSING / MULTI sentinels (multi values in .multi)."""

    __slots__ = ("_exists", "_sorted", "kind", "multi", "v")

    def __init__(self, kind: str):
        self.kind = kind
        self.v = array("q")
        self.multi: dict[int, list[int]] = {}
        self._sorted: tuple | None = None
        self._exists: tuple | None = None

    def put(self, d: int, vals: list[int]) -> None:
        v = self.v
        if len(v) < d:
            v.extend(array("q", [MISSING]) * (d - len(v)))
        if len(vals) == 1:
            v.append(vals[0])
        else:
            v.append(MULTI)
            self.multi[d] = vals

    def pad(self, n: int) -> None:
        if len(self.v) < n:
            self.v.extend(array("q", [MISSING]) * (n - len(self.v)))

    def get(self, d: int) -> list[int]:
        x = self.v[d]
        if x == MISSING:
            return []
        if x == MULTI:
            return self.multi[d]
        return [x]

    def sorted_index(self) -> tuple[array, array]:
        n = len(self.v)
        if self._sorted is None or self._sorted[0] != n:
            pairs = [(x, d) for d, x in enumerate(self.v) if x > MULTI]
            for d, vals in self.multi.items():
                pairs.extend((x, d) for x in vals)
            pairs.sort()
            self._sorted = (n, array("q", [p[0] for p in pairs]), array("q", [p[1] for p in pairs]))
        return self._sorted[1], self._sorted[2]

    def range_docs(self, lo: int | None, hi: int | None) -> set[int]:
        vals, docs = self.sorted_index()
        i = 0 if lo is None else bisect.bisect_left(vals, lo)
        j = len(vals) if hi is None else bisect.bisect_right(vals, hi)
        return set(docs[i:j]) if i < j else set()

    def exists(self) -> set[int]:
        n = len(self.v)
        if self._exists is None or self._exists[0] != n:
            self._exists = (n, {d for d, x in enumerate(self.v) if x != MISSING})
        return self._exists[1]


class DoubleCol:
    __slots__ = ("_exists", "_sorted", "kind", "multi", "v")

    def __init__(self, kind: str = "double"):
        self.kind = kind
        self.v = array("d")
        self.multi: dict[int, list[float]] = {}
        self._sorted: tuple | None = None
        self._exists: tuple | None = None

    def put(self, d: int, vals: list[float]) -> None:
        v = self.v
        if len(v) < d:
            v.extend(array("d", [math.nan]) * (d - len(v)))
        v.append(min(vals))
        if len(vals) > 1:
            self.multi[d] = vals

    def pad(self, n: int) -> None:
        if len(self.v) < n:
            self.v.extend(array("d", [math.nan]) * (n - len(self.v)))

    def get(self, d: int) -> list[float]:
        if d in self.multi:
            return self.multi[d]
        x = self.v[d]
        return [] if x != x else [x]

    def sorted_index(self) -> tuple[array, array]:
        n = len(self.v)
        if self._sorted is None or self._sorted[0] != n:
            pairs = [(x, d) for d, x in enumerate(self.v) if x == x and d not in self.multi]
            for d, vals in self.multi.items():
                pairs.extend((x, d) for x in vals)
            pairs.sort()
            self._sorted = (n, array("d", [p[0] for p in pairs]), array("q", [p[1] for p in pairs]))
        return self._sorted[1], self._sorted[2]

    def range_docs(self, lo: float | None, hi: float | None, lo_incl: bool = True, hi_incl: bool = True) -> set[int]:
        vals, docs = self.sorted_index()
        i = 0 if lo is None else (bisect.bisect_left(vals, lo) if lo_incl else bisect.bisect_right(vals, lo))
        j = len(vals) if hi is None else (bisect.bisect_right(vals, hi) if hi_incl else bisect.bisect_left(vals, hi))
        return set(docs[i:j]) if i < j else set()

    def exists(self) -> set[int]:
        n = len(self.v)
        if self._exists is None or self._exists[0] != n:
            self._exists = (n, {d for d, x in enumerate(self.v) if x == x})
        return self._exists[1]


class KeywordCol:
    """Dictionary-encoded strings: codes array('i') (-1 missing, -2 multi -> .multi), terms list."""

    __slots__ = ("_exists", "_post", "codes", "kind", "multi", "terms", "tid")

    def __init__(self, kind: str = "keyword"):
        self.kind = kind
        self.codes = array("i")
        self.terms: list[str] = []
        self.tid: dict[str, int] = {}
        self.multi: dict[int, list[int]] = {}
        self._post: tuple | None = None
        self._exists: tuple | None = None

    def code(self, s: str) -> int:
        c = self.tid.get(s)
        if c is None:
            c = self.tid[s] = len(self.terms)
            self.terms.append(s)
        return c

    def put(self, d: int, vals: list[str]) -> None:
        codes = self.codes
        if len(codes) < d:
            codes.extend(array("i", [-1]) * (d - len(codes)))
        if len(vals) == 1:
            codes.append(self.code(vals[0]))
        else:
            codes.append(-2)
            self.multi[d] = [self.code(s) for s in vals]

    def pad(self, n: int) -> None:
        if len(self.codes) < n:
            self.codes.extend(array("i", [-1]) * (n - len(self.codes)))

    def get_codes(self, d: int) -> list[int]:
        c = self.codes[d]
        if c >= 0:
            return [c]
        return self.multi[d] if c == -2 else []

    def get(self, d: int) -> list[str]:
        return [self.terms[c] for c in self.get_codes(d)]

    def postings(self) -> dict[int, array]:
        n = len(self.codes)
        if self._post is None or self._post[0] != n:
            post: dict[int, array] = {}
            for d, c in enumerate(self.codes):
                if c >= 0:
                    a = post.get(c)
                    if a is None:
                        a = post[c] = array("q")
                    a.append(d)
            for d, cs in self.multi.items():
                for c in set(cs):
                    post.setdefault(c, array("q")).append(d)
            self._post = (n, post)
        return self._post[1]

    def docs_for_codes(self, codes: Iterable[int]) -> set[int]:
        post = self.postings()
        out: set[int] = set()
        for c in codes:
            a = post.get(c)
            if a is not None:
                out.update(a)
        return out

    def exists(self) -> set[int]:
        n = len(self.codes)
        if self._exists is None or self._exists[0] != n:
            self._exists = (n, {d for d, c in enumerate(self.codes) if c != -1})
        return self._exists[1]


class TextCol:
    """Analyzed text. When the field has a keyword sub-field the text lives in that column's
    dictionary (`kw`) and only values over ignore_above are kept here (`over`)."""

    __slots__ = ("_post", "kind", "kw", "over", "vals")

    def __init__(self, kind: str, kw: KeywordCol | None = None):
        self.kind = kind
        self.kw = kw
        self.vals: list[Any] = []
        self.over: dict[int, list[str]] = {}
        self._post: tuple | None = None

    def put(self, d: int, vals: list[str]) -> None:
        if self.kw is not None:  # only values longer than the keyword's ignore_above arrive here
            self.over[d] = vals
            return
        if len(self.vals) < d:
            self.vals.extend([None] * (d - len(self.vals)))
        self.vals.append(vals[0] if len(vals) == 1 else vals)

    def pad(self, n: int) -> None:
        if self.kw is None and len(self.vals) < n:
            self.vals.extend([None] * (n - len(self.vals)))

    def size(self) -> int:
        return len(self.kw.codes) if self.kw is not None else len(self.vals)

    def get(self, d: int) -> list[str]:
        if self.kw is not None:
            return self.kw.get(d) + self.over.get(d, [])
        v = self.vals[d]
        return [] if v is None else [v] if isinstance(v, str) else v

    def postings(self) -> dict[str, array]:
        n = self.size()
        if self._post is None or self._post[0] != n:
            post: dict[str, list[int]] = {}
            findall = _WORD_RE.findall

            def index(d: int, texts: Iterable[str]) -> None:
                toks: set[str] = set()
                for s in texts:
                    toks.update(findall(s.lower()))
                for t in toks:
                    lst = post.get(t)
                    if lst is None:
                        post[t] = [d]
                    else:
                        lst.append(d)

            if self.kw is not None:
                kw = self.kw
                term_toks = [set(findall(t.lower())) for t in kw.terms]
                codes = kw.codes
                for d in range(n):
                    c = codes[d]
                    if c >= 0 and d not in self.over:
                        for t in term_toks[c]:
                            lst = post.get(t)
                            if lst is None:
                                post[t] = [d]
                            else:
                                lst.append(d)
                    elif c != -1 or d in self.over:
                        index(d, self.get(d))
            else:
                for d, v in enumerate(self.vals):
                    if v is None:
                        continue
                    if type(v) is str:
                        for t in set(findall(v.lower())):
                            lst = post.get(t)
                            if lst is None:
                                post[t] = [d]
                            else:
                                lst.append(d)
                    else:
                        index(d, v)
            self._post = (n, {t: array("q", lst) for t, lst in post.items()})
        return self._post[1]

    def exists(self) -> set[int]:
        if self.kw is not None:
            return self.kw.exists() | set(self.over)
        return {d for d, v in enumerate(self.vals) if v is not None}


def make_column(fd: FieldDef) -> Any:
    t = fd.type
    if t in KEYWORD_TYPES:
        return KeywordCol(t)
    if t in LONG_TYPES:
        return LongCol("long")
    if t in DATE_TYPES:
        return LongCol("date")
    if t == "boolean":
        return LongCol("boolean")
    if t in DOUBLE_TYPES:
        return DoubleCol(t)
    if t in TEXT_TYPES:
        return TextCol(t)
    return None


# ----------------------------------------------------------------------------------------------
# Shards (one per concrete index; ES 8/9 default is one primary shard)
# ----------------------------------------------------------------------------------------------


class DocumentParsingError(Exception):
    def __init__(self, status: int, cause_: dict[str, Any]):
        super().__init__(cause_["reason"])
        self.status = status
        self.cause = cause_


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, list]) -> None:
    for k, v in obj.items():
        p = prefix + k
        if isinstance(v, dict):
            _flatten(v, p + ".", out)
        elif isinstance(v, list):
            _flatten_list(v, p, out)
        elif v is not None:
            lst = out.get(p)
            if lst is None:
                out[p] = [v]
            else:
                lst.append(v)


def _flatten_list(v: list, p: str, out: dict[str, list]) -> None:
    for e in v:
        if isinstance(e, dict):
            _flatten(e, p + ".", out)
        elif isinstance(e, list):
            _flatten_list(e, p, out)
        elif e is not None:
            out.setdefault(p, []).append(e)


class Shard:
    def __init__(self, name: str, mapping: Mapping, data_stream: str | None = None, hidden: bool = False):
        self.name = name
        self.uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self.mapping = mapping
        self.data_stream = data_stream
        self.hidden = hidden
        self.creation_date = now_ms()
        self.n = 0
        self.src = bytearray()
        self.off = array("q", [0])
        self.cols: dict[str, Any] = {}
        self.ids: dict[str, int] = {}
        self.id_of: dict[int, str] = {}
        self.versions: dict[str, int] = {}
        self.deleted: set[int] = set()
        self.seed = secrets.token_bytes(7)
        self._conv: dict[str, tuple] = {}
        self._cur_id: str | None = None

    # ids --------------------------------------------------------------------------------------
    def doc_id(self, d: int) -> str:
        s = self.id_of.get(d)
        if s is not None:
            return s
        return base64.urlsafe_b64encode(self.seed + d.to_bytes(8, "big")).decode()

    def local_for_id(self, doc_id: str) -> int | None:
        d = self.ids.get(doc_id)
        if d is not None:
            return d if d not in self.deleted else None
        if len(doc_id) == 20:
            try:
                raw = base64.urlsafe_b64decode(doc_id)
            except (ValueError, TypeError):
                return None
            if raw[:7] == self.seed:
                d = int.from_bytes(raw[7:], "big")
                return d if d < self.n and d not in self.deleted and d not in self.id_of else None
        return None

    def source_bytes(self, d: int) -> bytes:
        return bytes(self.src[self.off[d] : self.off[d + 1]])

    def source(self, d: int) -> dict[str, Any]:
        return json.loads(self.src[self.off[d] : self.off[d + 1]])

    # indexing -------------------------------------------------------------------------------
    def _converters(self, path: str, sample: Any, doc_id: str | None) -> tuple:
        m = self.mapping
        fd = m.fields.get(path)
        if fd is None:
            if path in m.objects:
                raise DocumentParsingError(
                    400,
                    cause(
                        "document_parsing_exception",
                        f"[1:2] object mapping for [{path}] tried to parse field [{path}] as object, "
                        "but found a concrete value",
                    ),
                )
            if m.dynamic == "strict":
                parent, _, leaf = path.rpartition(".")
                raise DocumentParsingError(
                    400,
                    cause(
                        "strict_dynamic_mapping_exception",
                        f"[1:2] mapping set to strict, dynamic introduction of [{leaf}] within "
                        f"[{parent or '_doc'}] is not allowed",
                    ),
                )
            if m.dynamic in (False, "false", "runtime"):
                self._conv[path] = ()
                return ()
            fd = m.dynamic_def(path, sample)
            if fd is None:
                self._conv[path] = ()
                return ()
            m.add(fd)
        convs = []
        main_col = None
        for f in [fd, *fd.fields.values()]:
            if f.type not in INDEXED_TYPES:
                continue
            col = self.cols.get(f.name)
            if col is None:
                col = make_column(f)
                self.cols[f.name] = col
            convs.append([col, self._fast_converter(f), f])
            if f is fd:
                main_col = col
        # text + keyword sub-field: the text column reads its values from the keyword dictionary and only
        # keeps values longer than the keyword's ignore_above itself
        if isinstance(main_col, TextCol) and main_col.size() == 0 and not main_col.over:
            for f in fd.fields.values():
                kwcol = self.cols.get(f.name)
                if isinstance(kwcol, KeywordCol) and f.type == "keyword":
                    main_col.kw = kwcol
                    limit = f.ignore_above
                    for c in convs:
                        if c[0] is main_col:
                            base = c[1]
                            if limit is None:
                                c[1] = lambda v: None
                            else:

                                def linked(v: Any, base: Callable = base, limit: int = limit) -> Any:
                                    x = base(v)
                                    return x if x is not None and len(x) > limit else None

                                c[1] = linked
                    break
        conv = tuple((c[0], c[1]) for c in convs)
        self._conv[path] = conv
        return conv

    def _fast_converter(self, fd: FieldDef) -> Callable[[Any], Any]:
        slow = self._convert
        t = fd.type
        if t in KEYWORD_TYPES and t != "constant_keyword":
            ia = fd.ignore_above

            def kw(v: Any) -> Any:
                if type(v) is str:
                    return v if ia is None or len(v) <= ia else None
                return slow(fd, v, self._cur_id)

            return kw
        if t in TEXT_TYPES:
            return lambda v: v if type(v) is str else slow(fd, v, self._cur_id)
        if t in LONG_TYPES:
            return lambda v: v if type(v) is int else slow(fd, v, self._cur_id)
        if t in DOUBLE_TYPES:
            return lambda v: float(v) if type(v) in (float, int) else slow(fd, v, self._cur_id)
        if t in DATE_TYPES and fd.format in (DEFAULT_DATE_FORMAT, "strict_date_optional_time", None):

            def dt(v: Any) -> Any:
                if type(v) is str:
                    try:
                        return parse_iso(v)
                    except (ValueError, OverflowError):
                        pass
                return slow(fd, v, self._cur_id)

            return dt
        return lambda v: slow(fd, v, self._cur_id)

    @staticmethod
    def _convert(fd: FieldDef, v: Any, doc_id: str | None) -> Any:
        t = fd.type
        try:
            if t in KEYWORD_TYPES:
                if isinstance(v, dict | list):
                    raise ValueError
                s = ("true" if v else "false") if isinstance(v, bool) else str(v)
                if fd.ignore_above is not None and len(s) > fd.ignore_above:
                    return None
                if t == "constant_keyword" and fd.extra.get("value") not in (None, s):
                    raise DocumentParsingError(
                        400,
                        cause(
                            "document_parsing_exception",
                            f"[1:2] failed to parse field [{fd.name}] of type [constant_keyword] in document with id "
                            f"'{doc_id}'. Preview of field's value: '{s}'",
                            caused_by=cause(
                                "illegal_argument_exception",
                                f"[constant_keyword] field [{fd.name}] only accepts values that are equal to "
                                f"the value defined in the mappings [{fd.extra.get('value')}], but got [{s}]",
                            ),
                        ),
                    )
                return s
            if t in TEXT_TYPES:
                return ("true" if v else "false") if isinstance(v, bool) else str(v)
            if t in LONG_TYPES:
                if isinstance(v, bool):
                    raise ValueError
                if isinstance(v, float):
                    return int(v)
                if isinstance(v, str):
                    return int(float(v)) if "." in v or "e" in v.lower() else int(v)
                return int(v)
            if t in DOUBLE_TYPES:
                if isinstance(v, bool):
                    raise ValueError
                return float(v)
            if t in DATE_TYPES:
                if isinstance(v, bool):
                    raise ValueError
                return parse_date(v, fd.format)
            if t == "boolean":
                if isinstance(v, bool):
                    return int(v)
                if v in ("true", "false"):
                    return int(v == "true")
                if v == "":
                    return 0
                raise ValueError
        except DocumentParsingError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            preview = v if not isinstance(v, str) else v[:20]
            caused = (
                cause("illegal_argument_exception", f"failed to parse date field [{v}] with format [{fd.format}]")
                if t in DATE_TYPES
                else cause("illegal_argument_exception", f'For input string: "{v}"')
                if t in LONG_TYPES | DOUBLE_TYPES
                else cause(
                    "illegal_argument_exception", f"Failed to parse value [{v}] as only [true] or [false] are allowed."
                )
                if t == "boolean"
                else None
            )
            raise DocumentParsingError(
                400,
                cause(
                    "document_parsing_exception",
                    f"[1:2] failed to parse field [{fd.name}] of type [{t}] in document with id '{doc_id}'. "
                    f"Preview of field's value: '{preview}'",
                    caused_by=caused,
                ),
            ) from exc
        return None

    def add(self, src_obj: dict[str, Any], src_bytes: bytes, doc_id: str | None) -> int:
        flat: dict[str, list] = {}
        _flatten(src_obj, "", flat)
        d = self.n
        self._cur_id = doc_id
        puts = []
        conv_cache = self._conv
        for path, vals in flat.items():
            convs = conv_cache.get(path)
            if convs is None:
                convs = self._converters(path, vals[0], doc_id)
            for col, fn in convs:
                if len(vals) == 1:
                    x = fn(vals[0])
                    if x is not None:
                        puts.append((col, [x]))
                else:
                    cv = [x for x in map(fn, vals) if x is not None]
                    if cv:
                        puts.append((col, cv))
        for col, cv in puts:
            col.put(d, cv)
        self.src += src_bytes
        self.off.append(len(self.src))
        if doc_id is not None:
            self.ids[doc_id] = d
            self.id_of[d] = doc_id
        self.n = d + 1
        return d

    def finalize(self) -> None:
        for col in self.cols.values():
            col.pad(self.n)


# ----------------------------------------------------------------------------------------------
# Query DSL
# ----------------------------------------------------------------------------------------------

ALL = object()  # "every live document of the shard view"

KNOWN_QUERIES = [
    "bool",
    "boosting",
    "combined_fields",
    "constant_score",
    "dis_max",
    "distance_feature",
    "exists",
    "function_score",
    "fuzzy",
    "geo_bounding_box",
    "geo_distance",
    "geo_shape",
    "has_child",
    "has_parent",
    "ids",
    "intervals",
    "knn",
    "match",
    "match_all",
    "match_bool_prefix",
    "match_none",
    "match_phrase",
    "match_phrase_prefix",
    "more_like_this",
    "multi_match",
    "nested",
    "parent_id",
    "percolate",
    "pinned",
    "prefix",
    "query_string",
    "range",
    "rank_feature",
    "regexp",
    "script",
    "script_score",
    "semantic",
    "shape",
    "simple_query_string",
    "span_containing",
    "span_field_masking",
    "span_first",
    "span_multi",
    "span_near",
    "span_not",
    "span_or",
    "span_term",
    "span_within",
    "sparse_vector",
    "term",
    "terms",
    "terms_set",
    "text_expansion",
    "weighted_tokens",
    "wildcard",
    "wrapper",
]


class QCtx:
    """Per-shard evaluation context: the shard, the visible doc count of the view, `now`."""

    def __init__(self, shard: Shard, maxd: int, deleted: frozenset | set, now: int):
        self.shard, self.maxd, self.deleted, self.now = shard, maxd, deleted, now
        self.sets: dict[int, Any] = {}
        self._universe: set[int] | None = None

    def universe(self) -> set[int]:
        if self._universe is None:
            self._universe = set(range(self.maxd)) - set(self.deleted)
        return self._universe

    def field(self, name: str) -> tuple[FieldDef | None, Any]:
        return self.shard.mapping.fields.get(name), self.shard.cols.get(name)


def _and(a: Any, b: Any) -> Any:
    if a is ALL:
        return b
    if b is ALL:
        return a
    return a & b if len(a) <= len(b) else b & a


def _shard_query_error(c: QCtx, reason: str, caused_by: dict | None = None) -> ShardFailure:
    return ShardFailure(
        400, cause("query_shard_exception", reason, index_uuid=c.shard.uuid, index=c.shard.name, caused_by=caused_by)
    )


class Q:
    uniform = True
    boost = 1.0

    def eval(self, c: QCtx) -> Any:
        raise NotImplementedError

    def run(self, c: QCtx) -> Any:
        r = self.eval(c)
        c.sets[id(self)] = r
        return r

    def matches(self, c: QCtx, d: int) -> bool:
        s = c.sets.get(id(self))
        return s is ALL or (s is not None and d in s)

    def score(self, c: QCtx, d: int) -> float:
        return self.boost

    def fields(self) -> Iterator[str]:
        return iter(())


class MatchAllQ(Q):
    def eval(self, c: QCtx) -> Any:
        return ALL


class BoolQ(Q):
    def __init__(self, must: list[Q], filter_: list[Q], should: list[Q], must_not: list[Q], msm: Any, boost: float):
        self.must, self.filter, self.should, self.must_not, self.msm, self.boost = (
            must,
            filter_,
            should,
            must_not,
            msm,
            boost,
        )
        self.uniform = all(q.uniform for q in must + should) and (
            not should or (len(should) == 1 and not must and not filter_)
        )

    def _required_should(self) -> int:
        n = len(self.should)
        if self.msm is None:
            return 0 if (self.must or self.filter) else (1 if n else 0)
        return msm_count(self.msm, n)

    def eval(self, c: QCtx) -> Any:
        r: Any = ALL
        for q in self.must + self.filter:
            r = _and(r, q.run(c))
            if r is not ALL and not r:
                for q2 in self.should + self.must_not:
                    c.sets[id(q2)] = set()
                return r
        need = self._required_should()
        if self.should:
            sets = [q.run(c) for q in self.should]
            if need > 0:
                if need == 1:
                    u: Any = set()
                    for s in sets:
                        if s is ALL:
                            u = ALL
                            break
                        u |= s
                else:
                    if need > len(sets):
                        u = set()
                    else:
                        cnt: Counter = Counter()
                        alls = sum(1 for s in sets if s is ALL)
                        for s in sets:
                            if s is not ALL:
                                cnt.update(s if r is ALL else (s & r))
                        if alls >= need:
                            u = ALL
                        else:
                            u = {d for d, k in cnt.items() if k + alls >= need}
                r = _and(r, u)
        if self.must_not:
            excl: set[int] = set()
            for q in self.must_not:
                s = q.run(c)
                if s is ALL:
                    return set()
                excl |= s
            if excl:
                r = (c.universe() - excl) if r is ALL else (r - excl)
        return r

    def score(self, c: QCtx, d: int) -> float:
        total = sum(q.score(c, d) for q in self.must)
        total += sum(q.score(c, d) for q in self.should if q.matches(c, d))
        return total * self.boost

    def fields(self) -> Iterator[str]:
        for q in self.must + self.filter + self.should + self.must_not:
            yield from q.fields()


def msm_count(msm: Any, n: int) -> int:
    s = str(msm).strip()
    try:
        if s.endswith("%"):
            p = int(s[:-1])
            k = int(n * abs(p) / 100)
            return max(0, k if p >= 0 else n - k)
        k = int(s)
    except ValueError as exc:
        raise es_error(400, "illegal_argument_exception", f"unable to parse minimum_should_match [{msm}]") from exc
    return max(0, k if k >= 0 else n + k)


class FieldQ(Q):
    name = "term"

    def __init__(self, field: str, boost: float = 1.0):
        self.field, self.boost = field, boost

    def fields(self) -> Iterator[str]:
        yield self.field


def _value_to_type(c: QCtx, fd: FieldDef, col: Any, v: Any, fmt: str | None = None, round_up: bool = False) -> Any:
    """Convert a query value to the column's domain, raising ShardFailure as ES would."""
    t = col.kind
    try:
        if isinstance(col, KeywordCol):
            if isinstance(v, bool):
                return "true" if v else "false"
            return str(v)
        if isinstance(col, TextCol):
            return str(v)
        if t == "date":
            return parse_date_math(v, fmt or fd.format, c.now, round_up)
        if t == "boolean":
            if v in (True, "true"):
                return 1
            if v in (False, "false", ""):
                return 0
            raise ShardFailure(
                400,
                cause(
                    "query_shard_exception",
                    f"failed to create query: Can't parse boolean value [{v}], expected [true] or [false]",
                    index_uuid=c.shard.uuid,
                    index=c.shard.name,
                ),
            )
        if t == "long":
            if isinstance(v, bool):
                raise ValueError
            return float(v) if isinstance(v, str) else v
        return float(v)
    except ShardFailure:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        if t == "date":
            fm = fmt or fd.format
            raise ShardFailure(
                400,
                cause(
                    "parse_exception",
                    f"failed to parse date field [{v}] with format [{fm}]: [failed to parse date field "
                    f"[{v}] with format [{fm}]]",
                    caused_by=cause(
                        "illegal_argument_exception", f"failed to parse date field [{v}] with format [{fm}]"
                    ),
                ),
            ) from exc
        raise _shard_query_error(
            c,
            f'failed to create query: For input string: "{v}"',
            cause("number_format_exception", f'For input string: "{v}"'),
        ) from exc


class TermQ(FieldQ):
    def __init__(
        self, field: str, values: list[Any], boost: float = 1.0, case_insensitive: bool = False, name: str = "term"
    ):
        super().__init__(field, boost)
        self.values, self.ci, self.name = values, case_insensitive, name

    def eval(self, c: QCtx) -> Any:
        fd, col = c.field(self.field)
        if col is None:
            if self.field == "_id":
                return IdsQ(self.values).eval(c)
            if self.field == "_index":
                return (
                    ALL
                    if any(glob_match(str(v), c.shard.name) or str(v) == c.shard.data_stream for v in self.values)
                    else set()
                )
            return set()
        out: set[int] = set()
        if isinstance(col, KeywordCol):
            if self.ci:
                wanted = {str(v).lower() for v in self.values}
                codes = [i for i, t in enumerate(col.terms) if t.lower() in wanted]
            else:
                codes = [col.tid[s] for s in (_value_to_type(c, fd, col, v) for v in self.values) if s in col.tid]
            return col.docs_for_codes(codes)
        if isinstance(col, TextCol):
            post = col.postings()
            for v in self.values:
                a = post.get(str(v).lower() if self.ci else str(v))
                if a is not None:
                    out.update(a)
            return out
        for v in self.values:
            x = _value_to_type(c, fd, col, v)
            if isinstance(col, LongCol):
                if col.kind == "long" and isinstance(x, float):
                    if not x.is_integer():
                        continue
                    x = int(x)
                out |= col.range_docs(x, x)
            else:
                out |= col.range_docs(x, x)
        return out


class RangeQ(FieldQ):
    def __init__(self, field: str, gte: Any, gt: Any, lte: Any, lt: Any, fmt: str | None, tz: str | None, boost: float):
        super().__init__(field, boost)
        self.gte, self.gt, self.lte, self.lt, self.fmt, self.tz = gte, gt, lte, lt, fmt, tz

    def _tz_shift(self, v: Any, ms: int) -> int:
        if not self.tz or not isinstance(v, str) or v.startswith("now") or _EPOCH_RE.match(v):
            return ms
        base = v.split("||", 1)[0]
        if re.search(r"(Z|z|[+-]\d{2}:?\d{2})$", base) and "T" in base:
            return ms
        return ms - tz_offset_ms(self.tz, ms)

    def eval(self, c: QCtx) -> Any:
        fd, col = c.field(self.field)
        if col is None:
            return set()
        if isinstance(col, LongCol) and col.kind == "date":
            lo = hi = None
            if self.gte is not None:
                lo = self._tz_shift(self.gte, _value_to_type(c, fd, col, self.gte, self.fmt, False))
            if self.gt is not None:
                v = self._tz_shift(self.gt, _value_to_type(c, fd, col, self.gt, self.fmt, True)) + 1
                lo = v if lo is None else max(lo, v)
            if self.lte is not None:
                hi = self._tz_shift(self.lte, _value_to_type(c, fd, col, self.lte, self.fmt, True))
            if self.lt is not None:
                v = self._tz_shift(self.lt, _value_to_type(c, fd, col, self.lt, self.fmt, False)) - 1
                hi = v if hi is None else min(hi, v)
            if lo is not None and hi is not None and lo > hi:
                return set()
            return col.range_docs(lo, hi)
        if isinstance(col, LongCol):
            lo = hi = None
            if self.gte is not None:
                lo = math.ceil(_value_to_type(c, fd, col, self.gte))
            if self.gt is not None:
                v = math.floor(_value_to_type(c, fd, col, self.gt)) + 1
                lo = v if lo is None else max(lo, v)
            if self.lte is not None:
                hi = math.floor(_value_to_type(c, fd, col, self.lte))
            if self.lt is not None:
                v = math.ceil(_value_to_type(c, fd, col, self.lt)) - 1
                hi = v if hi is None else min(hi, v)
            if lo is not None and hi is not None and lo > hi:
                return set()
            return col.range_docs(lo, hi)
        if isinstance(col, DoubleCol):
            lo = self.gte if self.gte is not None else self.gt
            hi = self.lte if self.lte is not None else self.lt
            return col.range_docs(
                None if lo is None else _value_to_type(c, fd, col, lo),
                None if hi is None else _value_to_type(c, fd, col, hi),
                self.gt is None,
                self.lt is None,
            )
        # keyword / text: lexicographic on terms
        lo_v = self.gte if self.gte is not None else self.gt
        hi_v = self.lte if self.lte is not None else self.lt

        def ok(t: str) -> bool:
            if lo_v is not None and (t < str(lo_v) or (self.gt is not None and t == str(lo_v))):
                return False
            return not (hi_v is not None and (t > str(hi_v) or (self.lt is not None and t == str(hi_v))))

        if isinstance(col, KeywordCol):
            return col.docs_for_codes(i for i, t in enumerate(col.terms) if ok(t))
        out: set[int] = set()
        for tok, a in col.postings().items():
            if ok(tok):
                out.update(a)
        return out


def tz_offset_ms(tz: str, at_ms: int) -> int:
    if re.fullmatch(r"[+-]\d{2}(:?\d{2})?", tz):
        return _zone_minutes(tz) * 60_000
    if tz.upper() in ("UTC", "Z", "GMT"):
        return 0
    try:
        from zoneinfo import ZoneInfo

        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)
        off = dt.astimezone(ZoneInfo(tz)).utcoffset()
        return int(off / timedelta(milliseconds=1)) if off else 0
    except Exception as exc:
        raise es_error(400, "illegal_argument_exception", f"Unknown time-zone ID: {tz}") from exc


class IdsQ(Q):
    def __init__(self, values: list[Any], boost: float = 1.0):
        self.values, self.boost = [str(v) for v in values], boost

    def eval(self, c: QCtx) -> Any:
        out = set()
        for v in self.values:
            d = c.shard.local_for_id(v)
            if d is not None:
                out.add(d)
        return out


def _one_field(qname: str, body: Any, raw: str) -> tuple[str, Any]:
    if not isinstance(body, dict) or not body:
        line, col = json_location(raw, qname)
        raise parsing_error(f"[{qname}] query malformed, no start_object after query name", line, col)
    keys = [k for k in body if k not in ("boost", "_name")]
    if len(keys) > 1:
        line, col = json_location(raw, keys[1])
        if qname == "terms":
            raise parsing_error(
                f"[{qname}] query does not support multiple fields, found [{keys[0]}] and [{keys[1]}]", line, col
            )
        raise parsing_error(
            f"[{qname}] query doesn't support multiple fields, found [{keys[0]}] and [{keys[1]}]", line, col
        )
    if not keys:
        raise parsing_error(f"[{qname}] query malformed, no field specified")
    return keys[0], body[keys[0]]


def _check_params(qname: str, params: dict[str, Any], allowed: set[str], raw: str) -> None:
    for k in params:
        if k not in allowed:
            line, col = json_location(raw, k)
            raise parsing_error(f"[{qname}] query does not support [{k}]", line, col)


def parse_query(q: Any, raw: str = "") -> Q:
    if not isinstance(q, dict):
        raise parsing_error("[_na] query malformed, must start with start_object")
    if not q:
        return MatchAllQ()
    if len(q) > 1:
        names = list(q)
        line, col = json_location(raw, names[1])
        raise parsing_error(f"[{names[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", line, col)
    name, body = next(iter(q.items()))
    if name not in KNOWN_QUERIES:
        line, col = json_location(raw, name)
        raise parsing_error(
            f"unknown query [{name}]{suggest(name, KNOWN_QUERIES)}",
            line,
            col,
            cause("named_object_not_found_exception", f"[{line}:{col}] unknown field [{name}]"),
        )
    if name in ("match_all", "match_none"):
        if not isinstance(body, dict):
            raise parsing_error(f"[{name}] query malformed, no start_object after query name")
        _check_params(name, body, {"boost", "_name"}, raw)
        if name == "match_none":
            raise unsupported("the [match_none] query")
        out: Q = MatchAllQ()
        out.boost = float(body.get("boost", 1.0))
        return out
    if name == "bool":
        if not isinstance(body, dict):
            raise parsing_error("[bool] query malformed, no start_object after query name")
        _check_params(
            "bool",
            body,
            {"must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name", "adjust_pure_negative"},
            raw,
        )

        def clauses(k: str) -> list[Q]:
            v = body.get(k)
            if v is None:
                return []
            return [parse_query(x, raw) for x in (v if isinstance(v, list) else [v])]

        return BoolQ(
            clauses("must"),
            clauses("filter"),
            clauses("should"),
            clauses("must_not"),
            body.get("minimum_should_match"),
            float(body.get("boost", 1.0)),
        )
    if name == "terms":
        field, values = _one_field(name, body, raw)
        if isinstance(values, dict):
            raise unsupported("the terms lookup mechanism")
        if not isinstance(values, list):
            raise parsing_error(f"[terms] query does not support [{field}]")
        return TermQ(field, values, float(body.get("boost", 1.0)), name="terms")
    if name in ("term", "range"):
        field, spec = _one_field(name, body, raw)
        if name == "range":
            if not isinstance(spec, dict):
                raise parsing_error("[range] query malformed, no start_object after query name")
            _check_params(
                name,
                spec,
                {
                    "gte",
                    "gt",
                    "lte",
                    "lt",
                    "from",
                    "to",
                    "include_lower",
                    "include_upper",
                    "format",
                    "time_zone",
                    "boost",
                    "relation",
                    "_name",
                },
                raw,
            )
            gte, gt, lte, lt = spec.get("gte"), spec.get("gt"), spec.get("lte"), spec.get("lt")
            if "from" in spec and spec["from"] is not None:
                if spec.get("include_lower", True):
                    gte = spec["from"]
                else:
                    gt = spec["from"]
            if "to" in spec and spec["to"] is not None:
                if spec.get("include_upper", True):
                    lte = spec["to"]
                else:
                    lt = spec["to"]
            return RangeQ(
                field, gte, gt, lte, lt, spec.get("format"), spec.get("time_zone"), float(spec.get("boost", 1.0))
            )
        value, opts = (spec.get("value"), spec) if isinstance(spec, dict) else (spec, {})
        if isinstance(opts, dict) and opts:
            _check_params(name, opts, {"value", "boost", "case_insensitive", "_name"}, raw)
        if isinstance(value, dict | list):
            raise parsing_error(
                "[term] query does not support array of values"
                if isinstance(value, list)
                else "[term] query malformed, no start_object after query name"
            )
        return TermQ(field, [value], float(opts.get("boost", 1.0)), bool(opts.get("case_insensitive", False)))
    raise unsupported(f"the [{name}] query")


# ----------------------------------------------------------------------------------------------
# Sorting, search_after, _source filtering
# ----------------------------------------------------------------------------------------------


class SortSpec:
    __slots__ = ("desc", "field", "fmt", "missing", "mode", "unmapped_type")

    def __init__(
        self,
        field: str,
        desc: bool,
        fmt: str | None = None,
        missing: Any = "_last",
        unmapped_type: str | None = None,
        mode: str | None = None,
    ):
        self.field, self.desc, self.fmt, self.missing, self.unmapped_type, self.mode = (
            field,
            desc,
            fmt,
            missing,
            unmapped_type,
            mode,
        )

    def key(self) -> str:
        return f"{self.field}:{int(self.desc)}:{self.fmt}:{self.missing}:{self.unmapped_type}:{self.mode}"


_SORT_OPTS = {"order", "format", "missing", "unmapped_type", "mode", "numeric_type", "nested"}


def parse_sort(sort: Any, raw: str = "") -> list[SortSpec]:
    if sort is None:
        return []
    items = sort if isinstance(sort, list) else [sort]
    out = []
    for it in items:
        if isinstance(it, str):
            if ":" in it and not it.startswith("_"):
                f, o = it.rsplit(":", 1)
                out.append(SortSpec(f, o == "desc"))
            else:
                out.append(SortSpec(it, it == "_score"))
            continue
        if not isinstance(it, dict) or len(it) != 1:
            raise parsing_error(
                "malformed sort format, within the sort array, an object, or an actual string are allowed"
            )
        f, spec = next(iter(it.items()))
        if f in ("_geo_distance", "_script"):
            raise unsupported(f"{f} sorting")
        if isinstance(spec, str):
            if spec not in ("asc", "desc"):
                raise x_content_error(
                    "[{}:{}] [field_sort] failed to parse field [order]".format(*json_location(raw, f)),
                    cause("illegal_argument_exception", f"Unknown SortOrder [{spec}]"),
                )
            out.append(SortSpec(f, spec == "desc"))
            continue
        if not isinstance(spec, dict):
            raise parsing_error(f"[{f}] sort malformed")
        for k in spec:
            if k not in _SORT_OPTS:
                line, col = json_location(raw, k)
                raise x_content_error(f"[{line}:{col}] [field_sort] unknown field [{k}]{suggest(k, _SORT_OPTS)}")
        order = spec.get("order", "desc" if f == "_score" else "asc")
        if order not in ("asc", "desc"):
            raise x_content_error(
                "[1:1] [field_sort] failed to parse field [order]",
                cause("illegal_argument_exception", f"Unknown SortOrder [{order}]"),
            )
        out.append(
            SortSpec(
                f,
                order == "desc",
                spec.get("format"),
                spec.get("missing", "_last"),
                spec.get("unmapped_type"),
                spec.get("mode"),
            )
        )
    return out


class Seg(NamedTuple):
    """The matched docs of one shard of the request (pos = shard request index, for _shard_doc)."""

    pos: int
    shard: Shard
    ctx: QCtx
    docs: Any  # sorted sequence of local doc ids


def check_sort_field(spec: SortSpec, shard: Shard, id_fielddata: bool = False) -> None:
    """`id_fielddata`: sorting on `_id` is allowed (OpenSearch 2.x/3.x; Elasticsearch 8+ refuses it by default)."""
    if spec.field in ("_score", "_doc", "_shard_doc"):
        return
    if spec.field == "_id":
        if id_fielddata:
            return
        raise ShardFailure(
            400,
            cause(
                "illegal_argument_exception",
                "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic "
                "cluster setting: indices.id_field_data.enabled",
            ),
        )
    fd = shard.mapping.fields.get(spec.field)
    if fd is None:
        if spec.unmapped_type:
            return
        raise ShardFailure(
            400,
            cause(
                "query_shard_exception",
                f"No mapping found for [{spec.field}] in order to sort on",
                index_uuid=shard.uuid,
                index=shard.name,
            ),
        )
    if fd.type in TEXT_TYPES and not fd.extra.get("fielddata"):
        raise text_fielddata_failure(spec.field, fd.type)
    if fd.type not in INDEXED_TYPES:
        raise ShardFailure(
            400,
            cause("illegal_argument_exception", f"Field [{spec.field}] of type [{fd.type}] does not support sorting"),
        )


class Sorter:
    """Key functions over global doc handles g = (pos << 32) | local, one per sort spec."""

    def __init__(self, specs: list[SortSpec], shards: list[Shard], scores: Callable[[int], float]):
        self.specs = specs
        self.shards = shards
        self.scores = scores
        self.kinds: list[str] = []
        self.funcs: list[Callable[[int], Any]] = []
        for s in specs:
            kind, f = self._make(s)
            self.kinds.append(kind)
            self.funcs.append(f)

    def _col_kind(self, field: str) -> tuple[str, list[Any]]:
        cols = [sh.cols.get(field) for sh in self.shards]
        kind = "none"
        for c in cols:
            if c is not None:
                kind = (
                    "kw"
                    if isinstance(c, KeywordCol)
                    else "dbl"
                    if isinstance(c, DoubleCol)
                    else "text"
                    if isinstance(c, TextCol)
                    else c.kind
                )
                break
        return kind, cols

    def _make(self, s: SortSpec) -> tuple[str, Callable[[int], Any]]:
        if s.field == "_score":
            return "score", self.scores
        if s.field == "_shard_doc":
            return "shard_doc", lambda g: g
        if s.field == "_doc":
            return "doc", lambda g: ((g & MASK32) << 16) | (g >> 32)
        if s.field == "_id":
            shards = self.shards
            return "id", lambda g: shards[g >> 32].doc_id(g & MASK32)
        kind, cols = self._col_kind(s.field)
        last = s.missing in ("_last", None)
        custom_missing = s.missing not in ("_last", "_first", None)
        if kind in ("long", "date", "boolean"):
            miss = LONG_MAX if (last != s.desc) else MISSING
            if custom_missing:
                try:
                    miss = parse_date(s.missing) if kind == "date" else int(float(s.missing))
                except ValueError:
                    pass
            arrs = [c.v if c is not None else None for c in cols]
            pick = max if s.desc else min

            def f(g: int, arrs=arrs, cols=cols, miss=miss, pick=pick) -> Any:
                a = arrs[g >> 32]
                if a is None:
                    return miss
                d = g & MASK32
                x = a[d]
                if x == MISSING:
                    return miss
                if x == MULTI:
                    return pick(cols[g >> 32].multi[d])
                return x

            return kind, f
        if kind == "dbl":
            miss_f = math.inf if (last != s.desc) else -math.inf
            if custom_missing:
                try:
                    miss_f = float(s.missing)
                except ValueError:
                    pass
            pick = max if s.desc else min

            def fd_(g: int, cols=cols, miss=miss_f, pick=pick) -> Any:
                c = cols[g >> 32]
                if c is None:
                    return miss
                vals = c.get(g & MASK32)
                return pick(vals) if vals else miss

            return kind, fd_
        if kind == "kw":
            # tuples so that missing sorts last/first whatever the direction
            present_flag, miss_key = (0, (1, "")) if (last != s.desc) else (1, (0, ""))
            if custom_missing:
                miss_key = (present_flag, str(s.missing))
            pick = max if s.desc else min

            def fk(g: int, cols=cols, pf=present_flag, mk=miss_key, pick=pick) -> Any:
                c = cols[g >> 32]
                if c is None:
                    return mk
                d = g & MASK32
                code = c.codes[d]
                if code >= 0:
                    return (pf, c.terms[code])
                if code == -1:
                    return mk
                return (pf, pick(c.terms[x] for x in c.multi[d]))

            return kind, fk
        # unmapped everywhere (unmapped_type) or text with fielddata: constant
        return "none", lambda g: 0

    def sort(self, gdocs: list[int]) -> list[int]:
        for s, f in zip(reversed(self.specs), reversed(self.funcs), strict=True):
            if s.field == "_shard_doc" and not s.desc:
                continue  # base order is already ascending _shard_doc, and sorts are stable
            gdocs.sort(key=f, reverse=s.desc)
        return gdocs

    def keys(self, g: int) -> list[Any]:
        return [f(g) for f in self.funcs]

    def normalize_after(self, after: list[Any]) -> list[Any]:
        out = []
        for s, kind, v in zip(self.specs, self.kinds, after, strict=True):
            try:
                if kind == "score":
                    out.append(float(v) if v is not None else -math.inf)
                elif kind in ("shard_doc",):
                    out.append(int(v))
                elif kind == "doc":
                    out.append((int(v) << 16) | 0xFFFF)
                elif kind == "id":
                    out.append(str(v))
                elif kind in ("long", "date", "boolean"):
                    if v is None:
                        out.append(LONG_MAX if (s.missing in ("_last", None)) != s.desc else MISSING)
                    elif kind == "date" and isinstance(v, str) and not _EPOCH_RE.match(v):
                        out.append(parse_date(v, s.fmt))
                    elif kind == "boolean" and isinstance(v, bool | str) and str(v).lower() in ("true", "false"):
                        out.append(int(str(v).lower() == "true"))
                    else:
                        out.append(int(float(v)) if isinstance(v, str) else int(v))
                elif kind == "dbl":
                    out.append(
                        float(v)
                        if v is not None
                        else (math.inf if (s.missing in ("_last", None)) != s.desc else -math.inf)
                    )
                elif kind == "kw":
                    pf = 0 if (s.missing in ("_last", None)) != s.desc else 1
                    out.append((pf, str(v)) if v is not None else ((1, "") if pf == 0 else (0, "")))
                else:
                    out.append(0)
            except (ValueError, TypeError) as exc:
                raise ShardFailure(
                    400,
                    cause("illegal_argument_exception", f"Failed to parse search_after value for field [{s.field}]."),
                ) from exc
        return out

    def after_index(self, gdocs: list[int], after_keys: list[Any]) -> int:
        lo, hi = 0, len(gdocs)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._cmp(self.keys(gdocs[mid]), after_keys) <= 0:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _cmp(self, a: list[Any], b: list[Any]) -> int:
        for s, x, y in zip(self.specs, a, b, strict=True):
            if x == y:
                continue
            r = -1 if x < y else 1
            return -r if s.desc else r
        return 0

    def output(self, g: int) -> list[Any]:
        out = []
        for s, kind, f in zip(self.specs, self.kinds, self.funcs, strict=True):
            k = f(g)
            if kind == "kw":
                out.append(k[1] if k[0] == (0 if (s.missing in ("_last", None)) != s.desc else 1) else None)
            elif kind == "date" and s.fmt and k not in (LONG_MAX, MISSING):
                out.append(format_date(k, s.fmt))
            elif kind == "dbl":
                out.append(k if math.isfinite(k) else ("Infinity" if k > 0 else "-Infinity"))
            elif kind == "doc":
                out.append(g & MASK32)
            else:
                out.append(k)
        return out


class SourceFilter:
    __slots__ = ("enabled", "excludes", "includes")

    def __init__(self, enabled: bool = True, includes: list[str] | None = None, excludes: list[str] | None = None):
        self.enabled, self.includes, self.excludes = enabled, includes or [], excludes or []

    @classmethod
    def parse(cls, v: Any) -> SourceFilter:
        if v is None or v is True:
            return cls()
        if v is False:
            return cls(False)
        if isinstance(v, str):
            if v in ("true", "false"):
                return cls(v == "true")
            return cls(True, [v])
        if isinstance(v, list):
            return cls(True, [str(x) for x in v])
        if isinstance(v, dict):
            inc = v.get("includes", v.get("include", []))
            exc = v.get("excludes", v.get("exclude", []))
            return cls(True, [inc] if isinstance(inc, str) else list(inc), [exc] if isinstance(exc, str) else list(exc))
        raise parsing_error("[_source] must be a boolean, string, array or object")

    def _match(self, patterns: list[str], path: str) -> bool:
        for p in patterns:
            if glob_match(p, path):
                return True
            i = path.find(".")
            while i > 0:  # an included/excluded object covers everything below it
                if glob_match(p, path[:i]):
                    return True
                i = path.find(".", i + 1)
        return False

    def _could_include_below(self, prefix: str) -> bool:
        for p in self.includes:
            star = p.find("*")
            head = p if star < 0 else p[:star]
            if head.startswith(prefix) or (star >= 0 and prefix.startswith(head)):
                return True
        return False

    def apply(self, obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        if not self.includes and not self.excludes:
            return obj
        out: dict[str, Any] = {}
        for k, v in obj.items():
            path = prefix + k
            if self.excludes and self._match(self.excludes, path):
                continue
            included = not self.includes or self._match(self.includes, path)
            if isinstance(v, dict):
                if included or self._could_include_below(path + "."):
                    sub = self.apply(v, path + ".") if not included or self.excludes else v
                    if sub or included:
                        out[k] = sub
            elif isinstance(v, list) and any(isinstance(e, dict) for e in v):
                if included or self._could_include_below(path + "."):
                    lst = [self.apply(e, path + ".") if isinstance(e, dict) else e for e in v]
                    lst = [e for e in lst if e != {} or included]
                    if lst or included:
                        out[k] = lst
            elif included:
                out[k] = v
        return out


class RawSource:
    """A stored _source spliced into the response bytes as-is (ES returns the source exactly as sent)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def as_obj(self) -> Any:
        return json.loads(self.data)


def render_hit(
    shard: Shard, d: int, score: Any, sort_vals: list | None, srcf: SourceFilter, raw_ok: bool = False
) -> dict[str, Any]:
    h: dict[str, Any] = {"_index": shard.name, "_id": shard.doc_id(d), "_score": score}
    if srcf.enabled:
        if raw_ok and not srcf.includes and not srcf.excludes:
            h["_source"] = RawSource(shard.source_bytes(d))
        else:
            h["_source"] = srcf.apply(shard.source(d))
    if sort_vals is not None:
        h["sort"] = sort_vals
    return h


# ----------------------------------------------------------------------------------------------
# Aggregations
# ----------------------------------------------------------------------------------------------

KNOWN_AGGS = [
    "adjacency_matrix",
    "auto_date_histogram",
    "avg",
    "avg_bucket",
    "boxplot",
    "bucket_script",
    "bucket_selector",
    "bucket_sort",
    "cardinality",
    "categorize_text",
    "children",
    "composite",
    "cumulative_cardinality",
    "cumulative_sum",
    "date_histogram",
    "date_range",
    "derivative",
    "diversified_sampler",
    "extended_stats",
    "extended_stats_bucket",
    "filter",
    "filters",
    "frequent_item_sets",
    "geo_bounds",
    "geo_centroid",
    "geo_distance",
    "geohash_grid",
    "geohex_grid",
    "geotile_grid",
    "global",
    "histogram",
    "inference",
    "ip_prefix",
    "ip_range",
    "matrix_stats",
    "max",
    "max_bucket",
    "median_absolute_deviation",
    "min",
    "min_bucket",
    "missing",
    "moving_fn",
    "moving_percentiles",
    "multi_terms",
    "nested",
    "normalize",
    "parent",
    "percentile_ranks",
    "percentiles",
    "percentiles_bucket",
    "random_sampler",
    "range",
    "rare_terms",
    "rate",
    "reverse_nested",
    "sampler",
    "scripted_metric",
    "serial_diff",
    "significant_terms",
    "significant_text",
    "stats",
    "stats_bucket",
    "string_stats",
    "sum",
    "sum_bucket",
    "t_test",
    "terms",
    "time_series",
    "top_hits",
    "top_metrics",
    "value_count",
    "variable_width_histogram",
    "weighted_avg",
]
AGG_PARAMS: dict[str, set[str]] = {
    "terms": {
        "field",
        "size",
        "shard_size",
        "min_doc_count",
        "shard_min_doc_count",
        "missing",
        "order",
        "show_term_doc_count_error",
        "execution_hint",
        "collect_mode",
        "format",
        "value_type",
        "include",
        "exclude",
    },
    "date_histogram": {
        "field",
        "fixed_interval",
        "calendar_interval",
        "format",
        "min_doc_count",
        "extended_bounds",
        "hard_bounds",
        "offset",
        "time_zone",
        "order",
        "keyed",
        "missing",
    },
    "composite": {"size", "sources", "after"},
    "filter": None,  # the body is a query
    "filters": {"filters", "other_bucket", "other_bucket_key", "keyed"},
    "min": {"field", "missing", "format"},
    "max": {"field", "missing", "format"},
    "avg": {"field", "missing", "format"},
    "sum": {"field", "missing", "format"},
    "stats": {"field", "missing", "format"},
    "value_count": {"field", "format"},
    "cardinality": {"field", "precision_threshold", "missing", "execution_hint"},
    "top_hits": {
        "size",
        "from",
        "sort",
        "_source",
        "track_scores",
        "version",
        "seq_no_primary_term",
        "explain",
        "fields",
        "docvalue_fields",
        "stored_fields",
        "highlight",
    },
}
BUCKET_AGGS = {"terms", "date_histogram", "composite", "filter", "filters"}
METRIC_AGGS = {"min", "max", "avg", "sum", "stats", "value_count", "cardinality", "top_hits"}
CALENDAR_UNITS = {
    "1m": "m",
    "minute": "m",
    "1h": "h",
    "hour": "h",
    "1d": "d",
    "day": "d",
    "1w": "w",
    "week": "w",
    "1M": "M",
    "month": "M",
    "1q": "q",
    "quarter": "q",
    "1y": "y",
    "year": "y",
}


class AggNode:
    __slots__ = ("name", "params", "queries", "query", "sort", "sources", "srcf", "subs", "type")

    def __init__(self, name: str, type_: str, params: Any, subs: list[AggNode]):
        self.name, self.type, self.params, self.subs = name, type_, params, subs
        self.query: Q | None = None
        self.queries: list[tuple[str | None, Q]] = []
        self.sort: list[SortSpec] = []
        self.sources: list[tuple[str, str, dict]] = []
        self.srcf = SourceFilter()

    def fields(self) -> Iterator[str]:
        p = self.params if isinstance(self.params, dict) else {}
        if "field" in p:
            yield p["field"]
        for _n, _t, sp in self.sources:
            if "field" in sp:
                yield sp["field"]


def parse_aggs(spec: Any, raw: str, parent: str | None = None) -> list[AggNode]:
    if not isinstance(spec, dict):
        raise parsing_error(f"Unexpected token {type(spec).__name__} in [aggs].")
    nodes = []
    for name, body in spec.items():
        if not isinstance(body, dict):
            line, col = json_location(raw, name)
            raise parsing_error(
                f"Expected [START_OBJECT] under [{name}], but got a [VALUE_STRING] in [{name}]", line, col
            )
        type_ = None
        subs_spec = None
        for k, v in body.items():
            if k in ("aggs", "aggregations"):
                if subs_spec is not None:
                    raise parsing_error(f"Found two sub aggregation definitions under [{name}]")
                subs_spec = v
            elif k == "meta":
                continue
            else:
                if type_ is not None:
                    line, col = json_location(raw, k)
                    raise parsing_error(
                        f"Found two aggregation type definitions in [{name}]: [{type_}] and [{k}]", line, col
                    )
                type_ = k
        if type_ is None:
            line, col = json_location(raw, name)
            raise parsing_error(f"Missing definition for aggregation [{name}]", line, col)
        if type_ not in KNOWN_AGGS:
            line, col = json_location(raw, type_)
            raise parsing_error(
                f"Unknown aggregation type [{type_}]{suggest(type_, KNOWN_AGGS)}",
                line,
                col,
                cause("named_object_not_found_exception", f"[{line}:{col}] unknown field [{type_}]"),
            )
        if type_ not in AGG_PARAMS:
            raise unsupported(f"the [{type_}] aggregation")
        params = body[type_]
        if type_ == "composite" and parent is not None:
            raise es_error(
                400,
                "illegal_argument_exception",
                f"[composite] aggregation cannot be used with a parent aggregation of type: [{parent}]",
            )
        allowed = AGG_PARAMS[type_]
        if allowed is not None:
            if not isinstance(params, dict):
                raise parsing_error(f"Expected [START_OBJECT] under [{type_}], but got a [VALUE_STRING] in [{name}]")
            for k in params:
                if k not in allowed:
                    line, col = json_location(raw, k)
                    raise x_content_error(f"[{line}:{col}] [{type_}] unknown field [{k}]{suggest(k, allowed)}")
        subs = parse_aggs(subs_spec, raw, type_) if subs_spec else []
        if subs and type_ in METRIC_AGGS:
            raise es_error(
                400,
                "aggregation_initialization_exception",
                f"Aggregator [{name}] of type [{type_}] cannot accept sub-aggregations",
            )
        node = AggNode(name, type_, params, subs)
        _validate_agg(node, raw)
        nodes.append(node)
    return nodes


def _validate_agg(node: AggNode, raw: str) -> None:
    p = node.params
    t = node.type
    if (
        t in ("terms", "date_histogram", "min", "max", "avg", "sum", "stats", "value_count", "cardinality")
        and "field" not in p
    ):
        if t == "terms":
            raise es_error(
                400, "illegal_argument_exception", "Required one of fields [field, script], but none were specified. "
            )
        raise es_error(
            400, "illegal_argument_exception", "Required one of fields [field, script], but none were specified. "
        )
    if t == "date_histogram":
        _date_rounding(p, node.name)
    elif t == "filter":
        node.query = parse_query(p, raw)
    elif t == "filters":
        f = p.get("filters")
        if isinstance(f, dict):
            node.queries = [(k, parse_query(v, raw)) for k, v in f.items()]
        elif isinstance(f, list):
            node.queries = [(None, parse_query(v, raw)) for v in f]
        else:
            raise parsing_error("[filters] aggregation requires a [filters] object or array")
    elif t == "composite":
        srcs = p.get("sources")
        if not isinstance(srcs, list) or not srcs:
            raise es_error(400, "illegal_argument_exception", "Composite [sources] cannot be null or empty")
        for s in srcs:
            if not isinstance(s, dict) or len(s) != 1:
                raise parsing_error("[composite] sources must be objects with a single name")
            sname, sdef = next(iter(s.items()))
            if not isinstance(sdef, dict) or len(sdef) != 1:
                raise parsing_error(f"[composite] source [{sname}] must define exactly one value source")
            stype, sp = next(iter(sdef.items()))
            if stype not in ("terms", "date_histogram", "histogram"):
                if stype in ("geotile_grid",):
                    raise unsupported(f"composite [{stype}] sources")
                raise parsing_error(f"Unknown value source [{stype}] in [composite] source [{sname}]")
            if stype == "date_histogram":
                _date_rounding(sp, sname)
            if stype == "histogram" and "interval" not in sp:
                raise es_error(400, "illegal_argument_exception", "[interval] must be specified for histogram")
            node.sources.append((sname, stype, sp))
        size = p.get("size", 10)
        if not isinstance(size, int) or size < 1:
            raise es_error(
                400, "illegal_argument_exception", f"[size] must be greater than 0. Found [{size}] in [{node.name}]"
            )
    elif t == "top_hits":
        node.sort = parse_sort(p.get("sort"), raw)
        node.srcf = SourceFilter.parse(p.get("_source"))
    elif t == "terms":
        size = p.get("size", 10)
        if not isinstance(size, int) or size < 1:
            raise es_error(
                400, "illegal_argument_exception", f"[size] must be greater than 0. Found [{size}] in [{node.name}]"
            )
        if "include" in p or "exclude" in p:
            raise unsupported("terms include/exclude")


def _date_rounding(p: dict[str, Any], name: str) -> tuple[str, Any]:
    """-> ("fixed", step_ms) | ("calendar", unit). Raises the ES errors for bad intervals."""
    if "interval" in p:
        raise x_content_error("[1:1] [date_histogram] unknown field [interval]")
    fixed, cal = p.get("fixed_interval"), p.get("calendar_interval")
    if fixed is not None and cal is not None:
        raise es_error(
            400,
            "illegal_argument_exception",
            "Cannot use [fixed_interval] with [calendar_interval] configuration option.",
        )
    if fixed is None and cal is None:
        raise es_error(400, "illegal_argument_exception", "Invalid interval specified, must be non-null and non-empty")
    if cal is not None:
        unit = CALENDAR_UNITS.get(str(cal))
        if unit is None:
            raise x_content_error(
                "[1:1] [date_histogram] failed to parse field [calendar_interval]",
                cause(
                    "illegal_argument_exception",
                    f"The supplied interval [{cal}] could not be parsed as a calendar interval.",
                ),
            )
        return "calendar", unit
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(fixed))
    if not m or int(m.group(1)) <= 0:
        raise x_content_error(
            "[1:1] [date_histogram] failed to parse field [fixed_interval]",
            cause(
                "illegal_argument_exception",
                f"failed to parse setting [date_histogram.fixedInterval] with value [{fixed}] as "
                "a time value: unit is missing or unrecognized",
            ),
        )
    return "fixed", parse_duration_ms(fixed, "date_histogram.fixedInterval")


def check_agg_fields(nodes: list[AggNode], shard: Shard) -> None:
    for n in nodes:
        for f in n.fields():
            fd = shard.mapping.fields.get(f)
            if fd is not None and fd.type in TEXT_TYPES and not fd.extra.get("fielddata"):
                raise text_fielddata_failure(f, fd.type)
            if (
                fd is not None
                and n.type == "date_histogram"
                and fd.type not in DATE_TYPES
                and fd.type not in LONG_TYPES | DOUBLE_TYPES
            ):
                raise ShardFailure(
                    400,
                    cause(
                        "illegal_argument_exception",
                        f"Field [{f}] of type [{fd.type}] is not supported for aggregation [date_histogram]",
                    ),
                )
        for _name, stype, sp in n.sources:
            fd = shard.mapping.fields.get(sp.get("field", ""))
            if fd is not None and stype == "date_histogram" and fd.type not in DATE_TYPES | LONG_TYPES | DOUBLE_TYPES:
                raise ShardFailure(
                    400,
                    cause(
                        "illegal_argument_exception",
                        f"Field [{fd.name}] of type [{fd.type}] is not supported for aggregation [date_histogram]",
                    ),
                )
        for s in n.sort:
            check_sort_field(s, shard)
        check_agg_fields(n.subs, shard)


class AggCtx:
    def __init__(self, engine: Any, scores: Callable[[Seg, int], float], now: int, cache: Any, base_key: Any = None):
        self.base_key = base_key
        self.engine = engine
        self.scores = scores
        self.now = now
        self.cache = cache


def _col_of(seg: Seg, field: str) -> Any:
    return seg.shard.cols.get(field)


def _field_kind(segs: list[Seg], field: str) -> tuple[str, FieldDef | None]:
    for s in segs:
        col = s.shard.cols.get(field)
        if col is not None:
            fd = s.shard.mapping.fields.get(field)
            if isinstance(col, KeywordCol):
                return "kw", fd
            if isinstance(col, DoubleCol):
                return "dbl", fd
            if isinstance(col, TextCol):
                return "text", fd
            return col.kind, fd
    return "none", None


def _values(seg: Seg, field: str) -> Callable[[int], list]:
    col = seg.shard.cols.get(field)
    if col is None:
        return lambda d: []
    return col.get


def compute_aggs(nodes: list[AggNode], segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in nodes:
        fn = _AGG_FUNCS[n.type]
        res = fn(n, segs, ctx)
        meta = n.params.get("meta") if isinstance(n.params, dict) else None
        if meta:
            res = {"meta": meta, **res}
        out[n.name] = res
    return out


def _group(
    segs: list[Seg], keyfunc_for_seg: Callable[[Seg], Callable[[int], list]], keep_docs: bool
) -> tuple[Counter, dict[Any, list[Seg]]]:
    counts: Counter = Counter()
    members: dict[Any, dict[int, list[int]]] = {}
    for seg in segs:
        kf = keyfunc_for_seg(seg)
        for d in seg.docs:
            for k in kf(d):
                counts[k] += 1
                if keep_docs:
                    members.setdefault(k, {}).setdefault(seg.pos, []).append(d)
    by_pos = {s.pos: s for s in segs}
    out: dict[Any, list[Seg]] = {}
    if keep_docs:
        for k, per in members.items():
            out[k] = [by_pos[p]._replace(docs=ds) for p, ds in per.items()]
    return counts, out


def _subset(segs: list[Seg], pred_for_seg: Callable[[Seg], Any]) -> list[Seg]:
    res = []
    for seg in segs:
        s = pred_for_seg(seg)
        if s is ALL:
            res.append(seg)
        else:
            res.append(seg._replace(docs=[d for d in seg.docs if d in s]))
    return res


def _eval_query_on(seg: Seg, q: Q) -> Any:
    return q.run(seg.ctx)


def _key_to_json(kind: str, k: Any, fmt: str | None) -> dict[str, Any]:
    if kind == "date":
        return {"key": k, "key_as_string": format_date(k, fmt)}
    if kind == "boolean":
        return {"key": k, "key_as_string": "true" if k else "false"}
    return {"key": k}


def agg_terms(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    p = n.params
    field = p["field"]
    size = int(p.get("size", 10))
    min_doc_count = int(p.get("min_doc_count", 1))
    kind, fd = _field_kind(segs, field)
    missing = p.get("missing")
    if missing is not None and kind in ("long", "date", "boolean", "dbl") and fd is not None:
        try:
            missing = _value_to_type(segs[0].ctx, fd, segs[0].shard.cols[field], missing)
            if kind == "long":
                missing = int(missing)
        except ShardFailure:
            raise
    keep = bool(n.subs)

    def kf_for(seg: Seg) -> Callable[[int], list]:
        col = seg.shard.cols.get(field)
        if col is None:
            return (lambda d: [missing]) if missing is not None else (lambda d: [])
        if isinstance(col, KeywordCol):
            terms, codes, multi = col.terms, col.codes, col.multi

            def f(d: int) -> list:
                c = codes[d]
                if c >= 0:
                    return [terms[c]]
                if c == -2:
                    return sorted({terms[x] for x in multi[d]})
                return [missing] if missing is not None else []

            return f
        get = col.get

        def g(d: int) -> list:
            vals = get(d)
            if not vals:
                return [missing] if missing is not None else []
            return sorted(set(vals)) if len(vals) > 1 else vals

        return g

    if not keep:
        counts: Counter = Counter()
        for seg in segs:
            col = seg.shard.cols.get(field)
            if isinstance(col, KeywordCol):  # fast path
                codes = col.codes
                c = Counter(codes[d] for d in seg.docs)
                for code, k in c.items():
                    if code >= 0:
                        counts[col.terms[code]] += k
                    elif code == -1 and missing is not None:
                        counts[missing] += k
                if c.get(-2):
                    docs = set(seg.docs)
                    for d, cs in col.multi.items():
                        if d in docs:
                            for t in {col.terms[x] for x in cs}:
                                counts[t] += 1
            else:
                f = kf_for(seg)
                for d in seg.docs:
                    for k in f(d):
                        counts[k] += 1
        members: dict[Any, list[Seg]] = {}
    else:
        counts, members = _group(segs, kf_for, True)
    if kind == "long" or kind == "boolean" or kind == "date":
        counts = Counter({int(k): v for k, v in counts.items()})
    if min_doc_count == 0:
        for seg in segs:
            col = seg.shard.cols.get(field)
            if isinstance(col, KeywordCol):
                for t in col.terms:
                    counts.setdefault(t, 0)
    items = [(k, c) for k, c in counts.items() if c >= min_doc_count]
    order = p.get("order", [{"_count": "desc"}])
    order = order if isinstance(order, list) else [order]
    sub_cache: dict[Any, dict] = {}

    def subres(k: Any) -> dict:
        if k not in sub_cache:
            sub_cache[k] = compute_aggs(n.subs, members.get(k, []), ctx) if n.subs else {}
        return sub_cache[k]

    crit = []
    for o in order:
        if not isinstance(o, dict) or len(o) != 1:
            raise parsing_error("[order] must be an object with a single key")
        ((ok, od),) = o.items()
        crit.append((ok, od == "desc"))
    if not any(k == "_key" for k, _ in crit):
        crit.append(("_key", False))
    for ok, desc in reversed(crit):
        if ok == "_count":
            items.sort(key=lambda kc: kc[1], reverse=desc)
        elif ok in ("_key", "_term"):
            items.sort(key=lambda kc: kc[0], reverse=desc)
        else:
            aname, _, metric = ok.partition(".")
            sub = next((s for s in n.subs if s.name == aname), None)
            if sub is None:
                raise es_error(
                    400,
                    "aggregation_execution_exception",
                    f"Invalid aggregator order path [{ok}]. The provided aggregation [{aname}] either does "
                    "not exist, or is a pipeline aggregation and cannot be used to sort the buckets.",
                )

            def mk(kc: tuple, aname: str = aname, metric: str = metric, desc: bool = desc) -> Any:
                r = subres(kc[0])[aname]
                v = r.get(metric or "value", r.get("doc_count"))
                return (
                    (v is None, v if v is not None else 0) if not desc else (v is not None, v if v is not None else 0)
                )

            items.sort(key=mk, reverse=desc)
    kept = items[:size]
    other = sum(c for _, c in items[size:])
    fmt = p.get("format") or (fd.format if fd is not None else None)
    buckets = []
    for k, c in kept:
        b = _key_to_json(kind, k, fmt)
        if kind == "dbl":
            b["key"] = float(k)
        b["doc_count"] = c
        b.update(subres(k))
        buckets.append(b)
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}


class DateRounding:
    def __init__(self, p: dict[str, Any], name: str, now: int):
        self.mode, self.arg = _date_rounding(p, name)
        self.tz = p.get("time_zone")
        off = p.get("offset")
        self.offset = 0
        if off:
            s = str(off)
            sign = -1 if s.startswith("-") else 1
            self.offset = sign * parse_duration_ms(s.lstrip("+-"), "offset")

    def _tz(self, ms: int) -> int:
        return tz_offset_ms(self.tz, ms) if self.tz else 0

    def round(self, ms: int) -> int:
        off = self._tz(ms)
        local = ms + off - self.offset
        if self.mode == "fixed":
            k = local // self.arg * self.arg
        elif self.arg == "q":
            k = round_down(local, "M")
            dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=k)
            k = _add_months(k, -((dt.month - 1) % 3))
        else:
            k = round_down(local, self.arg)
        return k + self.offset - (self._tz(k - off) if self.tz else 0)

    def next(self, key: int) -> int:
        if self.mode == "fixed":
            return key + self.arg
        off = self._tz(key)
        local = key + off - self.offset
        nxt = _add_months(local, 3) if self.arg == "q" else next_unit(local, self.arg)
        return self.round(nxt + self.offset - off + 1) if self.tz else nxt + self.offset


def _bound_ms(v: Any, fmt: str | None, now: int) -> int:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return int(v)
    try:
        return parse_date_math(v, fmt, now, False)
    except ValueError as exc:
        raise es_error(
            400, "illegal_argument_exception", f"failed to parse date field [{v}] with format [{fmt}]"
        ) from exc


def agg_date_histogram(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    p = n.params
    field = p["field"]
    rnd = DateRounding(p, n.name, ctx.now)
    kind, fd = _field_kind(segs, field)
    fmt = p.get("format") or (fd.format if fd is not None and fd.type in DATE_TYPES else None)
    min_doc_count = int(p.get("min_doc_count", 0))
    keep = bool(n.subs)
    rcache: dict[int, int] = {}
    fixed = rnd.mode == "fixed" and not rnd.tz
    step, offset = (rnd.arg, rnd.offset) if fixed else (0, 0)

    counts: Counter = Counter()
    members: dict[int, dict[int, list[int]]] = {}
    for seg in segs:
        col = seg.shard.cols.get(field)
        if col is None:
            continue
        if isinstance(col, LongCol) and fixed and not keep and not col.multi:
            v = col.v
            c = Counter((v[d] - offset) // step for d in seg.docs if v[d] != MISSING)
            for k, cnt in c.items():
                counts[k * step + offset] += cnt
            continue
        get = col.get
        for d in seg.docs:
            vals = get(d)
            if not vals:
                continue
            keys = set()
            for x in vals:
                x = int(x)
                if fixed:
                    keys.add((x - offset) // step * step + offset)
                else:
                    k = rcache.get(x)
                    if k is None:
                        k = rcache[x] = rnd.round(x)
                    keys.add(k)
            for k in keys:
                counts[k] += 1
                if keep:
                    members.setdefault(k, {}).setdefault(seg.pos, []).append(d)
    keys = sorted(counts)
    bounds = p.get("extended_bounds")
    hard = p.get("hard_bounds")
    lo_k = hi_k = None
    if min_doc_count == 0:
        if keys:
            lo_k, hi_k = keys[0], keys[-1]
        if bounds:
            if "min" in bounds and bounds["min"] is not None:
                b = rnd.round(_bound_ms(bounds["min"], fmt, ctx.now))
                lo_k = b if lo_k is None else min(lo_k, b)
            if "max" in bounds and bounds["max"] is not None:
                b = rnd.round(_bound_ms(bounds["max"], fmt, ctx.now))
                hi_k = b if hi_k is None else max(hi_k, b)
            if lo_k is not None and hi_k is None:
                hi_k = lo_k
            if hi_k is not None and lo_k is None:
                lo_k = hi_k
    if hard:
        hmin = _bound_ms(hard["min"], fmt, ctx.now) if hard.get("min") is not None else None
        hmax = _bound_ms(hard["max"], fmt, ctx.now) if hard.get("max") is not None else None
        keys = [k for k in keys if (hmin is None or k >= rnd.round(hmin)) and (hmax is None or k <= hmax)]
        if lo_k is not None and hmin is not None:
            lo_k = max(lo_k, rnd.round(hmin))
        if hi_k is not None and hmax is not None:
            hi_k = min(hi_k, rnd.round(hmax))
    if min_doc_count == 0 and lo_k is not None and hi_k is not None:
        allk = []
        k = lo_k
        while k <= hi_k:
            allk.append(k)
            if len(allk) > MAX_BUCKETS:
                raise too_many_buckets()
            k = rnd.next(k)
        keys = sorted(set(allk) | {k for k in keys if lo_k <= k <= hi_k})
    else:
        keys = [k for k in keys if counts[k] >= max(min_doc_count, 1)]
    if len(keys) > MAX_BUCKETS:
        raise too_many_buckets()
    by_pos = {s.pos: s for s in segs}
    order = p.get("order")
    buckets = []
    for k in keys:
        b = {
            "key_as_string": format_date(k, fmt) if kind in ("date", "none") else str(k),
            "key": k,
            "doc_count": counts.get(k, 0),
        }
        if n.subs:
            sub_segs = [by_pos[pp]._replace(docs=ds) for pp, ds in members.get(k, {}).items()]
            b.update(compute_aggs(n.subs, sub_segs, ctx))
        buckets.append(b)
    if order:
        ((ok, od),) = (order if isinstance(order, dict) else order[0]).items()
        buckets.sort(key=lambda b: b["doc_count"] if ok == "_count" else b["key"], reverse=od == "desc")
    if p.get("keyed"):
        return {"buckets": {b["key_as_string"]: b for b in buckets}}
    return {"buckets": buckets}


def too_many_buckets() -> EsError:
    return es_error(
        400,
        "too_many_buckets_exception",
        f"Trying to create too many buckets. Must be less than or equal to: [{MAX_BUCKETS}] but this "
        "number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] "
        "cluster level setting.",
        max_buckets=MAX_BUCKETS,
    )


def agg_composite(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    p = n.params
    size = int(p.get("size", 10))
    srcs = []
    for sname, stype, sp in n.sources:
        kind, fd = _field_kind(segs, sp.get("field", ""))
        rnd = DateRounding(sp, sname, ctx.now) if stype == "date_histogram" else None
        fmt = sp.get("format")
        srcs.append((sname, stype, sp, kind, fd, rnd, fmt))
    cache_key = (
        "composite",
        ctx.base_key,
        json.dumps(p.get("sources"), sort_keys=True),
        tuple((s.pos, len(s.docs)) for s in segs),
    )
    grouped = ctx.cache.get(cache_key)
    if grouped is None:
        counts: Counter = Counter()
        members: dict[tuple, dict[int, list[int]]] = {}
        keep = bool(n.subs)
        for seg in segs:
            lists = [_source_values(seg, stype, sp, kind, rnd) for _sn, stype, sp, kind, _fd, rnd, _fmt in srcs]
            mbs = [bool(sp.get("missing_bucket", False)) for _sn, _st, sp, *_ in srcs]
            special = any(any(type(x) is _Multi for x in lst) for lst in lists)
            if not keep and not special:
                if all(mbs):
                    counts.update(zip(*lists, strict=False))
                else:
                    req = [i for i, mb in enumerate(mbs) if not mb]
                    if len(req) == len(mbs):
                        counts.update(k for k in zip(*lists, strict=False) if None not in k)
                    else:
                        counts.update(k for k in zip(*lists, strict=False) if all(k[i] is not None for i in req))
                continue
            for d, k in zip(seg.docs, zip(*lists, strict=False), strict=True):
                combos: list[tuple] = [()]
                for x, mb in zip(k, mbs, strict=True):
                    if x is None and not mb:
                        combos = []
                        break
                    if type(x) is _Multi:
                        combos = [(*c, v) for c in combos for v in x]
                    else:
                        combos = [(*c, x) for c in combos]
                for key in combos:
                    counts[key] += 1
                    if keep:
                        members.setdefault(key, {}).setdefault(seg.pos, []).append(d)

        import functools

        ordered = sorted(counts, key=functools.cmp_to_key(lambda a, b: _cmp_composite(a, b, srcs)))
        grouped = (ordered, counts, members)
        ctx.cache.put(cache_key, grouped)
    ordered, counts, members = grouped
    start = 0
    after = p.get("after")
    if after is not None:
        if not isinstance(after, dict):
            raise parsing_error("[after] must be an object")
        akey = []
        for sname, stype, _sp, kind, fd, _rnd, fmt in srcs:
            if sname not in after:
                raise es_error(400, "illegal_argument_exception", f"Missing value for [after.{sname}]")
            v = after[sname]
            if v is None:
                akey.append(None)
            elif stype == "date_histogram" or kind == "date":
                akey.append(
                    int(v)
                    if not isinstance(v, str) or _EPOCH_RE.match(v)
                    else parse_date(v, fmt or (fd.format if fd else None))
                )
            elif kind in ("long", "boolean"):
                akey.append(int(v))
            elif kind == "dbl" or stype == "histogram":
                akey.append(float(v))
            else:
                akey.append(str(v))
        t = tuple(akey)
        lo, hi = 0, len(ordered)
        while lo < hi:
            mid = (lo + hi) // 2
            if _cmp_composite(ordered[mid], t, srcs) <= 0:
                lo = mid + 1
            else:
                hi = mid
        start = lo
    page = ordered[start : start + size]
    by_pos = {s.pos: s for s in segs}

    def render_key(k: tuple) -> dict[str, Any]:
        out = {}
        for (sname, stype, _sp, kind, _fd, _rnd, fmt), v in zip(srcs, k, strict=True):
            if v is not None and (stype == "date_histogram" or kind == "date") and fmt:
                out[sname] = format_date(v, fmt)
            elif v is not None and kind == "boolean" and stype == "terms":
                out[sname] = bool(v)
            else:
                out[sname] = v
        return out

    buckets = []
    for k in page:
        b = {"key": render_key(k), "doc_count": counts[k]}
        if n.subs:
            sub_segs = [by_pos[pp]._replace(docs=ds) for pp, ds in members.get(k, {}).items()]
            b.update(compute_aggs(n.subs, sub_segs, ctx))
        buckets.append(b)
    res: dict[str, Any] = {}
    if buckets:
        res["after_key"] = buckets[-1]["key"]
    res["buckets"] = buckets
    return res


class _Multi(list):
    """Several composite source values for one document (expanded into one bucket each)."""


def _source_values(seg: Seg, stype: str, sp: dict[str, Any], kind: str, rnd: DateRounding | None) -> list[Any]:
    """One entry per doc of the segment: the source value, None (missing) or a _Multi list."""
    docs = seg.docs
    col = seg.shard.cols.get(sp.get("field", ""))
    if col is None:
        return [None] * len(docs)
    if stype == "terms" and isinstance(col, KeywordCol):
        ext = [*col.terms, None, None]
        out = [ext[c] for c in map(col.codes.__getitem__, docs)]
        if col.multi:
            for i, d in enumerate(docs):
                if d in col.multi:
                    out[i] = _Multi(sorted({col.terms[x] for x in col.multi[d]}))
        return out
    if isinstance(col, LongCol) and (stype == "terms" or (stype == "date_histogram" and rnd is not None)):
        arr = col.v
        if stype == "terms":
            out = [x if x > MULTI else None for x in map(arr.__getitem__, docs)]
            fn: Callable[[int], Any] = lambda x: x  # noqa: E731
        elif rnd.mode == "fixed" and not rnd.tz:
            step, off = rnd.arg, rnd.offset
            out = [(x - off) // step * step + off if x > MULTI else None for x in map(arr.__getitem__, docs)]
            fn = lambda x: (x - off) // step * step + off  # noqa: E731
        else:
            cache: dict[int, int] = {}

            def fn(x: int) -> int:
                k = cache.get(x)
                if k is None:
                    k = cache[x] = rnd.round(x)
                return k

            out = [fn(x) if x > MULTI else None for x in map(arr.__getitem__, docs)]
        if col.multi:
            for i, d in enumerate(docs):
                if d in col.multi:
                    out[i] = _Multi(sorted({fn(x) for x in col.multi[d]}))
        return out
    get = col.get
    out = []
    iv = float(sp["interval"]) if stype == "histogram" else None
    for d in docs:
        vals = get(d)
        if stype == "date_histogram":
            vals = sorted({rnd.round(int(x)) for x in vals})
        elif stype == "histogram":
            vals = sorted({math.floor(x / iv) * iv for x in vals})
        elif len(vals) > 1:
            vals = sorted(set(vals))
        out.append(None if not vals else vals[0] if len(vals) == 1 else _Multi(vals))
    return out


def _cmp_composite(a: tuple, b: tuple, srcs: list) -> int:
    for (_sname, _stype, sp, _kind, _fd, _rnd, _fmt), x, y in zip(srcs, a, b, strict=True):
        if x == y:
            continue
        desc = sp.get("order", "asc") == "desc"
        mo = sp.get("missing_order", "default")
        if x is None or y is None:
            first = (mo == "first") or (mo == "default" and not desc)
            r = -1 if x is None else 1
            return r if first else -r
        r = -1 if x < y else 1
        return -r if desc else r
    return 0


def agg_filter(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    sub = _subset(segs, lambda seg: _eval_query_on(seg, n.query))
    res = {"doc_count": sum(len(s.docs) for s in sub)}
    res.update(compute_aggs(n.subs, sub, ctx))
    return res


def agg_filters(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    """`filters` (the elastic_apm collector's latency histogram buckets, one range query each)."""
    p = n.params
    keyed = p.get("keyed", isinstance(p.get("filters"), dict))
    results = []
    matched_any: dict[int, set[int]] = {s.pos: set() for s in segs}
    for name, q in n.queries:
        sub = _subset(segs, lambda seg, q=q: _eval_query_on(seg, q))
        for s in sub:
            matched_any[s.pos].update(s.docs)
        b = {"doc_count": sum(len(s.docs) for s in sub)}
        b.update(compute_aggs(n.subs, sub, ctx))
        results.append((name, b))
    if p.get("other_bucket") or p.get("other_bucket_key"):
        sub = [s._replace(docs=[d for d in s.docs if d not in matched_any[s.pos]]) for s in segs]
        b = {"doc_count": sum(len(s.docs) for s in sub)}
        b.update(compute_aggs(n.subs, sub, ctx))
        results.append((p.get("other_bucket_key", "_other_"), b))
    if keyed:
        return {"buckets": {name: b for name, b in results}}
    return {"buckets": [b for _, b in results]}


def _metric_values(n: AggNode, segs: list[Seg]) -> Iterator[Any]:
    field = n.params["field"]
    missing = n.params.get("missing")
    for seg in segs:
        col = seg.shard.cols.get(field)
        if col is None:
            if missing is not None:
                for _ in seg.docs:
                    yield missing
            continue
        if isinstance(col, LongCol) and not col.multi and missing is None:
            v = col.v
            for d in seg.docs:
                x = v[d]
                if x != MISSING:
                    yield x
            continue
        get = col.get
        for d in seg.docs:
            vals = get(d)
            if vals:
                yield from vals
            elif missing is not None:
                yield missing


def _metric_kind(n: AggNode, segs: list[Seg]) -> tuple[str, FieldDef | None]:
    return _field_kind(segs, n.params["field"])


def agg_minmax(n: AggNode, segs: list[Seg], ctx: AggCtx) -> dict[str, Any]:
    kind, fd = _metric_kind(n, segs)
    vals = _metric_values(n, segs)
    if kind == "kw":
        raise ShardFailure(
            400,
            cause(
                "illegal_argument_exception",
                f"Field [{n.params['field']}] of type [keyword] is not supported for aggregation [{n.type}]",
            ),
        )
    if n.params.get("missing") is not None and kind == "date":
        vals = (parse_date(v, fd.format) if isinstance(v, str) else v for v in vals)
    v = (min if n.type == "min" else max)(vals, default=None)
    if v is None:
        return {"value": None}
    res: dict[str, Any] = {"value": float(v)}
    if kind == "date":
        res["value_as_string"] = format_date(int(v), n.params.get("format") or (fd.format if fd else None))
    elif n.params.get("format"):
        res["value_as_string"] = str(v)
    return res


_AGG_FUNCS: dict[str, Callable[[AggNode, list[Seg], AggCtx], dict[str, Any]]] = {
    "terms": agg_terms,
    "date_histogram": agg_date_histogram,
    "composite": agg_composite,
    "filter": agg_filter,
    "filters": agg_filters,
    "min": agg_minmax,
    "max": agg_minmax,
}


# ----------------------------------------------------------------------------------------------
# Engine: indices, data streams, bulk, search, count, PIT, scroll
# ----------------------------------------------------------------------------------------------

_INVALID_INDEX_CHARS = set('\\/*?"<>| ,#:')
LOGS_TEMPLATE_PATTERN = "logs-*-*"


class View(NamedTuple):
    shard: Shard
    maxd: int
    deleted: frozenset


class PitCtx:
    def __init__(self, views: list[View], keep_alive_ms: int, flavor: str):
        self.views = views
        self.keep_alive_ms = keep_alive_ms
        self.expires = time.monotonic() + keep_alive_ms / 1000
        self.created = now_ms()
        self.flavor = flavor
        self.ids: set[str] = set()


class LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get(self, k: Any, default: Any = None) -> Any:
        if k in self:
            self.move_to_end(k)
            return self[k]
        return default

    def put(self, k: Any, v: Any) -> None:
        self[k] = v
        self.move_to_end(k)
        while len(self) > self.size:
            self.popitem(last=False)


def _bool_param(params: dict[str, str], name: str, default: bool) -> bool:
    if name not in params:
        return default
    v = params[name].lower()
    if v in ("", "true"):
        return True
    if v == "false":
        return False
    raise es_error(
        400,
        "illegal_argument_exception",
        f"Failed to parse value [{params[name]}] as only [true] or [false] are allowed.",
    )


class Engine:
    def __init__(
        self,
        *,
        major: int = 9,
        flavor: str = "elasticsearch",
        default_index: str = "logs-app-default",
        ds_date: str = "2026.11.20",
        mappings: dict[str, dict] | None = None,
        pit_id_changes: bool = False,
        logs_template: bool = True,
    ):
        self.major = major
        self.flavor = flavor
        self.default_index = default_index
        self.ds_date = ds_date
        self.preset_mappings = mappings or {}
        self.pit_id_changes = pit_id_changes
        self.logs_template = logs_template
        self.indices: dict[str, Shard] = {}
        self.data_streams: dict[str, list[Shard]] = {}
        self.pits: dict[str, PitCtx] = {}
        self.lock = threading.RLock()
        self.match_cache = LRU(8)
        self.order_cache = LRU(8)
        self.agg_cache = LRU(8)
        self._ctx_counter = 0

    # names and creation ---------------------------------------------------------------------------
    def _validate_name(self, name: str) -> None:
        bad = None
        if name != name.lower():
            bad = "must be lowercase"
        elif name.startswith(("_", "-", "+")):
            bad = "must not start with '_', '-', or '+'"
        elif any(c in _INVALID_INDEX_CHARS for c in name):
            bad = "must not contain the following characters ['\\', '/', '*', '?', '\"', '<', '>', '|', ' ', ',']"
        elif name in (".", "..") or not name:
            bad = "must not be '.' or '..'"
        if bad:
            raise es_error(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], {bad}",
                index_uuid="_na_",
                index=name,
            )

    def _is_logs_ds(self, name: str) -> bool:
        return self.logs_template and glob_match(LOGS_TEMPLATE_PATTERN, name)

    def _new_mapping(self, name: str, logs: bool) -> Mapping:
        m = Mapping(logs_template=logs)
        for pat, body in self.preset_mappings.items():
            if glob_match(pat, name):
                m.apply_json(body.get("mappings", body) if isinstance(body, dict) else body)
        return m

    def create_data_stream(self, name: str) -> list[Shard]:
        self._validate_name(name)
        if name in self.data_streams:
            raise es_error(400, "resource_already_exists_exception", f"data_stream [{name}] already exists")
        if not self._is_logs_ds(name):
            raise es_error(
                400, "illegal_argument_exception", f"no matching index template found for data stream [{name}]"
            )
        backing = f".ds-{name}-{self.ds_date}-000001"
        shard = Shard(backing, self._new_mapping(name, True), data_stream=name, hidden=True)
        self.indices[backing] = shard
        self.data_streams[name] = [shard]
        return self.data_streams[name]

    def create_index(self, name: str, body: dict[str, Any] | None) -> Shard:
        self._validate_name(name)
        if name in self.indices or name in self.data_streams:
            existing = self.indices.get(name)
            raise es_error(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid if existing else '_na_'}] already exists",
                index_uuid=existing.uuid if existing else "_na_",
                index=name,
            )
        if self._is_logs_ds(name):
            raise es_error(
                400,
                "illegal_argument_exception",
                f"cannot create index with name [{name}], because it matches with template [logs] that "
                "creates data streams only, use create data stream api instead",
            )
        m = self._new_mapping(name, False)
        if body:
            unknown = [k for k in body if k not in ("mappings", "settings", "aliases")]
            if unknown:
                raise parsing_error(f"unknown key [{unknown[0]}] for create index")
            if body.get("mappings"):
                m.apply_json(body["mappings"])
        shard = Shard(name, m, hidden=name.startswith("."))
        self.indices[name] = shard
        return shard

    def write_target(self, name: str) -> tuple[Shard, bool]:
        """-> (shard, is_data_stream), auto-creating like action.auto_create_index."""
        if name in self.data_streams:
            return self.data_streams[name][-1], True
        if name in self.indices:
            s = self.indices[name]
            return s, False
        if self._is_logs_ds(name):
            return self.create_data_stream(name)[-1], True
        self._validate_name(name)
        return self.create_index(name, None), False

    # resolution -----------------------------------------------------------------------------------
    def resolve(self, expr: str | None, params: dict[str, str] | None = None, *, for_pit: bool = False) -> list[Shard]:
        params = params or {}
        ignore_unavailable = _bool_param(params, "ignore_unavailable", False)
        allow_no_indices = _bool_param(params, "allow_no_indices", True)
        expand = params.get("expand_wildcards", "open")
        exprs = [e for e in (expr or "").split(",") if e] or ["_all"]
        names: list[str] = []
        seen: set[str] = set()

        def add(n: str) -> None:
            if n not in seen:
                seen.add(n)
                names.append(n)

        def expand_pattern(pat: str, include_hidden: bool) -> list[str]:
            out = []
            for ds in self.data_streams:
                if glob_match(pat, ds):
                    out.extend(s.name for s in self.data_streams[ds])
            for n, s in self.indices.items():
                if s.data_stream is not None and not pat.startswith("."):
                    continue
                if (s.hidden or n.startswith(".")) and not (include_hidden or pat.startswith(".")):
                    continue
                if glob_match(pat, n):
                    out.append(n)
            return out

        include_hidden = "hidden" in expand or expand == "all"
        for i, e in enumerate(exprs):
            if e.startswith("-") and i > 0:
                pat = e[1:]
                for n in [
                    n
                    for n in names
                    if glob_match(pat, n)
                    or (self.indices[n].data_stream and glob_match(pat, self.indices[n].data_stream))
                ]:
                    names.remove(n)
                    seen.discard(n)
                continue
            if e in ("_all", "*"):
                if expand == "none":
                    continue
                for n in expand_pattern("*", include_hidden):
                    add(n)
                continue
            if "*" in e:
                if expand == "none":
                    raise index_not_found(e)
                matched = expand_pattern(e, include_hidden)
                if not matched and not allow_no_indices:
                    raise index_not_found(e)
                for n in matched:
                    add(n)
                continue
            if e in self.data_streams:
                for s in self.data_streams[e]:
                    add(s.name)
            elif e in self.indices:
                add(e)
            elif not ignore_unavailable:
                raise index_not_found(e)
        if not names and not allow_no_indices:
            raise index_not_found(",".join(exprs))
        return [self.indices[n] for n in sorted(names)]

    # bulk -------------------------------------------------------------------------------------------

    def _write_one(
        self, op: str, index: str, doc_id: Any, src_line: bytes, touched: set[Shard], src_obj: Any = None
    ) -> dict[str, Any]:
        try:
            shard, is_ds = self.write_target(index)
        except EsError as e:
            err = e.body["error"] if isinstance(e.body, dict) else {"type": "exception", "reason": str(e.body)}
            return {
                "_index": index,
                "_id": doc_id,
                "status": e.status,
                "error": {k: v for k, v in err.items() if k != "root_cause"},
            }
        doc_id = None if doc_id is None else str(doc_id)
        base = {"_index": shard.name, "_id": doc_id}
        if op == "delete":
            d = shard.local_for_id(doc_id) if doc_id else None
            if d is None:
                return {
                    **base,
                    "_version": 1,
                    "result": "not_found",
                    "_shards": {"total": 2, "successful": 1, "failed": 0},
                    "_seq_no": shard.n,
                    "_primary_term": 1,
                    "status": 404,
                }
            shard.deleted.add(d)
            ver = shard.versions.get(doc_id, 1) + 1
            shard.versions[doc_id] = ver
            touched.add(shard)
            return {
                **base,
                "_version": ver,
                "result": "deleted",
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": shard.n,
                "_primary_term": 1,
                "status": 200,
            }
        if is_ds and op != "create":
            return {
                **base,
                "status": 400,
                "error": {
                    "type": "illegal_argument_exception",
                    "reason": "only write ops with an op_type of create are allowed in data streams",
                },
            }
        try:
            src = json.loads(src_line) if src_obj is None else src_obj
        except ValueError:
            return {
                **base,
                "status": 400,
                "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:1] failed to parse",
                    "caused_by": {"type": "x_content_parse_exception", "reason": "[1:1] Unexpected character"},
                },
            }
        if not isinstance(src, dict):
            return {
                **base,
                "status": 400,
                "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:1] failed to parse: Root should be an object",
                },
            }
        if is_ds and "@timestamp" not in src:
            return {
                **base,
                "status": 400,
                "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing",
                    "caused_by": {
                        "type": "illegal_argument_exception",
                        "reason": "data stream timestamp field [@timestamp] is missing",
                    },
                },
            }
        old = None
        if doc_id is not None:
            old = shard.local_for_id(doc_id)
            if old is not None and op == "create":
                return {
                    **base,
                    "status": 409,
                    "error": {
                        "type": "version_conflict_engine_exception",
                        "reason": f"[{doc_id}]: version conflict, document already exists (current version "
                        f"[{shard.versions.get(doc_id, 1)}])",
                        "index_uuid": shard.uuid,
                        "shard": "0",
                        "index": shard.name,
                    },
                }
        try:
            d = shard.add(src, src_line, doc_id)
        except DocumentParsingError as e:
            return {**base, "status": e.status, "error": e.cause}
        touched.add(shard)
        if old is not None:
            shard.deleted.add(old)
            if shard.ids.get(doc_id) != d:
                shard.ids[doc_id] = d
        ver = 1
        if doc_id is not None:
            ver = shard.versions.get(doc_id, 0) + 1 if old is not None else 1
            shard.versions[doc_id] = ver
        else:
            doc_id = shard.doc_id(d)
        return {
            "_index": shard.name,
            "_id": doc_id,
            "_version": ver,
            "result": "updated" if old is not None else "created",
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": d,
            "_primary_term": 1,
            "status": 200 if old is not None else 201,
        }

    def load_objects(self, docs: Iterable[Any]) -> int:
        """Load bare source dicts (`_index`/`_id` keys honoured), hit-shaped dicts ({_index,_id,_source}),
        or (index, id, source) tuples. Raises ValueError on the first rejected document."""
        n = 0
        touched: set[Shard] = set()
        for doc in docs:
            if isinstance(doc, tuple):
                index, doc_id, src = doc
            elif isinstance(doc, dict) and "_source" in doc and isinstance(doc["_source"], dict):
                index, doc_id, src = doc.get("_index"), doc.get("_id"), doc["_source"]
            elif isinstance(doc, dict):
                if "_index" in doc or "_id" in doc:
                    src = {k: v for k, v in doc.items() if k not in ("_index", "_id")}
                    index, doc_id = doc.get("_index"), doc.get("_id")
                else:
                    index, doc_id, src = None, None, doc
            else:
                raise ValueError(f"cannot load document of type {type(doc).__name__}")
            self._load_one(index or self.default_index, doc_id, src, None, touched)
            n += 1
        for s in touched:
            s.finalize()
        self._invalidate()
        return n

    def _load_one(self, index: str, doc_id: Any, src: dict, raw: bytes | None, touched: set[Shard]) -> None:
        _shard, is_ds = self.write_target(index)
        if raw is None:
            raw = json.dumps(src, separators=(",", ":"), ensure_ascii=False).encode()
        res = self._write_one("create" if is_ds else "index", index, doc_id, raw, touched, src)
        if "error" in res:
            raise ValueError(f"document {doc_id!r} for [{index}] rejected: {json.dumps(res['error'])}")

    def load_lines(self, lines: Iterable[bytes]) -> int:
        """JSON lines: bare docs (optional `_index`/`_id`), hit-shaped docs, or _bulk NDJSON pairs."""
        n = 0
        touched: set[Shard] = set()
        pending_action: dict | None = None
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            if pending_action is not None:
                _op, meta = next(iter(pending_action.items()))
                index = (meta or {}).get("_index") or self.default_index
                self._load_one(index, (meta or {}).get("_id"), json.loads(raw), raw, touched)
                pending_action = None
                n += 1
                continue
            obj = json.loads(raw)
            if (
                isinstance(obj, dict)
                and len(obj) == 1
                and next(iter(obj)) in ("index", "create")
                and isinstance(next(iter(obj.values())), dict)
                and set(next(iter(obj.values())))
                <= {"_index", "_id", "op_type", "pipeline", "routing", "require_alias", "dynamic_templates"}
            ):
                pending_action = obj
                continue
            if b'"_index"' in raw or b'"_id"' in raw or b'"_source"' in raw:
                if isinstance(obj.get("_source"), dict):
                    self._load_one(
                        obj.get("_index") or self.default_index, obj.get("_id"), obj["_source"], None, touched
                    )
                else:
                    src = {k: v for k, v in obj.items() if k not in ("_index", "_id")}
                    self._load_one(obj.get("_index") or self.default_index, obj.get("_id"), src, None, touched)
            else:
                self._load_one(self.default_index, None, obj, raw, touched)
            n += 1
        for s in touched:
            s.finalize()
        self._invalidate()
        return n

    def _invalidate(self) -> None:
        self.match_cache.clear()
        self.order_cache.clear()
        self.agg_cache.clear()

    # search -----------------------------------------------------------------------------------------
    def _views(self, shards: list[Shard]) -> list[View]:
        return [View(s, s.n, frozenset(s.deleted)) for s in shards]

    def _expire(self) -> None:
        now = time.monotonic()
        for k in [k for k, p in self.pits.items() if p.expires < now]:
            del self.pits[k]

    def _new_pit_id(self, views: list[View]) -> str:
        self._ctx_counter += 1
        payload = bytearray(b"\x46\xed\x03" if self.flavor == "elasticsearch" else b"\x8e\x37\x02")
        payload += self._ctx_counter.to_bytes(8, "big") + secrets.token_bytes(8)
        for v in views:
            name = v.shard.name.encode()
            payload += bytes([len(name) & 0xFF]) + name + v.shard.uuid.encode()[:22] + NODE_ID.encode()
        return base64.urlsafe_b64encode(bytes(payload)).decode()

    def _decode_ctx_id(self, pid: str, what: str = "id") -> None:
        try:
            raw = base64.urlsafe_b64decode(pid + "=" * (-len(pid) % 4))
        except (ValueError, TypeError) as exc:
            raise es_error(400, "illegal_argument_exception", f"invalid {what} [{pid}]") from exc
        if len(raw) < 19 or raw[:3] not in (b"\x46\xed\x03", b"\x8e\x37\x02", b"\x53\x43\x01"):
            raise es_error(400, "illegal_argument_exception", f"invalid {what} [{pid}]")

    def _context_missing(self, pid: str) -> EsError:
        raw = base64.urlsafe_b64decode(pid + "=" * (-len(pid) % 4))
        ctx_no = int.from_bytes(raw[3:11], "big")
        c = cause("search_context_missing_exception", f"No search context found for id [{ctx_no}]")
        top = {
            "type": "search_phase_execution_exception",
            "reason": "all shards failed",
            "phase": "query",
            "grouped": True,
            "failed_shards": [{"shard": -1, "index": None, "reason": c}],
            "caused_by": c,
        }
        return EsError(404, envelope(404, top, [c]))

    def open_pit(self, target: str | None, params: dict[str, str]) -> dict[str, Any]:
        ka = params.get("keep_alive")
        if ka is None:
            if self.flavor == "opensearch":
                raise validation_error("keep alive not specified")
            raise validation_error("[keep_alive] is missing")
        ka_ms = parse_duration_ms(ka)
        shards = self.resolve(target, params, for_pit=True)
        views = self._views(shards)
        self._expire()
        pid = self._new_pit_id(views)
        ctx = PitCtx(views, ka_ms, self.flavor)
        ctx.ids.add(pid)
        self.pits[pid] = ctx
        shards_info = {"total": len(views), "successful": len(views), "skipped": 0, "failed": 0}
        if self.flavor == "opensearch":
            return {"pit_id": pid, "_shards": shards_info, "creation_time": ctx.created}
        return {"id": pid, "_shards": shards_info}

    def close_pit(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self._expire()
        if self.flavor == "opensearch":
            ids = body.get("pit_id")
            if ids is None:
                raise validation_error("no pit ids specified")
            ids = ids if isinstance(ids, list) else [ids]
            pits = []
            for pid in ids:
                ctx = self.pits.get(pid)
                if ctx is None:
                    raise es_error(
                        404, "resource_not_found_exception", "Error occurred while deleting PIT, PIT id not found"
                    )
                for i in ctx.ids:
                    self.pits.pop(i, None)
                pits.append({"successful": True, "pit_id": pid})
            return 200, {"pits": pits}
        pid = body.get("id")
        if not pid:
            raise validation_error("point-in-time id was not specified")
        self._decode_ctx_id(str(pid))
        ctx = self.pits.get(pid)
        if ctx is None:
            return 404, {"succeeded": True, "num_freed": 0}
        for i in ctx.ids:
            self.pits.pop(i, None)
        return 200, {"succeeded": True, "num_freed": len(ctx.views)}

    _SEARCH_KEYS: ClassVar[set[str]] = {
        "query",
        "size",
        "from",
        "sort",
        "search_after",
        "pit",
        "aggs",
        "aggregations",
        "_source",
        "track_total_hits",
        "timeout",
        "track_scores",
        "version",
        "seq_no_primary_term",
        "explain",
        "stored_fields",
        "docvalue_fields",
        "fields",
        "highlight",
        "post_filter",
        "min_score",
        "terminate_after",
        "profile",
        "stats",
        "indices_boost",
        "runtime_mappings",
        "collapse",
        "script_fields",
        "slice",
        "knn",
        "rescore",
        "suggest",
        "ext",
        "rank",
        "retriever",
        "sub_searches",
        "point_in_time",
    }
    _IGNORED_KEYS: ClassVar[set[str]] = {
        "timeout",
        "track_scores",
        "version",
        "seq_no_primary_term",
        "profile",
        "stats",
        "highlight",
        "explain",
        "stored_fields",
        "docvalue_fields",
        "fields",
    }

    def search(
        self, target: str | None, body: dict[str, Any], params: dict[str, str], raw: str, count_only: bool = False
    ) -> dict[str, Any]:
        t0 = time.monotonic()
        now = now_ms()
        if not isinstance(body, dict):
            raise parsing_error("Expected [START_OBJECT] but found [START_ARRAY]")
        for k, v in body.items():
            if count_only:
                if k != "query":
                    line, col = json_location(raw, k)
                    raise parsing_error(f"request does not support [{k}]", line, col)
                continue
            if k not in self._SEARCH_KEYS:
                line, col = json_location(raw, k)
                tok = (
                    "START_OBJECT"
                    if isinstance(v, dict)
                    else "START_ARRAY"
                    if isinstance(v, list)
                    else "VALUE_STRING"
                    if isinstance(v, str)
                    else "VALUE_BOOLEAN"
                    if isinstance(v, bool)
                    else "VALUE_NULL"
                    if v is None
                    else "VALUE_NUMBER"
                )
                raise parsing_error(f"Unknown key for a {tok} in [{k}].", line, col)
            if (
                k
                in (
                    "runtime_mappings",
                    "collapse",
                    "script_fields",
                    "slice",
                    "knn",
                    "rescore",
                    "suggest",
                    "rank",
                    "retriever",
                    "sub_searches",
                    "indices_boost",
                    "min_score",
                    "terminate_after",
                )
                and v
            ):
                raise unsupported(f"the search body parameter [{k}]")
        pit = body.get("pit") if self.flavor == "elasticsearch" or "pit" in body else body.get("point_in_time")
        if params.get("scroll"):
            raise unsupported("the scroll API (the collectors page through a point in time)")
        scroll = None
        size = body.get("size", params.get("size", 10))
        frm = body.get("from", params.get("from", 0))
        try:
            size, frm = int(size), int(frm)
        except (TypeError, ValueError) as exc:
            raise x_content_error("[1:1] [search] failed to parse field [size]") from exc
        search_after = body.get("search_after")
        # request validation (ActionRequestValidationException: 400)
        errors = []
        if pit is not None:
            if target:
                errors.append(
                    "[indices] cannot be used with point in time. Do not specify any index with point in time."
                )
            if any(k in params for k in ("ignore_unavailable", "allow_no_indices", "expand_wildcards")):
                errors.append("[indicesOptions] cannot be used with point in time")
            if "routing" in params:
                errors.append("[routing] cannot be used with point in time")
            if "preference" in params:
                errors.append("[preference] cannot be used with point in time")
            if scroll:
                errors.append("using [point in time] is not allowed in a scroll context")
        if scroll:
            if frm:
                errors.append("using [from] is not allowed in a scroll context")
            if search_after is not None:
                errors.append("[search_after] cannot be used in a scroll context")
        if search_after is not None and frm:
            errors.append("[from] parameter must be set to 0 when [search_after] is used")
        if size < 0:
            errors.append(f"[size] parameter cannot be negative, found [{size}]")
        if frm < 0:
            errors.append(f"[from] parameter cannot be negative, found [{frm}]")
        if errors:
            raise validation_error(*errors)
        query = parse_query(body.get("query", {"match_all": {}}), raw)
        post_filter = parse_query(body["post_filter"], raw) if body.get("post_filter") else None
        if self.flavor == "opensearch":  # OpenSearch 2.x has no `format` in a field sort (seen on a real 2.19 node)
            for entry in body.get("sort") or [] if isinstance(body.get("sort"), list) else []:
                if isinstance(entry, dict) and any(isinstance(v, dict) and "format" in v for v in entry.values()):
                    line, col = json_location(raw, "format")
                    raise x_content_error(f"[{line}:{col}] [field_sort] unknown field [format]")
        sort_specs = parse_sort(body.get("sort", params.get("sort").split(",") if params.get("sort") else None), raw)
        aggs_spec = body.get("aggs", body.get("aggregations"))
        if "aggs" in body and "aggregations" in body:
            raise parsing_error("Found two aggregation type definitions in [aggs]: [aggs] and [aggregations]")
        aggs = parse_aggs(aggs_spec, raw) if aggs_spec else []
        src_param = params.get("_source")
        srcf = SourceFilter.parse(body.get("_source", src_param if src_param is not None else None))
        if params.get("_source_includes") or params.get("_source_excludes"):
            srcf = SourceFilter(
                True,
                [x for x in params.get("_source_includes", "").split(",") if x],
                [x for x in params.get("_source_excludes", "").split(",") if x],
            )
        tth = body.get("track_total_hits", params.get("track_total_hits", True if scroll else None))
        if isinstance(tth, str):
            tth = True if tth == "true" else False if tth == "false" else int(tth)
        self._expire()
        pit_id = None
        if pit is not None:
            if not isinstance(pit, dict) or "id" not in pit:
                raise parsing_error("[pit] failed to parse: [id] is required")
            pit_id = str(pit["id"])
            self._decode_ctx_id(pit_id)
            pctx = self.pits.get(pit_id)
            if pctx is None:
                raise self._context_missing(pit_id)
            if pit.get("keep_alive"):
                pctx.keep_alive_ms = parse_duration_ms(pit["keep_alive"])
            pctx.expires = time.monotonic() + pctx.keep_alive_ms / 1000
            views = pctx.views
            if self.pit_id_changes:
                new_id = self._new_pit_id(views)
                pctx.ids.add(new_id)
                self.pits[new_id] = pctx
                pit_id = new_id
        else:
            views = self._views(self.resolve(target, params))
        if (
            pit is not None
            and sort_specs
            and self.flavor == "elasticsearch"
            and (search_after is None or len(search_after) == len(sort_specs) + 1)
            and sort_specs[-1].field != "_shard_doc"
        ):
            sort_specs = [*sort_specs, SortSpec("_shard_doc", False)]
        if scroll and not sort_specs:
            sort_specs = []
        if size + frm > MAX_RESULT_WINDOW and not scroll and not count_only:
            f = ShardFailure(
                400,
                cause(
                    "illegal_argument_exception",
                    "Result window is too large, from + size must be less than or equal to: "
                    f"[{MAX_RESULT_WINDOW}] but was [{size + frm}]. See the scroll api for a more efficient way to "
                    "request large data sets. This limit can be set by changing the [index.max_result_window] index "
                    "level setting.",
                ),
            )
            raise all_shards_failed([(v.shard, f) for v in views] or [(None, f)])
        if search_after is not None:
            eff = sort_specs or [SortSpec("_score", True)]
            if not isinstance(search_after, list) or len(search_after) != len(eff):
                f = ShardFailure(
                    400,
                    cause(
                        "illegal_argument_exception",
                        f"search_after has {len(search_after) if isinstance(search_after, list) else 1} "
                        f"value(s) but sort has {len(eff)}.",
                    ),
                )
                raise all_shards_failed([(v.shard, f) for v in views] or [(None, f)])
        # per-shard checks, evaluation
        failures: list[tuple[Shard, ShardFailure]] = []
        segs: list[Seg] = []
        qkey = raw_key(body.get("query"))
        for pos, v in enumerate(views):
            ctx = QCtx(v.shard, v.maxd, v.deleted, now)
            try:
                for s in sort_specs:
                    check_sort_field(s, v.shard, id_fielddata=self.flavor == "opensearch")
                check_agg_fields(aggs, v.shard)
                docs = self._matched(
                    v, query, qkey, ctx, not sort_specs or any(s.field == "_score" for s in sort_specs)
                )
            except ShardFailure as f:
                failures.append((v.shard, f))
                continue
            segs.append(Seg(pos, v.shard, ctx, docs))
        if failures and not segs:
            raise all_shards_failed(failures)
        shards_info: dict[str, Any] = {
            "total": len(views),
            "successful": len(segs),
            "skipped": 0,
            "failed": len(failures),
        }
        if failures:
            shards_info["failures"] = [
                {"shard": 0, "index": s.name, "node": NODE_ID, "reason": f.cause} for s, f in failures
            ]
        total = sum(len(s.docs) for s in segs)
        if count_only:
            return {"count": total, "_shards": shards_info}
        needs_scores = not sort_specs or any(s.field == "_score" for s in sort_specs)
        uniform = query.uniform
        seg_by_pos = {s.pos: s for s in segs}

        def seg_score(seg: Seg, d: int) -> float:
            return query.score(seg.ctx, d)

        const_score: float | None = None

        def gscore(g: int) -> float:
            nonlocal const_score
            if uniform:
                if const_score is None:
                    seg = seg_by_pos[g >> 32]
                    const_score = query.score(seg.ctx, g & MASK32)
                return const_score
            seg = seg_by_pos[g >> 32]
            return query.score(seg.ctx, g & MASK32)

        resp: dict[str, Any] = {}
        if pit_id is not None:
            resp["pit_id"] = pit_id
        hit_segs = segs
        if post_filter is not None:
            hit_segs = []
            for sg in segs:
                r = post_filter.run(sg.ctx)
                hit_segs.append(sg if r is ALL else sg._replace(docs=[d for d in sg.docs if d in r]))
        hits_total = sum(len(s.docs) for s in hit_segs)
        shards_list = [v.shard for v in views]
        eff_specs = sort_specs or [SortSpec("_score", True)]
        sorter = Sorter(eff_specs, shards_list, gscore)
        hits: list[dict[str, Any]] = []
        max_score: float | None = None
        if size > 0 or scroll:
            okey = (
                "o",
                qkey,
                raw_key(body.get("post_filter")),
                tuple(s.key() for s in eff_specs),
                tuple((v.shard.uuid, v.maxd, len(v.deleted)) for v in views),
            )
            order = self.order_cache.get(okey)
            if order is None:
                order = [(s.pos << 32) | d for s in hit_segs for d in s.docs]
                if not (not sort_specs and uniform):
                    sorter.sort(order)
                self.order_cache.put(okey, order)
            start = 0
            if search_after is not None:
                try:
                    start = sorter.after_index(order, sorter.normalize_after(search_after))
                except ShardFailure as f:
                    raise all_shards_failed([(v.shard, f) for v in views]) from None
            page = order[start + frm : start + frm + size]
            for g in page:
                sh = shards_list[g >> 32]
                sc = gscore(g) if needs_scores else None
                hits.append(render_hit(sh, g & MASK32, sc, sorter.output(g) if sort_specs else None, srcf, True))
            if needs_scores and hits:
                max_score = max(h["_score"] for h in hits)
            if needs_scores and not hits and hits_total:
                max_score = gscore(order[0]) if uniform and order else None
        elif needs_scores and hits_total:
            max_score = None
        took = int((time.monotonic() - t0) * 1000)
        resp.update({"took": took, "timed_out": False, "_shards": shards_info})
        hits_obj: dict[str, Any] = {}
        if tth is not False:
            limit = DEFAULT_TRACK_TOTAL_HITS if tth in (None,) else (None if tth is True else int(tth))
            if limit is not None and limit >= 0 and hits_total > limit:
                total_obj = {"value": limit, "relation": "gte"}
            else:
                total_obj = {"value": hits_total, "relation": "eq"}
            if _bool_param(params, "rest_total_hits_as_int", False):
                hits_obj["total"] = total_obj["value"]
            else:
                hits_obj["total"] = total_obj
        hits_obj["max_score"] = max_score if needs_scores else None
        hits_obj["hits"] = hits
        resp["hits"] = hits_obj
        if aggs and views:
            actx = AggCtx(
                self,
                seg_score,
                now,
                self.agg_cache,
                (qkey, tuple((v.shard.uuid, v.maxd, len(v.deleted)) for v in views)),
            )
            aggs_res = compute_aggs(aggs, segs, actx)
            if _bool_param(params, "typed_keys", False):
                aggs_res = {f"{n.type}#{n.name}": aggs_res[n.name] for n in aggs}
            resp["aggregations"] = aggs_res
        return resp

    def _matched(self, v: View, query: Q, qkey: str, ctx: QCtx, scoring: bool = False) -> Any:
        key = (qkey, v.shard.uuid, v.maxd, len(v.deleted))
        docs = self.match_cache.get(key)
        if docs is not None:
            if scoring and not isinstance(query, MatchAllQ):
                query.run(ctx)  # per-node sets feed the scores
            return docs
        r = query.run(ctx)
        if r is ALL:
            if v.deleted:
                docs = array("q", (d for d in range(v.maxd) if d not in v.deleted))
            else:
                docs = range(v.maxd)
        else:
            dl = sorted(r)
            cut = bisect.bisect_left(dl, v.maxd)
            if v.deleted:
                docs = array("q", (d for d in dl[:cut] if d not in v.deleted))
            else:
                docs = array("q", dl[:cut])
        self.match_cache.put(key, docs)
        return docs

    # misc -------------------------------------------------------------------------------------------


def raw_key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


# ----------------------------------------------------------------------------------------------
# HTTP layer
# ----------------------------------------------------------------------------------------------


_RAW_RE = re.compile(rb'"\\u0000RAW(\d+)\\u0000"')


def dumps_response(payload: Any, pretty: bool = False) -> bytes:
    raws: list[bytes] = []

    def default(o: Any) -> Any:
        if isinstance(o, RawSource):
            raws.append(o.data)
            return f"\x00RAW{len(raws) - 1}\x00"
        raise TypeError(f"not JSON serializable: {type(o).__name__}")

    text = (
        json.dumps(payload, indent=2, default=default) + "\n"
        if pretty
        else json.dumps(payload, separators=(",", ":"), default=default)
    )
    data = text.encode()
    if raws:
        data = _RAW_RE.sub(lambda m: raws[int(m.group(1))], data)
    return data


class RecordedRequest(NamedTuple):
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # header names lower-cased
    body: bytes  # decompressed


_MEDIA_RE = re.compile(r"^\s*([\w.+*-]+)/([\w.+*-]+)\s*(;.*)?$")
_COMMON_PARAMS = {"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"}
_PARAMS = {
    "search": {
        "size",
        "from",
        "sort",
        "_source",
        "_source_includes",
        "_source_excludes",
        "track_total_hits",
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "scroll",
        "typed_keys",
        "rest_total_hits_as_int",
        "timeout",
        "routing",
        "preference",
        "search_type",
        "request_cache",
        "batched_reduce_size",
        "max_concurrent_shard_requests",
        "pre_filter_shard_size",
        "ccs_minimize_roundtrips",
        "allow_partial_search_results",
        "q",
        "df",
        "analyzer",
        "default_operator",
        "lenient",
        "track_scores",
        "stored_fields",
        "docvalue_fields",
        "explain",
        "version",
        "seq_no_primary_term",
        "terminate_after",
        "stats",
        "suggest_field",
        "suggest_mode",
        "suggest_size",
        "suggest_text",
        "include_named_queries_score",
        "force_synthetic_source",
        "analyze_wildcard",
        "ignore_throttled",
    },
    "count": {
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "q",
        "df",
        "analyzer",
        "default_operator",
        "lenient",
        "min_score",
        "preference",
        "routing",
        "terminate_after",
        "analyze_wildcard",
        "ignore_throttled",
    },
    "pit": {
        "keep_alive",
        "ignore_unavailable",
        "expand_wildcards",
        "routing",
        "preference",
        "allow_partial_search_results",
        "max_concurrent_shard_requests",
        "allow_partial_pit_creation",
    },
    "bulk": {
        "refresh",
        "pipeline",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "_source",
        "_source_includes",
        "_source_excludes",
        "require_alias",
        "require_data_stream",
        "list_executed_pipelines",
        "include_source_on_error",
    },
    "scroll": {"scroll", "scroll_id", "rest_total_hits_as_int"},
}

INFO_VERSIONS = {
    9: {
        "number": "9.1.0",
        "lucene_version": "10.2.2",
        "minimum_wire_compatibility_version": "8.19.0",
        "minimum_index_compatibility_version": "8.0.0",
        "build_date": "2025-07-17T22:16:57.451734536Z",
    },
    8: {
        "number": "8.15.0",
        "lucene_version": "9.11.1",
        "minimum_wire_compatibility_version": "7.17.0",
        "minimum_index_compatibility_version": "7.0.0",
        "build_date": "2024-08-05T10:05:34.233336849Z",
    },
    7: {
        "number": "7.17.24",
        "lucene_version": "8.11.3",
        "minimum_wire_compatibility_version": "6.8.0",
        "minimum_index_compatibility_version": "6.0.0-beta1",
        "build_date": "2024-09-16T18:13:48.565045425Z",
    },
}


def _media_version(value: str | None) -> tuple[bool, int | None, bool]:
    """-> (known_json_like, compatible_with_version, is_vnd)"""
    if not value:
        return True, None, False
    first = value.split(",")[0]
    m = _MEDIA_RE.match(first)
    if not m:
        return False, None, False
    typ, sub, params = m.group(1).lower(), m.group(2).lower(), m.group(3) or ""
    is_vnd = sub.startswith("vnd.elasticsearch+")
    version = None
    pm = re.search(r"compatible-with\s*=\s*(\d+)", params)
    if pm and is_vnd:
        version = int(pm.group(1))
    known = (
        (
            typ == "application"
            and sub
            in ("json", "x-ndjson", "vnd.elasticsearch+json", "vnd.elasticsearch+x-ndjson", "yaml", "cbor", "smile")
        )
        or typ == "*"
        or (typ == "text" and sub in ("plain", "*"))
    )
    return known, version, is_vnd


class _Injection:
    def __init__(
        self,
        status: int,
        count: int,
        path_regex: str | None,
        body: Any,
        headers: dict | None,
        kind: str | None,
        retry_after: Any,
    ):
        self.status, self.count = status, count
        self.rx = re.compile(path_regex) if path_regex else None
        self.body, self.headers, self.kind, self.retry_after = body, headers or {}, kind, retry_after


def _www_authenticate(major: int) -> list[str]:
    basic = 'Basic realm="security", charset="UTF-8"' if major >= 9 else 'Basic realm="security" charset="UTF-8"'
    return [basic, 'Bearer realm="security"', "ApiKey"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: ElasticsearchStandin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16) if line else 0
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(n))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if body and enc == "gzip":
            body = gzip.decompress(body)
        elif body and enc == "deflate":
            body = zlib.decompress(body)
        return body

    def _dispatch(self) -> None:
        st = self.server.standin
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if st.record_requests:
            with st._req_lock:
                st.requests.append(RecordedRequest(self.command, self.path, headers, body))
        try:
            status, payload, extra = st._handle(self.command, self.path, headers, body)
        except EsError as e:
            status, payload, extra = e.status, e.body, dict(e.headers)
        except Exception as e:
            import traceback

            traceback.print_exc(file=sys.stderr)
            status, payload, extra = 500, envelope(500, cause("standin_internal_error", f"{type(e).__name__}: {e}")), {}
        delay = st.delay
        if delay:
            time.sleep(delay)
        self._send(status, payload, extra, headers)

    def _send(self, status: int, payload: Any, extra: dict[str, Any], req_headers: dict[str, str]) -> None:
        st = self.server.standin
        ctype = extra.pop("__content_type__", None)
        if payload is None:
            data = b""
        elif isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            ctype = ctype or "text/plain; charset=UTF-8"
        else:
            _, q = self.path.split("?", 1) if "?" in self.path else (self.path, "")
            pretty = any(k == "pretty" and v in ("", "true") for k, v in parse_qsl(q, keep_blank_values=True))
            data = dumps_response(payload, pretty)
        if ctype is None:
            ctype = st._response_content_type(req_headers)
        self.send_response(status)
        if st.flavor == "elasticsearch" and not extra.pop("__no_product__", False):
            self.send_header("X-elastic-product", "Elasticsearch")
        for k, v in extra.items():
            if k.startswith("__"):
                continue
            for item in v if isinstance(v, list) else [v]:
                self.send_header(k, str(item))
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


class ElasticsearchStandin:
    """An Elasticsearch-speaking HTTP server on a loopback port, in a background thread.

    docs_or_path: None, a path to a JSON-lines file, bytes/str of JSON lines, or an iterable of dicts
    (bare sources with optional `_index`/`_id`, or {"_index","_id","_source"} hits).
    auth: None or a dict with any of {"api_key": "id:key" | (id, key), "basic": "user:pass" | (user, pass),
    "bearer": "token"}; any configured credential is accepted.
    forbidden_indices: index/data-stream patterns the principal may not read (403 security_exception).
    """

    def __init__(
        self,
        docs_or_path: Any = None,
        *,
        major: int = 9,
        flavor: str = "elasticsearch",
        auth: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        forbidden_indices: Iterable[str] = (),
        principal: str = "dossier-collector",
        default_index: str = "logs-app-default",
        ds_date: str = "2026.11.20",
        mappings: dict[str, dict] | None = None,
        delay: float = 0.0,
        version: str | None = None,
        pit_id_changes: bool = False,
        logs_template: bool = True,
        cluster_name: str = "dossier-standin",
        record_requests: bool = True,
    ):
        if flavor not in ("elasticsearch", "opensearch"):
            raise ValueError("flavor must be 'elasticsearch' or 'opensearch'")
        if major not in INFO_VERSIONS:
            raise ValueError("major must be 7, 8 or 9")
        self.major = major
        self.flavor = flavor
        self.host = host
        self._port = port
        self.delay = delay
        self.principal = principal
        self.forbidden_indices = list(forbidden_indices)
        self.cluster_name = cluster_name
        self.version = version
        self.record_requests = record_requests
        self.requests: list[RecordedRequest] = []
        self._req_lock = threading.Lock()
        self._injections: list[_Injection] = []
        self.auth = self._normalize_auth(auth)
        self.engine = Engine(
            major=major,
            flavor=flavor,
            default_index=default_index,
            ds_date=ds_date,
            mappings=mappings,
            pit_id_changes=pit_id_changes,
            logs_template=logs_template,
        )
        self.cluster_uuid = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode()[:22]
        self.build_hash = secrets.token_hex(20)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if docs_or_path is not None:
            self.load(docs_or_path)

    # lifecycle --------------------------------------------------------------------------------------
    def start(self) -> ElasticsearchStandin:
        if self._server is None:
            srv = _Server((self.host, self._port), _Handler)
            srv.standin = self
            self._server = srv
            self._thread = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"es-standin-{srv.server_address[1]}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ElasticsearchStandin:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # test helpers -----------------------------------------------------------------------------------
    def load(self, docs_or_path: Any, index: str | None = None) -> int:
        """Load documents (see class doc); `index` overrides the default target for docs without `_index`."""
        eng = self.engine
        with eng.lock:
            old = eng.default_index
            if index:
                eng.default_index = index
            try:
                if isinstance(docs_or_path, str | Path) and not (
                    isinstance(docs_or_path, str) and docs_or_path.lstrip().startswith(("{", "["))
                ):
                    with open(docs_or_path, "rb") as fh:
                        return eng.load_lines(fh)
                if isinstance(docs_or_path, bytes | str):
                    data = docs_or_path.encode() if isinstance(docs_or_path, str) else docs_or_path
                    return eng.load_lines(data.splitlines())
                return eng.load_objects(docs_or_path)
            finally:
                eng.default_index = old

    def inject(
        self,
        status: int,
        count: int = 1,
        path_regex: str | None = None,
        body: Any = None,
        headers: dict[str, Any] | None = None,
        *,
        kind: str | None = None,
        retry_after: Any = None,
    ) -> None:
        """Make the next `count` requests whose `path?query` matches `path_regex` (re.search) fail with the
        real error body for `status` (or `body`). kind picks a variant: 429 "rejected" (default, search
        thread pool es_rejected_execution_exception), "circuit_breaker", "shards" (all shards rejected);
        503 "all_shards_failed" (default), "cluster_block"; 502/504 "proxy" (text/plain from a proxy)."""
        with self._req_lock:
            self._injections.append(_Injection(status, count, path_regex, body, headers, kind, retry_after))

    def clear_injections(self) -> None:
        with self._req_lock:
            self._injections.clear()

    def clear_requests(self) -> None:
        with self._req_lock:
            self.requests.clear()

    def requests_to(self, path_regex: str) -> list[RecordedRequest]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if rx.search(r.path)]

    # auth -------------------------------------------------------------------------------------------
    @staticmethod
    def _normalize_auth(auth: Any) -> dict[str, tuple[str, str] | str] | None:
        if not auth:
            return None
        if isinstance(auth, tuple) and len(auth) == 2:
            auth = {"basic": auth}
        out: dict[str, Any] = {}
        for k, v in dict(auth).items():
            k2 = k.lower().replace("-", "_")
            if k2 in ("api_key", "apikey"):
                out["api_key"] = tuple(v) if isinstance(v, tuple | list) else tuple(str(v).split(":", 1))
            elif k2 == "basic":
                out["basic"] = tuple(v) if isinstance(v, tuple | list) else tuple(str(v).split(":", 1))
            elif k2 == "bearer":
                out["bearer"] = str(v)
            else:
                raise ValueError(f"unknown auth kind {k!r} (use api_key, basic, bearer)")
        return out

    def _authenticate(self, headers: dict[str, str], uri: str) -> tuple[str, str, str] | None:
        if not self.auth:
            return None
        www = {"WWW-Authenticate": _www_authenticate(self.major)}
        hdr_json = {"WWW-Authenticate": _www_authenticate(self.major)}
        h = headers.get("authorization", "")
        scheme, _, cred = h.strip().partition(" ")
        scheme = scheme.lower()
        cred = cred.strip()

        def fail(reason: str, **extra: Any) -> EsError:
            return es_error(401, "security_exception", reason, headers=www, header=hdr_json, **extra)

        generic = (
            "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
        )
        if scheme == "basic" and cred:
            try:
                user, _, pw = base64.b64decode(cred).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise fail(f"missing authentication credentials for REST request [{uri}]") from None
            if "basic" in self.auth and (user, pw) == tuple(self.auth["basic"]):
                return ("user", user, user)
            raise fail(f"unable to authenticate user [{user}] for REST request [{uri}]")
        if scheme == "apikey" and cred:
            try:
                kid, _, key = base64.b64decode(cred).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise fail(generic, additional_unsuccessful_credentials="API key: invalid ApiKey value") from None
            if "api_key" in self.auth and (kid, key) == tuple(self.auth["api_key"]):
                return ("api_key", kid, self.principal)
            known = "api_key" in self.auth and kid == self.auth["api_key"][0]
            detail = f"invalid credentials for API key [{kid}]" if known else f"unable to find apikey with id {kid}"
            raise fail(generic, additional_unsuccessful_credentials=f"API key: {detail}")
        if scheme == "bearer" and cred:
            if "bearer" in self.auth and cred == self.auth["bearer"]:
                return ("token", "", self.principal)
            raise fail(generic, additional_unsuccessful_credentials="oauth2 token: token malformed")
        raise fail(f"missing authentication credentials for REST request [{uri}]")

    def _authorize(self, who: tuple[str, str, str] | None, action: str, target: str | None, privileges: str) -> None:
        if not self.forbidden_indices:
            return
        exprs = [e for e in (target or "_all").split(",") if e and not e.startswith("-")]
        denied = []
        for e in exprs:
            probe = "*" if e == "_all" else e
            if any(glob_match(fp, probe) for fp in self.forbidden_indices):
                denied.append(e)
        if not denied:
            return
        on = ",".join(denied)
        if who is not None and who[0] == "api_key":
            reason = (
                f"action [{action}] is unauthorized for API key id [{who[1]}] of user [{who[2]}] on indices "
                f"[{on}], this action is granted by the index privileges [{privileges}]"
            )
        else:
            user = who[2] if who else self.principal
            reason = (
                f"action [{action}] is unauthorized for user [{user}] with effective roles [dossier_reader] on "
                f"indices [{on}], this action is granted by the index privileges [{privileges}]"
            )
        raise es_error(403, "security_exception", reason)

    def _visible(self, shards: list[Shard]) -> list[Shard]:
        if not self.forbidden_indices:
            return shards
        return [
            s
            for s in shards
            if not any(
                glob_match(fp, s.name) or (s.data_stream and glob_match(fp, s.data_stream))
                for fp in self.forbidden_indices
            )
        ]

    # protocol ---------------------------------------------------------------------------------------
    def _response_content_type(self, headers: dict[str, str]) -> str:
        if self.flavor == "elasticsearch":
            _, v, is_vnd = _media_version(headers.get("accept"))
            if is_vnd and v is not None:
                return f"application/vnd.elasticsearch+json;compatible-with={v}"
        return "application/json; charset=UTF-8"

    def _check_media(self, headers: dict[str, str], has_body: bool) -> None:
        accept = headers.get("accept")
        ctype = headers.get("content-type")
        if has_body and ctype:
            known, _, is_vnd = _media_version(ctype)
            if not known or (self.flavor == "opensearch" and is_vnd):
                raise EsError(
                    406,
                    {"error": f"Content-Type header [{ctype}] is not supported", "status": 406},
                    {"__content_type__": "application/json; charset=UTF-8"},
                )
        if self.flavor != "elasticsearch":
            return
        _, a, _ = _media_version(accept)
        _, c, _ = _media_version(ctype) if has_body else (True, None, False)
        cur, low = self.major, self.major - 1
        av = a if a is not None else cur
        cv = c if c is not None else cur
        msg = None
        if av > cur or av < low:
            msg = f"Accept version must be either version {cur} or {low}, but found {av}. Accept={accept}"
        elif has_body:
            if cv > cur or cv < low:
                msg = (
                    f"Content-Type version must be either version {cur} or {low}, but found {cv}. Content-Type={ctype}"
                )
            elif cv != av:
                msg = (
                    "A compatible version is required on both Content-Type and Accept headers if either one has "
                    "requested a compatible version and the compatible versions must match. "
                    f"Accept={accept}, Content-Type={ctype}"
                )
            elif (a is None) != (c is None):
                msg = (
                    "A compatible version is required on both Content-Type and Accept headers if either one has "
                    f"requested a compatible version. Accept={accept}, Content-Type={ctype}"
                )
        if msg:
            raise es_error(
                400,
                "media_type_header_exception",
                "Invalid media-type value on headers [Accept, Content-Type]",
                caused_by=cause("status_exception", msg),
                headers={"__content_type__": "application/json; charset=UTF-8", "__no_product__": True},
            )

    def _injected(self, method: str, target: str) -> EsError | None:
        with self._req_lock:
            for inj in self._injections:
                if inj.count > 0 and (inj.rx is None or inj.rx.search(target)):
                    inj.count -= 1
                    break
            else:
                return None
            self._injections = [i for i in self._injections if i.count > 0]
        path = target.split("?", 1)[0]
        headers = dict(inj.headers)
        if inj.retry_after is not None:
            headers["Retry-After"] = str(inj.retry_after)
        if inj.body is not None:
            return EsError(inj.status, inj.body, headers)
        e = self._real_error(inj.status, inj.kind, path, target)
        e.headers.update(headers)
        return e

    def _real_error(self, status: int, kind: str | None, path: str, uri: str) -> EsError:
        segs = [unquote(s) for s in path.split("/") if s]
        index = segs[0] if segs and not segs[0].startswith("_") else None
        search_like = any(s in ("_search", "_count", "_pit", "_msearch") for s in segs)
        pool = (
            "TaskExecutionTimeTrackingEsThreadPoolExecutor[name = standin-node/search, queue capacity = 1000, "
            "task execution EWMA = 4.6ms, total task execution time = 2.1h, org.elasticsearch.common.util."
            "concurrent.TaskExecutionTimeTrackingEsThreadPoolExecutor@2c6b7a1e[Running, pool size = 13, active "
            "threads = 13, queued tasks = 1000, completed tasks = 48121955]]"
        )
        rejected = cause(
            "es_rejected_execution_exception",
            f"rejected execution of TimedRunnable{{original=ActionRunnable#wrap[org.elasticsearch.search."
            f"SearchService$$Lambda/0x00007f3c9c8f1a28@5b1e1c0b], creationTimeNanos=1289133447163}} on "
            f"{pool}",
        )
        if status == 429:
            if kind == "circuit_breaker":
                return es_error(
                    429,
                    "circuit_breaking_exception",
                    "[parent] Data too large, data for [<http_request>] would be [1031810242/984mb], which "
                    "is larger than the limit of [1020054732/972.7mb], real usage: [1031810080/984mb], new "
                    "bytes reserved: [162/162b], usages [inflight_requests=162/162b, request=0/0b, "
                    "fielddata=0/0b, eql_sequence=0/0b, model_inference=0/0b]",
                    bytes_wanted=1031810242,
                    bytes_limit=1020054732,
                    durability="PERMANENT",
                )
            if kind == "shards":
                shards = self.engine.resolve(index, {"ignore_unavailable": "true"}) if index else []
                fails = [(s, ShardFailure(429, rejected)) for s in shards] or [(None, ShardFailure(429, rejected))]
                return all_shards_failed(fails)
            return EsError(429, envelope(429, dict(rejected)))
        if status == 503:
            if kind == "cluster_block":
                return es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
            try:
                shards = self.engine.resolve(index, {"ignore_unavailable": "true"}) if index else []
            except EsError:
                shards = []
            shards = shards or [None]
            fails = []
            for s in shards:
                c = cause(
                    "no_shard_available_action_exception",
                    None,
                    index_uuid=s.uuid if s else "_na_",
                    shard="0",
                    index=s.name if s else None,
                )
                fails.append((s, ShardFailure(503, c)))
            return all_shards_failed(fails)
        if status in (502, 504) and kind in (None, "proxy"):
            text = {502: "Bad Gateway", 504: "Gateway Timeout"}[status]
            return EsError(
                status,
                f"<html><body><h1>{status} {text}</h1></body></html>\n",
                {"__content_type__": "text/html", "__no_product__": True},
            )
        if status == 401:
            www = _www_authenticate(self.major)
            return es_error(
                401,
                "security_exception",
                f"missing authentication credentials for REST request [{uri}]",
                headers={"WWW-Authenticate": www},
                header={"WWW-Authenticate": www},
            )
        if status == 403:
            action = "indices:data/read/open_point_in_time" if "_pit" in segs else "indices:data/read/search"
            return es_error(
                403,
                "security_exception",
                f"action [{action}] is unauthorized for API key id [standin-key] of user "
                f"[{self.principal}] on indices [{index or '*'}], this action is granted by the index "
                "privileges [read,all]",
            )
        if status == 404:
            return index_not_found(index or "_all")
        if status == 400:
            if search_like:
                f = ShardFailure(
                    400,
                    cause(
                        "illegal_argument_exception",
                        f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] "
                        "but was [10001]. See the scroll api for a more efficient way to request large data sets. This "
                        "limit can be set by changing the [index.max_result_window] index level setting.",
                    ),
                )
                return all_shards_failed([(None, f)])
            return es_error(400, "illegal_argument_exception", "request body is required")
        if status == 500:
            return es_error(500, "illegal_state_exception", "unexpected failure while executing the request")
        if status == 409:
            return es_error(
                409,
                "version_conflict_engine_exception",
                "[1]: version conflict, document already exists (current version [1])",
            )
        return es_error(status, "status_exception", f"injected status {status}")

    def _info(self) -> dict[str, Any]:
        if self.flavor == "opensearch":
            return {
                "name": "standin-node",
                "cluster_name": self.cluster_name,
                "cluster_uuid": self.cluster_uuid,
                "version": {
                    "distribution": "opensearch",
                    "number": self.version or "2.17.0",
                    "build_type": "tar",
                    "build_hash": self.build_hash,
                    "build_date": "2024-09-13T00:29:10.405466385Z",
                    "build_snapshot": False,
                    "lucene_version": "9.11.1",
                    "minimum_wire_compatibility_version": "7.10.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "The OpenSearch Project: https://opensearch.org/",
            }
        v = dict(INFO_VERSIONS[self.major])
        return {
            "name": "standin-node",
            "cluster_name": self.cluster_name,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.version or v["number"],
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": self.build_hash,
                "build_date": v["build_date"],
                "build_snapshot": False,
                "lucene_version": v["lucene_version"],
                "minimum_wire_compatibility_version": v["minimum_wire_compatibility_version"],
                "minimum_index_compatibility_version": v["minimum_index_compatibility_version"],
            },
            "tagline": "You Know, for Search",
        }

    def _check_params(self, kind: str, path: str, params: dict[str, str]) -> None:
        allowed = _PARAMS[kind] | _COMMON_PARAMS
        bad = [k for k in params if k not in allowed]
        if not bad:
            return
        parts = []
        for k in bad:
            s = difflib.get_close_matches(k, sorted(allowed), n=1, cutoff=0.75)
            parts.append(f"[{k}]" + (f" -> did you mean [{s[0]}]?" if s else ""))
        noun = "parameter" if len(bad) == 1 else "parameters"
        raise es_error(
            400, "illegal_argument_exception", f"request [{path}] contains unrecognized {noun}: {', '.join(parts)}"
        )

    def _json_body(self, body: bytes) -> tuple[Any, str]:
        if not body.strip():
            return {}, ""
        text = body.decode("utf-8", errors="replace")
        try:
            return json.loads(text), text
        except json.JSONDecodeError as e:
            raise es_error(
                400,
                "x_content_parse_exception",
                f"[{e.lineno}:{e.colno}] Unexpected character or end-of-input: {e.msg}",
            ) from None

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, Any]]:
        parts = urlsplit(target)
        path = parts.path or "/"
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        inj = self._injected(method, target)
        if inj is not None:
            raise inj
        self._check_media(headers, bool(body))
        who = self._authenticate(headers, target)
        segs = [unquote(s) for s in path.split("/") if s]
        eng = self.engine
        if "source" in params and not body and method in ("GET", "POST"):
            body = params.pop("source").encode()
            params.pop("source_content_type", None)
        with eng.lock:
            return self._route(method, path, segs, params, body, who, target)

    def _route(
        self, method: str, path: str, segs: list[str], params: dict[str, str], body: bytes, who: Any, uri: str
    ) -> tuple[int, Any, dict[str, Any]]:
        eng = self.engine
        os_flavor = self.flavor == "opensearch"
        n = len(segs)

        def bad_method(allowed: str) -> EsError:
            return EsError(
                405,
                {
                    "error": f"Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{allowed}]",
                    "status": 405,
                },
            )

        if n == 0:
            if method in ("GET", "HEAD"):
                return 200, (None if method == "HEAD" else self._info()), {}
            raise bad_method("HEAD, GET")
        last = segs[-1]
        target = segs[0] if n >= 2 and not segs[0].startswith("_") else None
        # search / count
        if last in ("_search", "_count") and n <= 2 and (n == 1 or target is not None):
            if method not in ("GET", "POST"):
                raise bad_method("POST, GET")
            kind = "search" if last == "_search" else "count"
            self._check_params(kind, path, params)
            if params.get("q"):
                raise unsupported("the [q] (query_string) URL parameter")
            data, raw = self._json_body(body)
            if not isinstance(data, dict):
                raise parsing_error(
                    "request body or source parameter is required"
                    if data is None
                    else "Expected [START_OBJECT] but found [START_ARRAY]"
                )
            has_pit = isinstance(data, dict) and ("pit" in data or (os_flavor and "point_in_time" in data))
            if not has_pit:
                self._authorize(who, "indices:data/read/search", target, "read,all")
                if self.forbidden_indices:
                    shards = self._visible(eng.resolve(target, params))
                    target = ",".join(s.name for s in shards) if shards else None
                    if not shards:
                        return 200, self._empty_search(kind), {}
            return 200, eng.search(target, data, params, raw, count_only=(kind == "count")), {}
        # PIT, Elasticsearch flavour
        if not os_flavor and last == "_pit":
            if n == 2 and method == "POST":
                self._check_params("pit", path, params)
                self._authorize(who, "indices:data/read/open_point_in_time", target, "read,all")
                return 200, eng.open_pit(target, params), {}
            if n == 1 and method == "DELETE":
                data, _ = self._json_body(body)
                status, res = eng.close_pit(data)
                return status, res, {}
            raise bad_method("DELETE" if n == 1 else "POST")
        # PIT, OpenSearch flavour
        if os_flavor and n >= 2 and segs[-2:] == ["_search", "point_in_time"]:
            if n == 3 and method == "POST":
                self._check_params("pit", path, params)
                return 200, eng.open_pit(segs[0], params), {}
            if n == 2 and method == "DELETE":
                data, _ = self._json_body(body)
                status, res = eng.close_pit(data)
                return status, res, {}
            raise bad_method("POST" if n == 3 else "DELETE")
        raise es_error(400, "illegal_argument_exception", f"no handler found for uri [{uri}] and method [{method}]")

    def _empty_search(self, kind: str) -> dict[str, Any]:
        shards = {"total": 0, "successful": 0, "skipped": 0, "failed": 0}
        if kind == "count":
            return {"count": 0, "_shards": shards}
        return {
            "took": 0,
            "timed_out": False,
            "_shards": shards,
            "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None, "hits": []},
        }


def load_docs_file(path: str | Path) -> Iterator[dict[str, Any]]:
    """Iterate the JSON objects of a JSON-lines file (for tests that also want the raw docs)."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Elasticsearch stand-in (stdlib HTTP server) for Dossier tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--load", action="append", default=[], metavar="FILE", help="JSON-lines documents (repeatable)")
    ap.add_argument("--major", type=int, choices=(7, 8, 9), default=9)
    ap.add_argument("--flavor", choices=("elasticsearch", "opensearch"), default="elasticsearch")
    ap.add_argument("--api-key", metavar="ID:KEY")
    ap.add_argument("--basic", metavar="USER:PASS")
    ap.add_argument("--bearer", metavar="TOKEN")
    ap.add_argument(
        "--forbidden",
        action="append",
        default=[],
        metavar="PATTERN",
        help="index pattern the credentials may not read (403)",
    )
    ap.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="STATUS:N[:PATH_REGEX]",
        help="the next N matching requests fail with the real body for STATUS (repeatable)",
    )
    ap.add_argument("--fail-kind", default=None, help="variant for --fail bodies (see inject())")
    ap.add_argument("--retry-after", default=None, help="Retry-After header value on injected failures")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each response")
    ap.add_argument(
        "--mappings", metavar="FILE", help='JSON {"index-pattern": {"properties": ...}} applied on creation'
    )
    ap.add_argument("--pit-id-changes", action="store_true", help="return a new pit_id on every PIT search")
    ap.add_argument("--default-index", default="logs-app-default")
    args = ap.parse_args(argv)
    auth: dict[str, Any] = {}
    if args.api_key:
        auth["api_key"] = args.api_key
    if args.basic:
        auth["basic"] = args.basic
    if args.bearer:
        auth["bearer"] = args.bearer
    mappings = json.loads(Path(args.mappings).read_text()) if args.mappings else None
    st = ElasticsearchStandin(
        None,
        major=args.major,
        flavor=args.flavor,
        auth=auth or None,
        host=args.host,
        port=args.port,
        forbidden_indices=args.forbidden,
        delay=args.delay,
        mappings=mappings,
        pit_id_changes=args.pit_id_changes,
        default_index=args.default_index,
    )
    t0 = time.monotonic()
    total = sum(st.load(f) for f in args.load)
    for spec in args.fail:
        bits = spec.split(":", 2)
        st.inject(
            int(bits[0]),
            int(bits[1]) if len(bits) > 1 else 1,
            bits[2] if len(bits) > 2 else None,
            kind=args.fail_kind,
            retry_after=args.retry_after,
        )
    st.start()
    print(
        f"elasticsearch stand-in ({args.flavor} {args.major}.x) listening on {st.url}; loaded {total} docs in "
        f"{time.monotonic() - t0:.1f}s",
        flush=True,
    )
    stop = threading.Event()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    st.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
