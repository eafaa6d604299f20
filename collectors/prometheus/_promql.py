"""PromQL text handling: safe `$service` substitution, selectors and graph links.

`$service` is replaced by a service name without ever changing what the query means: each
occurrence is placed by a small lexer (strings, raw strings, comments), and the name is
escaped for the literal it lands in. An occurrence outside a string literal cannot be made
safe, so configs that have one are refused (`placeholder_problem`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

PLACEHOLDER = "$service"

# Go's regexp.QuoteMeta: the characters RE2 gives a meaning to.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"

Context = Literal["regex", "string", "raw_regex", "raw_string", "code", "comment"]


@dataclass(frozen=True, slots=True)
class _Literal:
    """One string literal of the query: `text[start:end]` including its quotes."""

    start: int
    end: int
    quote: str  # '"', "'" or "`"
    regex: bool  # the literal is the right-hand side of =~ or !~


def _literals(query: str) -> tuple[list[_Literal], list[tuple[int, int]]]:
    """Split `query` into string literals and comments, as PromQL's lexer does.

    An unterminated literal runs to the end of the text (Prometheus will reject the query;
    substitution inside it is still escaped, so the name cannot terminate it).
    """
    literals: list[_Literal] = []
    comments: list[tuple[int, int]] = []
    i, n = 0, len(query)
    last_op = ""  # the last non-blank token outside literals, to spot =~ and !~
    while i < n:
        c = query[i]
        if c in "\"'`":
            start = i
            i += 1
            end = n  # unterminated: runs to the end of the text
            while i < n:
                ch = query[i]
                if c != "`" and ch == "\\":
                    i += 2
                    continue
                if ch == c:
                    end = i + 1
                    break
                if c != "`" and ch == "\n":  # PromQL: a newline breaks a quoted string
                    end = i
                    break
                i += 1
            literals.append(_Literal(start, end, c, last_op in ("=~", "!~")))
            last_op = "str"
            i = end
            continue
        if c == "#":
            j = query.find("\n", i)
            j = n if j < 0 else j
            comments.append((i, j))
            i = j
            continue
        if c.isspace():
            i += 1
            continue
        if query.startswith(("=~", "!~"), i):
            last_op = query[i : i + 2]
            i += 2
            continue
        last_op = c
        i += 1
    return literals, comments


def placeholder_contexts(query: str) -> list[tuple[int, Context]]:
    """Where each `$service` occurs and in which lexical context."""
    literals, comments = _literals(query)
    found: list[tuple[int, Context]] = []
    pos = query.find(PLACEHOLDER)
    while pos >= 0:
        ctx: Context = "code"
        for lit in literals:
            if lit.start < pos < lit.end:
                raw = lit.quote == "`"
                if lit.regex:
                    ctx = "raw_regex" if raw else "regex"
                else:
                    ctx = "raw_string" if raw else "string"
                break
        else:
            if any(a <= pos < b for a, b in comments):
                ctx = "comment"
        found.append((pos, ctx))
        pos = query.find(PLACEHOLDER, pos + len(PLACEHOLDER))
    return found


def placeholder_problem(query: str, *, required: bool = True) -> str | None:
    """Why `query` cannot take `$service` safely, or None when it can."""
    contexts = [ctx for _, ctx in placeholder_contexts(query)]
    if not [c for c in contexts if c != "comment"]:
        return f'query must contain {PLACEHOLDER} (e.g. {{service="{PLACEHOLDER}"}})' if required else None
    if "code" in contexts:
        return f'{PLACEHOLDER} must be inside a quoted label value, e.g. {{service="{PLACEHOLDER}"}}'
    return None


def re2_escape(text: str) -> str:
    """Escape RE2's metacharacters (Go's regexp.QuoteMeta)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


