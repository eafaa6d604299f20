"""The call graph seen in traces (correlate/callgraph.py) and its use in the cause ranking (causes.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from correlate import causes
from correlate.callgraph import CallGraph, began_earlier, deepest_first, traced
from correlate.draft import draft
from dossier.model import CorrelateSettings, Event, Evidence, Incident, Series, ServiceInfo, SourceReport

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def call(caller: str, callee: str, traces: int, source: str = "otlp_file/t", more: bool = False) -> Series:
    return Series(
        id=f"{source}-{caller}-{callee}",
        source=source,
        signal="calls",
        service=caller,
        labels={
            "caller": caller,
            "callee": callee,
            "traces": str(traces),
            "calls": str(traces),
            "errors": "0",
            "more_traces": "true" if more else "false",
        },
        query="q",
        times=(T0.timestamp(),),
        values=(float(traces),),
        role="call",
    )


def test_calls_from_series_merge_sources_and_skip_self_calls():
    g = CallGraph.from_series(
        [
            call("checkout", "payments", 12),
            call("checkout", "payments", 40, source="zipkin/z"),
            call("payments", "payments", 3),
            call("payments", "ledger", 5, more=True),
        ]
    )
    c = g.get("checkout", "payments")
    assert c is not None and c.traces == 40 and c.sources == ("otlp_file/t", "zipkin/z")
    assert g.get("payments", "payments") is None
    assert g.get("payments", "ledger").seen == "seen in more than 5 traces"
    assert g.downstream(["checkout"]) == {"payments", "ledger"}
    assert g.widen(frozenset({"checkout"})) == {"checkout", "payments", "ledger"}
    assert g.widen(None) is None and CallGraph().widen(frozenset({"a"})) == {"a"}


def test_of_services_that_went_wrong_at_once_the_callee_is_the_origin():
    g = CallGraph.from_series([call("checkout", "payments", 9), call("payments", "ledger", 9)])
    at = {"checkout": T0, "payments": T0, "ledger": T0 + timedelta(minutes=1)}
    assert deepest_first("checkout", at, g) == "payments"  # ledger went wrong later: not it


def test_began_earlier_compares_the_same_kind_of_trouble():
    trouble = {
        "payments": {"latency": T0, "errors": T0 + timedelta(minutes=1)},
        "checkout": {"latency": T0, "errors": T0 + timedelta(minutes=2)},
    }
    assert began_earlier("payments", "checkout", trouble) == "payments' errors began 1m 0s earlier"
    assert began_earlier("checkout", "payments", trouble) is None


def deploy(service: str, minutes_before: float, id_: str) -> Event:
    return Event(id_, T0 - timedelta(minutes=minutes_before), "deploy", "deploy_file/c", f"deploy {service}", service)


def test_a_callee_deploy_outranks_a_later_caller_deploy_with_the_call_in_its_reasons():
    g = CallGraph.from_series([call("checkout", "payments", 1234)])
    first = {"payments": T0, "checkout": T0 + timedelta(minutes=1)}
    trouble = {"payments": {"errors": T0}, "checkout": {"errors": T0 + timedelta(minutes=1)}}
    changes = [deploy("payments", 10, "pay"), deploy("checkout", 1, "co")]
    settings = CorrelateSettings(services=(ServiceInfo("checkout"), ServiceInfo("payments")))
    ranked = causes.rank(
        changes,
        onset=T0,
        origin="payments",
        first_anomaly=first,
        scope={"checkout"},
        settings=settings,
        calls=g,
        trouble=trouble,
    )
    assert [e.id for _, e in ranked] == ["pay", "co"]
    assert "checkout calls payments, seen in 1,234 traces; payments' errors began 1m 0s earlier" in ranked[0][0].reasons
    # without the call graph, and nothing anomalous in payments, the payments deploy is no candidate at all
    alone = causes.rank(
        changes,
        onset=T0,
        origin="checkout",
        first_anomaly={"checkout": T0},
        scope={"checkout"},
        settings=settings,
    )
    assert [e.id for _, e in alone] == ["co"]


def test_a_service_the_origin_calls_is_a_dependency_seen_not_declared():
    g = CallGraph.from_series([call("checkout", "payments", 7)])
    settings = CorrelateSettings(services=(ServiceInfo("checkout"), ServiceInfo("payments")))
    ranked = causes.rank(
        [deploy("payments", 5, "pay")],
        onset=T0,
        origin="checkout",
        first_anomaly={"checkout": T0},
        scope={"checkout"},
        settings=settings,
        calls=g,
    )
    assert ranked[0][0].factors["where"] == 0.8
    assert "checkout, where the telemetry went wrong first, calls payments (seen in 7 traces)" in ranked[0][0].reasons
    declared = CorrelateSettings(services=(ServiceInfo("checkout", depends_on=("payments",)), ServiceInfo("payments")))
    again = causes.rank(
        [deploy("payments", 5, "pay")],
        onset=T0,
        origin="checkout",
        first_anomaly={"checkout": T0},
        scope={"checkout"},
        settings=declared,
        calls=g,
    )
    assert "checkout, where the telemetry went wrong first, depends on payments" in again[0][0].reasons


def ratio_series(service: str, onset_minute: int, source: str = "otlp_file/t") -> Series:
    start = T0 - timedelta(hours=1)
    times = tuple(start.timestamp() + 60 * i for i in range(120))
    rng = random.Random(service)
    values = tuple(
        (0.6 + rng.uniform(-0.05, 0.05)) if i >= 60 + onset_minute else rng.uniform(0, 0.02) for i in range(120)
    )
    return Series(
        id=f"{source}-{service}-errors",
        source=source,
        signal="trace_errors",
        service=service,
        labels={},
        query="error spans / spans",
        times=times,
        values=values,
        step=60.0,
        unit="ratio",
    )


def exemplar(service: str, minute: int) -> Event:
    return Event(
        f"ex-{service}-{minute}",
        T0 + timedelta(minutes=minute, seconds=5),
        "note",
        "otlp_file/t",
        f"trace of {service}",
        service,
        attrs={"exemplar": "trace", "why": "error", "trace_id": f"{service}{minute:030d}", "operation": "op"},
        link=f"https://jaeger.example.com/trace/{service}",
    )


def test_trace_onsets_are_trace_events_linked_to_an_exemplar():
    from correlate.anomalies import find_anomalies

    incident = Incident("I", "t", T0, T0 + timedelta(hours=1), ("payments",))
    found = find_anomalies([ratio_series("payments", 5)], incident, frozenset({"payments"}), 3600.0)
    [a] = traced(found, [exemplar("payments", 2), exemplar("payments", 6)])
    e = a.start_event
    assert e.kind == "trace_errors" and e.title.startswith("error ratio of payments spans rose")
    assert e.link == "https://jaeger.example.com/trace/payments" and e.attrs["exemplar_event"] == "ex-payments-6"


def test_the_draft_is_the_same_whatever_the_order_of_the_evidence():
    series = [ratio_series("payments", 5), ratio_series("checkout", 6), call("checkout", "payments", 300)]
    events = [deploy("payments", 10, "pay"), deploy("checkout", 2, "co"), exemplar("payments", 6)]
    incident = Incident("I", "t", T0, T0 + timedelta(hours=1), ("checkout",))
    sources = (
        SourceReport("otlp_file/t", "otlp_file", "ok", None, 3, 0.1, kinds=("trace",)),
        SourceReport("deploy_file/c", "deploy_file", "ok", None, 2, 0.1, kinds=("change",)),
    )
    settings = CorrelateSettings(services=(ServiceInfo("checkout"), ServiceInfo("payments")))
    drafts = []
    for seed in range(3):
        rng = random.Random(seed)
        s, e = series[:], events[:]
        rng.shuffle(s)
        rng.shuffle(e)
        drafts.append(
            draft(incident, Evidence(events=tuple(e), series=tuple(s), sources=sources), settings, generated_at=T0)
        )
    assert drafts[0] == drafts[1] == drafts[2]
    d = drafts[0]
    assert d.candidate_causes[0].evidence == "pay"
    assert any("checkout calls payments, seen in 300 traces" in r for r in d.candidate_causes[0].reasons)
