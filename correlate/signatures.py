"""Log signatures (placeholder being replaced by the Drain-style grouping): variables masked."""

from __future__ import annotations

import re
from collections.abc import Sequence

_VARIABLE = re.compile(r"\b(?:0x[0-9a-f]+|[0-9a-f]{8,}|\d+(?:\.\d+)*)\b", re.I)


def group_messages(messages: Sequence[str]) -> list[str]:
    return [_VARIABLE.sub("<*>", m) for m in messages]
