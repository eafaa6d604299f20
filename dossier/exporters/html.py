"""Exporter `html`: `report.html`, one self-contained page with the timeline drawn as a chart.

For each key signal (the signals whose anomalies make up the incident; else the incident services'
signals) a chart in inline SVG: the series, its baseline band, and marked on it the onset, the
alerts going pending and firing, pages and notifications, changes, and the recovery, with the
detection gaps shaded. Then the draft's summary, detection review, gaps, causes, timeline and
evidence, with their links, converted from the same Markdown the `md` exporter writes (so the page
says exactly what draft.md says).

The page makes no request of its own: styles are inline, there is no script, no font file and no
image but the inline SVG; only the evidence links point elsewhere. It has print styles (A4,
charts kept whole, link targets printed). `render` is pure and deterministic.

The band drawn is the baseline's median ± 2 robust standard deviations (1.4826 × the median
absolute deviation) of the signal's points before the window: a picture of "normal", not the
detector's own model (which may follow a daily cycle or a trend), and the legend says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import jinja2
import numpy as np
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from dossier.exporters.markdown import TEMPLATES, _Draft, fmt_time
from dossier.model import CHANGE_KINDS, Dossier, Event, Series
from dossier.plugin import Exporter
from dossier.units import fmt_duration, fmt_value, infer_unit, normal_unit

MAX_CHARTS = 8
WIDTH, HEIGHT = 960, 232
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 46, 26

# Marker colours: each kind its own, so a reader (and the tests, in pixels) can tell them apart.
COLORS = {
    "series": "#1f4e79",
    "band": "#cfe8cf",
    "onset": "#d62728",
    "pending": "#ff9900",
    "firing": "#8e24aa",
    "page": "#e91e63",
    "change": "#1565c0",
    "recovery": "#2e7d32",
    "late_alert": "#ffcc80",
    "unalerted_signal": "#ef9a9a",
    "blind_spot": "#9e9e9e",
    "human_detected": "#ffe082",
}
MARKER_TEXT = {
    "onset": "onset",
    "pending": "alert pending",
    "firing": "alert firing",
    "page": "page / notification",
    "change": "change",
    "recovery": "recovery",
}
GAP_TEXT = {
    "late_alert": "late alert (onset to firing)",
    "unalerted_signal": "unalerted signal",
    "blind_spot": "blind spot",
    "human_detected": "detected by people",
}


class HtmlExporter(Exporter):
    """A self-contained page: the timeline chart, then the detection review, causes and evidence."""

    format: ClassVar[str] = "html"
    filename: ClassVar[str] = "report.html"

    def render(self, dossier: Dossier) -> str:
        return render_page(dossier)


# ---- the page --------------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    # CommonMark with GFM tables; raw HTML off, so text from sources can never become markup
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_page(dossier: Dossier) -> str:
    """The page; its sections are the default draft's parts (whatever template draft.md uses)."""
    parts = _Draft(dossier).sections()
    md = _markdown()

    def html(markdown_text: str) -> Markup:
        return Markup(md.render(markdown_text))  # safe: markdown-it escapes the text, raw HTML is off

    inc = dossier.incident
    m = dossier.milestones
    durations = dossier.durations
    facts = [
        ("Severity", inc.severity or "not given"),
        ("Services", ", ".join(inc.services) or "not given"),
        ("Window", f"{fmt_time(inc.start)} to {fmt_time(inc.end)}"),
        ("Started (telemetry)", fmt_time(m.started)),
        ("Detected", fmt_time(m.detected)),
        ("Recovered", fmt_time(m.recovered)),
        ("Time to detect", fmt_duration(durations.get("time_to_detect"))),
        ("Time to recover", fmt_duration(durations.get("time_to_recover"))),
    ]
    charts = [_chart(dossier, s, i) for i, s in enumerate(key_series(dossier)[:MAX_CHARTS])]
    left_out = max(0, len(key_series(dossier)) - MAX_CHARTS)
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            title=f"{inc.id}: {inc.title}",
            generated=fmt_time(dossier.generated_at),
            facts=facts,
            notes=html(parts.notes) if parts.notes else None,
            charts=charts,
            left_out=left_out,
            legend=_legend(),
            summary=html(parts.summary),
            detection_review=html(parts.detection_review),
            detection_gaps=html(parts.detection_gaps),
            causes=html(parts.causes),
            action_items=html(parts.action_items) if parts.action_items else None,
            timeline=html(parts.timeline),
            logs=html(parts.logs) if parts.logs else None,
            evidence=html(parts.evidence),
        )
    )


