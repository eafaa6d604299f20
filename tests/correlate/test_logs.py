"""Log evidence in the draft: new signatures, error-log spikes, ingestion holes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from correlate import draft
from correlate.logs import signatures
from dossier.model import (
    CorrelateSettings,
    Evidence,
    Incident,
    LogMessage,
    LogRecord,
    Series,
    SourceReport,
    stable_id,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FAULT = T0 + timedelta(minutes=5)
INCIDENT = Incident("INC-L", "logs", T0, T0 + timedelta(hours=1), services=("payments", "checkout"))
SRC = "log_file/app"
SOURCES = (SourceReport(SRC, "log_file", "ok", None, 0, 0.0, kinds=("log",)),)


def msg(service, text, window, baseline, first=None, level="error"):
    return LogMessage(
        id=stable_id(SRC, service, level, text),
        source=SRC,
        service=service,
        level=level,
        message=text,
        window_count=window,
        baseline_count=baseline,
        first_seen=first,
        request="r",
    )


def counts(service, level, fn, seed):
    rng = random.Random(seed)
    times, values = [], []
    t = T0 - timedelta(hours=1)
    while t < INCIDENT.end:
        times.append(t.timestamp())
        values.append(float(fn(t, rng)))
        t += timedelta(minutes=1)
    return Series(
        id=stable_id(SRC, service, level),
        source=SRC,
        signal=f"logs:{level}",
        service=service,
        labels={"level": level},
        query="app.jsonl",
        times=tuple(times),
        values=tuple(values),
        step=60.0,
        role="log_count",
        request="r",
    )


def evidence():
    new_first = FAULT + timedelta(seconds=20)
    messages = (
        msg("payments", "PSP client pool exhausted: waited 3000ms (pool psp-v2, 64 in use)", 40, 0, new_first),
        msg(
            "payments",
            "PSP client pool exhausted: waited 2875ms (pool psp-v2, 61 in use)",
            25,
            0,
            new_first + timedelta(seconds=5),
        ),
        msg("payments", "card declined for order 1234: insufficient funds", 3, 9, T0 + timedelta(minutes=9)),
        msg("payments", "card declined for order 9876: insufficient funds", 2, 7, T0 + timedelta(minutes=19)),
    )
    records = tuple(
        LogRecord(
            id=stable_id(SRC, str(i)),
            source=SRC,
            at=new_first + timedelta(seconds=i),
            service="payments",
            level="error",
            message=f"PSP client pool exhausted: waited {3000 - i}ms (pool psp-v2, {64 - i} in use)",
            link=f"https://kibana.example.com/doc/{i}",
        )
        for i in range(5)
    )
    silent_from, silent_to = T0 + timedelta(minutes=20), T0 + timedelta(minutes=26)
    series = (
        counts("payments", "error", lambda t, r: r.randint(0, 2) + (30 if t >= FAULT else 0), 1),
        counts("checkout", "logs:*", lambda t, r: 0 if silent_from <= t < silent_to else 50 + r.randint(0, 5), 2),
    )
    series = (
        series[0],
        Series(**{**{f: getattr(series[1], f) for f in Series.__slots__}, "signal": "logs:*", "labels": {}}),
    )
    return Evidence(series=series, log_messages=messages, log_records=records, sources=SOURCES), silent_from, silent_to


def test_new_signature_groups_variants_and_ignores_old_ones():
    ev, _, _ = evidence()
    sigs = signatures(ev.log_messages, ev.log_records)
    new = [s for s in sigs if s.baseline_count == 0]
    assert len(new) == 1
    assert new[0].window_count == 65
    assert len(new[0].exemplars) == 3
    old = [s for s in sigs if s.baseline_count > 0]
    assert len(old) == 1 and old[0].baseline_count == 16


def test_draft_places_new_signature_spike_and_silence():
    ev, silent_from, silent_to = evidence()
    d = draft(INCIDENT, ev, CorrelateSettings(), generated_at=T0)
    kinds = {t.event.kind: t for t in d.timeline}
    new = kinds["new_log_signature"]
    assert new.event.at == FAULT + timedelta(seconds=20)
    assert new.important and new.phase == "trigger"
    assert new.event.attrs["count"] == 65 and len(new.event.attrs["exemplars"]) == 3
    assert new.event.link == "https://kibana.example.com/doc/0"
    spike = kinds["log_spike"].event
    assert abs((spike.at - FAULT).total_seconds()) <= 60 and spike.service == "payments"
    blind = [g for g in d.detection_gaps if g.kind == "blind_spot"]
    assert [(g.service, g.start, g.end) for g in blind] == [("checkout", silent_from, silent_to)]
    assert "no logs ingested" in blind[0].explanation
    # the error-log spike is the earliest telemetry: it starts the incident, and no alert covered it
    assert abs((d.milestones.started - FAULT).total_seconds()) <= 60
    assert any(g.kind == "unalerted_signal" and g.service == "payments" for g in d.detection_gaps)


def test_a_service_that_rarely_logs_is_not_a_blind_spot():
    ev, _, _ = evidence()
    sparse = counts("checkout", "x", lambda t, r: 1 if r.random() < 0.3 else 0, 3)
    sparse = Series(**{**{f: getattr(sparse, f) for f in Series.__slots__}, "signal": "logs:*", "labels": {}})
    d = draft(INCIDENT, Evidence(series=(ev.series[0], sparse), sources=SOURCES), CorrelateSettings(), generated_at=T0)
    assert not [g for g in d.detection_gaps if g.kind == "blind_spot"]