def string_escape(text: str, quote: str = '"') -> str:
    """Escape `text` for the inside of a PromQL (Go) string literal quoted with `quote`."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + quote)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def quote(text: str) -> str:
    """A double-quoted PromQL string literal holding exactly `text`."""
    return '"' + string_escape(text) + '"'


def substitute(query: str, service: str) -> str:
    """`query` with every `$service` replaced by `service`, escaped for where it stands.

    Raw (backtick) strings that hold the placeholder are rewritten as double-quoted strings,
    since a raw string has no escapes. Comments are left alone. Raises ValueError for an
    occurrence outside a string literal (config validation refuses those first).
    """
    problem = placeholder_problem(query, required=False)
    if problem:
        raise ValueError(problem)
    literals, _ = _literals(query)
    out: list[str] = []
    pos = 0
    for lit in literals:
        body = query[lit.start : lit.end]
        if PLACEHOLDER not in body:
            continue
        out.append(query[pos : lit.start])
        value = re2_escape(service) if lit.regex else service
        if lit.quote == "`":
            inner = body[1:-1] if body.endswith("`") and len(body) > 1 else body[1:]
            parts = [string_escape(p) for p in inner.split(PLACEHOLDER)]
            out.append('"' + string_escape(value).join(parts) + '"')
        else:
            out.append(body.replace(PLACEHOLDER, string_escape(value, lit.quote)))
        pos = lit.end
    out.append(query[pos:])
    return "".join(out)


def is_label_name(name: str) -> bool:
    return bool(_LABEL_NAME.match(name))


_SELECTOR = re.compile(rf"\s*(?:{_METRIC_NAME}\s*)?(\{{.*\}})?\s*\Z", re.S)


def is_plain_selector(query: str) -> bool:
    """True for `metric`, `metric{...}` or `{...}`: something a range selector may follow."""
    literals, comments = _literals(query)
    if comments:
        return False
    # blank out literals, so braces or brackets inside label values do not count
    chars = list(query)
    for lit in literals:
        for k in range(lit.start, lit.end):
            chars[k] = "x"
    skeleton = "".join(chars)
    m = _SELECTOR.match(skeleton)
    if not m or not skeleton.strip():
        return False
    braces = m.group(1) or ""
    return braces.count("{") <= 1 and braces.count("}") <= 1 and not re.search(r"[\[\]()]", skeleton)


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """`metric{a="x",b="y"}` with every value escaped."""
    inner = ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
    return f"{metric}{{{inner}}}"


def label_matchers(expr: str, label: str) -> list[tuple[str, str]]:
    """The (operator, value) of every matcher on `label` in `expr` (values unescaped)."""
    literals, _ = _literals(expr)
    found: list[tuple[str, str]] = []
    pattern = re.compile(rf"(?<![a-zA-Z0-9_]){re.escape(label)}\s*(=~|!~|!=|=)\s*\Z")
    for lit in literals:
        head = expr[max(0, lit.start - len(label) - 8) : lit.start]
        m = pattern.search(head)
        if not m or lit.end - lit.start < 2:
            continue
        body = expr[lit.start + 1 : lit.end - 1]
        found.append((m.group(1), body if lit.quote == "`" else unescape(body)))
    return found


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unescape(body: str) -> str:
    """The value of a quoted PromQL string's inside (Go escapes; unknown ones kept as is)."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        width = {"x": 2, "u": 4, "U": 8}.get(nxt)
        if width and re.fullmatch(r"[0-9a-fA-F]+", body[i + 2 : i + 2 + width] or "-"):
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(nxt)
            i += 2
    return "".join(out)


def graph_link(base: str, expr: str, *, start: float, end: float, step: float | None = None) -> str:
    """A link to Prometheus' graph page showing `expr` over [start, end]."""
    from datetime import UTC, datetime

    end_text = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M:%S")
    params = {
        "g0.expr": expr,
        "g0.tab": "0",
        "g0.range_input": f"{max(1, round(end - start))}s",
        "g0.end_input": end_text,
    }
    if step:
        params["g0.step_input"] = f"{step:g}"
    return f"{base}/graph?{urlencode(params)}"
