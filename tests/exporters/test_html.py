"""report.html: one self-contained page with the timeline chart, then the draft's sections.

These tests read the HTML; tests/exporters/test_html_chromium.py looks at it in Chromium."""

from __future__ import annotations

import dataclasses
import math
import re
from html.parser import HTMLParser

import numpy as np

from dossier.exporters.html import COLORS, HtmlExporter, baseline_band, key_series
from dossier.exporters.markdown import _Draft
from dossier.model import Dossier, Event, Series
from tests.exporters.builders import DEPLOY, ONSET, T0, at, checkout_dossier, entry, render, section

PAGE_EVENT = Event("page-1", at(9), "page", "pagerduty/oncall", "Paged alice (checkout)", "checkout")


def with_points(d: Dossier) -> Dossier:
    """The checkout dossier with its signals sampled every 15s over an hour of baseline and the
    window: checkout's error rate jumps at the onset (10:02:15) and is back at 10:47:15."""
    times = np.arange((T0.timestamp() - 3600), at(120).timestamp() + 1, 15.0)
    rng = np.random.default_rng(7)
    series = []
    for s in d.series:
        values = 0.4 + rng.normal(0, 0.02, times.size)
        if s.signal == "error_rate":
            values[(times >= at(2.25).timestamp()) & (times < at(47.25).timestamp())] = 12.5
            values[(times >= at(30).timestamp()) & (times < at(31).timestamp())] = math.nan  # a hole
        series.append(dataclasses.replace(s, times=tuple(times.tolist()), values=tuple(values.tolist())))
    return dataclasses.replace(
        d, series=tuple(series), timeline=tuple(sorted((*d.timeline, entry(PAGE_EVENT, "escalation")), key=_at))
    )


def _at(t):  # type: ignore[no-untyped-def]
    return t.event.at


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def charts(html: str) -> list[str]:
    return re.findall(r'<svg class="chart".*?</svg>', html, re.S)


def test_plugin_declaration(tmp_path) -> None:
    assert (HtmlExporter.format, HtmlExporter.filename) == ("html", "report.html")
    d = with_points(checkout_dossier())
    path = HtmlExporter().write(d, tmp_path)
    assert path == tmp_path / "report.html" and path.read_text(encoding="utf-8") == HtmlExporter().render(d)
    assert HtmlExporter().render(d) == HtmlExporter().render(d)  # deterministic


def test_the_page_is_self_contained() -> None:
    html = HtmlExporter().render(with_points(checkout_dossier()))
    tags = parse(html)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "img", "iframe", "object", "embed", "video", "audio", "source", "base"}
    for tag, attrs in tags.tags:
        if tag == "link":
            assert attrs == {"rel": "icon", "href": "data:,"}  # no favicon request either
        elif tag != "a":  # only links to the evidence point elsewhere
            assert not {"src", "srcset", "href", "xlink:href", "data", "poster"} & set(attrs), (tag, attrs)
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    assert "@media print" in html and "@page" in html


def test_the_chart_draws_each_key_signal_with_its_band_and_markers() -> None:
    d = with_points(checkout_dossier())
    html = HtmlExporter().render(d)
    drawn = charts(html)
    keys = key_series(d)
    assert [s.signal for s in keys] == ["error_rate", "latency_p99"]  # the incident's anomalies, in order
    assert len(drawn) == 2
    checkout = drawn[0]
    markers = set(re.findall(r'data-marker="([a-z_]+)"', checkout))
    assert {"series", "band", "onset", "pending", "firing", "page", "change", "recovery", "gap"} <= markers
    assert set(re.findall(r'data-gap="([a-z_]+)"', checkout)) == {"late_alert"}
    payments = drawn[1]  # payments: its unalerted latency and the blind spot of payments-1
    assert {"unalerted_signal", "blind_spot"} <= set(re.findall(r'data-gap="([a-z_]+)"', payments))
    # the series is broken where a value is missing: two runs of line for checkout's error rate
    path = re.search(r'<path data-marker="series" d="([^"]+)"', checkout)
    assert path is not None and path.group(1).count("M") == 2
    # the onset marker sits where the onset is, on the time axis drawn
    assert f"onset: {ONSET.title}" in checkout
    assert f"deploy: {DEPLOY.title}" in checkout and f"deploy: {DEPLOY.title}" in payments


def test_the_band_is_the_baselines_median_and_robust_spread() -> None:
    times = tuple(float(t) for t in range(0, 600, 15))
    values = tuple(float(v) for v in [1, 2, 3, 4, 5] * 8)
    s = Series("s", "p", "x", "svc", {}, "q", times, values)
    med, lo, hi = baseline_band(s, before=600.0)
    mad = float(np.median(np.abs(np.array(values) - 3.0)))
    assert (med, lo, hi) == (3.0, 3.0 - 2 * 1.4826 * mad, 3.0 + 2 * 1.4826 * mad)
    assert baseline_band(s, before=30.0) is None  # fewer than 3 points before the window


def test_the_sections_say_what_the_draft_says() -> None:
    d = with_points(checkout_dossier())
    html = HtmlExporter().render(d)
    text = " ".join("".join(parse(html).text).split())
    md = render(d)
    # the delay sum of the detection review, and the causes' scores, word for word
    for phrase in (
        "to the firing: 1m until its condition held (threshold) + 5m pending (for: 5m) = 6m.",
        "score 0.76 on a 0–1 scale, the product where 0.80 × when 0.95 × what 1.00 × size 1.00",
        "no metrics from payments instance payments-1:9100 from 2026-11-20 10:05:00Z",
    ):
        assert phrase in text, phrase
        assert phrase.replace("(for: 5m)", "(`for: 5m`)").replace("payments-1:9100", "`payments-1:9100`") in md
    for title in ("Summary", "Detection review", "Detection gaps", "Candidate causes", "Timeline", "Evidence"):
        assert re.search(rf"<h[23]>{title}</h[23]>", html), title
    links = {a.get("href") for tag, a in parse(html).tags if tag == "a"}
    assert "https://ci.example.com/payments/deployments/2291" in links  # evidence links kept
    assert section(md, "Summary")


def test_source_text_cannot_become_markup() -> None:
    base = with_points(checkout_dossier())
    sneaky = dataclasses.replace(DEPLOY, title='<script>alert(1)</script> [x](javascript:alert(1)) "q"')
    d = dataclasses.replace(base, timeline=(*base.timeline, entry(sneaky, "trigger")))
    html = HtmlExporter().render(d)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html


def test_without_points_the_page_says_there_is_nothing_to_draw() -> None:
    html = HtmlExporter().render(checkout_dossier())  # the builders' series carry no points
    assert not charts(html)
    assert "No signal with data points was collected" in html
    assert _Draft(checkout_dossier()).sections().summary[:40] in " ".join(html.split())


def test_colours_of_the_markers_are_distinct() -> None:
    kinds = ["series", "onset", "pending", "firing", "page", "change", "recovery"]
    assert len({COLORS[k] for k in kinds}) == len(kinds)
