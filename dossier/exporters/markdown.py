"""The draft for people: a postmortem in Markdown (`draft.md`), ready to edit.

Sections: title and facts, Summary (plain sentences from the milestones, with TODO markers for
what only people can say), Impact window, Timeline, Detection review, Detection gaps, Candidate
causes, Evidence, Action items.

`render` is pure and deterministic: the same dossier gives the same text, byte for byte. Every
time is UTC, written `2026-11-20 10:02:15Z`; durations are written `45s`, `6m 0s`, `1h 2m`.
Text from sources is escaped so that it cannot break a table or start a link.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote

from dossier.model import AlertReview, DetectionGap, Dossier, Event, Milestones, Series, format_duration
from dossier.plugin import Exporter

TODO = "**TODO**"

PHASES: Mapping[str, str] = {
    "trigger": "Trigger",
    "detection": "Detection",
    "escalation": "Escalation",
    "mitigation": "Mitigation",
    "recovery": "Recovery",
    "context": "Context",
}

GAPS: Mapping[str, str] = {
    "late_alert": "Late alert",
    "unalerted_signal": "Unalerted signal",
    "blind_spot": "Blind spot",
    "human_detected": "Detected by people",
    "source_unavailable": "Source unavailable",
}

MILESTONES: tuple[tuple[str, str], ...] = (
    ("started", "Started"),
    ("detected", "Detected"),
    ("acknowledged", "Acknowledged"),
    ("mitigated", "Mitigated"),
    ("recovered", "Recovered"),
    ("resolved", "Resolved"),
)

DURATIONS: tuple[tuple[str, str], ...] = (
    ("time_to_detect", "Time to detect"),
    ("time_to_acknowledge", "Time to acknowledge"),
    ("time_to_mitigate", "Time to mitigate"),
    ("time_to_recover", "Time to recover"),
    ("time_to_resolve", "Time to resolve"),
)

DELAYS: tuple[tuple[str, str], ...] = (
    ("threshold", "Threshold delay"),
    ("for", "`for` delay"),
    ("notify", "Notify delay"),
)


class MarkdownExporter(Exporter):
    """A postmortem draft in Markdown, for people to edit."""

    format: ClassVar[str] = "md"
    filename: ClassVar[str] = "draft.md"

    def render(self, dossier: Dossier) -> str:
        return _Draft(dossier).render()


# ---- formatting ------------------------------------------------------------------------------


def fmt_time(dt: datetime | None) -> str:
    """`2026-11-20 10:02:15Z` (seconds are truncated); `unknown` for None."""
    if dt is None:
        return "unknown"
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_duration(seconds: float | None) -> str:
    """`45s`, `6m 0s`, `1h 2m`, `2d 3h` (as `dossier.model.format_duration`); under a minute, a
    fraction is kept (`0.83s`), for how long a source took."""
    if seconds is not None and math.isfinite(seconds) and abs(seconds) < 59.995 and seconds != int(seconds):
        return f"{seconds:.2f}".rstrip("0").rstrip(".") + "s"
    return format_duration(seconds)


def fmt_offset(seconds: float | None) -> str:
    """`+00:06:00` after the start, `-00:01:30` before it; empty for None."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    sign = "-" if seconds < 0 else "+"
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def fmt_score(score: float) -> str:
    return f"{score:.2f}"


_SPECIAL = re.compile(r"([\\`*\[\]<>])")


def text(value: object) -> str:
    """Text from a source, on one line, with the characters that would start markup escaped."""
    one_line = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", one_line)


