"""Action items from the evidence: the proximate cause apart from the systemic weaknesses.

Two pure steps around one that asks Prometheus (`collectors/prometheus/counterfactual.py`):

    replays = plan(dossier)                              what to replay, and on which Prometheus
    results = counterfactual.run(folder, replays, ...)   the collect stage (I/O); saved in the archive
    items = build(dossier, results, late_alert_after=)   the action items, each with its reason

What becomes an item:

* proximate (`fix_change`): the change ranked first among the candidate causes, with its score
  and reasons; without one, an item that says the proximate cause is still to be found and what
  was checked.
* systemic, `tune_alert`: a `late_alert` gap (the service's first alert to fire), and an alert of
  the incident that went pending and never fired. Its rule is replayed with shorter `for`
  durations (and, when the threshold took longer than the `for`, with the threshold halved); the
  item recommends the longest `for` that would have fired within `late_alert_after` of the onset
  (else the one that fires first) and states the counterfactual: when it would have fired, how
  much earlier, and how many more times it would have fired over the history (30 days).
* systemic, `new_alert`: an `unalerted_signal` gap on a metric signal: a proposed rule on the
  signal's own query, its threshold halfway between the baseline's highest value and the
  anomaly's median (lowest and median for a signal that goes down), checked by evaluating it on
  the signal's Prometheus: the item says whether the server accepted it, when it would have fired
  and how often over the history. An error-log signal gets an item without PromQL.
* systemic, `fix_blind_spot`: one per dark target (scrape target, log stream, query), naming it.
* systemic, `restore_source`: a source that failed, so part of the picture is missing.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from dossier.model import (
    ActionItem,
    AlertReview,
    Counterfactual,
    DetectionGap,
    Dossier,
    ReplayOutcome,
    ReplayResult,
    RuleReplay,
    Series,
    format_duration,
    rfc3339,
    stable_id,
)

__all__ = ["FOR_LADDER", "HISTORY", "build", "plan", "proposed_threshold"]

HISTORY = 30 * 86400.0
FOR_LADDER = (0.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
NEW_RULE_FORS = (0.0, 60.0, 120.0, 300.0)
MARGIN = 600.0  # the replay starts this long (plus the rule's `for`) before the incident window
_COMPARISON = re.compile(r"^(?P<lhs>.*\S)\s*(?P<op>>=|>)\s*(?P<num>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*$", re.S)


# ---- what to replay --------------------------------------------------------------------------


def _late_rows(d: Dossier) -> list[tuple[DetectionGap | None, AlertReview]]:
    """The reviews behind each late_alert gap, then the incident's alerts that never fired."""
    out: list[tuple[DetectionGap | None, AlertReview]] = []
    for g in d.detection_gaps:
        if g.kind != "late_alert":
            continue
        row = next((r for r in d.alert_review if r.service == g.service and r.fired_at == g.end), None)
        if row is not None:
            out.append((g, row))
    out += [(None, r) for r in d.alert_review if r.fired_at is None and r.pending_at is not None]
    return [(g, r) for g, r in out if r.expr and r.source and r.for_seconds is not None]


def _sentence(text: str) -> str:
    """`text` without its closing period, so that sentences can be joined with ". "."""
    return text.rstrip().rstrip(".")


def _key(*parts: str | None) -> str:
    return stable_id("action", *(p or "" for p in parts))


def _lowered(expr: str) -> tuple[str, float, float] | None:
    """`lhs > 5` -> (`lhs > 2.5`, 5, 2.5): a top-level `>`/`>=` against a positive number."""
    m = _COMPARISON.match(expr)
    if m is None or m.group("lhs").count("(") != m.group("lhs").count(")"):
        return None
    if re.search(r"\b(and|or|unless)\b", m.group("lhs")) and not m.group("lhs").endswith(")"):
        return None
    old = float(m.group("num"))
    if old <= 0:
        return None
    new = _nice(old / 2)
    return f"{m.group('lhs')} {m.group('op')} {_num(new)}", old, new


