"""Step grids, chunk maths, merging, alert episodes and scrape gaps: pure functions, no server."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.prometheus._samples import (
    Grid,
    build_episodes,
    grid_for,
    label_key,
    merge_matrices,
    nan_runs,
    on_grid,
    parse_matrix,
    range_chunks,
    raw_chunks,
    up_gaps,
)
from tests.harness.synth import AlertRule, Synth, compare, evaluate_rules, instant

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()


# ---- grid and chunks -----------------------------------------------------------------------


def test_grid_is_aligned_to_the_step():
    g = grid_for(T0 + 7, T0 + 3600 + 7, 15)
    assert (g.start, g.end, g.step) == (T0, T0 + 3600, 15)
    assert g.points == 241
    assert g.times()[:2] == (T0, T0 + 15)


def test_24h_at_15s_fits_one_request():
    g = grid_for(T0, T0 + 86400, 15)
    assert g.points == 5761
    assert range_chunks(g, 11000) == [g]


def test_week_at_15s_is_split_under_the_prometheus_limit():
    g = grid_for(T0, T0 + 7 * 86400, 15)
    chunks = range_chunks(g, 11000)
    assert len(chunks) == math.ceil(g.points / 11000) == 4
    for c in chunks:
        assert (c.end - c.start) / c.step <= 11000  # the server's own check
        assert c.points <= 11000
    assert chunks[0].start == g.start and chunks[-1].end == g.end
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.end + g.step  # no overlap, no hole


@given(
    start=st.integers(0, 10**6),
    points=st.integers(1, 5000),
    step=st.sampled_from([1, 5, 15, 30, 60]),
    max_points=st.integers(2, 700),
)
def test_chunks_cover_the_grid_exactly_once(start, points, step, max_points):
    g = Grid(float(start * step), float((start + points - 1) * step), float(step))
    chunks = range_chunks(g, max_points)
    times = [t for c in chunks for t in c.times()]
    assert times == list(g.times())
    assert all(c.points <= max_points for c in chunks)


def test_raw_chunks_share_boundaries_and_start_just_before_the_window():
    spans = raw_chunks(T0, T0 + 10 * 3600, 6 * 3600)
    assert spans[0][0] == pytest.approx(T0 - 0.001)
    assert spans[-1][1] == T0 + 10 * 3600
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert all(b - a <= 6 * 3600 for a, b in spans)


def test_merge_dedupes_boundary_samples_and_keeps_order():
    a = parse_matrix([{"metric": {"__name__": "x", "i": "1"}, "values": [[10, "1"], [20, "2"]]}])
    b = parse_matrix(
        [
            {"metric": {"i": "1", "__name__": "x"}, "values": [[20, "2"], [30, "3"]]},
            {"metric": {"i": "2"}, "values": [[30, "NaN"]]},
        ]
    )
    merged = merge_matrices([a, b])
    ts, vs = merged[label_key({"__name__": "x", "i": "1"})]
    assert ts.tolist() == [10.0, 20.0, 30.0] and vs.tolist() == [1.0, 2.0, 3.0]
    ts, vs = merged[label_key({"i": "2"})]
    assert ts.tolist() == [30.0] and math.isnan(vs[0])


def test_parse_matrix_reads_special_values_and_empty_series():
    [(key, ts, vs)] = parse_matrix([{"metric": {}, "values": [[1, "+Inf"], [2, "-Inf"], [3, "1e+00"]]}])
    assert key == () and ts.tolist() == [1, 2, 3] and vs.tolist() == [math.inf, -math.inf, 1.0]
    [(_, ts, vs)] = parse_matrix([{"metric": {"a": "b"}, "values": []}])
    assert ts.size == vs.size == 0


def test_parse_matrix_with_the_grid_gives_the_same_times():
    g = Grid(1000.0, 1060.0, 15.0)
    full = [{"metric": {}, "values": [[1000 + 15 * i, str(i)] for i in range(5)]}]
    part = [{"metric": {}, "values": [[1015, "1"], [1045, "3"]]}]
    for result in (full, part):
        [(_, ts, vs)] = parse_matrix(result, g)
        [(_, ts2, vs2)] = parse_matrix(result)
        assert ts.tolist() == ts2.tolist() and vs.tolist() == vs2.tolist()


def test_on_grid_fills_missing_points_with_nan():
    g = Grid(0.0, 60.0, 15.0)
    full = on_grid(g, np.array([0.0, 15, 30, 45, 60]), np.array([1.0, 2, 3, 4, math.nan]))
    assert full[:4].tolist() == [1, 2, 3, 4] and math.isnan(full[4])
    values = on_grid(g, np.array([15.0, 60.0, 75.0]), np.array([2.0, math.inf, 9.0]))
    assert math.isnan(values[0]) and values[1] == 2 and math.isnan(values[2]) and values[4] == math.inf


def test_nan_runs_longer_than_two_steps_inside_the_series():
    nan = math.nan
    values = [nan, nan, nan, 1, nan, nan, 2, nan, nan, nan, 3, nan, nan, nan]
    assert nan_runs(values, 2) == [(7, 9)]  # leading/trailing runs are not "inside"
    assert nan_runs([1.0, 2.0], 2) == [] and nan_runs([nan, nan], 0) == []


def _runs_by_hand(values, min_len):
    runs, start, seen = [], None, False
    for i, v in enumerate(values):
        if math.isnan(v):
            if seen and start is None:
                start = i
        else:
            if start is not None and i - start > min_len:
                runs.append((start, i - 1))
            start, seen = None, True
    return runs


@given(st.lists(st.sampled_from([1.0, math.nan]), max_size=60), st.integers(0, 4))
def test_nan_runs_equal_a_plain_scan(values, min_len):
    assert nan_runs(values, min_len) == _runs_by_hand(values, min_len)


# ---- alert episodes against the rule-engine emulation ----------------------------------------


def _engine_run(gaps, for_, interval=15.0, offset=0.0, end_extra=0.0):
    """Evaluate `up == 0` over a target with the given failed-scrape gaps; return samples and truth."""
    start, end = T0, T0 + 3600 + end_extra
    syn = Synth(start, end, scrape_interval=15.0)
    tgt = syn.target("api", "a:1", offset=3.0)
    for a, b in gaps:
        tgt.add_gap(start + a, start + b, kind="failed")
    series = syn.all_series()
    rule = AlertRule(
        "Down",
        "up == 0",
        lambda d, t: compare(instant(d.select("up"), t), "==", 0),
        for_=for_,
        labels={"severity": "page", "service": "api"},
    )
    ev = evaluate_rules([rule], series, start=start, end=end, interval=interval, offset=offset)
    alerts, for_state = {}, {}
    for s in ev.series:
        target = alerts if s.name == "ALERTS" else for_state
        target[label_key(s.labels)] = {t: repr(v) for t, v in s.samples}
    return alerts, for_state, ev.alerts["Down"], end


@pytest.mark.parametrize(
    ("gaps", "for_"),
    [
        ([(600, 1200)], 120.0),  # one episode that fires
        ([(600, 660)], 300.0),  # pending only, resolves
        ([(600, 900), (1500, 2400)], 60.0),  # two episodes
        ([(600, 900), (930, 1200)], 0.0),  # for: 0, a short break between episodes
    ],
)
def test_episodes_equal_the_rule_engine(gaps, for_):
    alerts, for_state, truth, end = _engine_run(gaps, for_)
    episodes = build_episodes(alerts, for_state, window_end=end)
    got = [(e.pending_at, e.fired_at, e.resolved_at) for e in episodes]
    want = [(t.pending_at, t.fired_at, t.resolved_at) for t in truth.episodes]
    assert got == want
    assert all(e.interval == 15.0 and e.interval_source == "median sample spacing" for e in episodes)
    assert episodes[0].labels == {
        "alertname": "Down",
        "instance": "a:1",
        "job": "api",
        "service": "api",
        "severity": "page",
    }


def test_episode_still_active_at_the_window_end_has_no_resolution():
    alerts, for_state, truth, end = _engine_run([(3000, 4000)], 120.0)
    [episode] = build_episodes(alerts, for_state, window_end=end)
    assert truth.episodes[0].resolved_at is None
    assert episode.resolved_at is None
    assert episode.fired_at == truth.episodes[0].fired_at


def test_episode_split_on_active_at_change_without_a_sample_gap():
    ident = (("alertname", "X"),)
    alerts = {(("alertname", "X"), ("alertstate", "firing")): {100.0: "1", 115.0: "1", 130.0: "1", 145.0: "1"}}
    for_state = {ident: {100.0: "40", 115.0: "40", 130.0: "130", 145.0: "130"}}
    episodes = build_episodes(alerts, for_state, window_end=1000)
    # the first episode ends one interval after its last sample, where the next one begins
    assert [(e.pending_at, e.fired_at, e.resolved_at) for e in episodes] == [
        (40.0, 100.0, 130.0),
        (130.0, 130.0, 160.0),
    ]


def test_pending_without_for_state_uses_the_first_pending_sample():
    alerts = {
        (("alertname", "X"), ("alertstate", "pending")): {100.0: "1", 160.0: "1"},
        (("alertname", "X"), ("alertstate", "firing")): {220.0: "1", 280.0: "1"},
    }
    [e] = build_episodes(alerts, {}, window_end=10_000)
    assert (e.pending_at, e.fired_at, e.resolved_at, e.interval) == (100.0, 220.0, 340.0, 60.0)


def test_single_sample_uses_the_rule_interval():
    alerts = {(("alertname", "X"), ("alertstate", "firing")): {100.0: "1"}}
    [e] = build_episodes(alerts, {}, window_end=10_000, fallback_interval={"X": 30.0})
    assert (e.fired_at, e.resolved_at, e.interval_source) == (100.0, 130.0, "rule group interval")


# ---- scrape gaps ---------------------------------------------------------------------------


def test_up_gaps_equal_the_synthetic_truth():
    syn = Synth(T0, T0 + 7200, scrape_interval=15.0)
    tgt = syn.target("api", "a:1", offset=4.5)
    tgt.add_gap(T0 + 900, T0 + 1200, kind="failed")
    tgt.add_gap(T0 + 3000, T0 + 3600, kind="missing")
    tgt.add_gap(T0 + 5000, T0 + 5100, kind="failed")
    tgt.add_gap(T0 + 5100, T0 + 5400, kind="missing")  # failed scrapes, then none at all
    up = tgt.up()
    gaps = up_gaps(up.times, up.values)
    truth = syn.gaps()
    assert [(g.start, g.end) for g in gaps] == [(t.start, t.end) for t in truth]
    reasons = {"failed": "scrape failed (up == 0)", "missing": "no samples (target missing or Prometheus down)"}
    assert [g.reason for g in gaps] == [reasons[t.kind] for t in truth]


def test_up_zero_at_the_end_closes_one_interval_after_the_last_zero():
    gaps = up_gaps([0, 15, 30, 45], [1, 1, 0, 0])
    assert [(g.start, g.end) for g in gaps] == [(30, 60)]
