"""Paging through documents whose timestamps are equal, across page boundaries.

The collectors read error documents one page at a time through a point in time and `search_after`
(the message scan of the `ecs` layout, which has no keyword to aggregate messages on, and the
exemplars). Sorted on the timestamp alone, `search_after` with the last hit's timestamp would skip
the documents of that instant that the next page should have started with (or, with `>=`, repeat
them). Here 23 error documents share one millisecond, read 4 a page: every one must come out once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from tests.collectors.elasticsearch.logdata import INC, TARGETS, collect_request, iso_z

pytestmark = pytest.mark.parametrize("target", TARGETS)

SAME = INC + timedelta(minutes=20, milliseconds=250)
TIED = 23  # not a multiple of the page size: the last page is short
PAGE = 4


def tied_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in range(TIED):
        docs.append(
            {
                "@timestamp": iso_z(SAME),
                "service": {"name": "checkout" if i % 2 else "payments"},
                "log": {"level": "error"},
                "message": f"tied error {i:02d}",
                "host": {"name": f"node-{i % 3}"},
            }
        )
    # around them: one just before and one just after the instant, and info lines at the same instant
    for i, at in enumerate((SAME - timedelta(milliseconds=1), SAME + timedelta(milliseconds=1))):
        docs.append(
            {
                "@timestamp": iso_z(at),
                "service": {"name": "checkout"},
                "log": {"level": "error"},
                "message": f"near {i}",
            }
        )
    for _ in range(5):
        docs.append(
            {"@timestamp": iso_z(SAME), "service": {"name": "checkout"}, "log": {"level": "info"}, "message": "ok"}
        )
    return docs


WANT = sorted([f"tied error {i:02d}" for i in range(TIED)] + ["near 0", "near 1"])


def test_exemplars_with_equal_timestamps_across_pages_are_each_read_once(setup, target):
    s = setup(target, "ecs", docs=tied_docs(), page_size=PAGE, max_exemplars=1_000)
    result = s.make().collect(collect_request())
    messages = [r.message for r in result.log_records]
    assert sorted(messages) == WANT, Counter(messages).most_common(3)
    assert len({r.attrs["_id"] for r in result.log_records}) == len(WANT)
    assert [r.at for r in result.log_records] == sorted(r.at for r in result.log_records)
    assert not result.truncated


def test_the_message_scan_with_equal_timestamps_across_pages_counts_each_once(setup, target):
    # the ecs layout has no message keyword: distinct messages come from the point-in-time scan
    s = setup(target, "ecs", docs=tied_docs(), page_size=PAGE, max_exemplars=1)
    result = s.make().collect(collect_request())
    counts = {m.message: m.window_count for m in result.log_messages}
    assert counts == dict.fromkeys(WANT, 1)
    assert all(m.first_seen == m.last_seen for m in result.log_messages)
