"""`$service` substitution: a service name can never change what a query means."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.prometheus._promql import (
    _literals,
    is_plain_selector,
    label_matchers,
    placeholder_problem,
    re2_escape,
    selector,
    substitute,
    unescape,
)

HOSTILE = [
    'a"} or vector(1) #',
    ".*",
    "a\\b",
    "back\\",
    "x'y",
    "new\nline",
    "tab\there",
    "a`b",
    "$service",
    "$1",
    "ünïcødé-サービス",
    "",
    "}",
    '\\"',
]

QUERY = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[1m])) / sum(up{job=~"$service|other"})'


def skeleton(query: str) -> str:
    """The query with every string literal blanked: what the lexer sees as code."""
    literals, _ = _literals(query)
    out, pos = [], 0
    for lit in literals:
        out.append(query[pos : lit.start])
        out.append("<S>")
        pos = lit.end
    out.append(query[pos:])
    return "".join(out)


def literal_values(query: str) -> list[str]:
    literals, _ = _literals(query)
    return [unescape(query[lit.start + 1 : lit.end - 1]) for lit in literals]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_inside_their_strings(name):
    out = substitute(QUERY, name)
    assert skeleton(out) == skeleton(QUERY)
    equality, code, regex = literal_values(out)
    assert equality == name
    assert code == "5.."
    # the regex literal matches exactly the name (and the alternative), nothing else
    assert re.fullmatch(regex, name)
    assert re.fullmatch(regex, "other")
    if name:
        assert not re.fullmatch(regex, name + "x")


def test_injection_text_is_escaped_exactly():
    out = substitute('up{job="$service"}', 'a"} or vector(1) #')
    assert out == 'up{job="a\\"} or vector(1) #"}'
    out = substitute('up{job=~"$service"}', 'a"} or vector(1) #')
    assert out == 'up{job=~"a\\"\\\\} or vector\\\\(1\\\\) #"}'


def test_regex_metacharacters_are_escaped_only_after_match_operators():
    assert substitute('x{a=~"$service"}', ".*") == 'x{a=~"\\\\.\\\\*"}'
    assert substitute('x{a!~ "$service"}', "a+b") == 'x{a!~ "a\\\\+b"}'
    assert substitute('x{a="$service"}', ".*") == 'x{a=".*"}'
    assert substitute("label_replace(x, 'dst', '$service', '', '')", "a'b") == (
        "label_replace(x, 'dst', 'a\\'b', '', '')"
    )


def test_backslashes_are_doubled():
    assert substitute('x{a="$service"}', "a\\b") == 'x{a="a\\\\b"}'
    assert substitute('x{a=~"$service"}', "a\\b") == 'x{a=~"a\\\\\\\\b"}'


def test_raw_strings_are_rewritten_as_quoted_strings():
    assert substitute("x{a=~`$service.*`}", "a`b") == 'x{a=~"a`b.*"}'
    assert substitute("x{a=~`\\d+$service`}", "q") == 'x{a=~"\\\\d+q"}'


def test_comments_are_left_alone():
    assert substitute('x{a="$service"} # per $service', "b\nvector(1)") == 'x{a="b\\nvector(1)"} # per $service'


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("up{job=$service}", '$service must be inside a quoted label value, e.g. {service="$service"}'),
        ("sum by ($service) (up)", '$service must be inside a quoted label value, e.g. {service="$service"}'),
        ('up{job="x"} # $service', 'query must contain $service (e.g. {service="$service"})'),
        ("up", 'query must contain $service (e.g. {service="$service"})'),
        ('up{job="$service"}', None),
        ("up{job='$service'}", None),
        ("up{job=~`$service`}", None),
    ],
)
def test_placeholder_problems(query, problem):
    assert placeholder_problem(query) == problem


def test_substitute_refuses_code_positions():
    with pytest.raises(ValueError, match="inside a quoted label value"):
        substitute("up{job=$service}", "x")


@given(st.text(max_size=40))
def test_any_name_round_trips(name):
    out = substitute(QUERY, name)
    assert skeleton(out) == skeleton(QUERY)
    equality, _, regex = literal_values(out)
    assert equality == name
    assert re.fullmatch(regex, name, flags=re.S)


@given(st.text(max_size=20))
def test_re2_escape_matches_literally(text):
    assert re.fullmatch(re2_escape(text), text, flags=re.S)


def test_plain_selector():
    assert is_plain_selector('up{job="$service"}')
    assert is_plain_selector('{__name__="up",job="$service"}')
    assert is_plain_selector('up{job="a}b(c)[d]"}')
    assert not is_plain_selector('sum(up{job="$service"})')
    assert not is_plain_selector('up{job="$service"}[5m]')
    assert not is_plain_selector('up{job="$service"} or up')
    assert not is_plain_selector("")


def test_selector_escapes_values():
    assert selector("ALERTS", {"b": 'x"y', "a": "1"}) == 'ALERTS{a="1",b="x\\"y"}'


def test_label_matchers_reads_the_service_of_an_expression():
    expr = 'rate(x{service="check\\"out", a="b"}[5m]) > 1 and on() y{service=~"pay.*"} unless z{xservice="no"}'
    assert label_matchers(expr, "service") == [("=", 'check"out'), ("=~", "pay.*")]
