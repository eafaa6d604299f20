"""Values and durations as people read them: `462 ms`, `3.1%`, `11.8 MiB`, `5.78/s`, `6m 15s`,
`per minute`, and the unit a PromQL query's metric names imply.

Pure and dependency-free, so that the correlation engine (titles of the events it writes) and
the exporters (the draft's prose) say a value the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping


def _units(seconds: int) -> list[tuple[int, str]]:
    d, s = divmod(seconds, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return [(d, "d"), (h, "h"), (m, "m"), (s, "s")]


def fmt_duration(seconds: float | None) -> str:
    """How people write a duration: `45s`, `6m`, `6m 15s`, `1h`, `1h 27m`, `2d 3h` (the two
    largest units, a zero second one left out); under a minute a fraction is kept (`0.83s`)."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    if abs(seconds) < 59.995 and seconds != int(seconds):
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    sign = "-" if seconds < 0 else ""
    parts = _units(round(abs(seconds)))
    first = next((i for i, (n, _) in enumerate(parts) if n), 3)
    shown = [f"{n}{u}" for n, u in parts[first : first + 2] if n] or ["0s"]
    return sign + " ".join(shown)


def fmt_exact(seconds: float) -> str:
    """A whole number of seconds with nothing dropped: `6m 15s`, `1h 0m 30s`, `5m`, `0s`; for
    sums that must add up when read back."""
    sign = "-" if seconds < 0 else ""
    parts = _units(round(abs(seconds)))
    nonzero = [i for i, (n, _) in enumerate(parts) if n]
    if not nonzero:
        return "0s"
    return sign + " ".join(f"{n}{u}" for n, u in parts[nonzero[0] : nonzero[-1] + 1])


def per(seconds: float | None) -> str:
    """`per minute`, `per 5 minutes`, `per 30 seconds`, `per hour`: the bucket of a count."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return "per bucket"
    s = round(seconds)
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if s % size == 0:
            n = s // size
            return f"per {word}" if n == 1 else f"per {n} {word}s"
    return f"per {fmt_duration(seconds)}"  # pragma: no cover - s % 1 == 0 always holds


_ZERO_TAIL = re.compile(r"\b(\d+)([dhm]) 0[hms]\b")
_PER = re.compile(r"\bper (\d+)([smhd])\b(?! \d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def humane(value: str) -> str:
    """Dossier's own prose with its durations as people write them: `5m 0s` -> `5m`,
    `per 1m 0s` -> `per minute`."""
    value = _ZERO_TAIL.sub(r"\1\2", value)
    return _PER.sub(lambda m: per(int(m.group(1)) * _UNIT_SECONDS[m.group(2)]), value)


def fmt_number(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _percent(p: float) -> str:
    if p == 0:
        return "0%"
    body = f"{p:.0f}" if abs(p) >= 100 else f"{p:.1f}" if abs(p) >= 1 else f"{p:.2g}"
    if "." in body:
        body = body.rstrip("0").rstrip(".")
    return f"{body}%"


def _bytes(b: float) -> str:
    size = abs(b)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            sign = "-" if b < 0 else ""
            return f"{sign}{size:.0f} {unit}" if unit == "B" else f"{sign}{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _seconds(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{v * 1e6:.3g} µs"
    if a < 1:
        return f"{v * 1e3:.3g} ms"
    if a < 60:
        return f"{v:.3g} s"
    return fmt_duration(v)


_UNIT_ALIASES: Mapping[str, str] = {
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "seconds": "seconds",
    "ms": "milliseconds",
    "millisecond": "milliseconds",
    "milliseconds": "milliseconds",
    "ratio": "ratio",
    "fraction": "ratio",
    "%": "percent",
    "percent": "percent",
    "b": "bytes",
    "by": "bytes",
    "byte": "bytes",
    "bytes": "bytes",
    "bytes/s": "bytes/s",
    "b/s": "bytes/s",
    "/s": "per second",
    "1/s": "per second",
    "per second": "per second",
}


def normal_unit(unit: str | None) -> str | None:
    if unit is None or not unit.strip():
        return None
    return _UNIT_ALIASES.get(unit.strip().lower(), unit.strip())


_METRIC = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_RATE_OF = re.compile(r"\b(?:i?rate)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_DIVIDE_BY_NAME = re.compile(r"/\s*(?:[A-Za-z_(])")


def infer_unit(query: str) -> str | None:
    """The unit a PromQL query's metric names imply (Prometheus naming conventions): `_seconds`
    seconds, `_bytes` bytes, `_ratio` or one metric divided by another a ratio, `rate(x_total[..])`
    per second; None when the names say nothing."""
    body = _QUOTED.sub('""', query)
    names = [m.group() for m in _METRIC.finditer(re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", body))]
    rated = set(_RATE_OF.findall(body))

    def has(suffix: str) -> bool:
        return any(n.endswith(suffix) or f"{suffix}_" in n for n in names)

    if any(n.endswith("_ratio") for n in names):
        return "ratio"
    divided = bool(_DIVIDE_BY_NAME.search(body))
    if divided and any(n.endswith(("_seconds_sum", "_seconds_bucket")) for n in names):
        return "seconds"
    if divided and any(n.endswith("_bytes_sum") for n in names):
        return "bytes"
    if divided:
        return "ratio"
    if "histogram_quantile" in body and any(n.endswith("_seconds_bucket") for n in names):
        return "seconds"
    if any(n.endswith(("_seconds_total", "_bytes_total")) and n in rated for n in names):
        return "bytes/s" if any(n.endswith("_bytes_total") and n in rated for n in names) else "ratio"
    if any(n.endswith(("_total", "_count")) and n in rated for n in names):
        return "per second"
    if has("_seconds"):
        return "seconds"
    if has("_bytes"):
        return "bytes"
    return None


UNIT_WORDS: Mapping[str, str] = {
    "seconds": "seconds",
    "milliseconds": "milliseconds",
    "ratio": "ratio (shown as a percentage)",
    "percent": "percent",
    "bytes": "bytes",
    "bytes/s": "bytes per second",
    "per second": "per second (a rate)",
}


def fmt_value(value: object, unit: str | None) -> str:
    """A value as people read it in `unit` (normalised): `462 ms`, `3.1%`, `11.8 MiB`, `5.78/s`."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "unknown"
    v = float(value)
    unit = normal_unit(unit)
    if unit == "seconds":
        return _seconds(v)
    if unit == "milliseconds":
        return _seconds(v / 1000)
    if unit == "ratio":
        return _percent(v * 100)
    if unit == "percent":
        return _percent(v)
    if unit == "bytes":
        return _bytes(v)
    if unit == "bytes/s":
        return _bytes(v) + "/s"
    if unit == "per second":
        return f"{fmt_number(v)}/s"
    if unit is None:
        return fmt_number(v)
    return f"{fmt_number(v)} {unit}"
