"""The demo's logs (config/demo/logs.jsonl.gz, 19,225 ECS lines with a known truth in logs_truth.json) in each
target, the real OpenSearch node among them: the counts, the silence and the new error signature come out as
the truth says, and every target gives the same evidence as the first one (the stand-in and the real server agree).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dossier.model import Incident, ServiceInfo
from dossier.plugin import CollectRequest
from tests.collectors.elasticsearch.logdata import TARGETS

DEMO = Path(__file__).resolve().parents[3] / "config" / "demo"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
INC = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)


def _docs() -> list[dict[str, Any]]:
    with gzip.open(DEMO / "logs.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


DOCS = _docs()
TRUTH = json.loads((DEMO / "logs_truth.json").read_text())
SEEN: dict[str, Any] = {}  # the first target's evidence, which the others must equal


def _minute(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(second=0, microsecond=0)


def _request() -> CollectRequest:
    inc = Incident(id="INC-2041", title="Checkout returns 500s", start=INC, end=END, services=("checkout", "payments"))
    return CollectRequest(
        incident=inc, start=START, end=END, services=(ServiceInfo("checkout"), ServiceInfo("payments"))
    )


# the stand-in once per flavor (its majors answer these requests alike), every real target
DEMO_TARGETS = [t for t in TARGETS if t.id not in ("es8", "os3")]


@pytest.mark.parametrize("target", DEMO_TARGETS)
def test_the_demo_logs_give_the_truth_on_every_target(setup, target):
    assert len(DOCS) == TRUTH["lines"]
    s = setup(target, "ecs", docs=DOCS, max_exemplars=20, scan_limit=100_000, max_messages=5_000, page_size=2_000)
    result = s.make().collect(_request())
    assert result.problems == []
    assert result.truncated_reason == (
        "more than max_exemplars (20) error documents in the window: the first 20 are kept"
    )
    series = {(x.service, x.signal): x for x in result.series}

    # counts per service and minute, from the file itself
    want: Counter[tuple[str, datetime]] = Counter()
    for d in DOCS:
        at = _minute(d["@timestamp"])
        if START <= at < END:
            want[(d["service"]["name"], at)] += 1
    for svc in ("checkout", "payments"):
        got = series[(svc, "logs:*")]
        minutes = [datetime.fromtimestamp(t, UTC) for t in got.times]
        assert list(got.values) == [want[(svc, m)] for m in minutes], svc

    # checkout's logs stop for six minutes, and only then
    checkout = series[("checkout", "logs:*")]
    silent = {datetime.fromtimestamp(t, UTC) for t, v in zip(checkout.times, checkout.values, strict=True) if v == 0}
    lo, hi = (datetime.fromisoformat(TRUTH[k].replace("Z", "+00:00")) for k in ("silence_start", "silence_end"))
    assert silent == {lo + timedelta(minutes=i) for i in range(int((hi - lo).total_seconds() // 60))}

    # the new signature: payments' error never seen in the baseline, first seen when the truth says
    template = re.compile(re.escape(TRUTH["new_signature_template"]).replace(re.escape("<*>"), ".+?") + "$")
    new = [m for m in result.log_messages if template.match(m.message)]
    assert new and {m.service for m in new} == {TRUTH["new_signature_service"]}
    assert all(m.baseline_count == 0 for m in new)
    first = min(m.first_seen for m in new if m.first_seen is not None)
    assert first == datetime.fromisoformat(TRUTH["new_signature_first_at"].replace("Z", "+00:00"))

    evidence = {
        "series": sorted((x.service, x.signal, tuple(x.values)) for x in result.series),
        "messages": sorted(
            (m.service, m.level, m.message, m.window_count, m.baseline_count, m.first_seen, m.last_seen)
            for m in result.log_messages
        ),
        "exemplars": [(r.at, r.service, r.message) for r in result.log_records],
    }
    first_target = SEEN.setdefault("evidence", (target, evidence))
    assert evidence == first_target[1], f"{target} differs from {first_target[0]}"
