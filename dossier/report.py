"""`dossier report DIR`: what many incidents teach, from their `dossier.json` files.

`find` lists the drafts under a folder and `load` reads them (the only I/O here); `aggregate` is
pure: from the drafts (dicts in the dossier/v1 schema) to one `Report` value (a dict), which the
exporters render as Markdown and HTML, and `--format json` prints as it is.

What it measures, across the incidents (optionally only those that began at or after `since`):

* time to detect, acknowledge, mitigate, recover and resolve (`durations` of each dossier.json):
  count, median, 90th percentile, mean, min and max, over all incidents, per service (an incident
  counts once under each of its services) and per month (UTC, of the onset the telemetry shows,
  else of the window's start). Percentiles are numpy's default method ("linear": between the
  closest ranks, `np.percentile(values, q, method="linear")`), and the report says so;
  an unknown duration (`null`) is left out of its statistic, never counted as zero;
* how incidents were detected: by an alert, by people (a `human_detected` gap), or not at all,
  and the share detected by people among those detected;
* detection gaps by kind: how many, in how many incidents, and the (kind, service) pairs that
  recur (in two incidents or more);
* alerts late more than once: the alert named by each `late_alert` gap (its firing evidence, else
  the service's alert that fired at the gap's end), in two incidents or more, with the lateness;
* the changes ranked first as candidate cause, by kind (deploy, config change, flag, rollback)
  and by kind and service.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from dossier.errors import ConfigError, Issue
from dossier.model import SCHEMA, parse_time, rfc3339

REPORT_SCHEMA = "dossier-report/v1"
DURATIONS: tuple[str, ...] = (
    "time_to_detect",
    "time_to_acknowledge",
    "time_to_mitigate",
    "time_to_recover",
    "time_to_resolve",
)
PERCENTILE_METHOD = (
    'numpy\'s default percentile method, "linear": for n sorted values, the q-th percentile is read at '
    "rank (n - 1) * q / 100, interpolating linearly between the two closest values "
    '(np.percentile(values, q, method="linear"))'
)
NO_SERVICE = "(no service named)"

Report = dict[str, Any]


# ---- reading -------------------------------------------------------------------------------


def find(folder: Path) -> list[Path]:
    """Every `dossier.json` under `folder` (each output folder's), in path order."""
    if not folder.is_dir():
        raise ConfigError(str(folder), ["no such folder: give the output folder that holds <id>/dossier.json"])
    return sorted(folder.rglob("dossier.json"))


def load(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """The drafts that can be read, and a line for each that cannot (named, never silently left out)."""
    drafts, skipped = [], []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            skipped.append(f"{path}: not readable as JSON: {exc}")
            continue
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            skipped.append(f"{path}: schema is {found!r}, not {SCHEMA!r}")
            continue
        try:
            _check(data)
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(f"{path}: not a complete {SCHEMA} draft: {exc}")
            continue
        data["_path"] = str(path)
        drafts.append(data)
    return drafts, skipped


def _check(d: Mapping[str, Any]) -> None:
    incident = d["incident"]
    str(incident["id"])
    parse_time(incident["start"])
    for key in DURATIONS:
        value = d["durations"].get(key)
        if value is not None and not isinstance(value, int | float):
            raise ValueError(f"durations.{key} is {value!r}")
    started = d["milestones"].get("started")
    if started is not None:
        parse_time(started)


def parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ConfigError(None, [Issue(("--since",), f"{exc}")]) from None


# ---- statistics ----------------------------------------------------------------------------


def stats(values: Sequence[float]) -> dict[str, Any]:
    """count, median, p90, mean, min, max of `values` (seconds); None for each when there is none."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return {"count": 0, "median": None, "p90": None, "mean": None, "min": None, "max": None}
    return {
        "count": int(finite.size),
        "median": float(np.percentile(finite, 50, method="linear")),
        "p90": float(np.percentile(finite, 90, method="linear")),
        "mean": float(finite.mean()),
        "min": float(finite.min()),
        "max": float(finite.max()),
    }


# ---- the report ----------------------------------------------------------------------------


def began(d: Mapping[str, Any]) -> datetime:
    """When the incident began: the onset the telemetry shows, else the window's start."""
    return parse_time(d["milestones"].get("started") or d["incident"]["start"])


def services_of(d: Mapping[str, Any]) -> list[str]:
    return list(dict.fromkeys(d["incident"].get("services") or [])) or [NO_SERVICE]


def aggregate(
    drafts: Sequence[Mapping[str, Any]], *, since: datetime | None = None, skipped: Sequence[str] = ()
) -> Report:
    """The report over `drafts` (dossier/v1 dicts) that began at or after `since`. Pure."""
    chosen = sorted(
        (d for d in drafts if since is None or began(d) >= since),
        key=lambda d: (began(d), str(d["incident"]["id"])),
    )
    by_service: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    by_month: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in chosen:
        for service in services_of(d):
            by_service[service].append(d)
        by_month[began(d).strftime("%Y-%m")].append(d)

    def durations(group: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {key: stats([d["durations"].get(key) for d in group]) for key in DURATIONS}

    return {
        "schema": REPORT_SCHEMA,
        "percentile_method": PERCENTILE_METHOD,
        "since": rfc3339(since),
        "incidents": len(chosen),
        "first": rfc3339(began(chosen[0])) if chosen else None,
        "last": rfc3339(began(chosen[-1])) if chosen else None,
        "skipped": list(skipped),
        "left_out_before_since": len(drafts) - len(chosen),
        "durations": durations(chosen),
        "per_service": {s: {"incidents": len(g), "durations": durations(g)} for s, g in sorted(by_service.items())},
        "per_month": {m: {"incidents": len(g), "durations": durations(g)} for m, g in sorted(by_month.items())},
        "detection": _detection(chosen, by_service),
        "gaps": _gaps(chosen),
        "late_alerts": _late_alerts(chosen),
        "top_causes": _top_causes(chosen),
        "incident_list": [
            {
                "id": d["incident"]["id"],
                "title": d["incident"].get("title"),
                "began": rfc3339(began(d)),
                "services": services_of(d),
                "detected_by": _detected_by(d),
                **{key: d["durations"].get(key) for key in DURATIONS},
                "path": d.get("_path"),
            }
            for d in chosen
        ],
    }


def _detected_by(d: Mapping[str, Any]) -> str:
    """`people` (a human_detected gap), `alert`, or `undetected` (no detection in the evidence)."""
    if any(g.get("kind") == "human_detected" for g in d.get("detection_gaps") or ()):
        return "people"
    return "alert" if d["milestones"].get("detected") else "undetected"


def _detection(chosen: Sequence[Mapping[str, Any]], by_service: Mapping[str, Sequence[Mapping[str, Any]]]) -> Report:
    def tally(group: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        counts = Counter(_detected_by(d) for d in group)
        detected = counts["people"] + counts["alert"]
        return {
            "alert": counts["alert"],
            "people": counts["people"],
            "undetected": counts["undetected"],
            "people_share": counts["people"] / detected if detected else None,
        }

    by_month: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for d in chosen:
        by_month[began(d).strftime("%Y-%m")].append(d)
    return {
        "all": tally(chosen),
        "per_service": {s: tally(g) for s, g in sorted(by_service.items())},
        "per_month": {m: tally(g) for m, g in sorted(by_month.items())},
    }


def _gaps(chosen: Sequence[Mapping[str, Any]]) -> Report:
    gaps: Counter[str] = Counter()
    incidents: dict[str, set[str]] = defaultdict(set)
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d in chosen:
        inc = str(d["incident"]["id"])
        for g in d.get("detection_gaps") or ():
            kind = str(g.get("kind"))
            gaps[kind] += 1
            incidents[kind].add(inc)
            pairs[(kind, g.get("service") or NO_SERVICE)].add(inc)
    return {
        "by_kind": [
            {"kind": k, "gaps": gaps[k], "incidents": len(incidents[k])}
            for k in sorted(gaps, key=lambda k: (-len(incidents[k]), k))
        ],
        "recurring": [
            {"kind": k, "service": s, "incidents": len(ids), "ids": sorted(ids)}
            for (k, s), ids in sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            if len(ids) >= 2
        ],
    }


def late_alert_name(d: Mapping[str, Any], gap: Mapping[str, Any]) -> str | None:
    """The alert a late_alert gap is about: its firing evidence's alertname, else the alert of its
    service that fired at the gap's end."""
    events = {e.get("id"): e for e in d.get("timeline") or ()}
    for event_id in gap.get("evidence") or ():
        e = events.get(event_id)
        if e is not None and e.get("kind") == "alert_firing" and (e.get("attrs") or {}).get("alertname"):
            return str(e["attrs"]["alertname"])
    end = gap.get("end")
    for r in d.get("alert_review") or ():
        if r.get("service") == gap.get("service") and end and r.get("fired_at") == end:
            return str(r.get("alert"))
    return None


def _late_alerts(chosen: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    late: dict[tuple[str, str], list[tuple[str, float | None]]] = defaultdict(list)
    for d in chosen:
        for g in d.get("detection_gaps") or ():
            if g.get("kind") != "late_alert":
                continue
            name = late_alert_name(d, g)
            if name is not None:
                late[(name, g.get("service") or NO_SERVICE)].append((str(d["incident"]["id"]), g.get("duration")))
    out = []
    for (alert, service), rows in sorted(late.items(), key=lambda kv: (-len({i for i, _ in kv[1]}), kv[0])):
        ids = sorted({i for i, _ in rows})
        if len(ids) < 2:
            continue
        out.append(
            {
                "alert": alert,
                "service": service,
                "incidents": len(ids),
                "ids": ids,
                "late_by": stats([x for _, x in rows if x is not None]),
            }
        )
    return out


def _top_causes(chosen: Sequence[Mapping[str, Any]]) -> Report:
    kinds: Counter[str] = Counter()
    kind_service: Counter[tuple[str, str]] = Counter()
    without = 0
    for d in chosen:
        causes = sorted(d.get("candidate_causes") or (), key=lambda c: c.get("rank", math.inf))
        if not causes:
            without += 1
            continue
        events = {e.get("id"): e for e in d.get("timeline") or ()}
        event = events.get(causes[0].get("evidence"))
        kind = str(event.get("kind")) if event else "unknown (its evidence is not in the timeline)"
        kinds[kind] += 1
        kind_service[(kind, (event or {}).get("service") or NO_SERVICE)] += 1
    ranked = sum(kinds.values())
    return {
        "incidents_with_a_cause": ranked,
        "incidents_without": without,
        "by_kind": [
            {"kind": k, "incidents": n, "share": n / ranked}
            for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "by_kind_and_service": [
            {"kind": k, "service": s, "incidents": n}
            for (k, s), n in sorted(kind_service.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
    }
