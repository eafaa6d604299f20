"""The draft for people: a postmortem in Markdown (`draft.md`), ready to edit.

The draft is a Jinja2 template (`templates/draft.md.j2`, or the team's own: `output.template`)
filled with `Sections`, each part Markdown built here. The default follows the usual postmortem
structure: title and facts, notes on the draft itself, Summary (plain sentences from the
milestones and, for every incident service, what its telemetry shows), Impact (with the impact
window), Trigger, Detection (review per service, and gaps), Resolution, Timeline, Root causes and
contributing factors (the candidate causes), Action items, Lessons learned, Log evidence,
Evidence; what only people can say is a prompt marked **TODO**.

Every sentence is a claim an SRE acts on, so every one is built from the dossier's facts (the
same facts as dossier.json) and nothing else: values carry their unit (the signal's configured
`unit`, else the one its query's metric names imply), durations are written as people write them
(`45s`, `6m`, `6m 15s`, `1h 27m`; rates "per minute"), scores say their scale, the delays of an
alert add up to the total they explain, and no sentence is said twice.

`render` is pure and deterministic: the same dossier gives the same text, byte for byte. Every
time is UTC, written `2026-11-20 10:02:15Z`. Text from sources is escaped so that it cannot break
a table or start a link.
"""

from __future__ import annotations

import difflib
import math
import re
import shutil
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from dossier.errors import ConfigError, Issue
from dossier.model import (
    CHANGE_KINDS,
    ActionItem,
    AlertReview,
    Cause,
    DetectionGap,
    Dossier,
    Event,
    Milestones,
    Series,
    SourceReport,
)
from dossier.plugin import Exporter
from dossier.units import (
    UNIT_WORDS,
    fmt_duration,
    fmt_exact,
    fmt_number,
    fmt_value,
    humane,
    infer_unit,
    normal_unit,
    per,
)

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

# The parts of an alert's delay from the onset to its firing, in order (AlertReview.delays keys).
DELAY_PARTS: tuple[tuple[str, str], ...] = (
    ("threshold", "until its condition held (threshold)"),
    ("evaluation", "until the rule was next evaluated (evaluation)"),
    ("for", "pending (`for`)"),
)
NOT_ACCOUNTED = "not accounted for by the recorded delays"


TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = TEMPLATES / "draft.md.j2"
# A team's template (`output.template`), copied into the output folder when the draft is collected,
# so that `dossier replay` drafts with the same template from the folder alone.
KEPT_TEMPLATE = "draft.md.j2"
TEMPLATE_HINT = "fix the template, or remove output.template to use the default draft"


class MarkdownExporter(Exporter):
    """A postmortem draft in Markdown, for people to edit, from a Jinja2 template (the default one
    follows the usual postmortem structure; `output.template` names a team's own)."""

    format: ClassVar[str] = "md"
    filename: ClassVar[str] = "draft.md"

    def __init__(self, template: Path | None = None) -> None:
        self.template = template

    def render(self, dossier: Dossier) -> str:
        return render_draft(dossier, self.template)

    def write(self, dossier: Dossier, folder: Path) -> Path:
        kept = folder / KEPT_TEMPLATE
        template = self.template if self.template is not None else kept if kept.is_file() else None
        path = folder / self.filename
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(render_draft(dossier, template), encoding="utf-8")
        tmp.replace(path)
        return path


@dataclass(frozen=True, slots=True)
class Sections:
    """The parts of the draft as Markdown, each built from the dossier's facts: what a template
    gets as `draft` (headings are the template's; `detection_review` has a `####` heading per
    service, `evidence` `###` headings for its sources and signals)."""

    header: str  # the title, the line on how the draft was made, and the incident's facts
    notes: str  # what the reader must know about the draft itself (empty when nothing)
    summary: str  # the milestones in sentences, and what the telemetry shows per service
    impact: str  # the milestones with their evidence, and the durations
    trigger: str  # the events of the trigger phase
    detection_review: str  # per service, each alert: its times and where the delay went
    detection_gaps: str
    resolution: str  # the events of the mitigation and recovery phases
    timeline: str
    causes: str  # the candidate causes with their scores and reasons, and the negative evidence
    action_items: str  # the items the evidence suggests, to keep, edit or delete
    logs: str  # new error signatures and error-log spikes (empty when none)
    evidence: str  # the sources and the signals, with links


# ---- templates -------------------------------------------------------------------------------


