"""Find when a metric series started (and stopped) behaving abnormally.

``find_onsets(times, values, baseline_end=..., direction=...)`` compares every point at or after
``baseline_end`` with what the points before it (the *baseline*) say is normal, and returns one
:class:`Onset` per separate abnormal episode. The method, in plain words:

1. **Clean.** Points whose time or value is missing (NaN/inf) are dropped; the rest are put in time
   order. Gaps in time are allowed; "consecutive" below means consecutive *present* points.

2. **Expected value.** The baseline gives, for every searched point, an expected value:

   * *Daily cycle.* If the baseline spans at least three days (from its first point to
     ``baseline_end``, less the +-2.5-step phase tolerance below), each point is compared with the
     same time of day on the earlier days of the baseline (up to 7): the expected value is the median
     of the baseline points within +-2 samples of the same UTC time of day on those days ("seasonal
     naive", pooled over days, so it follows sharp daily patterns such as a nightly batch job as well
     as smooth traffic curves). This is kept only if it explains the baseline clearly better than a
     flat line: the same estimate, applied to each baseline point from the *other* baseline days,
     must leave a robust spread of at most 80% of the spread around the plain median. Three days, not
     two: from two, each time of day is learnt from a single other day, so an ordinary difference
     between two days (a weekday, then a weekend) passes for a pattern and the next day fires; with
     three, the median at each time of day outvotes one unusual day.
   * *Trend.* Without a daily cycle, a straight line through the medians of the two halves of the
     baseline is tried and kept only if it removes at least 30% of the robust spread. It is projected
     forward for at most the baseline's own length and held flat after that, so a trend seen over
     one hour is never extrapolated for a day.
   * Otherwise the expected value is the baseline median.

3. **Scale.** The noise scale is the median absolute deviation (MAD, x1.4826) of the baseline's
   residuals (what is left after step 2). Floors, so that a flat baseline does not turn every wiggle
   into an infinite outlier: if more than half of the baseline is one constant value (MAD = 0, e.g. an
   error rate that is exactly 0) the scale becomes the largest of the mean absolute deviation, the
   point-to-point noise of the whole series (MAD of first differences / sqrt 2) and 1% of the
   series' largest excursion from the expected level, so the score of a rise out of a zero baseline
   is at most about 100. Very short baselines (fewer than 8 points) use the flat median and also
   borrow the point-to-point noise of the whole series. A *practical-significance* floor: the scale
   is at least 0.5% of the baseline's level (its median, or the trend's value at its end), so an
   onset (at least 4 scales, step 5) moves the signal by at least 2% of its level. A smooth synthetic
   or heavily averaged signal (a latency p99 of 0.462 s with 0.00001 s of noise) otherwise makes a
   change of a few ten-thousandths a 40-sigma event, although it does not show even in the third
   significant digit; 2% of the level is the smallest change worth an incident note. A scale is
   never zero.

   It is then made tail-aware, separately above and below, from *blocks*: the residuals, in time
   order, are cut into 7 consecutive blocks (fewer, down to 3, so that each holds at least 20 points;
   a single block, the whole baseline, under 60 points). For each block, the distance of its 95th
   percentile above the median of all the residuals (and of its 5th percentile below it) is taken;
   the largest block's value is left out and the largest of the others is the *routine tail*. The
   upward scale is at least (routine upper tail) / 1.645, the downward one at least (routine lower
   tail) / 1.645. For Gaussian noise this changes little (the scale grows by about 6% in the median
   for a baseline of 300 to 900 points, the sampling noise of the blocks' percentiles); for a series
   that routinely bursts (more than 5% of the time, in more than one block) a burst of the usual size
   is judged against the bursts, not against the quiet majority; but one earlier excursion, which
   lies within one block, does not widen the scale for the next. No tail-awareness under 20 points.

4. **Score.** Each searched point gets a robust z-score: ``(value - expected) / upward scale`` for
   ``up``, ``(expected - value) / downward scale`` for ``down``.

5. **Confirm.** An episode is confirmed in either of two ways, whichever comes first:

   * *Persistence (CUSUM).* A one-sided CUSUM adds ``min(z, 4) - 2`` point by point (never going
     below zero) and confirms when the sum reaches 6: at least three consecutive points at 4 sigma or
     beyond, or more points that are moderately beyond the 2-sigma band. Points inside the band
     subtract, so a bump that never leaves the band (+1.5 sigma for hours, whose points wander out
     of it only by chance) is not confirmed.
   * *One point far beyond the tails.* A single point confirms alone when its z reaches both 6 and
     1.5 times the baseline's *routine extreme* in scale units: the largest residual of each block
     (as in step 3, the largest block left out, the largest of the others kept; below the median for
     ``down``). So a one-point spike of the size the baseline routinely shows is not an onset, one of
     200 sigma is. This needs a baseline with a spread of its own (at least 20 points, MAD of the
     residuals above zero): on a constant baseline (an error count that is 0 for hours) the scale is
     a floor, not a measure of the tails, and one point never confirms.

   The episode must also reach ``|z| >= 4`` at some point.

6. **Walk back to the real start.** The CUSUM's run start (where its sum was last zero before the
   confirmation) bounds the start from below. The episode's *height* is the largest median z over 5
   consecutive points starting between the run start and the confirmation (or the confirming point's
   z, if larger); where it is found is the episode's *core*. ``start`` is the change-point estimate
   for a step of that height: with ``k = max(2, min(height, 8) / 2)``, the point after the last
   minimum of the running sum of ``z - k`` from the run start to the core (the maximum-likelihood
   change point of a step of ``2k`` sigma). A long weak drift before the core (points below ``k``)
   counts against an earlier start, so the start is not walked back through it; a steep ramp is cut
   where it passes about 4 sigma, within a few points of its beginning; a spike starts at itself.

7. **Recovery.** ``end`` is the first point after confirmation (at a strictly later time) that begins
   a stretch of at least five points, spanning at least two minutes, that is back at the baseline:
   its first point within 2 robust sigma of the expected value (in the onset's direction), none of
   its points beyond 3 sigma, and at least half of them within 1 sigma (so one noisy point does not
   postpone the recovery, a few points back in the band in the middle of an episode are not a
   recovery, and a series stuck halfway is not called recovered). For sub-second data the stretch is
   capped at 240 points. ``None`` if the data ends before that happens.
   ``peak`` is the most extreme point between start and end; ``score`` is its robust z-score
   (always positive: the number of noise scales beyond the expected value, in the onset's
   direction). The search then resumes at ``end``, so separate episodes are reported separately.

``direction="both"`` runs the up and down searches independently and merges them, sorted by start.
The function is pure: no I/O, no clock, no randomness, no logging; the same input always gives the
same output. Cost: O(n log n) per episode found (sorting, medians and quantiles), vectorised with
numpy except for a loop over the confirmed episodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Onset", "find_onsets"]

DAY = 86400.0
SEASONAL_NEIGHBOURS = 2  # same time of day: the points within +-2 steps, on each earlier day
SEASONAL_MAX_DAYS = 7  # at most this many earlier days
SEASONAL_CHECK_POINTS = 4000  # baseline points used (evenly strided) to decide on seasonality
SEASONAL_KEEP_RATIO = 0.8  # seasonal if its residual spread <= 80% of the flat spread
SEASONAL_MIN_CYCLES = 3  # a daily profile needs at least three days of baseline
TREND_KEEP_RATIO = 0.7  # keep the trend if residual spread <= 70% of the flat spread
MIN_MODEL_POINTS = 8  # fewer baseline points: flat median, borrowed noise scale
MAD_TO_SIGMA = 1.4826
MEAN_AD_TO_SIGMA = 1.2533
MIN_TAIL_POINTS = 20  # fewer baseline points: no tail-aware scales
TAIL_QUANTILE_LOW = 0.05  # the 5% and 95% quantiles of the residuals ...
TAIL_Z = 1.645  # ... are 1.645 sigma from the median for Gaussian noise
TAIL_BLOCKS = 7  # tails and routine extremes: over this many consecutive baseline blocks ...
TAIL_DROP = 1  # ... the largest block is left out (one excursion spoils at most one block)
EXCURSION_FLOOR = 0.01  # degenerate baseline: scale >= 1% of the largest excursion
PRACTICAL_FLOOR = 0.005  # scale >= 0.5% of the baseline level: an onset moves the level by >= 2%
SPIKE_MIN_Z = 6.0  # one point confirms alone at >= 6 sigma ...
SPIKE_FACTOR = 1.5  # ... and >= 1.5 times the baseline's routine extreme (see _robust_top)

CUSUM_ALLOWANCE = 2.0  # k: only points beyond the 2-sigma band add evidence
CUSUM_CLIP = 4.0  # one point contributes at most CLIP - k = 2
CUSUM_THRESHOLD = 6.0  # h: needs >= 3 points at the clip
MIN_PEAK = 4.0  # an episode must reach this |z| somewhere
CORE_POINTS = 5  # the episode's height: the largest median |z| over this many consecutive points
HEIGHT_MAX = 8.0  # the walk-back is tuned to a step of the episode's height, at most 8 sigma
RECOVERY_POINTS = 5  # back to baseline: a stretch of at least this many points
RECOVERY_SECONDS = 120.0  # ... and at least this long, whose first point is
RECOVERY_BAND = 2.0  # ... within 2 sigma (in the onset's direction),
RECOVERY_MAX = 3.0  # ... with no point beyond 3 sigma
RECOVERY_MEDIAN = 1.0  # ... and at least half of its points within 1 sigma
RECOVERY_MAX_POINTS = 240  # the two minutes never ask for more than this many points

_DIRECTIONS = ("up", "down", "both")


@dataclass(frozen=True, slots=True)
class Onset:
    """One abnormal episode of a series.

    ``start``: epoch seconds of the first abnormal point (where the deviation began).
    ``end``: epoch seconds of the first point of the sustained return to the baseline band, or
    ``None`` when the series had not returned by the end of the data.
    ``peak``: epoch seconds of the most extreme point of the episode.
    ``score``: robust z-score of the peak: how many noise scales (tail-aware, on the onset's side)
    the most extreme point lies beyond the expected value. At least 4 for a reported onset.
    ``direction``: ``"up"`` or ``"down"``.
    """

    start: float
    end: float | None
    peak: float
    score: float
    direction: str = "up"


def find_onsets(
    times: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    baseline_end: float,
    direction: str = "up",
) -> list[Onset]:
    """Return the abnormal episodes at or after ``baseline_end``, sorted by start.

    ``times`` are epoch seconds (ascending; they are sorted if not), ``values`` floats with NaN for
    missing points. Points with ``time < baseline_end`` are the baseline. ``direction`` is ``"up"``,
    ``"down"`` or ``"both"``. See the module docstring for the method.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of 'up', 'down', 'both'; got {direction!r}")
    try:
        baseline_end = float(baseline_end)
    except (TypeError, ValueError):
        raise ValueError(f"baseline_end must be a number of epoch seconds; got {baseline_end!r}") from None
    if math.isnan(baseline_end):
        raise ValueError("baseline_end must not be NaN")
    t = np.asarray(times, dtype=float).reshape(-1)
    x = np.asarray(values, dtype=float).reshape(-1)
    if t.shape != x.shape:
        raise ValueError(f"times and values must have the same length; got {t.size} and {x.size}")

    ok = np.isfinite(t) & np.isfinite(x)
    t, x = t[ok], x[ok]
    if t.size == 0:
        return []
    if t.size > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, x = t[order], x[order]

    split = int(np.searchsorted(t, baseline_end, side="left"))
    if split == 0 or split == t.size:
        return []  # nothing to compare with, or nothing to search

    with np.errstate(all="ignore"):  # extreme magnitudes overflow to inf; handled below
        model = _baseline_model(t, x, split, baseline_end)
        dev = x[split:] - model.expected
    ts = t[split:]
    step = _typical_step(t)
    by_time = min(RECOVERY_MAX_POINTS, math.ceil(RECOVERY_SECONDS / step)) if step > 0 else 0
    recovery_points = max(RECOVERY_POINTS, by_time)

    found: list[Onset] = []
    with np.errstate(all="ignore"):
        if direction in ("up", "both"):
            found += _episodes(ts, dev / model.up, "up", recovery_points, model.spike_up)
        if direction in ("down", "both"):
            found += _episodes(ts, -dev / model.down, "down", recovery_points, model.spike_down)
    found.sort(key=lambda o: (o.start, o.direction))
    return found


# --------------------------------------------------------------------------------------------
# baseline model


def _typical_step(t: np.ndarray) -> float:
    if t.size < 2:
        return 0.0
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if d.size else 0.0


def _mad_sigma(r: np.ndarray) -> float:
    return float(MAD_TO_SIGMA * np.median(np.abs(r - np.median(r)))) if r.size else 0.0


def _diff_sigma(x: np.ndarray) -> float:
    """Point-to-point noise: robust sigma of first differences / sqrt(2); blind to level shifts."""
    if x.size < 3:
        return 0.0
    d = np.diff(x)
    return float(MAD_TO_SIGMA * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def _rowwise_median(vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the finite entries of each row (NaN where a row has none) and their count."""
    count = np.sum(np.isfinite(vals), axis=1)
    srt = np.sort(np.where(np.isfinite(vals), vals, np.inf), axis=1)
    rows = np.arange(vals.shape[0])
    lo = np.clip((count - 1) // 2, 0, max(vals.shape[1] - 1, 0))
    hi = np.clip(count // 2, 0, max(vals.shape[1] - 1, 0))
    if vals.shape[1] == 0:
        return np.full(vals.shape[0], np.nan), count
    med = 0.5 * (srt[rows, lo] + srt[rows, hi])
    return np.where(count > 0, med, np.nan), count


def _same_phase(tb: np.ndarray, xb: np.ndarray, tq: np.ndarray, days: np.ndarray, tol: float) -> np.ndarray:
    """For each query time, the median of the baseline points within ``tol`` of the same time of day
    ``k`` days away (``k`` in ``days``), at most ``SEASONAL_NEIGHBOURS`` each side per day. NaN where
    there are none."""
    w = SEASONAL_NEIGHBOURS
    cols: list[np.ndarray] = []
    for k in days:
        c = tq - k * DAY
        j = np.searchsorted(tb, c)
        for off in range(-w, w + 1):
            idx = j + off
            valid = (idx >= 0) & (idx < tb.size)
            idx_c = np.clip(idx, 0, tb.size - 1)
            valid &= np.abs(tb[idx_c] - c) <= tol
            cols.append(np.where(valid, xb[idx_c], np.nan))
    if not cols:
        return np.full(tq.size, np.nan)
    med, _ = _rowwise_median(np.stack(cols, axis=1))
    return med


@dataclass(frozen=True, slots=True)
class _Model:
    expected: np.ndarray | float
    up: float  # noise scale above the expected value
    down: float  # ... and below it
    spike_up: float  # one point at or beyond this z confirms an episode alone (inf: never)
    spike_down: float


def _blocks(r: np.ndarray) -> list[np.ndarray]:
    """The residuals cut into TAIL_BLOCKS consecutive blocks (fewer for short baselines, each with at
    least MIN_TAIL_POINTS points); a single block when fewer than three fit."""
    b = min(TAIL_BLOCKS, r.size // MIN_TAIL_POINTS)
    return np.array_split(r, b) if b >= 3 else [r]


def _robust_top(v: np.ndarray) -> float:
    """The largest of the blocks' values once the TAIL_DROP largest are left out (all blocks when
    there are fewer than three)."""
    v = np.sort(v)
    drop = int(TAIL_DROP) if v.size >= 3 else 0
    return float(v[v.size - 1 - drop])


def _baseline_model(t: np.ndarray, x: np.ndarray, split: int, baseline_end: float) -> _Model:
    """Expected value for each searched point, the noise scales above and below it and the
    single-point confirmation levels, from the baseline ``[:split]``."""
    tb, xb = t[:split], x[:split]
    ts = t[split:]
    n = xb.size
    level = float(np.median(xb))
    flat_sigma = _mad_sigma(xb)
    expected: np.ndarray | float = level
    resid = xb - level
    sigma = flat_sigma
    step = _typical_step(tb)

    if n >= MIN_MODEL_POINTS and flat_sigma > 0:
        chosen = False
        tol = (SEASONAL_NEIGHBOURS + 0.5) * step
        span = float(baseline_end - tb[0])
        if step > 0 and span >= SEASONAL_MIN_CYCLES * DAY - tol:
            ndays = max(1, min(SEASONAL_MAX_DAYS, int((span + tol) // DAY)))
            # Leave-one-day-out check on (at most SEASONAL_CHECK_POINTS of) the baseline's own points.
            stride = max(1, n // SEASONAL_CHECK_POINTS)
            tq = tb[::stride]
            others = np.array([k for k in range(-ndays, ndays + 1) if k != 0], dtype=float)
            loo = xb[::stride] - _same_phase(tb, xb, tq, others, tol)
            loo = loo[np.isfinite(loo)]
            if loo.size >= MIN_MODEL_POINTS:
                s_sigma = _mad_sigma(loo)
                if s_sigma <= SEASONAL_KEEP_RATIO * flat_sigma:
                    ahead = math.ceil(max(0.0, float(ts[-1] - tb[-1])) / DAY)
                    before = np.arange(1, ndays + ahead + 1, dtype=float)
                    phase = _same_phase(tb, xb, ts, before, tol)
                    expected = np.where(np.isfinite(phase), phase, level)
                    resid = loo
                    sigma = s_sigma
                    chosen = True
        if not chosen:
            half = n // 2
            t1, t2 = float(np.median(tb[:half])), float(np.median(tb[half:]))
            if t2 > t1:
                slope = (float(np.median(xb[half:])) - float(np.median(xb[:half]))) / (t2 - t1)
                tmid = 0.5 * (t1 + t2)
                detrended = xb - slope * (tb - tmid)
                d_level = float(np.median(detrended))
                d_sigma = _mad_sigma(detrended)
                if d_sigma <= TREND_KEEP_RATIO * flat_sigma:
                    horizon = float(tb[-1] - tb[0])
                    t_cap = np.minimum(ts, tb[-1] + horizon)
                    expected = d_level + slope * (t_cap - tmid)
                    resid = detrended - d_level
                    sigma = d_sigma
                    level = d_level + slope * (float(tb[-1]) - tmid)

    # Floors (see module docstring, step 3).
    own = sigma > 0 and n >= MIN_TAIL_POINTS and _mad_sigma(resid) > 0  # a scale of the baseline's own
    if sigma <= 0 or n < MIN_MODEL_POINTS:
        sigma = max(sigma, _diff_sigma(x))
    if _mad_sigma(resid) <= 0:
        mean_ad = float(MEAN_AD_TO_SIGMA * np.mean(np.abs(resid - np.median(resid))))
        excursion = float(np.max(np.abs(x - level)))
        sigma = max(sigma, mean_ad, _diff_sigma(x), EXCURSION_FLOOR * excursion)
    sigma = max(sigma, PRACTICAL_FLOOR * abs(level), 1e-300)
    if sigma == 0 or not math.isfinite(sigma):
        sigma = 1.0
    # Tail-aware sides, and the routine extremes, as medians over blocks of the baseline: a series
    # that routinely bursts is judged against its bursts, one earlier excursion is not routine.
    up = down = sigma
    spike_up = spike_down = math.inf
    if n >= MIN_TAIL_POINTS:
        mid = float(np.median(resid))
        parts = _blocks(resid)
        his = np.array([np.quantile(b, 1.0 - TAIL_QUANTILE_LOW) for b in parts]) - mid
        los = mid - np.array([np.quantile(b, TAIL_QUANTILE_LOW) for b in parts])
        up = max(sigma, _robust_top(his) / TAIL_Z)
        down = max(sigma, _robust_top(los) / TAIL_Z)
        up = up if math.isfinite(up) else sigma
        down = down if math.isfinite(down) else sigma
        if own:
            top = _robust_top(np.array([np.max(b) for b in parts]) - mid)
            bottom = _robust_top(mid - np.array([np.min(b) for b in parts]))
            spike_up = max(SPIKE_MIN_Z, SPIKE_FACTOR * top / up)
            spike_down = max(SPIKE_MIN_Z, SPIKE_FACTOR * bottom / down)
            spike_up = spike_up if math.isfinite(spike_up) else math.inf
            spike_down = spike_down if math.isfinite(spike_down) else math.inf
    return _Model(expected, up, down, spike_up, spike_down)


# --------------------------------------------------------------------------------------------
# episodes


def _last_min(v: np.ndarray) -> int:
    """Index of the last minimum of ``v``."""
    return int(v.size - 1 - np.argmin(v[::-1]))


def _episodes(ts: np.ndarray, z: np.ndarray, direction: str, recovery_points: int, spike: float) -> list[Onset]:
    """Confirmed episodes of ``z`` (already sign-flipped so that abnormal is positive)."""
    n = z.size
    # Overflowing z (e.g. 1e308 / tiny scale) must not poison cumulative sums.
    z = np.nan_to_num(z, nan=0.0, posinf=np.finfo(float).max, neginf=-np.finfo(float).max)
    zc = np.clip(z, -1e12, 1e12)  # for the walk-back sums
    inc = np.minimum(z, CUSUM_CLIP) - CUSUM_ALLOWANCE
    # back[i]: the stretch of R points starting at i is back at the baseline (windowed counts by cumsum)
    back = np.zeros(n, dtype=bool)
    r = recovery_points
    if n >= r:
        m = n - r + 1
        over = np.concatenate(([0], np.cumsum(z >= RECOVERY_MAX, dtype=np.int64)))
        calm = np.concatenate(([0], np.cumsum(z < RECOVERY_MEDIAN, dtype=np.int64)))
        back[:m] = (z[:m] < RECOVERY_BAND) & (over[r:] - over[:m] == 0) & (2 * (calm[r:] - calm[:m]) >= r)
    back_idx = np.flatnonzero(back)
    spikes = np.flatnonzero(z >= spike)
    # height[i]: median of z[i : i + CORE_POINTS]
    c = min(CORE_POINTS, n)
    if n >= c and c > 0:
        win = np.lib.stride_tricks.sliding_window_view(zc, c)
        height = np.median(win, axis=1)
    else:
        height = np.zeros(0)

    out: list[Onset] = []
    pos = 0
    while pos < n:
        cm = np.concatenate(([0.0], np.cumsum(inc[pos:])))
        runmin = np.minimum.accumulate(cm)
        s = cm[1:] - runmin[1:]
        hits = np.flatnonzero(s >= CUSUM_THRESHOLD)
        alarm = int(hits[0]) + pos if hits.size else n
        k = int(np.searchsorted(spikes, pos))
        by_spike = k < spikes.size and int(spikes[k]) < alarm
        if by_spike:
            alarm = int(spikes[k])
        if alarm >= n:
            break
        a = alarm - pos
        lowest = runmin[a + 1]
        s0 = pos + int(np.flatnonzero(cm[: a + 2] == lowest)[-1])  # last time the sum was zero
        if s0 > alarm:
            s0 = alarm
        later = max(alarm + 1, int(np.searchsorted(ts, ts[alarm], side="right")))  # strictly later time
        kb = int(np.searchsorted(back_idx, later))
        end_idx = int(back_idx[kb]) if kb < back_idx.size else None
        stop = end_idx if end_idx is not None else n
        # The episode's height: the largest median z over CORE_POINTS consecutive points starting
        # between the run start and the confirmation (or the confirming spike); the walk-back is the
        # change point of a step of that height.
        core = s0 + int(np.argmax(height[s0 : alarm + 1])) if height.size > s0 else s0
        h = float(height[core]) if core < height.size else 0.0
        if by_spike and zc[alarm] > h:
            h, core = float(zc[alarm]), alarm
        kk = max(CUSUM_ALLOWANCE, min(h, HEIGHT_MAX) / 2.0)
        walk = np.concatenate(([0.0], np.cumsum(zc[s0:core] - kk)))
        start = s0 + _last_min(walk)
        seg = z[start:stop]
        p = start + int(np.argmax(seg))
        if z[p] >= MIN_PEAK:
            out.append(
                Onset(
                    start=float(ts[start]),
                    end=float(ts[end_idx]) if end_idx is not None else None,
                    peak=float(ts[p]),
                    score=float(z[p]),
                    direction=direction,
                )
            )
        if end_idx is None:
            break
        pos = end_idx
    return out
