"""The draft shows log evidence: new signatures with exemplars and links, and error-log spikes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dossier.exporters.markdown import MarkdownExporter
from dossier.model import (
    Dossier,
    Event,
    Incident,
    Milestones,
    TimelineEntry,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_log_section():
    new = Event(
        id="n1",
        at=T0 + timedelta(minutes=2),
        kind="new_log_signature",
        source="log_file/app",
        service="payments",
        title="new error in payments: PSP client pool exhausted: waited <*> (pool <*>)",
        attrs={
            "signature": "PSP client pool exhausted: waited <*> (pool <*>)",
            "count": 65,
            "exemplars": [{"at": "2026-11-20T10:02:00Z", "message": "PSP | pool", "link": "https://k.example/d/1"}],
        },
    )
    incident = Incident("INC-1", "t", T0, T0 + timedelta(hours=1))
    d = Dossier(
        incident=incident,
        generated_at=T0,
        milestones=Milestones(started=T0),
        milestone_evidence={},
        timeline=(TimelineEntry(new, "trigger", True),),
        detection_gaps=(),
        alert_review=(),
        candidate_causes=(),
        negative_evidence=(),
        sources=(),
    )
    md = MarkdownExporter().render(d)
    assert "## Log evidence" in md
    assert "65 times in the window, never in the baseline" in md
    assert "(https://k.example/d/1)" in md
    assert "[2026-11-20T10:02:00Z](https://k.example/d/1): `PSP | pool`" in md


def test_no_log_section_without_logs():
    incident = Incident("INC-1", "t", T0, T0 + timedelta(hours=1))
    d = Dossier(incident, T0, Milestones(), {}, (), (), (), (), (), ())
    assert "## Log evidence" not in MarkdownExporter().render(d)
