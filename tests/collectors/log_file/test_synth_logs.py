"""`checkout_logs`: the demo scenario's logs, read back by the `log_file` collector."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest

from collectors.log_file import LogFileCollector, LogFileConfig
from dossier.model import Incident, ServiceInfo, from_epoch, parse_time
from dossier.plugin import CollectContext, CollectRequest, CollectResult, Recorder
from tests.conftest import CHECKOUT_INCIDENT_START
from tests.harness.synth import CheckoutLogs, Truth, build_checkout_incident, checkout_logs

INSTANCE = "log_file/demo"


def matches(template: str, message: str) -> bool:
    pattern = "^" + ".*?".join(re.escape(part) for part in template.split("<*>")) + "$"
    return re.match(pattern, message) is not None


@pytest.fixture(scope="module")
def scenario() -> Truth:
    return build_checkout_incident(CHECKOUT_INCIDENT_START).truth


@pytest.fixture(scope="module")
def logs(scenario: Truth) -> CheckoutLogs:
    return checkout_logs(scenario)


@pytest.fixture(scope="module")
def collected(scenario: Truth, logs: CheckoutLogs, tmp_path_factory: pytest.TempPathFactory) -> CollectResult:
    folder = tmp_path_factory.mktemp("logs")
    (folder / "logs.jsonl").write_text(logs.text, encoding="utf-8")
    config = LogFileConfig.model_validate({"path": "logs.jsonl"}, context={"base_dir": folder})
    ctx = CollectContext(INSTANCE, logging.LoggerAdapter(logging.getLogger("t"), {}), Recorder(INSTANCE))
    incident = scenario.incident
    request = CollectRequest(
        incident=Incident(
            id=incident["id"],
            title=incident["title"],
            start=parse_time(incident["start"]),
            end=parse_time(incident["end"]),
            services=tuple(incident["services"]),
        ),
        start=from_epoch(scenario.data_start),
        end=from_epoch(scenario.data_end),
        services=(ServiceInfo("checkout", depends_on=("payments",)), ServiceInfo("payments")),
    )
    return LogFileCollector(config, ctx).collect(request)


def series(result: CollectResult, service: str, signal: str) -> Any:
    (s,) = [s for s in result.series if (s.service, s.signal) == (service, signal)]
    return s


def test_the_truth_of_the_logs(scenario: Truth, logs: CheckoutLogs) -> None:
    truth = logs.truth
    assert len(logs.text.encode()) < 5_000_000
    assert logs.text.count("\n") == truth.lines
    assert 1.0 < truth.lines / (scenario.data_end - scenario.data_start) < 3.0  # lines per second in all
    assert scenario.fault_at is not None and scenario.recovered_at is not None
    assert scenario.fault_at <= truth.new_signature_first_at < scenario.fault_at + 30
    assert truth.spike_start == scenario.signal("checkout", "error_rate").onset_at
    assert truth.spike_end == scenario.recovered_at
    assert truth.silence_end - truth.silence_start == 360
    assert truth.silence_start % 60 == 0
    assert scenario.fault_at < truth.silence_start and truth.silence_end < scenario.recovered_at
    for gap in scenario.scrape_gaps:  # the hole is not the payments scrape gap
        assert gap.end is not None and (gap.end <= truth.silence_start or truth.silence_end <= gap.start)


def test_deterministic_from_the_seed(scenario: Truth, logs: CheckoutLogs) -> None:
    assert checkout_logs(scenario, seed=0) == logs
    other = checkout_logs(scenario, seed=1)
    assert other.text != logs.text
    assert (other.truth.silence_start, other.truth.spike_start) == (logs.truth.silence_start, logs.truth.spike_start)


def test_the_new_message_is_found_in_the_window_and_never_in_the_baseline(
    logs: CheckoutLogs, collected: CollectResult
) -> None:
    truth = logs.truth
    new = [
        m
        for m in collected.log_messages
        if m.service == truth.new_signature_service and matches(truth.new_signature_template, m.message)
    ]
    assert len(new) > 10  # the numbers in it vary
    assert all(m.baseline_count == 0 and m.window_count > 0 for m in new)
    assert sum(m.window_count for m in new) == truth.new_signature_count
    assert min(m.first_seen for m in new if m.first_seen is not None) == from_epoch(truth.new_signature_first_at)
    assert max(m.last_seen for m in new if m.last_seen is not None) <= from_epoch(truth.spike_end)
    assert {m.error_type for m in new} == {"PoolExhaustedError"}
    # the first exemplar is its first line
    first = collected.log_records[0]
    assert first.at == from_epoch(truth.new_signature_first_at)
    assert matches(truth.new_signature_template, first.message)
    assert collected.problems == []
    assert collected.truncated is True  # more error lines in the window than max_exemplars, as a log store says
    assert len(collected.log_records) == 200


def test_the_old_message_bursts_from_the_checkout_onset(logs: CheckoutLogs, collected: CollectResult) -> None:
    truth = logs.truth
    old = [m for m in collected.log_messages if m.service == "checkout" and matches(truth.spike_template, m.message)]
    assert sum(m.baseline_count for m in old) > 0  # an old statement: seen before the incident
    firsts = [m.first_seen for m in old if m.first_seen is not None]
    assert sum(m.window_count for m in old) > 500
    errors = series(collected, "checkout", "logs:error")
    per_minute = dict(zip(errors.times, errors.values, strict=True))
    before = [v for at, v in per_minute.items() if at < truth.spike_start - 60]
    during = [
        v
        for at, v in per_minute.items()
        if truth.spike_start + 60 <= at < truth.spike_end - 180 and not truth.silence_start <= at < truth.silence_end
    ]
    assert max(before) <= 3
    assert min(during) >= 8
    assert min(firsts) >= from_epoch(truth.spike_start - 120)  # rare in the baseline, so a first soon after


def test_the_ingestion_hole_is_zero_buckets_exactly_where_it_is(logs: CheckoutLogs, collected: CollectResult) -> None:
    truth = logs.truth
    total = series(collected, truth.silence_service, "logs:*")
    assert total.step == 60.0
    zero = [at for at, v in zip(total.times, total.values, strict=True) if v == 0]
    assert zero == [truth.silence_start + 60 * i for i in range(6)]
    assert total.times[-1] + 60 > truth.silence_end
    # other services log on through it
    payments = series(collected, "payments", "logs:*")
    assert all(v > 0 for at, v in zip(payments.times, payments.values, strict=True) if not math.isnan(v))


def test_the_logs_need_no_other_configuration(logs: CheckoutLogs, tmp_path: Path) -> None:
    lines = logs.text.splitlines()
    assert all(line.startswith('{"@timestamp":"') for line in lines[:100])
    assert '"host":{"name":"' in lines[0] and '"log.level":"' in lines[0]
