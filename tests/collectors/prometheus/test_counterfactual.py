"""The counterfactual of a changed rule equals what a real Prometheus does with that rule, over the
same data.

A real Prometheus (tests.harness.prometheus) is backfilled with an error ratio whose trouble lies a
few seconds in the future, and its rule group (interval 1s) holds the rule as it is (`for: 5s`) and
the changed rules (`for: 2s`, `for: 0s`; the threshold lowered from 5 to 2). As the wall clock reaches the
trouble, the server evaluates all of them live and writes their ALERTS and ALERTS_FOR_STATE. Then
`counterfactual.evaluate` replays the rule as it is, with the other `for`s and with the lower
threshold, and each computed time must be the one at which the server's own changed rule went
pending and fired, and each count of firings the number of times it fired.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from collectors.prometheus import counterfactual
from collectors.prometheus.config import PrometheusConfig
from dossier.model import RuleReplay, from_epoch
from tests.conftest import require_prometheus
from tests.harness.prometheus import LocalPrometheus

pytestmark = pytest.mark.slow

EXPR = 'errors_ratio{service="payments"} > 5'
LOWER = 'errors_ratio{service="payments"} > 2'
RULES = f"""groups:
- name: payments
  interval: 1s
  rules:
  - alert: HighErrorRate
    expr: '{EXPR}'
    for: 5s
    labels: {{service: payments}}
  - alert: HighErrorRate_for2s
    expr: '{EXPR}'
    for: 2s
    labels: {{service: payments}}
  - alert: HighErrorRate_for0s
    expr: '{EXPR}'
    labels: {{service: payments}}
  - alert: HighErrorRate_above2
    expr: '{LOWER}'
    for: 5s
    labels: {{service: payments}}
