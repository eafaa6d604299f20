"""The demo's report.html as Chromium shows it: the chart drawn (pixels of each marker's colour in
the first chart's region of a screenshot), the markers in the DOM Chromium built, a PDF printed,
and no request made by the page (Chromium's own net log, checked against a page that does make
requests, served by a local server, so that the check is shown to catch them).

Needs Debian's `chromium` (.ci/run installs it) and the real Prometheus of the demo; skips without
them, except under CI (env `CI` set), where that fails.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deploy.demo import demo
from dossier.exporters.html import COLORS
from tests.conftest import require_prometheus

pytestmark = pytest.mark.slow

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
MARKERS = ("onset", "pending", "firing", "page", "change", "recovery")
GAPS = ("late_alert", "unalerted_signal", "blind_spot", "human_detected")


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs the Debian package chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def chromium(url: str, work: Path, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = work / f"profile-{name}"
    profile.mkdir(parents=True, exist_ok=False)  # a new, empty profile each time
    cmd = [chromium_binary(), *FLAGS, f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def page_requests(net_log: Path) -> list[str]:
    """The URLs the page itself asked for: requests whose network isolation key is the file://
    page's (Chromium's own background requests have another key, or none)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start_job and str(e.get("params", {}).get("network_isolation_key", "")).startswith("file://")
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium_binary()
    require_prometheus()
    out = tmp_path_factory.mktemp("demo")
    code = demo.run(out)
    assert code in (0, 1)
    path = out / "INC-2041" / "report.html"
    assert path.is_file(), "the demo's formats include html (config/demo/dossier.yaml)"
    return path


def first_chart_kinds(html: str) -> tuple[set[str], set[str]]:
    svg = re.search(r'<svg class="chart".*?</svg>', html, re.S)
    assert svg is not None, "no chart in the page"
    return set(re.findall(r'data-marker="([a-z_]+)"', svg.group(0))), set(
        re.findall(r'data-gap="([a-z_]+)"', svg.group(0))
    )


def rgb(color: str, opacity: float = 1.0) -> tuple[int, int, int]:
    """The colour as drawn over white with `opacity`."""
    c = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return tuple(round(v * opacity + 255 * (1 - opacity)) for v in c)  # type: ignore[return-value]


def matches(pixels: np.ndarray, color: tuple[int, int, int], tol: int) -> np.ndarray:
    return np.all(np.abs(pixels.astype(int) - np.array(color)) <= tol, axis=-1)


def chart_region(pixels: np.ndarray) -> tuple[int, int]:
    """Rows of the first chart: the first run of rows where the series' colour is drawn."""
    rows = np.flatnonzero(matches(pixels, rgb(COLORS["series"]), 2).any(axis=1)).tolist()
    assert rows, "the series line is not drawn anywhere"
    top = end = rows[0]
    for y in rows[1:]:
        if y - end > 40:
            break
        end = y
    return top, end


def count(pixels: np.ndarray, top: int, bottom: int, color: tuple[int, int, int], tol: int) -> int:
    return int(matches(pixels[max(0, top) : bottom], color, tol).sum())


def test_the_screenshot_shows_the_chart_with_its_markers_and_gaps(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    chromium(report.as_uri(), tmp_path, "shot", "--window-size=1280,1100", f"--screenshot={png}")
    img = np.asarray(Image.open(png).convert("RGB"))
    markers, gaps = first_chart_kinds(report.read_text(encoding="utf-8"))
    # the demo's first chart is payments' error rate: onset, late alert, blind spot, changes, recovery
    assert {"series", "band", "onset", "pending", "firing", "change", "recovery"} <= markers, markers
    assert {"late_alert", "blind_spot"} <= gaps, gaps
    top, bottom = chart_region(img)
    assert bottom - top > 100, (top, bottom)  # a line that goes up and down, across a plot
    region = (top - 20, bottom + 5)
    series = count(img, *region, rgb(COLORS["series"]), 2)
    assert series > 400, series
    for kind in MARKERS:
        if kind in markers:  # a 3 px wide bar across the plot, in the marker's own colour
            assert count(img, *region, rgb(COLORS[kind]), 2) > 100, kind
    for kind in GAPS:
        if kind in gaps:  # shaded at 55% over white
            assert count(img, *region, rgb(COLORS[kind], 0.55), 3) > 300, kind
    assert count(img, *region, rgb(COLORS["band"], 0.8), 3) > 100  # the baseline band


def test_chromium_builds_the_markers_and_prints_the_page(report: Path, tmp_path: Path) -> None:
    dom = chromium(report.as_uri(), tmp_path, "dom", "--dump-dom").stdout
    svgs = re.findall(r'<svg class="chart".*?</svg>', dom, re.S)
    assert len(svgs) >= 2  # the demo's key signals: error rates and latency of payments and checkout
    assert "Detection review" in dom and "Candidate causes" in dom
    assert re.search(r'<a href="https?://[^"]+">', dom) or "evidence" in dom
    pdf = tmp_path / "page.pdf"
    chromium(report.as_uri(), tmp_path, "pdf", "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") + data.count(b"/Type/Page") >= 2


@pytest.fixture
def server() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_the_page_makes_no_request(report: Path, tmp_path: Path, server: tuple[int, list[str]]) -> None:
    port, seen = server
    # the check catches what a page asks for: a control page with a style sheet and an image
    control = tmp_path / "control.html"
    control.write_text(
        f'<!DOCTYPE html><html><head><link rel="icon" href="data:,"><link rel="stylesheet" '
        f'href="http://127.0.0.1:{port}/x.css"></head><body><img src="http://127.0.0.1:{port}/x.png"></body></html>'
    )
    net = tmp_path / "control.json"
    chromium(control.as_uri(), tmp_path, "control", f"--log-net-log={net}", f"--screenshot={tmp_path / 'c.png'}")
    asked = page_requests(net)
    assert sorted(asked) == [f"http://127.0.0.1:{port}/x.css", f"http://127.0.0.1:{port}/x.png"], asked
    assert sorted(seen) == ["/x.css", "/x.png"]
    # the report asks for nothing
    net = tmp_path / "report.json"
    chromium(report.as_uri(), tmp_path, "report", f"--log-net-log={net}", f"--screenshot={tmp_path / 'r.png'}")
    assert page_requests(net) == []
    assert sorted(seen) == ["/x.css", "/x.png"]