def prose(value: object) -> str:
    """Text that Dossier wrote (explanations, reasons): as `text`, but its code spans are kept
    when its backticks pair up."""
    one_line = " ".join(str(value).split())
    if one_line.count("`") % 2:
        return text(one_line)
    parts = one_line.split("`")
    return "`".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def cell(value: str) -> str:
    """A table cell: `|` escaped (GFM honours `\\|` even inside code spans and links), one line."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")
    return value.replace("|", "\\|")


def code(value: object) -> str:
    """A code span that holds any text, backticks included."""
    body = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    if body.startswith("`") or body.endswith("`"):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def url(value: str) -> str:
    """A link target that cannot end the link or break a table: spaces, parentheses, `<>` and `|`
    are percent-encoded (equivalent in a URL), existing escapes are kept."""
    return quote(value.strip(), safe=":/?#[]@!$&'*+,;=%~-._")


def link(label: str, target: str | None) -> str:
    """`[label](target)`; the label alone without a target, or when the target is not an http(s)
    address (a `javascript:` link from a source file must not become clickable). `label` is Markdown."""
    if not target or not target.strip().lower().startswith(("http://", "https://")):
        return label
    return f"[{label}]({url(target)})"


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def sentence_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---- the draft -------------------------------------------------------------------------------


class _Draft:
    def __init__(self, dossier: Dossier) -> None:
        self.d = dossier
        self.m: Milestones = dossier.milestones
        self.events: dict[str, Event] = {}
        for entry in dossier.timeline:
            self.events.setdefault(entry.event.id, entry.event)

    def render(self) -> str:
        blocks: list[list[str]] = [
            self.header(),
            self.summary(),
            self.impact(),
            self.timeline(),
            self.detection_review(),
            self.gaps(),
            self.causes(),
            *([self.logs()] if self.has_logs() else []),
            self.evidence(),
            self.action_items(),
        ]
        return "\n\n".join("\n".join(block) for block in blocks) + "\n"

    # -- helpers

    def after_start(self, dt: datetime | None) -> float | None:
        if dt is None or self.m.started is None:
            return None
        return (dt - self.m.started).total_seconds()

    def relative(self, dt: datetime | None) -> str:
        """`6m 0s after the start`, `7m 15s before the start`, or empty when unknown."""
        seconds = self.after_start(dt)
        if seconds is None:
            return ""
        if seconds < 0:
            return f"{fmt_duration(-seconds)} before the start"
        if seconds == 0:
            return "at the start"
        return f"{fmt_duration(seconds)} after the start"

    def at(self, dt: datetime | None) -> str:
        """`2026-11-20 10:08:15Z (6m 0s after the start)`."""
        rel = self.relative(dt)
        return f"{fmt_time(dt)} ({rel})" if rel else fmt_time(dt)

    def event_label(self, event_id: str | None, *, bold: bool = False) -> str:
        """The event's title, linked to its source; the bare id when the event is not known."""
        if not event_id:
            return ""
        event = self.events.get(event_id)
        if event is None:
            return f"evidence {code(event_id)}"
        title = text(event.title)
        if bold:
            title = f"**{title}**"
        return link(title, event.link)

    def where(self, service: str | None, signal: str | None) -> str:
        """`payments, `latency_p99``, `checkout`, `` or the signal alone."""
        return ", ".join(p for p in (text(service) if service else "", code(signal) if signal else "") if p)

    # -- sections

    def header(self) -> list[str]:
        inc = self.d.incident
        lines = [
            f"# {text(inc.id)}: {text(inc.title)}",
            "",
            f"_Draft generated by Dossier on {fmt_time(self.d.generated_at)} from the evidence of "
            f"{plural(len(self.d.sources), 'source')}. Times are UTC. Each claim below points at the evidence "
            f"that supports it; the parts marked {TODO} are for people to write._",
            "",
        ]
        facts = [
            ("Severity", text(inc.severity) if inc.severity else "not given"),
            ("Services", ", ".join(text(s) for s in inc.services) if inc.services else "not given"),
            ("Window collected", f"{fmt_time(inc.start)} to {fmt_time(inc.end)}"),
            ("Declared", fmt_time(inc.declared_at) if inc.declared_at else "not recorded"),
            ("Declared resolved", fmt_time(inc.resolved_at) if inc.resolved_at else "not recorded"),
        ]
        if inc.labels:
            facts.append(("Labels", ", ".join(code(f"{k}={v}") for k, v in sorted(inc.labels.items()))))
        lines += [f"- **{name}:** {value}" for name, value in facts]
        return lines

    def summary(self) -> list[str]:
        sentences = [
            self.summary_start(),
            self.summary_detection(),
            self.summary_response(),
            self.summary_cause(),
            self.summary_recovery(),
            self.summary_unalerted(),
            self.summary_blind(),
        ]
        paragraph = " ".join(s for s in sentences if s)
        return [
            "## Summary",
            "",
            paragraph,
            "",
            f"- **Impact on users:** {TODO}: who was affected, how, for how long and how many "
            "(failed requests, lost orders, error budget spent).",
            f"- **Root cause:** {TODO}: confirm or reject the candidate causes below, then explain why it happened.",
            f"- **Action items:** {TODO}: see [Action items](#action-items).",
        ]

    def summary_start(self) -> str:
        if self.m.started is None:
            return (
                "The telemetry shows no onset: no watched signal left its baseline, so when the trouble "
                "began is not known from the evidence."
            )
        event = self.events.get(self.d.milestone_evidence.get("started", ""))
        out = f"Per the telemetry, the trouble began at {fmt_time(self.m.started)}"
        if event is not None:
            signal = event.attrs.get("signal")
            if event.service:
                out += f" in {text(event.service)}"
            if signal:
                out += f" ({code(signal)})"
            out += f": {self.event_label(event.id)}"
        return out + "."

    def summary_detection(self) -> str:
        detected = self.m.detected
        fired = [r for r in self.d.alert_review if r.fired_at is not None]
        first_fired = min(fired, key=lambda r: (r.fired_at, r.alert)) if fired else None
        human = any(g.kind == "human_detected" for g in self.d.detection_gaps)
        if detected is None:
            out = "Nothing in the evidence shows when it was detected: no alert fired and no declaration was found."
            return out
        event = self.events.get(self.d.milestone_evidence.get("detected", ""))
        row = next((r for r in fired if r.fired_at == detected), None)
        if row is not None:
            by = f"the alert {code(row.alert)}" + (f" on {text(row.service)}" if row.service else "") + " fired"
        elif event is not None and event.kind == "incident_declared":
            by = "people declared the incident"
        elif event is not None:
            by = f"{self.event_label(event.id)} happened"
        else:
            by = "it was noticed"
        rel = self.relative(detected)
        out = f"It was detected at {fmt_time(detected)}" + (f", {rel}," if rel else "") + f" when {by}."
        late = [g for g in self.d.detection_gaps if g.kind == "late_alert"]
        if row is not None and late:
            biggest = max(
                ((key, value) for key, value in row.delays.items() if key in ("threshold", "for") and value),
                key=lambda kv: (kv[1], kv[0]),
                default=None,
            )
            out += " That is late (see the detection review)"
            if biggest is not None:
                why = "waiting out the rule's `for`" if biggest[0] == "for" else "reaching the threshold"
                out += f": {fmt_duration(biggest[1])} of it went to {why}"
            out += "."
        if row is None and (human or (event is not None and event.kind == "incident_declared")):
            if first_fired is None:
                out += " No alert fired at all."
            else:
                out += f" The first alert, {code(first_fired.alert)}, fired only at {self.at(first_fired.fired_at)}."
        return out

    def summary_response(self) -> str:
        steps = []
        if self.m.acknowledged is not None:
            steps.append(f"acknowledged at {self.at(self.m.acknowledged)}")
        if self.m.mitigated is not None:
            steps.append(f"mitigated at {self.at(self.m.mitigated)}")
        return f"It was {sentence_list(steps)}." if steps else ""

    def summary_cause(self) -> str:
        if not self.d.candidate_causes:
            first = self.d.negative_evidence[0] if self.d.negative_evidence else ""
            return "No change qualified as a candidate cause" + (f": {prose(first)}." if first else ".")
        top = min(self.d.candidate_causes, key=lambda c: c.rank)
        event = self.events.get(top.evidence)
        out = f"The top candidate cause is {self.event_label(top.evidence)}"
        if event is not None:
            out += f", a {text(event.kind.replace('_', ' '))}"
            if event.service:
                out += f" of {text(event.service)}"
            rel = self.relative(event.at)
            out += f" {rel}" if rel else f" at {fmt_time(event.at)}"
        return out + f" (score {fmt_score(top.score)})."

    def summary_recovery(self) -> str:
        if self.m.recovered is not None:
            out = f"The signals returned to baseline at {self.at(self.m.recovered)}."
        else:
            out = "The telemetry shows no return to baseline within the window."
        if self.m.resolved is not None:
            out += f" The incident was resolved at {self.at(self.m.resolved)}."
        return out

    def summary_unalerted(self) -> str:
        gaps = [g for g in self.d.detection_gaps if g.kind == "unalerted_signal"]
        if not gaps:
            return ""
        names = [
            (code(g.signal) if g.signal else "a signal") + (f" of {text(g.service)}" if g.service else "") for g in gaps
        ]
        verb = (
            "went anomalous with no alert watching it"
            if len(gaps) == 1
            else ("went anomalous with no alert watching them")
        )
        return f"{sentence_list(names)} {verb}."

    def summary_blind(self) -> str:
        missing = []
        for gap in self.d.detection_gaps:
            if gap.kind != "blind_spot":
                continue
            what = code(gap.signal) if gap.signal else "telemetry"
            of = f" of {text(gap.service)}" if gap.service else ""
            missing.append(f"no {what}{of} {self.window(gap)}")
        for source in self.d.sources:
            if source.status != "ok":
                how = "failed" if source.status == "failed" else "was partial"
                missing.append(f"the source {text(source.instance)} {how}")
        if not missing and not any(g.kind == "source_unavailable" for g in self.d.detection_gaps):
            return "Every source answered and no telemetry was missing."
        if not missing:
            return "Part of the picture is missing: see the detection gaps."
        return f"Part of the picture is missing: {'; '.join(missing)}."

    def window(self, gap: DetectionGap) -> str:
        if gap.start is not None and gap.end is not None:
            return f"from {fmt_time(gap.start)} to {fmt_time(gap.end)} ({fmt_duration(gap.duration)})"
        if gap.start is not None:
            return f"from {fmt_time(gap.start)}"
        if gap.end is not None:
            return f"until {fmt_time(gap.end)}"
        return ""

    def impact(self) -> list[str]:
        rows = []
        for key, label in MILESTONES:
            value: datetime | None = getattr(self.m, key)
            rows.append(
                [
                    label,
                    fmt_time(value),
                    fmt_offset(self.after_start(value)),
                    self.event_label(self.d.milestone_evidence.get(key)),
                ]
            )
        lines = [
            "## Impact window",
            "",
            "_Started is the onset seen in the telemetry, not the declared time._",
            "",
            *table(["Milestone", "Time (UTC)", "After start", "Evidence"], rows),
            "",
        ]
        durations = self.d.durations
        lines += [f"- {label}: {fmt_duration(durations.get(key))}" for key, label in DURATIONS]
        declared = self.d.incident.declared_at
        if declared is not None and self.m.started is not None:
            lines.append(f"- Declared by people: {self.at(declared)}")
        return lines

    def timeline(self) -> list[str]:
        lines = ["## Timeline", ""]
        if not self.d.timeline:
            return [*lines, "No event was collected for the window."]
        lines += [
            "_Rows in bold are the important ones; the phase is shown where it changes. Ids refer to `evidence/`._",
            "",
        ]
        rows = []
        previous = None
        for entry in self.d.timeline:
            event = entry.event
            what = self.event_label(event.id, bold=entry.important)
            if event.end is not None:
                span = (event.end - event.at).total_seconds()
                what += f" (until {fmt_time(event.end)}, {fmt_duration(span)})"
            phase = PHASES.get(entry.phase, entry.phase) if entry.phase != previous else ""
            previous = entry.phase
            rows.append(
                [
                    fmt_time(event.at),
                    phase,
                    text(event.service) if event.service else "",
                    what,
                    f"{text(event.source)} {code(event.id)}",
                ]
            )
        return lines + table(["Time (UTC)", "Phase", "Service", "What happened", "Source"], rows)

    def detection_review(self) -> list[str]:
        lines = ["## Detection review", ""]
        reviews = self.d.alert_review
        if not any(r.fired_at is not None for r in reviews):
            lines.append("No alert fired for the incident's services during the window.")
            if not reviews:
                return lines
            lines.append("")
        rows = []
        for r in reviews:
            rows.append(
                [
                    code(r.alert),
                    text(r.service) if r.service else "",
                    fmt_time(r.condition_true_at) if r.condition_true_at else "never",
                    fmt_time(r.pending_at) if r.pending_at else "—",
                    fmt_time(r.fired_at) if r.fired_at else "did not fire",
                    fmt_time(r.notified_at) if r.notified_at else "—",
                    fmt_time(r.resolved_at) if r.resolved_at else "—",
                    *(fmt_duration(r.delays.get(key)) if r.delays.get(key) is not None else "—" for key, _ in DELAYS),
                ]
            )
        header = ["Alert", "Service", "Condition true", "Pending", "Fired", "Notified", "Resolved"]
        lines += table([*header, *(label for _, label in DELAYS)], rows)
        lines += ["", "Where the time went:", ""]
        lines += [f"- {self.alert_story(r)}" for r in reviews]
        return lines

    def alert_story(self, r: AlertReview) -> str:
        name = code(r.alert) + (f" on {text(r.service)}" if r.service else "")
        rule = f" Rule: {code(r.expr)}" + (f" with `for` {fmt_duration(r.for_seconds)}" if r.for_seconds else "") + "."
        if not r.expr:
            rule = ""
        if r.fired_at is None:
            if r.condition_true_at is None:
                return f"{name} did not fire: its condition never held during the window.{rule}"
            out = f"{name} did not fire: its condition held from {self.at(r.condition_true_at)}"
            if r.pending_at is not None:
                out += f" and it was pending from {fmt_time(r.pending_at)}"
            if r.for_seconds:
                out += f", but not for the {fmt_duration(r.for_seconds)} its `for` asks"
            return out + f".{rule}"
        out = f"{name} fired at {self.at(r.fired_at)}."
        parts = []
        threshold = r.delays.get("threshold")
        if threshold is not None:
            held = f" (condition true at {fmt_time(r.condition_true_at)})" if r.condition_true_at else ""
            parts.append(f"{fmt_duration(threshold)} until the threshold was crossed{held}")
        wait = r.delays.get("for")
        if wait is not None:
            pending = f" (pending from {fmt_time(r.pending_at)})" if r.pending_at else ""
            parts.append(f"{fmt_duration(wait)} waiting out the rule's `for`{pending}")
        if parts:
            out += " The delay: " + "; ".join(parts) + "."
        notify = r.delays.get("notify")
        if r.notified_at is not None:
            out += f" The notification went out at {fmt_time(r.notified_at)}"
            out += f", {fmt_duration(notify)} after it fired." if notify is not None else "."
        else:
            out += " No notification was recorded."
        return out + rule

    def gaps(self) -> list[str]:
        lines = ["## Detection gaps", ""]
        if not self.d.detection_gaps:
            return [*lines, "No detection gap was found: the alerts fired in time and no telemetry was missing."]
        for n, gap in enumerate(self.d.detection_gaps, start=1):
            where = self.where(gap.service, gap.signal)
            head = f"{n}. **{GAPS.get(gap.kind, gap.kind)}** ({code(gap.kind)})"
            head += f", {where}" if where else ""
            window = self.window(gap)
            head += f": {window}" if window else ""
            lines.append(head)
            lines.append(f"   {prose(gap.explanation)}")
            if gap.evidence:
                refs = []
                for event_id in gap.evidence:
                    event = self.events.get(event_id)
                    refs.append(code(event_id) + (f" {self.event_label(event_id)}" if event else ""))
                lines.append(f"   Evidence: {'; '.join(refs)}.")
        return lines

    def causes(self) -> list[str]:
        lines = ["## Candidate causes", ""]
        causes = sorted(self.d.candidate_causes, key=lambda c: c.rank)
        if not causes:
            lines.append("No change qualified as a candidate cause.")
        for cause in causes:
            event = self.events.get(cause.evidence)
            head = f"{cause.rank}. {self.event_label(cause.evidence, bold=True)}"
            if event is not None:
                what = text(event.kind.replace("_", " "))
                if event.service:
                    what += f" of {text(event.service)}"
                head += f": {what} at {self.at(event.at)}"
            head += f"; score {fmt_score(cause.score)}, evidence {code(cause.evidence)}"
            lines.append(head)
            lines += [f"   - {prose(reason)}" for reason in cause.reasons]
        lines += ["", "Negative evidence (looked for and not found):", ""]
        if self.d.negative_evidence:
            lines += [f"- {prose(item)}" for item in self.d.negative_evidence]
        else:
            lines.append("- none recorded")
        lines += ["", f"**Root cause:** {TODO}: which of these, if any, caused the incident, and why."]
        return lines

    def evidence(self) -> list[str]:
        lines = ["## Evidence", "", "### Sources", ""]
        if self.d.sources:
            rows = []
            for s in self.d.sources:
                items = str(s.items) + (" (truncated)" if s.truncated else "")
                status = s.status if s.status == "ok" else f"**{s.status}**"
                rows.append(
                    [
                        text(s.instance),
                        text(s.type),
                        status,
                        items,
                        fmt_duration(s.duration),
                        text(s.error) if s.error else "",
                    ]
                )
            lines += table(["Instance", "Type", "Status", "Items", "Duration", "Error"], rows)
        else:
            lines.append("No source was queried.")
        lines += ["", "### Signals", ""]
        if self.d.series:
            lines += [f"- {self.series_line(s)}" for s in self.d.series]
        else:
            lines.append("No metric series was collected.")
        lines += [
            "",
            "Every request made, with its query, time and the SHA-256 of the answer, is in "
            "`evidence/manifest.json`; the raw evidence of each source is in `evidence/<instance>.jsonl`.",
        ]
        return lines

    def has_logs(self) -> bool:
        return any(e.kind in ("new_log_signature", "log_spike") for e in self.events.values())

    def logs(self) -> list[str]:
        """New error signatures with their exemplars, and error-log spikes."""
        lines = ["## Log evidence", ""]
        new = [e for e in self.events.values() if e.kind == "new_log_signature"]
        for e in sorted(new, key=lambda e: (e.at, e.id)):
            a = e.attrs
            lines.append(
                f"- **New error** in {text(e.service or 'logs')}, first at {self.at(e.at)}, "
                f"{a.get('count', 0)} times in the window, never in the baseline: "
                f"{code(a.get('signature', ''))}"
            )
            for ex in a.get("exemplars") or ():
                lines.append(f"  - {link(text(ex.get('at', '')), ex.get('link'))}: {code(ex.get('message', ''))}")
        spikes = [e for e in self.events.values() if e.kind == "log_spike"]
        for e in sorted(spikes, key=lambda e: (e.at, e.id)):
            lines.append(f"- **Spike**: {link(text(e.title), e.link)}, from {self.at(e.at)}")
        return lines

    def series_line(self, s: Series) -> str:
        if s.role == "alert_condition":
            what = f"condition of the alert {code(s.alert or s.signal)}"
        else:
            what = code(s.signal)
        if s.service:
            what += f" of {text(s.service)}"
        graph = link("graph", s.link) if s.link else "no link"
        return f"{what} ({text(s.source)}): {graph}; query {code(s.query)}"

    def action_items(self) -> list[str]:
        lines = [
            "## Action items",
            "",
            f"{TODO}: what will change so that this does not happen again, or is detected sooner; "
            "one line each, with an owner and a ticket.",
            "",
        ]
        suggestions: list[str] = []
        for gap in self.d.detection_gaps:
            item = self.suggestion(gap)
            if item and item not in suggestions:
                suggestions.append(item)
        if suggestions:
            lines += ["Suggested by the detection gaps (keep, edit or delete):", ""]
            lines += [f"- [ ] {item}" for item in suggestions]
        lines.append(f"- [ ] {TODO}")
        return lines

    def suggestion(self, gap: DetectionGap) -> str:
        of = f" of {text(gap.service)}" if gap.service else ""
        signal = code(gap.signal) if gap.signal else "the signal"
        if gap.kind == "late_alert":
            return f"Make the alert on {signal}{of} fire sooner: it fired {fmt_duration(gap.duration)} after the onset."
        if gap.kind == "unalerted_signal":
            return f"Alert on {signal}{of}: it went anomalous and no alert watched it."
        if gap.kind == "blind_spot":
            what = code(gap.signal) if gap.signal else "telemetry"
            return f"Find out why there was no {what}{of} {self.window(gap)}."
        if gap.kind == "human_detected":
            return f"Add an alert{of} that catches this before people do."
        if gap.kind == "source_unavailable":
            return f"Make the missing evidence available: {prose(gap.explanation)}"
        return ""