def environment() -> SandboxedEnvironment:
    """The Jinja2 environment of draft templates: sandboxed, strict about undefined names, with
    the draft's own formatting as filters (`time`, `duration`, `text`, `code`)."""
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader("/"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(time=fmt_time, duration=fmt_duration, text=text, code=code)
    env.globals["TODO"] = TODO
    return env


def load_template(path: Path) -> jinja2.Template:
    """The template at `path`, compiled; an unreadable file or a syntax error is a ConfigError
    naming the file and the line."""
    path = Path(path).absolute()
    try:
        return environment().get_template(path.as_posix())
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(str(path), [Issue((f"line {exc.lineno}",), f"{exc.message} ({TEMPLATE_HINT})")]) from None
    except jinja2.TemplateNotFound:
        raise ConfigError(str(path), [f"no such template file ({TEMPLATE_HINT})"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read the template: {exc} ({TEMPLATE_HINT})"]) from None


def keep_template(template: Path | None, folder: Path) -> None:
    """Copy a team's template into the output folder (`draft.md.j2`) before the draft is written,
    so that `dossier replay` uses it; without one, remove a copy left by an earlier collection."""
    kept = folder / KEPT_TEMPLATE
    if template is None:
        kept.unlink(missing_ok=True)
        return
    load_template(template)  # a broken template stops here, before anything is collected
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, kept)


def render_draft(dossier: Dossier, template: Path | None = None) -> str:
    """The draft from `template` (the default one when None). A template that fails is a
    ConfigError naming its file and line."""
    path = Path(template).absolute() if template is not None else DEFAULT_TEMPLATE
    compiled = load_template(path)
    draft = _Draft(dossier)
    context: dict[str, Any] = {"draft": draft.sections(), "dossier": dossier, "durations": dossier.durations}
    try:
        out = compiled.render(context)
    except Exception as exc:  # whatever the template's own code raised: its file and line
        raise ConfigError(str(path), [_template_issue(exc, compiled.filename)]) from None
    out = re.sub(r"[ \t]+\n", "\n", out)
    return re.sub(r"\n{3,}", "\n\n", out).strip("\n") + "\n"


def _template_issue(exc: Exception, filename: str | None) -> Issue:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if filename and frame.filename == filename:
            line = frame.lineno
    message = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    missing = re.search(r"object' has no attribute '([^']+)'", message)
    if missing and "Sections" in message:
        close = difflib.get_close_matches(missing.group(1), [f.name for f in fields(Sections)], n=1)
        message = f"draft has no part {missing.group(1)!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    return Issue((f"line {line}",) if line else (), f"{' '.join(message.split())} ({TEMPLATE_HINT})")


# ---- formatting ------------------------------------------------------------------------------


def fmt_time(dt: datetime | None) -> str:
    """`2026-11-20 10:02:15Z` (seconds are truncated); `unknown` for None."""
    if dt is None:
        return "unknown"
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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


def fmt_cause_score(cause: Cause) -> str:
    """`score 0.92 on a 0–1 scale (where 1.00 × when 0.92 × what 1.00)`; an archive from before
    the factors were recorded says that its score is only relative."""
    if cause.factors:
        factors = " × ".join(f"{text(name)} {fmt_score(value)}" for name, value in cause.factors.items())
        return f"score {fmt_score(cause.score)} on a 0–1 scale, the product {factors}"
    return f"relative score {fmt_score(cause.score)}"


# -- markup


_SPECIAL = re.compile(r"([\\`*\[\]<>])")


def text(value: object) -> str:
    """Text from a source, on one line, with the characters that would start markup escaped."""
    one_line = " ".join(str(value).split())
    return _SPECIAL.sub(r"\\\1", one_line)


def verbatim(value: object) -> str:
    """Text that Dossier wrote, as written: as `text`, but its code spans are kept when its
    backticks pair up."""
    one_line = " ".join(str(value).split())
    if one_line.count("`") % 2:
        return text(one_line)
    parts = one_line.split("`")
    return "`".join(part if i % 2 else _SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def prose(value: object) -> str:
    """Text that Dossier wrote (explanations, reasons, findings, notes), with its durations as
    people write them (`humane`)."""
    return verbatim(humane(" ".join(str(value).split())))


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


def sentence_list(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))  # a phrase is said once
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def cumulative_round(parts: Sequence[float]) -> list[int]:
    """Whole seconds for each part such that they add up to the rounded whole."""
    out, total, shown = [], 0.0, 0
    for p in parts:
        total += p
        step = round(total) - shown
        out.append(step)
        shown += step
    return out


# ---- the draft -------------------------------------------------------------------------------


class _Draft:
    def __init__(self, dossier: Dossier) -> None:
        self.d = dossier
        self.m: Milestones = dossier.milestones
        self.events: dict[str, Event] = {}
        self.phase: dict[str, str] = {}
        for entry in dossier.timeline:
            self.events.setdefault(entry.event.id, entry.event)
            self.phase.setdefault(entry.event.id, entry.phase)
        self.series: dict[str, Series] = {}
        for s in dossier.series:
            self.series.setdefault(s.id, s)
        self.rule_shown: set[tuple[str | None, str]] = set()

    def sections(self) -> Sections:
        """Every section as Markdown text, built from the dossier's facts (computed in the order of the
        default draft, so that a rule is quoted the first time its alert is told of)."""

        def block(lines: list[str]) -> str:
            return "\n".join(lines)

        return Sections(
            header=block(self.header()),
            notes=block(self.notes()) if self.d.notes else "",
            summary=block(self.summary()),
            impact=block(self.impact()),
            trigger=block(self.trigger()),
            detection_review=block(self.detection_review()),
            detection_gaps=block(self.gaps()),
            resolution=block(self.resolution()),
            timeline=block(self.timeline()),
            causes=block(self.causes()),
            action_items=block(self.action_items()),
            logs=block(self.logs()) if self.has_logs() else "",
            evidence=block(self.evidence()),
        )

    # -- helpers

    def after_start(self, dt: datetime | None) -> float | None:
        if dt is None or self.m.started is None:
            return None
        return (dt - self.m.started).total_seconds()

    def relative(self, dt: datetime | None) -> str:
        """`6m after the start`, `7m 15s before the start`, or empty when unknown."""
        seconds = self.after_start(dt)
        if seconds is None:
            return ""
        if seconds < 0:
            return f"{fmt_duration(-seconds)} before the start"
        if seconds == 0:
            return "at the start"
        return f"{fmt_duration(seconds)} after the start"

    def at(self, dt: datetime | None) -> str:
        """`2026-11-20 10:08:15Z (6m after the start)`."""
        rel = self.relative(dt)
        return f"{fmt_time(dt)} ({rel})" if rel else fmt_time(dt)

    def series_of(self, event: Event) -> Series | None:
        sid = event.attrs.get("series")
        if isinstance(sid, str) and sid in self.series:
            return self.series[sid]
        signal = event.attrs.get("signal")
        for s in self.d.series:
            if (
                s.signal == signal
                and s.service == event.service
                and s.source == event.source
                and s.role != "alert_condition"
            ):
                return s
        return None

    def unit_of(self, s: Series | None, event: Event | None = None) -> tuple[str | None, str]:
        """The unit of a signal's values and where it comes from: `config`, `query` or `` (unknown)."""
        if event is not None and event.attrs.get("unit"):
            return normal_unit(str(event.attrs["unit"])), "config"
        if s is not None and s.unit:
            return normal_unit(s.unit), "config"
        query = s.query if s is not None else event.attrs.get("query") if event is not None else None
        if isinstance(query, str):
            inferred = infer_unit(query)
            if inferred:
                return inferred, "query"
        return None, ""

    def change(self, event: Event) -> str:
        """`rose from 216 ms to 2.19 s`: an anomaly's values in its signal's unit, or empty."""
        a = event.attrs
        baseline, peak = a.get("baseline"), a.get("peak")
        verb = "fell" if a.get("direction") == "down" else "rose"
        s = self.series_of(event)
        if event.kind == "log_spike":
            step = s.step if s is not None and s.step else a.get("step")
            bucket = per(step if isinstance(step, int | float) else None)
            if isinstance(baseline, int | float) and isinstance(peak, int | float):
                return f"{verb} from {fmt_number(baseline)} to {fmt_number(peak)} {bucket}"
            if isinstance(peak, int | float):
                return f"{verb} to {fmt_number(peak)} {bucket}"
            return ""
        unit, _ = self.unit_of(s, event)
        has_base = isinstance(baseline, int | float) and math.isfinite(baseline)
        has_peak = isinstance(peak, int | float) and math.isfinite(peak)
        if has_base and has_peak:
            return f"{verb} from {fmt_value(baseline, unit)} to {fmt_value(peak, unit)}"
        if has_peak:
            return f"{verb} to {fmt_value(peak, unit)} (no baseline was measured)"
        if has_base:
            return f"{verb} from {fmt_value(baseline, unit)}"
        return ""

    def who(self, event: Event) -> str:
        if event.kind == "log_spike":
            s = self.series_of(event)
            level = (s.labels.get("level") if s is not None else None) or str(event.attrs.get("signal", "logs")).split(
                ":"
            )[-1]
            return f"{level} logs of {event.service or 'all services'}"
        signal = event.attrs.get("signal")
        name = str(signal) if signal else "a signal"
        return f"{name} of {event.service}" if event.service else name

    def plain_title(self, event: Event) -> str:
        """The event's title (plain text); an anomaly's from its values, with units."""
        if event.kind in ("anomaly_start", "log_spike"):
            change = self.change(event)
            if change:
                return f"{self.who(event)} {change}"
        if event.kind == "alert_resolved" and self.never_fired(event):
            return f"{event.attrs.get('alertname') or event.title} stopped pending without firing"
        if event.kind in CHANGE_KINDS:
            return event.title  # written by people: as given
        return humane(event.title)

    def never_fired(self, event: Event) -> bool:
        """An `alert_resolved` event that ended an episode that never fired (it only went pending)."""
        name = event.attrs.get("alertname")
        return any(
            r.fired_at is None and r.pending_at is not None and r.alert == name and r.resolved_at == event.at
            for r in self.d.alert_review
        )

    def event_title(self, event: Event) -> str:
        """The event's title (Markdown)."""
        return text(self.plain_title(event))

    def explained(self, explanation: str, evidence: Iterable[str]) -> str:
        """Dossier's explanation, where it quotes an evidence event's title, quoting it with units."""
        for event_id in evidence:
            event = self.events.get(event_id)
            if event is not None and event.title and event.title in explanation:
                explanation = explanation.replace(event.title, self.plain_title(event))
        return prose(explanation)

    def event_label(self, event_id: str | None, *, bold: bool = False) -> str:
        """The event's title, linked to its source; the bare id when the event is not known."""
        if not event_id:
            return ""
        event = self.events.get(event_id)
        if event is None:
            return f"evidence {code(event_id)}"
        title = self.event_title(event)
        if bold:
            title = f"**{title}**"
        return link(title, event.link)

    def where(self, service: str | None, signal: str | None) -> str:
        """`payments, `latency_p99``, `checkout`, `` or the signal alone."""
        return ", ".join(p for p in (text(service) if service else "", code(signal) if signal else "") if p)

    def incident_services(self) -> list[str]:
        """The incident's services as declared; else every service with evidence, sorted."""
        if self.d.incident.services:
            return list(dict.fromkeys(self.d.incident.services))
        found = {e.service for e in self.events.values()}
        found |= {g.service for g in self.d.detection_gaps}
        found |= {r.service for r in self.d.alert_review}
        found |= {s.service for s in self.d.series}
        return sorted(s for s in found if s)

    def anomalies(self, service: str | None, kinds: tuple[str, ...] = ("anomaly_start",)) -> list[Event]:
        """In time order; at the same time the one the milestones name first, then timeline order."""
        started = self.d.milestone_evidence.get("started")
        order = {event_id: i for i, event_id in enumerate(self.events)}
        found = [e for e in self.events.values() if e.kind in kinds and e.service == service]
        return sorted(found, key=lambda e: (e.at, e.id != started, order[e.id]))

    def review_name(self, r: AlertReview) -> str:
        """`TargetDown` and, when another row has the same alert, its labels to tell them apart."""
        name = code(r.alert)
        twins = [x for x in self.d.alert_review if x.alert == r.alert and x.service == r.service]
        if len(twins) > 1 and r.labels:
            distinct = {k for k in r.labels if len({dict(x.labels).get(k) for x in twins}) > 1}
            shown = sorted(distinct or set(r.labels))
            name += " " + code("{" + ",".join(f"{k}={r.labels[k]}" for k in shown) + "}")
        return name

    def window(self, gap: DetectionGap) -> str:
        if gap.start is not None and gap.end is not None:
            return f"from {fmt_time(gap.start)} to {fmt_time(gap.end)} ({fmt_duration(gap.duration)})"
        if gap.start is not None:
            return f"from {fmt_time(gap.start)}"
        if gap.end is not None:
            return f"until {fmt_time(gap.end)}"
        return ""

    def dark(self, gap: DetectionGap) -> str:
        """What a blind spot lacked, per target: `no metrics from payments instance `10.0.0.2:9100``."""
        telemetry = text(gap.telemetry) if gap.telemetry else None
        svc = text(gap.service) if gap.service else None
        target = gap.target
        if target is None:  # an older archive: the scrape target its evidence names
            for event_id in gap.evidence:
                event = self.events.get(event_id)
                named = event.attrs.get("instance") or event.attrs.get("job") if event is not None else None
                if event is not None and event.kind == "telemetry_gap" and named:
                    target, telemetry = str(named), telemetry or "metrics"
                    break
        if target and target.startswith("signal "):
            signal = target[len("signal ") :]
            return f"no data for {code(signal)}" + (f" of {svc}" if svc else "")
        if target:
            kind = telemetry or "telemetry"
            if kind == "metrics":
                noun = "instance" if ":" in target else "target"
                return f"no metrics from {svc + ' ' if svc else ''}{noun} {code(target)}"
            return f"no {kind}" + (f" of {svc}" if svc else "") + f" from {code(target)}"
        if gap.signal:
            what = f"no {code(gap.signal)}" + (f" {telemetry}" if telemetry else " data")
            return what + (f" of {svc}" if svc else "")
        what = f"no {telemetry}" if telemetry else "no telemetry"
        return what + (f" of {svc}" if svc else "") + " (the archive does not say from which target)"

    @staticmethod
    def truncated(s: SourceReport) -> str:
        reason = s.truncated_reason.strip() if s.truncated_reason else ""
        return f"truncated: {text(reason)}" if reason else "truncated: the source gave no reason"

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

    def notes(self) -> list[str]:
        lines = ["> **Read this first: about this draft**", ">"]
        lines += [f"> - {prose(note)}" for note in dict.fromkeys(self.d.notes)]
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
        services = self.incident_services()
        lines = [paragraph]
        if services:
            which = "the incident's services" if self.d.incident.services else "the services with evidence"
            lines += ["", f"What the telemetry shows for {which}:", ""]
            lines += [f"- {self.service_story(s)}" for s in services]
        return lines

    def service_story(self, service: str) -> str:
        """For one incident service: its first onset (and the other signals that went wrong), its
        first alert to fire and how late that was, or what its alerts did instead."""
        out = [f"**{text(service)}**:"]
        found = self.anomalies(service)
        in_incident = [e for e in found if self.phase.get(e.id) != "context"]
        spikes = [e for e in self.anomalies(service, ("log_spike",)) if self.phase.get(e.id) != "context"]
        if in_incident:
            first = in_incident[0]
            signal = str(first.attrs.get("signal") or "")
            counts: dict[str, list[Event]] = {}
            for e in in_incident:
                counts.setdefault(str(e.attrs.get("signal") or ""), []).append(e)
            change = self.change(first)
            sentence = f"{code(signal) if signal else 'a signal'} went anomalous first, at {self.at(first.at)}"
            if len(counts.get(signal, ())) > 1:
                sentence += f" ({len(counts[signal])} times in all)"
            sentence += f", and {text(change)}" if change else ""
            sentence += f" ({link('evidence', first.link) if first.link else 'evidence ' + code(first.id)})"
            out.append(sentence + ".")
            rest = []
            for name, items in counts.items():
                if name and name != signal:
                    times = f"{len(items)} times, first" if len(items) > 1 else "at"
                    rest.append(f"{code(name)} ({times} {fmt_time(items[0].at)})")
            if rest:
                out.append(f"In {text(service)}, {sentence_list(rest)} also went anomalous.")
        else:
            sentence = f"no anomaly found in {text(service)}'s signals"
            apart = [e for e in found if self.phase.get(e.id) == "context"]
            if apart:
                sentence += f" during the incident ({plural(len(apart), 'anomaly')} apart from it is in the timeline)"
            out.append(sentence + ".")
        if spikes and not in_incident:
            out.append(f"Its {self.who(spikes[0]).split(' logs of ')[0]} logs spiked at {self.at(spikes[0].at)}.")
        out.append(self.service_alerts(service))
        return " ".join(out)

    def service_alerts(self, service: str) -> str:
        rows = [r for r in self.d.alert_review if r.service == service]
        fired = sorted((r for r in rows if r.fired_at is not None), key=lambda r: (r.fired_at, r.alert))
        if fired:
            r = fired[0]
            assert r.fired_at is not None
            out = f"Its first alert to fire, {self.review_name(r)}, fired at {fmt_time(r.fired_at)}"
            late = next((g for g in self.d.detection_gaps if g.kind == "late_alert" and g.service == service), None)
            onset = r.onset or (late.start if late is not None else None)
            signal = r.signal or (late.signal if late is not None else None)
            if onset is not None:
                against = f"the onset of {code(signal)}" if signal else "its onset"
                delay = (r.fired_at - onset).total_seconds()
                out += f", {fmt_exact(delay)} after {against} at {fmt_time(onset)}"
                out += ": late (see the detection gaps)" if late else ": not flagged as late"
            elif late:
                out += ": late (see the detection gaps)"
            return out + "."
        pending = sorted((r for r in rows if r.pending_at is not None), key=lambda r: (r.pending_at, r.alert))
        if pending:
            names = sentence_list([self.review_name(r) for r in pending])
            return f"No alert of {text(service)} fired: {names} went pending and never fired."
        return f"No alert of {text(service)} went pending or fired."

    def summary_start(self) -> str:
        if self.m.started is None:
            return (
                "The telemetry shows no onset: no watched signal left its baseline, so when the trouble "
                "began is not known from the evidence."
            )
        event = self.events.get(self.d.milestone_evidence.get("started", ""))
        out = f"Per the telemetry, the trouble began at {fmt_time(self.m.started)}"
        if event is not None:
            if event.service:
                out += f" in {text(event.service)}"
            out += f": {self.event_label(event.id)}"
        return out + "."

    def summary_detection(self) -> str:
        detected = self.m.detected
        fired = [r for r in self.d.alert_review if r.fired_at is not None]
        first_fired = min(fired, key=lambda r: (r.fired_at, r.alert)) if fired else None
        human = any(g.kind == "human_detected" for g in self.d.detection_gaps)
        if detected is None:
            return "Nothing in the evidence shows when it was detected: no alert fired and no declaration was found."
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
            return "No change qualified as a candidate cause" + (f": {verbatim(first)}." if first else ".")
        top = min(self.d.candidate_causes, key=lambda c: c.rank)
        event = self.events.get(top.evidence)
        out = f"The top candidate cause is {self.event_label(top.evidence)}"
        if event is not None:
            out += f", a {text(event.kind.replace('_', ' '))}"
            if event.service:
                out += f" of {text(event.service)}"
            rel = self.relative(event.at)
            out += f" {rel}" if rel else f" at {fmt_time(event.at)}"
        scale = "" if top.factors else ": this archive records no factors, so the score is not on a 0–1 scale"
        return out + f" ({fmt_cause_score(top)}{scale})."

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
        names = list(
            dict.fromkeys(
                (code(g.signal) if g.signal else "a signal") + (f" of {text(g.service)}" if g.service else "")
                for g in gaps
            )
        )
        verb = (
            "went anomalous with no alert watching it"
            if len(names) == 1
            else "went anomalous with no alert watching them"
        )
        return f"{sentence_list(names)} {verb}."

    def summary_blind(self) -> str:
        missing = []
        for gap in self.d.detection_gaps:
            if gap.kind != "blind_spot":
                continue
            window = self.window(gap)
            missing.append(self.dark(gap) + (f" {window}" if window else ""))
        for source in self.d.sources:
            cut = f" ({self.truncated(source)})" if source.truncated else ""
            if source.status == "failed":
                missing.append(f"the source {text(source.instance)} failed{cut}")
            elif source.status != "ok":
                missing.append(f"the source {text(source.instance)} was partial{cut}")
            elif source.truncated:
                missing.append(f"the source {text(source.instance)} returned only part of its evidence{cut}")
        missing = list(dict.fromkeys(missing))
        if not missing and not any(g.kind == "source_unavailable" for g in self.d.detection_gaps):
            return "Every source answered and no telemetry was missing."
        if not missing:
            return "Part of the picture is missing: see the detection gaps."
        return f"Part of the picture is missing: {'; '.join(missing)}."

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
        lines: list[str] = []
        if not self.d.timeline:
            return ["No event was collected for the window."]
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

    # -- detection review

    def review_services(self) -> list[str | None]:
        named = [s for s in self.incident_services() if any(r.service == s for r in self.d.alert_review)]
        rest = sorted({r.service for r in self.d.alert_review if r.service and r.service not in named})
        others: list[str | None] = [None] if any(r.service is None for r in self.d.alert_review) else []
        return [*named, *rest, *others]

    def detection_review(self) -> list[str]:
        lines: list[str] = []
        reviews = self.d.alert_review
        if not any(r.fired_at is not None for r in reviews):
            lines.append("No alert fired for the incident's services during the window.")
            if not reviews:
                return lines
            lines.append("")
        lines += [
            "_Per service, each alert against the onset it is judged against (its service's, on the signal "
            "its rule reads): the delays add up to the time from that onset to the firing and to the "
            "notification._",
        ]
        for service in self.review_services():
            rows = [r for r in reviews if r.service == service]
            lines += ["", f"#### {text(service) if service else 'Alerts that name no service'}", ""]
            table_rows = []
            for r in rows:
                if r.fired_at is not None:
                    fired = fmt_time(r.fired_at)
                    ended = f"resolved {fmt_time(r.resolved_at)}" if r.resolved_at else "still firing at the end"
                elif r.pending_at is not None:
                    fired = "never fired"
                    ended = (
                        f"stopped pending {fmt_time(r.resolved_at)}" if r.resolved_at else "still pending at the end"
                    )
                else:
                    fired, ended = "never fired", "—"
                against = "—"
                if r.onset is not None:
                    against = (f"{code(r.signal)} " if r.signal else "") + fmt_time(r.onset)
                table_rows.append(
                    [
                        self.review_name(r),
                        against,
                        fmt_time(r.condition_true_at) if r.condition_true_at else "never",
                        fmt_time(r.pending_at) if r.pending_at else "—",
                        fired,
                        fmt_time(r.notified_at) if r.notified_at else "—",
                        ended,
                    ]
                )
            header = ["Alert", "Onset judged against", "Condition true", "Pending", "Fired", "Notified", "Ended"]
            lines += table(header, table_rows)
            lines.append("")
            lines += [f"- {self.alert_story(r)}" for r in rows]
        return lines

    def rule_text(self, r: AlertReview) -> str:
        """` Rule: `expr` with `for: 5m`.` the first time an alert is told of, else empty."""
        key = (r.service, r.alert)
        if not r.expr or key in self.rule_shown:
            return ""
        self.rule_shown.add(key)
        spec = f" with `for: {fmt_duration(r.for_seconds)}`" if r.for_seconds else ""
        return f" Rule: {code(r.expr)}{spec}."

    def delay_parts(self, r: AlertReview) -> list[tuple[float, str]]:
        """(seconds, what) from the onset to the firing, in order; a remainder the recorded delays
        do not explain is a part of its own, so that the parts add up to the whole."""
        parts: list[tuple[float, str]] = []
        for key, what in DELAY_PARTS:
            value = r.delays.get(key)
            if value is None or not math.isfinite(value):
                continue
            if key == "evaluation" and round(value) == 0:
                continue
            if key == "for" and r.for_seconds:
                what = f"pending (`for: {fmt_duration(r.for_seconds)}`)"
            parts.append((float(value), what))
        if r.onset is not None and r.fired_at is not None:
            rest = (r.fired_at - r.onset).total_seconds() - sum(p for p, _ in parts)
            if rest >= 0.5:
                parts.append((rest, NOT_ACCOUNTED))
        return parts

    def delay_start(self, r: AlertReview, parts: Sequence[tuple[float, str]]) -> str:
        """Where the stated delays start: the onset, or (without a threshold delay and an onset) the
        condition holding or the alert going pending."""
        first = parts[0][1] if parts else ""
        if r.onset is not None:
            return "the onset" + (f" of {code(r.signal)}" if r.signal else "") + f" at {fmt_time(r.onset)}"
        if first == DELAY_PARTS[0][1]:
            return "the onset" + (f" of {code(r.signal)}" if r.signal else "") + " (its time is not recorded)"
        if first == DELAY_PARTS[1][1] and r.condition_true_at is not None:
            return f"its condition holding at {fmt_time(r.condition_true_at)}"
        if r.pending_at is not None:
            return f"going pending at {fmt_time(r.pending_at)}"
        return "the first recorded delay"

    def alert_story(self, r: AlertReview) -> str:
        name = self.review_name(r)
        rule = self.rule_text(r)
        if r.fired_at is None:
            if r.finding:
                return f"{name} {prose(r.finding).rstrip('.')}.{rule}"
            if r.pending_at is None and r.condition_true_at is None:
                return f"{name} never went pending: its condition never held during the window.{rule}"
            out = f"{name} never fired"
            if r.condition_true_at is not None:
                out += f": its condition held from {self.at(r.condition_true_at)}"
            if r.pending_at is not None:
                out += f" and it was pending from {fmt_time(r.pending_at)}"
                if r.resolved_at is not None:
                    out += f" until {fmt_time(r.resolved_at)}"
            if r.for_seconds:
                out += f", but not for the {fmt_duration(r.for_seconds)} its `for` asks"
            return out + f".{rule}"
        parts = self.delay_parts(r)
        shown = cumulative_round([p for p, _ in parts])
        out = f"{name} fired at {self.at(r.fired_at)}."
        start = self.delay_start(r, parts)
        total = sum(shown)
        if parts:
            stated = " + ".join(f"{fmt_exact(s)} {what}" for s, (_, what) in zip(shown, parts, strict=True))
            out += f" From {start} to the firing: {stated} = {fmt_exact(total)}."
        notify = r.delays.get("notify")
        if r.notified_at is not None:
            if notify is None:
                notify = (r.notified_at - r.fired_at).total_seconds()
            if parts:
                n = cumulative_round([*(p for p, _ in parts), notify])[-1]
                out += (
                    f" From {start} to the notification at {fmt_time(r.notified_at)}: "
                    f"{fmt_exact(total)} to the firing + {fmt_exact(n)} until the notification went out (notify) "
                    f"= {fmt_exact(total + n)}."
                )
            else:
                out += (
                    f" The notification went out at {fmt_time(r.notified_at)}, {fmt_duration(notify)} after it fired."
                )
        else:
            out += f" No notification of {name} was recorded."
        return out + rule

    # -- gaps and causes

    def gaps(self) -> list[str]:
        lines: list[str] = []
        if not self.d.detection_gaps:
            return [*lines, "No detection gap was found: the alerts fired in time and no telemetry was missing."]
        for n, gap in enumerate(self.d.detection_gaps, start=1):
            head = f"{n}. **{GAPS.get(gap.kind, gap.kind)}** ({code(gap.kind)})"
            window = self.window(gap)
            if gap.kind == "blind_spot":
                head += f": {self.dark(gap)}" + (f" {window}" if window else "")
            else:
                where = self.where(gap.service, gap.signal)
                head += f", {where}" if where else ""
                head += f": {window}" if window else ""
            lines.append(head)
            lines.append(f"   {self.explained(gap.explanation, gap.evidence)}")
            if gap.evidence:
                refs = []
                for event_id in gap.evidence:
                    event = self.events.get(event_id)
                    refs.append(code(event_id) + (f" {self.event_label(event_id)}" if event else ""))
                lines.append(f"   Evidence: {'; '.join(refs)}.")
        return lines

    def causes(self) -> list[str]:
        lines: list[str] = []
        causes = sorted(self.d.candidate_causes, key=lambda c: c.rank)
        if not causes:
            lines.append("No change qualified as a candidate cause.")
        elif all(c.factors for c in causes):
            lines += [
                "_Each score is on a 0–1 scale: the product of its factors, each 0–1 (where: the service it "
                "touched; when: how long before the onset; what: the kind of change; size: how big it was)._",
                "",
            ]
        else:
            lines += [
                "_This archive records no factors for some scores: those are relative, not on a 0–1 scale "
                "(archives from before the factors were recorded); compare them only with each other._",
                "",
            ]
        for cause in causes:
            event = self.events.get(cause.evidence)
            head = f"{cause.rank}. {self.event_label(cause.evidence, bold=True)}"
            if event is not None:
                what = text(event.kind.replace("_", " "))
                if event.service:
                    what += f" of {text(event.service)}"
                head += f": {what} at {self.at(event.at)}"
            head += f"; {fmt_cause_score(cause)}; evidence {code(cause.evidence)}"
            lines.append(head)
            lines += [f"   - {prose(reason)}" for reason in dict.fromkeys(cause.reasons)]
        lines += ["", "Negative evidence (looked for and not found, as each source reported it):", ""]
        if self.d.negative_evidence:
            lines += [f"- {verbatim(item)}" for item in self.d.negative_evidence]
        else:
            lines.append("- none recorded")
        return lines

    # -- evidence

    def evidence(self) -> list[str]:
        lines = ["### Sources", ""]
        if self.d.sources:
            rows = []
            for s in self.d.sources:
                items = str(s.items) + (f" ({self.truncated(s)})" if s.truncated else "")
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
        lines: list[str] = []
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
            lines.append(f"- **Spike**: {link(self.event_title(e), e.link)}, from {self.at(e.at)}")
        return lines

    def series_line(self, s: Series) -> str:
        if s.role == "alert_condition":
            what = f"condition of the alert {code(s.alert or s.signal)}"
        else:
            what = code(s.signal)
        if s.service:
            what += f" of {text(s.service)}"
        if s.role == "log_count":
            what += f", documents {per(s.step)}" if s.step else ", documents per bucket"
        elif s.role == "signal":
            unit, origin = self.unit_of(s)
            if unit is None:
                what += ", unit unknown"
            else:
                words = UNIT_WORDS.get(unit, text(unit))
                what += f", unit: {words}" + (", inferred from the query's metric names" if origin == "query" else "")
        graph = link("graph", s.link) if s.link else "no link"
        return f"{what} ({text(s.source)}): {graph}; query {code(s.query)}"

    def phase_events(self, phases: tuple[str, ...], intro: str, none: str) -> list[str]:
        """The timeline's events of `phases`, one line each (important ones in bold)."""
        rows = [entry for entry in self.d.timeline if entry.phase in phases]
        if not rows:
            return [none]
        lines = [intro, ""]
        for entry in rows:
            event = entry.event
            where = f" ({text(event.service)})" if event.service else ""
            lines.append(f"- {fmt_time(event.at)}{where}: {self.event_label(event.id, bold=entry.important)}")
        return lines

    def trigger(self) -> list[str]:
        return self.phase_events(
            ("trigger",),
            "The timeline's trigger phase: the changes and the first signals that went wrong.",
            "No event of the timeline is in its trigger phase.",
        )

    def resolution(self) -> list[str]:
        return self.phase_events(
            ("mitigation", "recovery"),
            "The timeline's mitigation and recovery phases: what was done and when the signals came back.",
            "No event of the timeline is in its mitigation or recovery phase.",
        )

    def action_items(self) -> list[str]:
        """The action items correlate proposed, proximate cause first, each with its reason; from an
        archive drafted before they existed, the ones the detection gaps suggest."""
        lines: list[str] = []
        for cause, intro in (
            ("proximate", "Proximate cause: what set this incident off (keep, edit or delete):"),
            ("systemic", "Systemic weaknesses: what let it be late, unseen or blind (keep, edit or delete):"),
        ):
            items = [item for item in self.d.action_items if item.cause == cause]
            if items:
                lines += [*([""] if lines else []), intro, ""]
                for item in items:
                    lines += self.action_item(item)
        if self.d.action_items:
            return lines
        suggestions: list[str] = []
        for gap in self.d.detection_gaps:
            suggestion = self.suggestion(gap)
            if suggestion and suggestion not in suggestions:
                suggestions.append(suggestion)
        if suggestions:
            lines += ["Suggested by the detection gaps (keep, edit or delete):", ""]
            lines += [f"- [ ] {item}" for item in suggestions]
        return lines

    def action_item(self, item: ActionItem) -> list[str]:
        """`- [ ] title. reason.`, what the server said of a proposed rule, the rule, the evidence."""
        out = f"- [ ] **{prose(item.title).rstrip('.')}.** {prose(item.reason).rstrip('.')}"
        if item.evidence:
            out += f" (evidence {', '.join(code(e) for e in item.evidence)})"
        out += "."
        if item.checked:
            out += f" {prose(item.checked).rstrip('.')}."
        lines = [out]
        if item.rule:
            longest = max((len(run) for run in re.findall(r"`{3,}", item.rule)), default=2)
            fence = "`" * (longest + 1)
            lines += ["", f"  {fence}yaml", *(f"  {line}" for line in item.rule.rstrip("\n").split("\n")), f"  {fence}"]
        return lines

    def suggestion(self, gap: DetectionGap) -> str:
        of = f" of {text(gap.service)}" if gap.service else ""
        signal = code(gap.signal) if gap.signal else "the signal"
        if gap.kind == "late_alert":
            return f"Make the alert on {signal}{of} fire sooner: it fired {fmt_duration(gap.duration)} after the onset."
        if gap.kind == "unalerted_signal":
            return f"Alert on {signal}{of}: it went anomalous and no alert watched it."
        if gap.kind == "blind_spot":
            window = self.window(gap)
            return f"Find out the cause of this blind spot: {self.dark(gap)}{' ' + window if window else ''}."
        if gap.kind == "human_detected":
            return f"Add an alert{of} that catches this before people do."
        if gap.kind == "source_unavailable":
            return f"Make the missing evidence available: {prose(gap.explanation)}"
        return ""


# ---- across many incidents: `dossier report` ---------------------------------------------------

REPORT_MEASURES: tuple[tuple[str, str], ...] = (
    ("time_to_detect", "Detect"),
    ("time_to_acknowledge", "Acknowledge"),
    ("time_to_mitigate", "Mitigate"),
    ("time_to_recover", "Recover"),
    ("time_to_resolve", "Resolve"),
)


def _stat_cell(s: Mapping[str, Any]) -> str:
    """`6m / 9m 30s (n 12)`: median / 90th percentile and how many values they are over."""
    if not s["count"]:
        return "— (n 0)"
    return f"{fmt_duration(s['median'])} / {fmt_duration(s['p90'])} (n {s['count']})"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def render_report(report: Mapping[str, Any], folder: str = "") -> str:
    """The report of `dossier.report.aggregate` as Markdown. Pure."""
    n = report["incidents"]
    where = f" under `{folder}`" if folder else ""
    lines = [
        f"# What {plural(n, 'incident')} teach",
        "",
        f"_Built by Dossier from the dossier.json of {plural(n, 'incident')}{where}"
        + (f", those that began at or after {fmt_time(parse_iso(report['since']))}" if report["since"] else "")
        + (f", from {fmt_time(parse_iso(report['first']))} to {fmt_time(parse_iso(report['last']))}" if n else "")
        + ". Durations run from the onset the telemetry shows. Each cell is median / 90th percentile (n: how "
        "many incidents the statistic is over; an unknown duration is left out, never counted as zero). "
        f"Percentiles: {report['percentile_method']}._",
    ]
    if report["left_out_before_since"]:
        lines += ["", f"{plural(report['left_out_before_since'], 'incident')} began before --since and are left out."]
    if report["skipped"]:
        lines += ["", "> **Not counted: these files could not be read**", ">"]
        lines += [f"> - {text(line)}" for line in report["skipped"]]
    lines += ["", "## Detection and recovery times", ""]
    rows = []
    for key, label in REPORT_MEASURES:
        s = report["durations"][key]
        cells = [fmt_duration(s[k]) if s["count"] else "—" for k in ("median", "p90", "mean", "min", "max")]
        rows.append([label, str(s["count"]), *cells])
    lines += table(["Time to", "n", "Median", "90th percentile", "Mean", "Min", "Max"], rows)
    for title, group, name in (("Per service", "per_service", "Service"), ("Per month", "per_month", "Month (UTC)")):
        lines += ["", f"## {title}", ""]
        if title == "Per service":
            lines += ["_An incident counts under each of its services._", ""]
        rows = [
            [text(key), str(value["incidents"]), *(_stat_cell(value["durations"][k]) for k, _ in REPORT_MEASURES)]
            for key, value in report[group].items()
        ]
        lines += table([name, "Incidents", *(f"Time to {label.lower()}" for _, label in REPORT_MEASURES)], rows)
    det = report["detection"]
    lines += [
        "",
        "## How incidents were detected",
        "",
        f"By an alert: {det['all']['alert']}; by people (a `human_detected` gap): {det['all']['people']}; "
        f"not detected in the evidence: {det['all']['undetected']}. Share detected by people, of those detected: "
        f"{_share(det['all']['people_share'])}.",
        "",
    ]
    lines += table(
        ["Service", "By an alert", "By people", "Not detected", "Share by people"],
        [
            [text(s), str(t["alert"]), str(t["people"]), str(t["undetected"]), _share(t["people_share"])]
            for s, t in det["per_service"].items()
        ],
    )
    gaps = report["gaps"]
    lines += ["", "## Detection gaps", ""]
    if gaps["by_kind"]:
        lines += table(
            ["Kind", "Gaps", "Incidents"],
            [[code(g["kind"]), str(g["gaps"]), str(g["incidents"])] for g in gaps["by_kind"]],
        )
    else:
        lines.append("No detection gap in these incidents.")
    lines += ["", "### Recurring (the same kind for the same service in two incidents or more)", ""]
    if gaps["recurring"]:
        lines += table(
            ["Kind", "Service", "Incidents", "Which"],
            [
                [code(g["kind"]), text(g["service"]), str(g["incidents"]), ", ".join(text(i) for i in g["ids"])]
                for g in gaps["recurring"]
            ],
        )
    else:
        lines.append("No gap recurs.")
    lines += ["", "## Alerts late more than once", ""]
    if report["late_alerts"]:
        lines += table(
            ["Alert", "Service", "Incidents", "Late by (median / 90th percentile)", "Which"],
            [
                [
                    code(a["alert"]),
                    text(a["service"]),
                    str(a["incidents"]),
                    _stat_cell(a["late_by"]),
                    ", ".join(text(i) for i in a["ids"]),
                ]
                for a in report["late_alerts"]
            ],
        )
    else:
        lines.append("No alert was late in more than one incident.")
    top = report["top_causes"]
    lines += [
        "",
        "## Changes most often ranked first",
        "",
        f"{plural(top['incidents_with_a_cause'], 'incident')} had a candidate cause ranked first; "
        f"{top['incidents_without']} had none.",
        "",
    ]
    if top["by_kind"]:
        lines += table(
            ["Kind of change", "Incidents", "Share"],
            [[text(k["kind"].replace("_", " ")), str(k["incidents"]), _share(k["share"])] for k in top["by_kind"]],
        )
        lines += ["", "By kind and service:", ""]
        lines += table(
            ["Kind of change", "Service", "Incidents"],
            [
                [text(k["kind"].replace("_", " ")), text(k["service"]), str(k["incidents"])]
                for k in top["by_kind_and_service"]
            ],
        )
    lines += ["", "## Incidents", ""]
    lines += table(
        ["Incident", "Began", "Services", "Detected by", *(f"Time to {label.lower()}" for _, label in REPORT_MEASURES)],
        [
            [
                text(i["id"]),
                fmt_time(parse_iso(i["began"])),
                ", ".join(text(s) for s in i["services"]),
                i["detected_by"],
                *(fmt_duration(i[k]) for k, _ in REPORT_MEASURES),
            ]
            for i in report["incident_list"]
        ],
    )
    return "\n".join(lines) + "\n"


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