def _replay_start(d: Dossier, row: AlertReview) -> datetime:
    first = min(t for t in (d.incident.start, row.onset, row.pending_at) if t is not None)
    return first - timedelta(seconds=(row.for_seconds or 0.0) + MARGIN)


def _signal_series(d: Dossier, gap: DetectionGap) -> Series | None:
    return next(
        (s for s in d.series if s.role == "signal" and s.signal == gap.signal and s.service == gap.service), None
    )


def plan(d: Dossier, *, history: float = HISTORY) -> tuple[RuleReplay, ...]:
    """The replays `build` needs, in a stable order. Pure."""
    out: list[RuleReplay] = []
    for gap, row in _late_rows(d):
        assert row.expr is not None and row.source is not None and row.for_seconds is not None
        fors = (row.for_seconds, *(f for f in FOR_LADDER if f < row.for_seconds))
        start = _replay_start(d, row)
        replay = RuleReplay(
            key=_key("for", row.source, row.alert, row.service),
            source=row.source,
            alert=row.alert,
            expr=row.expr,
            for_candidates=fors,
            start=start,
            end=d.incident.end,
            history=history,
            labels=dict(row.labels),
        )
        out.append(replay)
        lowered = _lowered(row.expr)
        threshold, held = row.delays.get("threshold"), row.delays.get("for")
        if gap is not None and lowered and threshold is not None and threshold > (held or 0.0):
            key = _key("threshold", row.source, row.alert, row.service)
            out.append(dataclasses.replace(replay, key=key, expr=lowered[0], for_candidates=(row.for_seconds,)))
    for gap in d.detection_gaps:
        if gap.kind != "unalerted_signal":
            continue
        proposal = _proposal(d, gap)
        if proposal is None:
            continue
        s, name, expr = proposal
        out.append(
            RuleReplay(
                key=_key("new", s.source, s.service, s.signal),
                source=s.source,
                alert=name,
                expr=expr,
                for_candidates=NEW_RULE_FORS,
                start=d.incident.start - timedelta(seconds=MARGIN),
                end=d.incident.end,
                history=history,
            )
        )
    return tuple(out)


# ---- proposed rules ----------------------------------------------------------------------------


def _nice(x: float) -> float:
    """Two significant digits: 0.1234 -> 0.12, 1234 -> 1200."""
    if x == 0 or not math.isfinite(x):
        return x
    digits = 1 - math.floor(math.log10(abs(x)))
    return round(x, digits)


def _num(x: float) -> str:
    return f"{x:.10g}"


def proposed_threshold(s: Series, baseline_end: datetime, start: datetime, end: datetime | None) -> float | None:
    """Halfway between the baseline's extreme and the anomaly's median, rounded; None without both."""
    t0, t1 = start.timestamp(), (end.timestamp() if end else math.inf)
    base = [v for t, v in zip(s.times, s.values, strict=True) if t < baseline_end.timestamp() and math.isfinite(v)]
    during = [v for t, v in zip(s.times, s.values, strict=True) if t0 <= t <= t1 and math.isfinite(v)]
    if not base or not during:
        return None
    level = statistics.median(during)
    if s.direction == "down":
        edge = min(base)
        return _nice(edge - (edge - level) / 2) if level < edge else None
    edge = max(base)
    return _nice(edge + (level - edge) / 2) if level > edge else None