"""
# seconds after `now`: [a, b) -> value; 1 elsewhere
TROUBLE = [(8, 11, 10.0), (14, 16, 3.0), (16, 24, 10.0)]
LAST = 27  # the trouble is over at now + LAST


class _OooPrometheus(LocalPrometheus):
    """The backfilled blocks reach into the future: the rules' ALERTS, written now, are older than the
    newest backfilled sample, which the TSDB only takes within an out-of-order window."""

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text(encoding="utf-8")
        self.config_path.write_text(text + "storage:\n  tsdb:\n    out_of_order_time_window: 2h\n", encoding="utf-8")


def _value(offset: int) -> float:
    return next((v for a, b, v in TROUBLE if a <= offset < b), 1.0)


def _openmetrics(now: int) -> str:
    lines = ["# HELP errors_ratio share of requests that fail", "# TYPE errors_ratio gauge"]
    lines += [f'errors_ratio{{service="payments"}} {_value(t - now)} {t}' for t in range(now - 900, now + 90)]
    return "\n".join([*lines, "# EOF"]) + "\n"


def _query(url: str, expr: str, at: float) -> list[dict]:
    q = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=10) as resp:
        return json.load(resp)["data"]["result"]


def _runs(stamps: list[float], interval: float = 1.0) -> list[tuple[float, float]]:
    runs: list[tuple[float, float]] = []
    for t in sorted(stamps):
        if runs and math.isclose(t - runs[-1][1], interval, abs_tol=0.002):
            runs[-1] = (runs[-1][0], t)
        else:
            runs.append((t, t))
    return runs


@pytest.fixture(scope="module")
def live():
    require_prometheus()
    now = int(time.time())
    with _OooPrometheus(_openmetrics(now), RULES, evaluation_interval="1s", max_block_duration="2h") as prom:
        assert time.time() < now + TROUBLE[0][0] - 1, "the server took too long to start for this test"
        time.sleep(max(0.0, now + LAST + 2 - time.time()))
        yield prom, now


def _server_truth(url: str, alert: str, at: float) -> dict:
    """What the server's own rule did: its pending and firing runs, and ALERTS_FOR_STATE's activeAt."""
    sel = f'{{alertname="{alert}"}}[5m]'
    truth: dict = {"pending": [], "firing": [], "active_at": set()}
    for series in _query(url, "ALERTS" + sel, at):
        truth[series["metric"]["alertstate"]] += [float(v[0]) for v in series["values"]]
    for series in _query(url, "ALERTS_FOR_STATE" + sel, at):
        truth["active_at"] |= {float(v[1]) for v in series["values"]}
    return truth


def test_replayed_for_and_threshold_match_the_server(live):
    prom, now = live
    config = PrometheusConfig(url=prom.url)
    start, end = from_epoch(now - 60), from_epoch(now + LAST + 1)
    as_is = RuleReplay(
        key="as-is",
        source="prometheus/prod",
        alert="HighErrorRate",
        expr=EXPR,
        for_candidates=(5.0, 2.0, 0.0),
        start=start,
        end=end,
        history=3600.0,
    )
    lower = RuleReplay(
        key="lower",
        source="prometheus/prod",
        alert="HighErrorRate",  # the evaluation times are the rule's own
        expr=LOWER,
        for_candidates=(5.0,),
        start=start,
        end=end,
        history=3600.0,
    )
    results = {r.key: r for r in counterfactual.evaluate(config, [as_is, lower])}
    assert all(r.error is None for r in results.values()), results
    assert results["as-is"].phase_from == "ALERTS" and results["as-is"].interval == 1.0

    cases = [
        ("as-is", 5.0, "HighErrorRate"),
        ("as-is", 2.0, "HighErrorRate_for2s"),
        ("as-is", 0.0, "HighErrorRate_for0s"),
        ("lower", 5.0, "HighErrorRate_above2"),
    ]
    for key, for_seconds, alert in cases:
        outcome = next(o for o in results[key].outcomes if o.for_seconds == for_seconds)
        truth = _server_truth(prom.url, alert, now + LAST + 1)
        firing_runs = _runs(truth["firing"])
        assert firing_runs, f"{alert} never fired on the server"
        # the first firing evaluation, to the millisecond the server wrote
        assert outcome.fired_at is not None
        assert abs(outcome.fired_at.timestamp() - firing_runs[0][0]) < 0.0015, (alert, outcome, firing_runs)
        # activeAt of the instance that fired: the start of its run of ALERTS samples (pending, then
        # firing); ALERTS_FOR_STATE holds it in whole seconds
        active_runs = _runs(truth["pending"] + truth["firing"])
        fired_run = next(r for r in active_runs if r[0] <= firing_runs[0][0] <= r[1])
        assert outcome.active_at is not None
        assert abs(outcome.active_at.timestamp() - fired_run[0]) < 0.0015
        assert math.floor(outcome.active_at.timestamp()) in truth["active_at"]
        # every time the server's rule fired, and no more (the backfilled past is calm)
        assert outcome.firings == len(firing_runs), (alert, outcome.firings, firing_runs)

    # the story the numbers tell: for: 2s fires on the first, short burst; for: 5s only on the second
    by_for = {o.for_seconds: o for o in results["as-is"].outcomes}
    assert by_for[2.0].fired_at < by_for[5.0].fired_at - timedelta(seconds=8)
    assert (by_for[5.0].firings, by_for[2.0].firings, by_for[0.0].firings) == (1, 2, 2)


def test_a_bad_expression_is_the_servers_error(live):
    prom, now = live
    replay = RuleReplay(
        key="bad",
        source="prometheus/prod",
        alert="Proposed",
        expr="sum(rate(errors_ratio[1m]) >",
        for_candidates=(60.0,),
        start=from_epoch(now - 60),
        end=from_epoch(now),
        interval=15.0,
    )
    (result,) = counterfactual.evaluate(PrometheusConfig(url=prom.url), [replay])
    assert result.error is not None and "bad_data" in result.error and "parse error" in result.error
    assert result.outcomes == ()


def test_results_round_trip_through_the_archive(tmp_path, live):
    prom, now = live
    replay = RuleReplay(
        key="k",
        source="prometheus/prod",
        alert="HighErrorRate",
        expr=EXPR,
        for_candidates=(5.0, 2.0),
        start=from_epoch(now - 60),
        end=from_epoch(now + LAST + 1),
        history=600.0,
    )
    written = counterfactual.run(
        tmp_path,
        [replay, RuleReplay("x", "prometheus/other", "A", "up", (0.0,), replay.start, replay.end)],
        {"prometheus/prod": PrometheusConfig(url=prom.url)},
    )
    assert counterfactual.read(tmp_path) == tuple(written)
    by_key = {r.key: r for r in written}
    assert by_key["k"].error is None and by_key["k"].outcomes[0].fired_at is not None
    assert by_key["x"].error == "'prometheus/other' is not a configured prometheus collector"
    assert counterfactual.read(tmp_path / "nothing") == ()


def test_unreachable_prometheus_is_a_result_not_a_crash():
    replay = RuleReplay(
        "k",
        "prometheus/prod",
        "A",
        "up",
        (0.0,),
        datetime(2026, 11, 20, tzinfo=UTC),
        datetime(2026, 11, 20, 1, tzinfo=UTC),
    )
    (result,) = counterfactual.evaluate(PrometheusConfig(url="http://127.0.0.1:9", timeout=2.0), [replay])
    assert result.error is not None and result.error.startswith("GET /api/v1/rules: ConnectError")


def test_collect_writes_action_items_whose_counterfactuals_match_the_rule_engine(checkout_prometheus, tmp_path):
    """The demo incident, collected: the late payments alert (`for: 5m`) gets a shorter `for`, whose
    firing time is the one the scenario's rule-engine emulation gives for that `for` over the same
    samples; `dossier replay` rebuilds the same dossier.json from the archive alone."""
    import dataclasses
    import shutil

    from dossier import jobs
    from dossier.config import load_config
    from dossier.incident import load_incident
    from tests.conftest import CHECKOUT_INCIDENT_START
    from tests.harness.synth import build_checkout_incident, evaluate_rules
    from tests.test_end_to_end import write_case

    url, truth, changes = checkout_prometheus
    config_path, incident_path = write_case(tmp_path, url, truth, changes)
    outcome = jobs.collect(load_config(config_path), load_incident(incident_path), tmp_path / "out")
    data = json.loads((outcome.folder / "dossier.json").read_text())
    items = data["action_items"]
    assert items[0]["cause"] == "proximate" and "payments v2.14.0" in items[0]["title"]
    tune = next(i for i in items if i["alert"] == "PaymentsHighErrorRate")
    cf = tune["counterfactual"]
    assert tune["kind"] == "tune_alert" and cf["for"] < 300
    assert (
        f"With `for: {cf['for'] // 60:.0f}m` PaymentsHighErrorRate would have fired at {cf['fired_at']}"
        in (tune["reason"])
    )

    parts = build_checkout_incident(CHECKOUT_INCIDENT_START)
    rule = next(r for r in parts.rules if r.name == "PaymentsHighErrorRate")
    start = CHECKOUT_INCIDENT_START - timedelta(hours=2)
    emulated = evaluate_rules(
        [dataclasses.replace(rule, for_=cf["for"])],
        parts.series,
        start=start,
        end=CHECKOUT_INCIDENT_START + timedelta(hours=2),
        interval=15.0,
    )
    expected = emulated.alerts["PaymentsHighErrorRate"].fired_at
    assert datetime.fromisoformat(cf["fired_at"]).timestamp() == expected
    assert cf["firings"] == cf["firings_now"] == 1  # the 30 days before held nothing else

    new = next(i for i in items if i["kind"] == "new_alert" and i["signal"] == "latency")
    # evaluated by the server as often as its rule groups are (15s here)
    assert new["checked"] == "parsed and evaluated by prometheus/test (15s evaluations)" and new["rule"]

    before = (outcome.folder / "dossier.json").read_bytes()
    copy = tmp_path / "copy" / outcome.folder.name
    shutil.copytree(outcome.folder, copy)
    jobs.replay(copy)
    assert (copy / "dossier.json").read_bytes() == before


def test_requests_split_at_any_size_give_the_same_answer(live, monkeypatch):
    """Runs that cross the boundary between two query_range requests are one run, not two."""
    prom, now = live
    replay = RuleReplay(
        key="k",
        source="prometheus/prod",
        alert="HighErrorRate",
        expr=LOWER,
        for_candidates=(5.0, 2.0, 0.0),
        start=from_epoch(now - 60),
        end=from_epoch(now + LAST + 1),
        history=900.0,
    )
    config = PrometheusConfig(url=prom.url)
    (whole,) = counterfactual.evaluate(config, [replay])
    monkeypatch.setattr(counterfactual, "MAX_POINTS", 7)
    (split,) = counterfactual.evaluate(config, [replay])
    assert sum("query_range" in c for c in split.requests) > 100
    assert split.outcomes == whole.outcomes and whole.outcomes[0].firings == 1
