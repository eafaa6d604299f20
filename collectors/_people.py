"""People in paging and chat evidence, kept out of the draft unless the config asks for names.

Paging and chat sources name the people who were paged, who acknowledged and who spoke. A
postmortem draft is blameless by default: each person becomes "responder 1", "responder 2", ...
(PagerDuty, Opsgenie) or "participant 1", ... (the incident channel) in order of first appearance
in the incident (stable for the same evidence), and mentions in a message's text likewise. The
labels of two sources are not linked: they do not know that a pager's user and a chat user are
one person. With `names: true` in the collector's config, their names are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SLACK_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class People:
    """Who is who: a stable pseudonym per person key, or the person's name when `names`."""

    def __init__(self, *, names: bool, label: str = "responder") -> None:
        self.names = names
        self.label = label
        self._seen: dict[str, str] = {}

    def __call__(self, key: str | None, name: str | None = None) -> str:
        """How the draft calls the person with this key (an id, an email): "<label> N", or the
        name given (else the key) when names are asked for."""
        if not key:
            return "someone"
        if self.names:
            return name or key
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = f"{self.label} {len(self._seen) + 1}"
        return found

    def scrub(self, text: str, known: Mapping[str, str] | None = None) -> str:
        """`text` with Slack mentions (`<@U123>`) and email addresses as the draft calls people:
        `known` maps a mentioned id onto its name (used only when names are asked for)."""

        def mention(m: re.Match[str]) -> str:
            key = m.group(1)
            return "@" + self(key, (known or {}).get(key))

        text = _SLACK_MENTION.sub(mention, text)
        if self.names:
            return text
        return _EMAIL.sub(lambda m: self(m.group(0).lower()), text)


def shorten(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def obj(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (for answers of an unexpected shape)."""
    return value if isinstance(value, Mapping) else {}