# ---- which signals -----------------------------------------------------------------------------


def key_series(dossier: Dossier) -> list[Series]:
    """The series of the anomalies in the incident (not context), in the order they began; else
    the incident services' signals. Only series with points."""
    by_id = {s.id: s for s in dossier.series if s.times}
    chosen: dict[str, Series] = {}
    for entry in sorted(dossier.timeline, key=lambda t: t.event.at):
        e = entry.event
        if e.kind != "anomaly_start" or entry.phase == "context":
            continue
        s = by_id.get(str(e.attrs.get("series", ""))) or next(
            (x for x in by_id.values() if x.signal == e.attrs.get("signal") and x.service == e.service), None
        )
        if s is not None:
            chosen.setdefault(s.id, s)
    if not chosen:
        services = set(dossier.incident.services)
        for s in by_id.values():
            if s.role == "signal" and (not services or s.service in services):
                chosen.setdefault(s.id, s)
    return list(chosen.values())


# ---- one chart ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    unit: str
    svg: Markup
    markers: tuple[str, ...]  # the kinds of marker drawn (onset, firing, ...), for the caption


def baseline_band(s: Series, before: float) -> tuple[float, float, float] | None:
    """(median, low, high) of the points before `before`: median ± 2 × 1.4826 × MAD."""
    t = np.asarray(s.times, dtype=float)
    v = np.asarray(s.values, dtype=float)
    base = v[(t < before) & np.isfinite(v)]
    if base.size < 3:
        return None
    med = float(np.median(base))
    sigma = 1.4826 * float(np.median(np.abs(base - med)))
    return med, med - 2 * sigma, med + 2 * sigma


def _events(dossier: Dossier) -> list[tuple[Event, str]]:
    return [(t.event, t.phase) for t in dossier.timeline]