def _camel(*parts: str | None) -> str:
    words = [w for p in parts if p for w in re.split(r"[^A-Za-z0-9]+", p) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def _wrapped(query: str) -> str:
    q = query.strip()
    if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*(\{[^{}]*\})?", q):
        return q
    if q.endswith(")") and "(" in q:
        depth = 0
        for i, ch in enumerate(q):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and ch == ")":
                if i == len(q) - 1 and re.fullmatch(r"[A-Za-z_]*\s*", q[: q.index("(")]) is not None:
                    return q
                break
    return f"({q})"


def _proposal(d: Dossier, gap: DetectionGap) -> tuple[Series, str, str] | None:
    s = _signal_series(d, gap)
    if s is None or gap.start is None or s.direction == "both":
        return None
    threshold = proposed_threshold(s, d.incident.start, gap.start, gap.end)
    if threshold is None:
        return None
    op = "<" if s.direction == "down" else ">"
    name = _camel(s.service, s.signal, "Low" if s.direction == "down" else "High")
    return s, name, f"{_wrapped(s.query)} {op} {_num(threshold)}"


def _rule_yaml(name: str, expr: str, for_seconds: float, service: str | None, summary: str) -> str:
    lines = [f"- alert: {name}", f"  expr: {json.dumps(expr)}"]
    if for_seconds:
        lines.append(f"  for: {_duration(for_seconds)}")
    if service:
        lines.append(f"  labels: {{service: {json.dumps(service)}}}")
    lines.append(f"  annotations: {{summary: {json.dumps(summary)}}}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    """A Prometheus duration: 90 -> 1m30s."""
    s = round(seconds)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


# ---- the items ------------------------------------------------------------------------------------


def _outcome(r: ReplayResult | None, for_seconds: float) -> ReplayOutcome | None:
    if r is None:
        return None
    return next((o for o in r.outcomes if o.for_seconds == for_seconds), None)


def _grid_words(r: ReplayResult) -> str:
    if r.phase_from == "ALERTS":
        return "at the times the rule was evaluated (read from its ALERTS_FOR_STATE)"
    return "from the window's start (the rule's own evaluation times were not recorded)"


def _history_words(r: ReplayResult) -> str:
    if r.history_start is None or r.history_end is None:
        return "over the history (not read)"
    days = (r.history_end - r.history_start).total_seconds() / 86400
    span = f"{round(days)} days" if days >= 1.5 else format_duration((r.history_end - r.history_start).total_seconds())
    return f"over the {span} before {rfc3339(r.history_end)}"


def _fired_words(o: ReplayOutcome | None, alert: str, spec: str, actual: datetime | None) -> str:
    if o is None or o.fired_at is None:
        return f"with {spec} {alert} would not have fired in the window either"
    text = f"with {spec} {alert} would have fired at {rfc3339(o.fired_at)}"
    if actual is not None:
        early = (actual - o.fired_at).total_seconds()
        text += f", {format_duration(early)} earlier" if early > 0 else " (no earlier)"
    return text


def _more_words(r: ReplayResult, new: ReplayOutcome | None, now: ReplayOutcome | None) -> str:
    if new is None or new.firings is None:
        return ""
    where = _history_words(r)
    if now is None or now.firings is None:
        return f"; {where} it would have fired {_times(new.firings)}"
    extra = new.firings - now.firings
    if extra == 0:
        return f"; {where} it would have fired no more often ({_times(new.firings)}, as it did)"
    more = f"{_times(extra)} more" if extra > 0 else f"{_times(-extra)} fewer"
    return f"; {where} it would have fired {more} ({new.firings} instead of {now.firings})"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _counterfactual(
    r: ReplayResult, new: ReplayOutcome, now: ReplayOutcome | None, actual: datetime | None
) -> Counterfactual:
    return Counterfactual(
        source=r.source,
        expr=r.expr,
        for_seconds=new.for_seconds,
        fired_at=new.fired_at,
        actual_fired_at=actual,
        earlier_by=(actual - new.fired_at).total_seconds() if actual and new.fired_at else None,
        firings=new.firings,
        firings_now=now.firings if now else None,
        history_start=r.history_start,
        history_end=r.history_end,
    )


def _choose(r: ReplayResult, onset: datetime | None, late_after: float, fors: Sequence[float]) -> ReplayOutcome | None:
    """The longest `for` that fires within `late_after` of the onset, else the one that fires first
    (without an onset: the longest that fires at all)."""
    fired = [o for f in fors if (o := _outcome(r, f)) is not None and o.fired_at is not None]
    if not fired:
        return None
    if onset is None:  # an alert that never fired: the longest `for` with which it would have
        return max(fired, key=lambda o: o.for_seconds)
    in_time = [o for o in fired if (o.fired_at - onset).total_seconds() <= late_after]  # type: ignore[operator]
    if in_time:
        return max(in_time, key=lambda o: o.for_seconds)
    return min(fired, key=lambda o: (o.fired_at, -o.for_seconds))


def _tune(
    gap: DetectionGap | None,
    row: AlertReview,
    results: Mapping[str, ReplayResult],
    late_after: float,
) -> ActionItem:
    assert row.for_seconds is not None
    key = _key("for", row.source, row.alert, row.service)
    r = results.get(key)
    lowered_r = results.get(_key("threshold", row.source, row.alert, row.service))
    evidence = gap.evidence if gap is not None else ()
    if gap is not None:
        why = gap.explanation
    else:
        why = f"{row.alert} ({row.service or 'no service'}) {row.finding or 'went pending and never fired'}"
    item = dict(
        id=_key("item", "tune_alert", row.source, row.alert, row.service),
        cause="systemic",
        kind="tune_alert",
        service=row.service,
        alert=row.alert,
        signal=row.signal,
        evidence=evidence,
    )
    if r is None:
        return ActionItem(
            title=f"Make {row.alert} fire sooner",
            reason=f"{_sentence(why)}. Its rule was not replayed (no counterfactual in the archive).",
            **item,  # type: ignore[arg-type]
        )
    if r.error is not None:
        return ActionItem(
            title=f"Make {row.alert} fire sooner",
            reason=f"{_sentence(why)}. Replaying its rule on {r.source} failed: {r.error}.",
            checked=f"{r.source}: {r.error}",
            **item,  # type: ignore[arg-type]
        )
    now = _outcome(r, row.for_seconds)
    shorter = [f for f in FOR_LADDER if f < row.for_seconds]
    best = _choose(r, row.onset if row.fired_at is not None else None, late_after, shorter)
    notes = []
    if now is not None and row.fired_at is not None:
        if now.fired_at is None or abs((now.fired_at - row.fired_at).total_seconds()) > (r.interval or 0) + 0.001:
            notes.append(
                f"The replay of the rule as it is fires at {rfc3339(now.fired_at) if now.fired_at else 'no time'}, "
                f"not at {rfc3339(row.fired_at)} as recorded: the rule or the data changed since."
            )
    text, cf, rule, title = "", None, None, f"Make {row.alert} fire sooner"
    if best is not None:
        spec = f"`for: {_duration(best.for_seconds)}`"
        text = _fired_words(best, row.alert, spec, row.fired_at) + _more_words(r, best, now)
        cf = _counterfactual(r, best, now, row.fired_at)
        title = f"Shorten the `for` of {row.alert} from {_duration(row.for_seconds)} to {_duration(best.for_seconds)}"
        rule = _rule_yaml(
            row.alert, row.expr or "", best.for_seconds, row.service, f"{row.alert} with a shorter for (Dossier)"
        )
    else:
        text = f"no `for` shorter than {_duration(row.for_seconds)} would have made {row.alert} fire in the window"
    lowered = _lowered(row.expr or "")
    low = _outcome(lowered_r, row.for_seconds) if lowered_r is not None and lowered_r.error is None else None
    if lowered is not None and lowered_r is not None:
        if lowered_r.error is not None:
            notes.append(f"Replaying it with the threshold at {_num(lowered[2])} failed: {lowered_r.error}.")
        else:
            spec = f"the threshold at {_num(lowered[2])} instead of {_num(lowered[1])}"
            notes.append(
                _fired_words(low, row.alert, spec, row.fired_at)[:1].upper()
                + _fired_words(low, row.alert, spec, row.fired_at)[1:]
                + _more_words(lowered_r, low, now)
                + "."
            )
            if (
                low is not None
                and low.fired_at is not None
                and (cf is None or (cf.fired_at and low.fired_at < cf.fired_at))
            ):
                title = f"Lower the threshold of {row.alert} from {_num(lowered[1])} to {_num(lowered[2])}"
                cf = _counterfactual(lowered_r, low, now, row.fired_at)
                rule = _rule_yaml(
                    row.alert, lowered[0], row.for_seconds, row.service, f"{row.alert} with a lower threshold (Dossier)"
                )
    reason = f"{_sentence(why)}. {text[:1].upper()}{text[1:]}." + "".join(f" {n}" for n in notes)
    return ActionItem(
        title=title,
        reason=reason,
        rule=rule,
        checked=f"replayed on {r.source} every {format_duration(r.interval)}, {_grid_words(r)}",
        counterfactual=cf,
        **item,  # type: ignore[arg-type]
    )


def _new_alert(d: Dossier, gap: DetectionGap, results: Mapping[str, ReplayResult], late_after: float) -> ActionItem:
    item = dict(
        id=_key("item", "new_alert", gap.service, gap.signal),
        cause="systemic",
        kind="new_alert",
        service=gap.service,
        signal=gap.signal,
        evidence=gap.evidence,
    )
    what = f"{gap.signal} of {gap.service}" if gap.service else str(gap.signal)
    proposal = _proposal(d, gap)
    if proposal is None:
        hint = (
            "an alert on its error-log count in the log store"
            if (gap.signal or "").startswith("logs:")
            else "an alert on it"
        )
        return ActionItem(title=f"Alert on {what}", reason=f"{_sentence(gap.explanation)}. Add {hint}.", **item)  # type: ignore[arg-type]
    s, name, expr = proposal
    r = results.get(_key("new", s.source, s.service, s.signal))
    summary = f"{what} is outside its usual range"
    if r is None:
        rule = _rule_yaml(name, expr, 120.0, s.service, summary)
        return ActionItem(
            title=f"Alert on {what}",
            reason=f"{_sentence(gap.explanation)}. Proposed: {expr} (not checked: no replay in the archive).",
            rule=rule,
            **item,  # type: ignore[arg-type]
        )
    if r.error is not None:
        return ActionItem(
            title=f"Alert on {what}",
            reason=f"{_sentence(gap.explanation)}. The rule proposed from its baseline ({expr}) was refused by "
            f"{r.source}: {r.error}; write one by hand.",
            checked=f"{r.source}: {r.error}",
            **item,  # type: ignore[arg-type]
        )
    best = _choose(r, gap.start, late_after, NEW_RULE_FORS)
    for_seconds = best.for_seconds if best is not None else 120.0
    rule = _rule_yaml(name, expr, for_seconds, s.service, summary)
    if best is not None and best.fired_at is not None and gap.start is not None:
        after = format_duration((best.fired_at - gap.start).total_seconds())
        text = (
            f"with `for: {_duration(for_seconds)}` it would have fired at {rfc3339(best.fired_at)}, {after} after "
            f"the onset"
            + (f"; {_history_words(r)} it would have fired {_times(best.firings)}" if best.firings is not None else "")
        )
    else:
        text = "it would not have fired in the window: raise the signal's sensitivity by hand"
    return ActionItem(
        title=f"Alert on {what}: {name}",
        reason=f"{_sentence(gap.explanation)}. Proposed rule {name} ({expr}, threshold halfway between the "
        f"baseline and the anomaly): {text}.",
        rule=rule,
        checked=f"parsed and evaluated by {r.source} ({format_duration(r.interval)} evaluations)",
        counterfactual=_counterfactual(r, best, None, None) if best is not None else None,
        **item,  # type: ignore[arg-type]
    )


def _blind_spots(d: Dossier) -> list[ActionItem]:
    by_target: dict[tuple[str | None, str | None, str | None], list[DetectionGap]] = {}
    for g in d.detection_gaps:
        if g.kind == "blind_spot":
            by_target.setdefault((g.target, g.telemetry, g.service), []).append(g)
    out = []
    for (target, telemetry, service), gaps in by_target.items():
        spans = ", ".join(
            f"{rfc3339(g.start) or '?'} to {rfc3339(g.end) or '?'}"
            for g in sorted(gaps, key=lambda g: g.start or d.incident.start)
        )
        name = target or f"{telemetry or 'telemetry'} of {service or 'the incident'}"
        out.append(
            ActionItem(
                id=_key("item", "fix_blind_spot", target, telemetry, service),
                cause="systemic",
                kind="fix_blind_spot",
                title=f"Fix {name}: {telemetry or 'telemetry'} went dark",
                reason=f"{_sentence(gaps[0].explanation)} ({len(gaps)} span{'s' if len(gaps) > 1 else ''}: {spans}).",
                service=service,
                target=target,
                evidence=tuple(e for g in gaps for e in g.evidence),
            )
        )
    return out


def _failed_source(explanation: str) -> str:
    first = explanation.split(" ", 1)[0]
    return f"the source {first}" if "/" in first else "the failed source"


def _proximate(d: Dossier) -> ActionItem:
    if not d.candidate_causes:
        checked = "; ".join(d.negative_evidence[:3])
        return ActionItem(
            id=_key("item", "fix_change", None),
            cause="proximate",
            kind="fix_change",
            title="Find the proximate cause: no change qualified as a candidate",
            reason="No change in the look-back before the onset ranked as a cause"
            + (f" ({checked})" if checked else "")
            + ". Look beyond the change sources: traffic, dependencies, capacity, data.",
        )
    top = d.candidate_causes[0]
    event = next((t.event for t in d.timeline if t.event.id == top.evidence), None)
    what = event.title if event is not None else f"change {top.evidence}"
    rolled = ""
    if d.milestones.mitigated is not None:
        rolled = f" It was mitigated at {rfc3339(d.milestones.mitigated)}."
    return ActionItem(
        id=_key("item", "fix_change", top.evidence),
        cause="proximate",
        kind="fix_change",
        title=f"Fix and guard against the change that set it off: {what}",
        reason=f"Ranked first of {len(d.candidate_causes)} candidate cause{'s' if len(d.candidate_causes) > 1 else ''} "
        f"(score {top.score:.2f}): {'; '.join(top.reasons)}.{rolled}",
        service=event.service if event is not None else None,
        evidence=(top.evidence,),
    )


def build(
    d: Dossier, results: Sequence[ReplayResult] = (), *, late_alert_after: float = 300.0
) -> tuple[ActionItem, ...]:
    """The action items of `d`: the proximate cause first, then the systemic weaknesses. Pure."""
    by_key = {r.key: r for r in results}
    items = [_proximate(d)]
    items += [_tune(g, r, by_key, late_alert_after) for g, r in _late_rows(d)]
    items += [_new_alert(d, g, by_key, late_alert_after) for g in d.detection_gaps if g.kind == "unalerted_signal"]
    items += _blind_spots(d)
    items += [
        ActionItem(
            id=_key("item", "restore_source", g.signal, g.explanation),
            cause="systemic",
            kind="restore_source",
            title=f"Restore {_failed_source(g.explanation)}",
            reason=f"{_sentence(g.explanation)}: part of the picture is missing from this draft.",
            service=g.service,
            evidence=g.evidence,
        )
        for g in d.detection_gaps
        if g.kind == "source_unavailable"
    ]
    seen: set[str] = set()
    unique = []
    for it in items:
        if it.id not in seen:
            seen.add(it.id)
            unique.append(it)
    return tuple(unique)
