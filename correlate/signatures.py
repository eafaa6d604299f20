"""Log signatures: group messages by the log statement that printed them.

``group_messages(messages)`` returns one *signature* per message: a template such as
``Receiving block <*> src: <*> dest: <*>``, the message with its variable parts replaced by ``<*>``
and its whitespace runs made single spaces. Messages printed by the same statement should share a
signature; messages of different statements should not. ``mask(message)`` is step 1 alone.

The method, in plain words:

1. **Mask what is certainly variable.** Whatever looks like a value becomes ``<*>``: URLs, e-mail
   addresses, dates and clock times (ISO 8601, syslog, ctime and Apache styles), IPv6 and MAC
   addresses, ``host.name:port`` and ``1.2.3.4:port``, file and URL paths, DNS names of three labels
   or more, quoted single words (and empty quotes), quantities with a unit (``3000ms``, ``1.5 KB``,
   ``12 seconds``), the value of ``key=value``, and every part of a word that holds a number: a word
   with two or more separate numbers goes whole (``10.1.2.3``, ``R02-M1-N0``, ``HTTP/1.1``, UUIDs);
   otherwise the letters-and-digits run holding the number does (``blk_-7571`` -> ``blk_<*>``,
   ``node-160`` -> ``node-<*>``), *except* a name with a one-digit suffix, which is kept (``eth0``,
   ``SOCKS5``, ``IPv4``). Dot leaders (``depth......0``) separate words. Then a token that is only
   punctuation around ``<*>`` (``(<*>)``, ``<*>:<*>``) or an empty pair (``()``, ``[]``) becomes
   ``<*>``, and a run of identical variable tokens becomes one, so that lists, multi-word dates and
   ``1190 bytes (1.16 KB)`` do not change the token count. The rules describe values in general;
   none names a product or a log format.

2. **Candidate clusters, Drain-style.** The distinct masked messages are routed by token count and
   first token (a first token holding ``<*>`` routes as ``<*>``, so a variable there does not split
   a statement); within a route, each joins the most similar cluster if at least half of the
   positions agree with the cluster's template (Drain uses 0.4), or starts a new one. They are
   visited in a canonical order (most frequent first, then by text), never in input order.

3. **Decide, position by position, what is variable.** Inside a candidate cluster a position where
   the messages differ is a variable if (a) more than five distinct words appear there, or (b) one
   of them is ``<*>`` or a filled-in form of another partly masked word (``chdir(pwd)`` of
   ``chdir(<*>)``). Otherwise (two to five distinct plain words: ``GET``/``POST``/``DELETE``,
   ``failed``/``succeeded``, ``SCREEN_ON``/``SCREEN_OFF``) it tells statements apart: the cluster
   is split by the words found at such positions. Each part's template keeps the tokens all its
   messages share and has ``<*>`` (or the partly masked word all the others fill in) elsewhere; that
   text is the signature.

What it cannot know: a variable that is a plain word with few values in the input (three user
names) is taken for constant words, so that statement gets one signature per value; a variable
first word (``alice logged in``) splits the statement as in Drain; and a statement whose variables
change the token count in ways step 1 does not fold (a list of words) gets one signature per count.

Guarantees: pure (no I/O, clock, environment, randomness or logging) and deterministic. The
signature of a message depends only on the message and on the *multiset* of messages passed
together (never on their order): the same messages in any order, or with duplicates in other
places, give the same message -> signature mapping. The mapping can change when other messages are
added, as a position may then show more values. Identical messages always share a signature;
messages that differ only in their numbers (runs of ASCII digits) share one too, unless a kept
one-digit name differs (``SOCKS4`` and ``SOCKS5`` do not). The empty or all-whitespace message has
signature ``""``.

Speed: identical messages are handled once, and so are messages of the same *shape* (each run of
digits made one ``0``: no masking rule counts digits, so such messages mask alike), so a large batch
of log lines costs little more than one dictionary look-up per line plus the masking of its distinct
shapes; clustering sees only distinct masked messages, through an index of their tokens. See
``bench/log_signatures.py`` and ``bench/results/log_signatures.md``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

__all__ = ["group_messages", "mask"]

WILDCARD = "<*>"
SIMILARITY = 0.5  # candidate cluster: at least this share of the positions agree with its template
FEW_VALUES = 5  # a position showing at most this many distinct plain words separates statements

# ------------------------------------------------------------------------------------- step 1: masking

_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
_DOW = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
# Every rule sees a number only as "one or more digits" (no rule counts digits), so that masking a
# message and masking it with each run of digits replaced by one 0 give the same result; see
# group_messages.
_N = "[0-9]+"
_CLOCK = rf"{_N}:{_N}(?::{_N}(?:[.,]{_N})?)?"
_UNIT_SPACED = (
    r"(?:[KMGTPE]i?B|[KMGT]b|bytes?|bits?|ms|us|µs|ns|msecs?|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?)"
)
_UNIT_ATTACHED = r"(?:[KMGTPE]i?B|[KMGT]b|bytes?|ms|us|µs|ns|secs?|s|m|h|d|B|%)"
_HEX = "[0-9a-fA-F]"

# (trigger, pattern): a pattern can only match a message that contains its trigger, so only the
# patterns whose trigger is present are tried (one compiled alternation per set of triggers).
_PATTERNS: list[tuple[str, str]] = [
    ("://", r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+"),  # URL
    ("@", r"(?<![\w.+\-])[\w.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+"),  # e-mail address
    ("month", rf"\b{_DOW},? +{_MON} +{_N}(?: +{_CLOCK})?(?: +{_N})?\b"),  # Sat Jun 18 02:08:10 2005
    ("month", rf"\b{_MON} +{_N},?(?: +{_N})? +{_CLOCK}"),  # Jun 18 02:08:10
    ("month", rf"\b{_N}[/ -]{_MON}[/ -]{_N}(?::{_CLOCK})?(?: [+-]{_N})?"),  # 18/Jun/2005:02:08:10 +0200
    (":", rf"\b{_N}-{_N}-{_N}[T ]{_CLOCK}(?:Z|[+-]{_N}(?::{_N})?)?"),  # ISO 8601 date and time
    (":", rf"(?<![\w:])(?=[0-9a-fA-F:]*[0-9]){_HEX}*(?::{_HEX}*){{2,}}(?![\w:])"),  # IPv6, MAC, a:b:c
    (":", rf"(?<![\w.\-])[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+:{_N}(?![\w:])"),  # host.name:port, 10.0.0.1:80
    ("/", r"(?<![\w/.\\])(?:~?\.{0,2}/)[\w.\-~@%+/\\$]+(?:\?[^\s\"'<>]*)?"),  # file or URL path
    ("\\", r"(?<![\w/.\\])[A-Za-z]:\\[\w.\-~@%+/\\$]+"),  # Windows path
    (".", r"(?<![\w.\-])[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+\.[a-z]{2,6}(?![\w.\-])"),  # DNS name, 3+ labels
    ('"', r"\"[^\"\s]*\""),  # a quoted single word, or an empty quote
    ("'", r"'[^'\s]*'"),
    ("`", r"`[^`\s]*`"),
    ("0", rf"(?<![\w.]){_N}(?:\.{_N})?(?: ?{_UNIT_SPACED}|{_UNIT_ATTACHED})(?!\w)"),  # 3000ms, 1.5 KB
    ("=", r"(?<=[\w\])]=)(?:\"[^\"]*\"|'[^']*'|[^\s,;&)\]}]+)"),  # the value of key=value
]
_LEADERS = re.compile(r"(?<!\.)\.{2,}(?=[^\s.])")  # dot leaders: "depth......0"
_DIGIT = re.compile(r"[0-9]")
_DIGIT_RUN = re.compile(r"[0-9]+")
_WORD_WITH_DIGIT = re.compile(r"(?<![^\W_])[-+]?[^\W_]*[0-9][^\W_]*")  # a letters-and-digits run, its sign
_ALNUM = re.compile(r"[^\W_]")
_EMPTY_PAIR = re.compile(r"\(\)|\[\]|\{\}|<>")
_LONG_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_MONTH = re.compile(_MON)
_ALTERNATIONS: dict[tuple[bool, ...], re.Pattern[str]] = {}


def _triggers(text: str) -> tuple[bool, ...]:
    return (
        "://" in text,
        "@" in text,
        _MONTH.search(text) is not None,
        ":" in text,
        "/" in text,
        "\\" in text,
        "." in text,
        '"' in text,
        "'" in text,
        "`" in text,
        _DIGIT.search(text) is not None,
        "=" in text,
    )


_TRIGGER_NAMES = ("://", "@", "month", ":", "/", "\\", ".", '"', "'", "`", "0", "=")


def _mask_patterns(text: str) -> str:
    present = _triggers(text)
    rx = _ALTERNATIONS.get(present)
    if rx is None:  # compiled once per set of triggers; the cache changes speed, never results
        on = {t for t, p in zip(_TRIGGER_NAMES, present, strict=True) if p}
        rx = re.compile("|".join(f"(?:{p})" for t, p in _PATTERNS if t in on) or "(?!)")
        _ALTERNATIONS[present] = rx
    return rx.sub(WILDCARD, text)


def _mask_word(match: re.Match[str]) -> str:
    word = match.group()
    if word[0].isalpha() and len(_DIGIT.findall(word)) == 1 and not _LONG_HEX.fullmatch(word):
        return word  # a name with a one-digit suffix or infix: eth0, SOCKS5, IPv4, flush2DB
    return WILDCARD


def _mask_token(token: str) -> str:
    if len(_DIGIT_RUN.findall(token)) >= 2:
        return WILDCARD  # several numbers: an address, a version, a compound id (R02-M1-N0, 1.2.3.4)
    return _WORD_WITH_DIGIT.sub(_mask_word, token)


def _only_punctuation_around(token: str) -> bool:
    return _ALNUM.search(token.replace(WILDCARD, " ")) is None


def _mask_tokens(message: str) -> tuple[str, ...]:
    text = _mask_patterns(_LEADERS.sub(" ", message) if ".." in message else message)
    out: list[str] = []
    for raw in text.split():
        token = _mask_token(raw) if _DIGIT.search(raw) else raw
        if token != WILDCARD:
            if WILDCARD in token:
                if _only_punctuation_around(token):
                    token = WILDCARD  # (<*>), <*>:<*>, [<*>],
            elif _EMPTY_PAIR.search(token) and _ALNUM.search(token) is None:
                token = WILDCARD  # an empty value: (), [], {}
        if out and token == out[-1] and WILDCARD in token:
            continue  # a run of the same variable is one variable
        out.append(token)
    return tuple(out)


def mask(message: str) -> str:
    """The message with its variable parts replaced by ``<*>`` (step 1 of the module docstring)."""
    return " ".join(_mask_tokens(message))


# ------------------------------------------------------------------------------------- steps 2 and 3

Tokens = tuple[str, ...]


def _candidate_clusters(route: list[tuple[Tokens, int]]) -> list[list[Tokens]]:
    """Greedy Drain-style clustering of same-length masked messages, in the order given."""
    n = len(route[0][0])
    if n == 0:
        return [[tokens for tokens, _ in route]]
    templates: list[list[str]] = []
    clusters: list[list[Tokens]] = []
    # index[j][token]: the clusters whose template has `token` at position j, so that a message is
    # compared only with the clusters it shares a token with (the others cannot reach the threshold)
    index: list[dict[str, set[int]]] = [defaultdict(set) for _ in range(n)]
    first = route[0][0]
    shared = [j for j in range(n) if all(tokens[j] == first[j] for tokens, _ in route)]
    compared = [j for j in range(n) if j not in set(shared)]  # positions shared by all count for all
    need = SIMILARITY * n - len(shared)
    for tokens, _count in route:
        same: Counter[int] = Counter()
        for j in compared:
            ids = index[j].get(tokens[j])
            if ids:
                same.update(ids)
        best, best_same = (0, 0) if templates else (-1, 0)
        for i, k in same.items():
            if k > best_same or (k == best_same and i < best):
                best, best_same = i, k  # most positions in common; the older cluster on a tie
        if best >= 0 and best_same >= need:
            tmpl = templates[best]
            for j in compared:
                tok = tokens[j]
                if tmpl[j] != tok:
                    index[j][tmpl[j]].discard(best)
                    tmpl[j] = WILDCARD
                    index[j][WILDCARD].add(best)
            clusters[best].append(tokens)
        else:
            for j in compared:
                index[j][tokens[j]].add(len(templates))
            templates.append(list(tokens))
            clusters.append([tokens])
    return clusters


def _filled_in(values: set[str]) -> bool:
    """True if a value is ``<*>`` or a filled-in form of another, partly masked value."""
    for v in values:
        if v == WILDCARD:
            return True
        if WILDCARD in v:
            parts = v.split(WILDCARD)
            if any(w != v and _fills(parts, w) for w in values):
                return True
    return False


def _fills(parts: list[str], word: str) -> bool:
    """Whether ``word`` matches ``<*>``.join(parts), each ``<*>`` standing for one character or more."""
    first, last = parts[0], parts[-1]
    end = len(word) - len(last)
    if end < len(first) or not word.startswith(first) or not word.endswith(last):
        return False
    pos = len(first)
    for part in parts[1:-1]:  # leftmost placement of each middle part is optimal for wildcards
        i = word.find(part, pos + 1, end - 1)
        if i < 0:
            return False
        pos = i + len(part)
    return end - pos >= 1


def _split(cluster: list[Tokens]) -> list[tuple[list[Tokens], str]]:
    """Step 3: the parts of a candidate cluster and their templates."""
    variable: set[int] = set()
    constant: list[int] = []
    for j in range(len(cluster[0])):
        values = {m[j] for m in cluster}
        if len(values) == 1:
            continue
        if len(values) > FEW_VALUES or _filled_in(values):
            variable.add(j)
        else:
            constant.append(j)
    parts: dict[Tokens, list[Tokens]] = defaultdict(list)
    for m in cluster:
        parts[tuple(m[j] for j in constant)].append(m)
    out = []
    for part in parts.values():
        tmpl = []
        for j, tok in enumerate(part[0]):
            values = {m[j] for m in part}
            tmpl.append(tok if len(values) == 1 and j not in variable else _frame(values))
        out.append((part, " ".join(tmpl)))
    return out


def _frame(values: set[str]) -> str:
    """The template token of a variable position: a partly masked value that all others fill in, or ``<*>``."""
    if WILDCARD in values:
        return WILDCARD
    for v in sorted(x for x in values if WILDCARD in x)[:4]:
        parts = v.split(WILDCARD)
        if all(w == v or _fills(parts, w) for w in values):
            return v
    return WILDCARD


def _templates(counts: Counter[Tokens]) -> dict[Tokens, str]:
    routes: dict[tuple[int, str], list[tuple[Tokens, int]]] = defaultdict(list)
    for tokens, count in counts.items():
        head = tokens[0] if tokens else ""
        routes[(len(tokens), WILDCARD if WILDCARD in head else head)].append((tokens, count))
    out: dict[Tokens, str] = {}
    for key in sorted(routes):
        route = sorted(routes[key], key=lambda tc: (-tc[1], tc[0]))
        for cluster in _candidate_clusters(route):
            for part, template in _split(cluster):
                for m in part:
                    out[m] = template
    return out


def group_messages(messages: Sequence[str]) -> list[str]:
    """One signature per message, in order; see the module docstring for the method and guarantees.

    >>> group_messages(["Took 12 ms to start worker 3", "Took 250 ms to start worker 17", "Connection reset"])
    ['Took <*> to start worker <*>', 'Took <*> to start worker <*>', 'Connection reset']
    """
    counts = Counter(messages)
    # No masking rule counts digits, so a message masks like its *shape*, the message with each run
    # of digits replaced by one 0, unless the mask keeps a digit (a one-digit name such as SOCKS5):
    # shapes are masked once each, and only those keeping a digit are masked message by message.
    shape_of = {m: _DIGIT_RUN.sub("0", m) for m in counts}
    masked: dict[str, Tokens] = {}
    for shape in set(shape_of.values()):
        tokens = _mask_tokens(shape)
        if _DIGIT.search("".join(tokens)) is None:
            masked[shape] = tokens
    key_of: dict[str, str] = {}
    for m, shape in shape_of.items():
        if shape in masked:
            key_of[m] = shape
        else:
            key_of[m] = m
            masked[m] = _mask_tokens(m)
    pre: Counter[Tokens] = Counter()
    for m, n in counts.items():
        pre[masked[key_of[m]]] += n
    template = _templates(pre)
    signature = {m: template[masked[key]] for m, key in key_of.items()}
    return [signature[m] for m in messages]
