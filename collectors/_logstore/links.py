"""Links back to the log store's UI: Kibana Discover, OpenSearch Dashboards Discover.

Both UIs keep their state in rison (`(time:(from:'...',to:'...'))`) after the `#`; the query is
KQL. A link opens the UI's default data view / index pattern on that query and time range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from collectors._logstore.query import iso

UI = Literal["kibana", "dashboards"]
_SAFE = "()',:!*-._~/@"


def rison_string(text: str) -> str:
    """A rison string literal: `'...'` with `!` and `'` escaped by `!`."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def kql_value(text: str) -> str:
    """A quoted KQL value: a phrase match, `"` and `\\` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kql_field(field: str, values: Sequence[str]) -> str:
    """`field:"a"` or `field:("a" or "b")`."""
    if len(values) == 1:
        return f"{field}:{kql_value(values[0])}"
    return f"{field}:(" + " or ".join(kql_value(v) for v in values) + ")"


def kql_and(*clauses: str | None) -> str:
    return " and ".join(c for c in clauses if c)


def discover(base: str | None, ui: UI, kql: str, start: datetime, end: datetime) -> str | None:
    """The Discover page of `ui` at `base` with the query `kql` over [start, end]; None without base."""
    if not base:
        return None
    g = f"(time:(from:{rison_string(iso(start))},to:{rison_string(iso(end))}))"
    q = f"(language:kuery,query:{rison_string(kql)})"
    if ui == "kibana":
        return f"{base}/app/discover#/?_g={quote(g, safe=_SAFE)}&_a={quote(f'(query:{q})', safe=_SAFE)}"
    return f"{base}/app/data-explorer/discover#?_g={quote(g, safe=_SAFE)}&_q={quote(f'(query:{q})', safe=_SAFE)}"