def _chart(dossier: Dossier, s: Series, index: int) -> Chart:
    t = np.asarray(s.times, dtype=float)
    v = np.asarray(s.values, dtype=float)
    t0, t1 = _span(dossier, float(t[0]), float(t[-1]))
    band = baseline_band(s, dossier.incident.start.timestamp())
    shown = (t >= t0) & (t <= t1)
    t, v = t[shown], v[shown]
    finite = v[np.isfinite(v)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if band is not None:
        lo, hi = min(lo, band[1]), max(hi, band[2])
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad
    unit = normal_unit(s.unit) if s.unit else infer_unit(s.query)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(sec: float) -> float:
        return round(LEFT + (sec - t0) / (t1 - t0) * plot_w, 1)

    def y(val: float) -> float:
        return round(TOP + (hi - val) / (hi - lo) * plot_h, 1)

    def inside(dt: datetime | None) -> bool:
        return dt is not None and t0 <= dt.timestamp() <= t1

    parts: list[str] = []
    kinds: list[str] = []
    # detection gaps, shaded behind everything
    for gap in dossier.detection_gaps:
        if gap.start is None or gap.kind not in GAP_TEXT:
            continue
        if gap.service not in (None, s.service):
            continue
        if gap.kind == "unalerted_signal" and gap.signal not in (None, s.signal):
            continue
        start = max(gap.start.timestamp(), t0)
        end = min((gap.end or dossier.incident.end).timestamp(), t1)
        if end <= start:
            continue
        tip = f"{GAP_TEXT[gap.kind]}: {fmt_time(gap.start)} to {fmt_time(gap.end)}. {gap.explanation}"
        parts.append(
            f'<g class="gap" data-marker="gap" data-gap="{escape(gap.kind)}"><rect x="{x(start)}" y="{TOP}" '
            f'width="{max(1.0, round(x(end) - x(start), 1))}" height="{plot_h}" fill="{COLORS[gap.kind]}" '
            f'fill-opacity="0.55" shape-rendering="crispEdges"><title>{escape(tip)}</title></rect></g>'
        )
        kinds.append(gap.kind)
    # the baseline band
    if band is not None:
        top, bottom = y(band[2]), y(band[1])
        parts.append(
            f'<g data-marker="band"><rect x="{LEFT}" y="{top}" width="{plot_w}" '
            f'height="{max(1.0, round(bottom - top, 1))}" '
            f'fill="{COLORS["band"]}" fill-opacity="0.8" shape-rendering="crispEdges"><title>baseline band: '
            f"{escape(fmt_value(band[1], unit))} to {escape(fmt_value(band[2], unit))} (median "
            f"{escape(fmt_value(band[0], unit))})</title></rect></g>"
        )
    # axes and ticks
    parts.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" class="axis"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" class="axis"/>'
    )
    for tick in _time_ticks(t0, t1):
        label = datetime.fromtimestamp(tick, UTC).strftime("%H:%M")
        parts.append(
            f'<line x1="{x(tick)}" y1="{TOP + plot_h}" x2="{x(tick)}" y2="{TOP + plot_h + 4}" class="axis"/>'
            f'<text x="{x(tick)}" y="{HEIGHT - 8}" class="tick" text-anchor="middle">{label}</text>'
        )
    for val in (lo + pad, (lo + hi) / 2, hi - pad):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(val) + 4}" class="tick" text-anchor="end">'
            f"{escape(fmt_value(val, unit))}</text>"
        )
    # the series, broken where values are missing
    path: list[str] = []
    pen_up = True
    for sec, val in zip(t.tolist(), v.tolist(), strict=True):
        if not math.isfinite(val):
            pen_up = True
            continue
        path.append(f"{'M' if pen_up else 'L'}{x(sec)},{y(val)}")
        pen_up = False
    if path:
        parts.append(
            f'<path data-marker="series" d="{" ".join(path)}" fill="none" stroke="{COLORS["series"]}" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
    # markers
    marks: list[tuple[float, str, str]] = []  # (epoch, kind, tooltip)
    for e, phase in _events(dossier):
        if not inside(e.at):
            continue
        same = e.service == s.service
        if e.kind == "anomaly_start" and phase != "context" and same and _of_series(e, s):
            marks.append((e.at.timestamp(), "onset", f"onset: {e.title}"))
        elif e.kind in ("page", "notification") and (same or e.service is None):
            marks.append((e.at.timestamp(), "page", f"{e.kind}: {e.title}"))
        elif e.kind in CHANGE_KINDS and phase != "context":
            marks.append((e.at.timestamp(), "change", f"{e.kind.replace('_', ' ')}: {e.title}"))
        elif e.kind == "anomaly_end" and same and _of_series(e, s):
            marks.append((e.at.timestamp(), "recovery", f"back in its band: {e.title}"))
    for r in dossier.alert_review:
        if r.service != s.service:
            continue
        if inside(r.pending_at):
            assert r.pending_at is not None
            marks.append((r.pending_at.timestamp(), "pending", f"{r.alert} pending at {fmt_time(r.pending_at)}"))
        if inside(r.fired_at):
            assert r.fired_at is not None
            marks.append((r.fired_at.timestamp(), "firing", f"{r.alert} firing at {fmt_time(r.fired_at)}"))
    if inside(dossier.milestones.recovered):
        assert dossier.milestones.recovered is not None
        at = dossier.milestones.recovered.timestamp()
        if not any(k == "recovery" and abs(sec - at) < 1 for sec, k, _ in marks):
            marks.append((at, "recovery", f"recovered (every signal back in its band) at {fmt_time(at_dt(at))}"))
    marks.sort(key=lambda m: (m[0], m[1]))
    rows = [-math.inf] * 3  # where the last label of each row ends
    for sec, kind, tip in marks:
        px = x(sec)
        word = MARKER_TEXT[kind].split(" / ")[0].replace("alert ", "")
        half = 3.3 * len(word) + 4
        label = ""
        row = next((i for i, end in enumerate(rows) if end < px - half), None)
        if row is not None:  # a label where there is room; the colour and the tooltip say the rest
            rows[row] = px + half
            label = (
                f'<text x="{px}" y="{13 + row * 13}" class="mlabel" text-anchor="middle" '
                f'fill="{COLORS[kind]}">{escape(word)}</text>'
            )
        parts.append(
            f'<g class="marker" data-marker="{kind}"><title>{escape(tip)}</title>'
            f'<rect x="{px - 1}" y="{TOP}" width="3" height="{plot_h}" fill="{COLORS[kind]}" '
            f'shape-rendering="crispEdges"/>{label}</g>'
        )
        kinds.append(kind)
    title = f"{s.signal} of {s.service}" if s.service else s.signal
    svg = Markup(  # safe: every text in it was escaped above
        f'<svg class="chart" id="chart-{index}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" aria-label="{escape(title)}">' + "".join(parts) + "</svg>"
    )
    return Chart(f"chart-{index}", title, unit or "unit unknown", svg, tuple(dict.fromkeys(kinds)))


def _span(dossier: Dossier, first: float, last: float) -> tuple[float, float]:
    """The time range drawn: from 20 minutes before the earlier of the window's start and the onset
    to 20 minutes after the recovery (else the end of the data), within the data."""
    m = dossier.milestones
    start = min(dossier.incident.start, m.started or dossier.incident.start).timestamp() - 1200
    end = m.recovered.timestamp() + 1200 if m.recovered is not None else last
    t0, t1 = max(first, start), min(last, max(end, dossier.incident.start.timestamp()))
    return (t0, t1) if t1 > t0 else (first, max(last, first + 60.0))


def at_dt(sec: float) -> datetime:
    return datetime.fromtimestamp(sec, UTC)


def _of_series(e: Event, s: Series) -> bool:
    sid = e.attrs.get("series")
    return sid == s.id if sid else e.attrs.get("signal") == s.signal


def _time_ticks(t0: float, t1: float) -> Iterable[float]:
    span = t1 - t0
    step = next((m * 60 for m in (5, 10, 15, 30, 60, 120, 240, 480, 720, 1440) if span / (m * 60) <= 10), 2880 * 60)
    first = math.ceil(t0 / step) * step
    return [first + k * step for k in range(int((t1 - first) // step) + 1)]


def _legend() -> Sequence[tuple[str, str, str]]:
    """(css class, colour, text) of each thing a chart may show."""
    return (
        ("line", COLORS["series"], "the signal"),
        ("box", COLORS["band"], "baseline band: median ± 2σ (robust) of the points before the window"),
        *(("mark", COLORS[k], text) for k, text in MARKER_TEXT.items()),
        *(("box", COLORS[k], f"gap: {text}") for k, text in GAP_TEXT.items()),
    )


# ---- across many incidents: `dossier report --format html` -----------------------------------------


def render_report(report: Mapping[str, Any], folder: str = "") -> str:
    """The report of `dossier.report.aggregate` as one self-contained page: the Markdown report's
    tables, and bar charts of the median and 90th percentile of each time per month. Pure."""
    from dossier.exporters.markdown import REPORT_MEASURES
    from dossier.exporters.markdown import render_report as markdown_report

    md = markdown_report(report, folder)
    title, _, body = md.partition("\n")
    intro, _, rest = body.partition("\n## ")  # the charts come after the line on how it was built
    charts = []
    for key, label in REPORT_MEASURES:
        months = [(m, g["durations"][key]) for m, g in report["per_month"].items()]
        if any(s["count"] for _, s in months):
            charts.append((f"Time to {label.lower()}, per month", _bars(key, months)))
    detection = [(m, t) for m, t in report["detection"]["per_month"].items()]
    return (
        _env()
        .get_template("trends.html.j2")
        .render(
            title=title.lstrip("# ").strip(),
            intro=Markup(_markdown().render(intro)),
            body=Markup(_markdown().render("## " + rest if rest else "")),
            charts=charts,
            detection=_detection_bars(detection) if detection else None,
            colors=COLORS,
        )
    )


def _bars(key: str, months: Sequence[tuple[str, Mapping[str, Any]]]) -> Markup:
    """Median and 90th percentile per month, side by side, with their values and counts."""
    width, height, left, bottom, top = 960, 220, 70, 34, 16
    plot_w, plot_h = width - left - 16, height - top - bottom
    peak = max((s["p90"] or 0.0) for _, s in months) or 1.0
    slot = plot_w / max(1, len(months))
    bar = min(36.0, slot / 3)
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="tick" text-anchor="end">{escape(fmt_duration(peak))}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for i, (month, s) in enumerate(months):
        cx = left + slot * (i + 0.5)
        for j, (stat, color) in enumerate((("median", COLORS["series"]), ("p90", COLORS["pending"]))):
            value = s[stat]
            if value is None:
                continue
            h = round(max(0.0, value) / peak * plot_h, 1)
            x = round(cx - bar + j * bar, 1)
            parts.append(
                f'<rect data-stat="{stat}" data-month="{escape(month)}" data-value="{value}" x="{x}" '
                f'y="{round(top + plot_h - h, 1)}" width="{round(bar - 2, 1)}" height="{h}" fill="{color}" '
                f'shape-rendering="crispEdges"><title>{escape(month)} {stat}: {escape(fmt_duration(value))} '
                f"(n {s['count']})</title></rect>"
                f'<text x="{round(x + bar / 2 - 1, 1)}" y="{round(top + plot_h - h - 3, 1)}" class="value" '
                f'text-anchor="middle">{escape(fmt_duration(value))}</text>'
            )
        parts.append(
            f'<text x="{round(cx, 1)}" y="{height - 16}" class="tick" text-anchor="middle">{escape(month)}</text>'
            f'<text x="{round(cx, 1)}" y="{height - 4}" class="tick" text-anchor="middle">n {s["count"]}</text>'
        )
    return Markup(
        f'<svg class="bars" data-measure="{escape(key)}" viewBox="0 0 {width} {height}" role="img">'
        + "".join(parts)
        + "</svg>"
    )


def _detection_bars(months: Sequence[tuple[str, Mapping[str, Any]]]) -> Markup:
    """Per month, the incidents detected by an alert, by people, and not at all, stacked."""
    width, height, left, bottom, top = 960, 200, 70, 34, 16
    plot_w, plot_h = width - left - 16, height - top - bottom
    peak = max(t["alert"] + t["people"] + t["undetected"] for _, t in months) or 1
    slot = plot_w / max(1, len(months))
    bar = min(48.0, slot / 2)
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>']
    for i, (month, t) in enumerate(months):
        cx = left + slot * (i + 0.5)
        y = top + plot_h
        for kind, color in (("alert", COLORS["firing"]), ("people", COLORS["onset"]), ("undetected", "#9e9e9e")):
            h = round(t[kind] / peak * plot_h, 1)
            if h:
                y -= h
                parts.append(
                    f'<rect data-detected="{kind}" data-month="{escape(month)}" data-value="{t[kind]}" '
                    f'x="{round(cx - bar / 2, 1)}" y="{round(y, 1)}" width="{bar}" height="{h}" fill="{color}" '
                    f'shape-rendering="crispEdges"><title>{escape(month)}: {t[kind]} by {kind}</title></rect>'
                )
        share = "—" if t["people_share"] is None else f"{t['people_share'] * 100:.0f}% by people"
        parts.append(
            f'<text x="{round(cx, 1)}" y="{height - 16}" class="tick" text-anchor="middle">{escape(month)}</text>'
            f'<text x="{round(cx, 1)}" y="{height - 4}" class="tick" text-anchor="middle">{escape(share)}</text>'
        )
    return Markup(
        f'<svg class="bars" data-measure="detected_by" viewBox="0 0 {width} {height}" role="img">'
        + "".join(parts)
        + "</svg>"
    )
