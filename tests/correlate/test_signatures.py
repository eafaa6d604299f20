"""correlate.signatures: one signature per log message, by the statement that printed it."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from correlate.signatures import group_messages, mask

LOGHUB = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "loghub2k"
REPO = Path(__file__).resolve().parents[2]


def one_signature(messages: list[str]) -> str:
    sigs = set(group_messages(messages))
    assert len(sigs) == 1, sigs
    return sigs.pop()


# ------------------------------------------------------------------------------------- contract


def test_empty_input_gives_empty_output() -> None:
    assert group_messages([]) == []


def test_one_signature_per_message_in_order() -> None:
    msgs = ["disk full on /dev/sda1", "GET /a 200", "disk full on /dev/sdb2", "GET /b 200"]
    out = group_messages(msgs)
    assert len(out) == 4 and all(isinstance(s, str) for s in out)
    assert out[0] == out[2] and out[1] == out[3] and out[0] != out[1]


def test_accepts_any_sequence_and_does_not_modify_it() -> None:
    msgs = ("a 1", "a 2")
    assert group_messages(msgs) == ["a <*>", "a <*>"]
    assert msgs == ("a 1", "a 2")


def test_empty_and_whitespace_messages_share_the_empty_signature() -> None:
    out = group_messages(["", "   ", "\t\n", "real message 1", ""])
    assert out[:3] == ["", "", ""] and out[4] == ""
    assert out[3] == "real message <*>"


def test_message_without_variables_is_its_own_signature_with_whitespace_normalised() -> None:
    assert group_messages(["Kerberos   authentication failed\n"]) == ["Kerberos authentication failed"]


def test_signature_is_deterministic_across_hash_seeds() -> None:
    code = (
        "from correlate.signatures import group_messages as g;"
        "m=['user %s logged in from 10.0.0.%d' % (u, i) for i, u in enumerate('abcdefgh')]"
        "+['conn %s reset' % w for w in ('ab','cd','ef')]+['x y z %d' % i for i in range(20)];"
        "print(g(m))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outs) == 1


# ------------------------------------------------------------------------------------- same statement


@pytest.mark.parametrize(
    "messages",
    [
        [
            "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
            "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010",
        ],
        ["request 5f2b7c1e-9a0d-4c3b-8e2f-1a2b3c4d5e6f failed", "request 0b9e2a44-1c3d-4e5f-8a9b-0c1d2e3f4a5b failed"],
        [
            "connect to db-01.prod.example.com:5432 timed out",
            "connect to 10.0.0.7:5432 timed out",
            "connect to [2001:db8::ff00:42:8329]:5432 timed out",
        ],
        ["open /var/log/app/2026-11-20.log failed", "open /srv/data/x.bin failed", "open C:\\Temp\\a.txt failed"],
        ["took 3000ms", "took 12 ms", "took 1.5s", "took 250 msecs"],
        ["sent 1190 bytes (1.16 KB)", "sent 0 bytes", "sent 18846 bytes (18.4 KB)"],
        [
            "checkout failed user_id=1234 status=503 reason=timeout",
            "checkout failed user_id=77 status=500 reason=reset",
        ],
        ["mail to alice@example.com bounced", "mail to bob.smith+x@mail.example.org bounced"],
        ["fetch https://api.example.com/v1/x?id=3 gave 500", "fetch http://10.1.2.3:8080/healthz gave 502"],
        ["cache key 'user:42:cart' evicted", "cache key 'session:abc' evicted"],
        ["at Sat Jun 18 02:08:10 2005 from 1.2.3.4", "at Sun Jul  3 23:16:09 2005 from 5.6.7.8"],
        [
            "job started 2026-11-20T10:00:00Z",
            "job started 2026-11-21T08:15:42.123+01:00",
            "job started 2026-11-22 07:00:01",
        ],
        ["heap at 0x7ffd4c3a2b10 corrupt", "heap at 0xdeadbeef corrupt"],
        ["processed 1,234,567 rows", "processed 12 rows"],
        [
            "BLOCK* ask 10.250.18.114:50010 to delete  blk_-5140072410813878235",
            "BLOCK* ask 10.250.17.177:50010 to delete  blk_-8570780307468499817 blk_-9122557405432088649 blk_767",
        ],
        [
            "connection from 84.102.20.2 () at Sun Jul 24 02:38:22 2005",
            "connection from 63.197.98.106 (adsl-63-197-98-106.dsl.mtry01.pacbell.net) at Mon Jul  4 12:52:44 2005",
        ],
    ],
)
def test_variants_of_one_statement_share_a_signature(messages: list[str]) -> None:
    sig = one_signature(messages)
    assert "<*>" in sig


def test_a_plain_word_variable_with_many_values_is_found_variable() -> None:
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    sig = one_signature([f"session opened for user {u} by sshd" for u in users])
    assert sig == "session opened for user <*> by sshd"


def test_a_partly_masked_word_and_its_plain_filling_are_one_variable() -> None:
    sig = one_signature(["ciod: chdir(/home/x) failed: No such file", "ciod: chdir(pwd) failed: No such file"])
    assert sig == "ciod: chdir(<*>) failed: No such file"


def test_signature_example_from_hdfs() -> None:
    out = group_messages(
        [
            "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
            "Receiving block blk_7503483334202473044 src: /10.251.215.16:55695 dest: /10.251.215.16:50010",
        ]
    )
    assert out[0] == out[1] == "Receiving block blk_<*> src: <*> dest: <*>"


# ------------------------------------------------------------------------------------- different statements


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("connection refused to 10.0.0.1:5432", "connection reset by 10.0.0.1:5432"),
        ("user login failed", "user login succeeded"),
        ("user 1234 login failed", "user 1234 login succeeded"),
        ('10.0.0.1 "GET /v2/servers HTTP/1.1" status: 200', '10.0.0.1 "POST /v2/servers HTTP/1.1" status: 200'),
        ("onReceive action: android.intent.action.SCREEN_ON", "onReceive action: android.intent.action.SCREEN_OFF"),
        (
            "x.example.com:80 open through proxy p.example.com:5070 HTTPS",
            "x.example.com:80 open through proxy p.example.com:5070 SOCKS5",
        ),
        ("normal", "warning"),
        ("cupsd startup succeeded", "sshd startup succeeded"),
        ("authentication failure; rhost=1.2.3.4", "authentication failure; rhost="),
        ("Disk quota exceeded", "Disk quota exceeded for user 12"),
    ],
)
def test_different_statements_get_different_signatures(a: str, b: str) -> None:
    # alone, and among many variants of both, they stay apart
    assert len(set(group_messages([a, b]))) == 2

    def vary(text: str, i: int) -> str:  # new numbers, names such as SOCKS5 kept
        return re.sub(r"(?<![A-Za-z])[0-9]+", str(i), text)

    variants = [vary(a, i) for i in range(1, 30)] + [vary(b, i) for i in range(1, 30)]
    out = group_messages(variants)
    assert len(set(out[:29])) == 1 and len(set(out[29:])) == 1 and out[0] != out[29]


def test_a_small_log_of_six_statements_gives_six_groups() -> None:
    statements = [
        "Receiving block blk_{a} src: /10.0.{b}.{c}:{d} dest: /10.0.{c}.{b}:50010",
        "PacketResponder {b} for block blk_{a} terminating",
        "Verification succeeded for blk_{a}",
        "Deleting block blk_{a} file /mnt/hadoop/dfs/data/current/subdir{b}/blk_{a}",
        "Served block blk_{a} to /10.0.{b}.{c}",
        "Got exception while serving blk_{a} to /10.0.{b}.{c}:",
    ]
    msgs, truth = [], []
    for i in range(60):
        s = i % len(statements)
        msgs.append(statements[s].format(a=7 * i + 11 * i * i, b=i % 7, c=i * 3 % 250, d=40000 + i))
        truth.append(s)
    out = group_messages(msgs)
    groups: dict[str, set[int]] = defaultdict(set)
    for sig, s in zip(out, truth, strict=True):
        groups[sig].add(s)
    assert len(groups) == len(statements) and all(len(v) == 1 for v in groups.values())


# ------------------------------------------------------------------------------------- order independence

TEMPLATES = [
    "user {w} logged in from {ip}",
    "user {w} logged out",
    "GET /api/{w}/{n} {code}",
    "POST /api/{w}/{n} {code}",
    "job {n} finished in {n}ms",
    "job {n} failed: {w} not found",
    "cache miss for key {w}",
    "{w} startup succeeded",
    "connection refused to {ip}",
    "connection reset by {ip}",
]
WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


@st.composite
def log_messages(draw: st.DrawFn) -> list[str]:
    n = draw(st.integers(min_value=0, max_value=60))
    out = []
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:  # some free text, digits and unicode included
            out.append(draw(st.text(alphabet=st.sampled_from(list("ab c:/.=0123456789é漢")), max_size=20)))
            continue
        t = draw(st.sampled_from(TEMPLATES))
        out.append(
            t.format(
                w=draw(st.sampled_from(WORDS)),
                n=draw(st.integers(0, 10**6)),
                ip=f"10.0.{draw(st.integers(0, 255))}.{draw(st.integers(0, 255))}",
                code=draw(st.sampled_from([200, 404, 500])),
            )
        )
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_messages(), st.randoms(use_true_random=False))
def test_same_multiset_in_any_order_gives_the_same_mapping(messages: list[str], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(messages)
    rnd.shuffle(shuffled)
    a = dict(zip(messages, group_messages(messages), strict=True))
    b = dict(zip(shuffled, group_messages(shuffled), strict=True))
    assert a == b
    # and identical messages always share their signature
    out = group_messages(messages)
    for m, s in zip(messages, out, strict=True):
        assert a[m] == s


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*"0123456789aZx .:-_/=@\"'()[]<>,;#%", "Jun ", " ms", "Mon "]), max_size=40).map("".join)
)
def test_mask_sees_numbers_only_as_numbers(message: str) -> None:
    # every run of digits replaced by another number: same mask, unless the mask kept a digit (SOCKS5)
    other = re.sub(r"[0-9]+", lambda m: str(int(m.group()) * 7 + 13), message)
    masked = mask(message)
    if not re.search(r"[0-9]", masked):
        assert mask(other) == masked


# ------------------------------------------------------------------------------------- odd input


def test_very_long_messages_are_handled_fast() -> None:
    long_msgs = [
        "x" * 200_000,
        "a." * 100_000,
        "0." * 100_000 + "x",
        ":" * 200_000,
        "." * 200_000,
        "key=" + "v" * 200_000,
        " ".join(f"blk_{i}" for i in range(20_000)),
        "/a" * 100_000,
        "a@" * 100_000,
    ]
    t0 = time.perf_counter()
    out = group_messages(long_msgs)
    assert time.perf_counter() - t0 < 10  # linear: about 0.5 s here; quadratic would take minutes
    assert len(out) == len(long_msgs)
    assert out[6] == "blk_<*>"
    assert group_messages(["x" * 200_000]) == ["x" * 200_000]


def test_unicode_messages() -> None:
    msgs = [
        "Benutzer müller hat sich angemeldet (Sitzung 4711)",
        "Benutzer müller hat sich angemeldet (Sitzung 815)",
        "用户 42 登录失败",
        "用户 7 登录失败",
        "用户 42 登录成功",
        "ошибка: диск /dev/sda1 заполнен на 95%",
        "ошибка: диск /dev/sdb заполнен на 80%",
        "emoji 🔥 burst at 10:02:03",
        "emoji 🔥 burst at 11:00:00",
        "arabic digits ٣٤٥ seen",
    ]
    out = group_messages(msgs)
    assert out[0] == out[1] == "Benutzer müller hat sich angemeldet (Sitzung <*>"
    assert out[2] == out[3] == "用户 <*> 登录失败"
    assert out[4] == "用户 <*> 登录成功"
    assert out[5] == out[6] == "ошибка: диск <*> заполнен на <*>"
    assert out[7] == out[8] == "emoji 🔥 burst at <*>"
    assert out[9] == "arabic digits ٣٤٥ seen"


def test_messages_that_look_like_templates() -> None:
    out = group_messages(["value <*> seen", "value 12 seen", "<*>", "<*> <*>"])
    assert out[0] == out[1] == "value <*> seen"
    assert out[2] == out[3] == "<*>"


# ------------------------------------------------------------------------------------- mask


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("Receiving block blk_-160899 src: /10.250.19.102:54106", "Receiving block blk_<*> src: <*>"),
        (
            "PacketResponder 1 for block blk_38865049064139660 terminating",
            "PacketResponder <*> for block blk_<*> terminating",
        ),
        ("eth0 link up at 1000 Mbps, IPv4 and SOCKS5 enabled", "eth0 link up at <*> Mbps, IPv4 and SOCKS5 enabled"),
        ("node-160 R02-M1-N0-C:J12-U11 HTTP/1.1", "node-<*> <*>"),  # a run of variables is one
        ("Took 3000ms, then 1.5 KB in 12 seconds", "Took <*> then <*> in <*>"),
        ("icache prefetch depth....................0", "icache prefetch depth <*>"),
        ("uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4", "uid=<*> euid=<*> tty=<*> ruser= rhost=<*>"),
        ("creating device node '/udev/vcsa'", "creating device node <*>"),
        ("lifetime <1 sec", "lifetime <*>"),
        ("empty () and [] values", "empty <*> and <*> values"),
        ("  spaced\tout\nmessage  ", "spaced out message"),
        ("", ""),
    ],
)
def test_mask(message: str, masked: str) -> None:
    assert mask(message) == masked


# ------------------------------------------------------------------------------------- accuracy on Loghub


def _grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    pred: dict[str, list[int]] = defaultdict(list)
    true: dict[str, list[int]] = defaultdict(list)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred[p].append(i)
        true[t].append(i)
    return sum(len(ix) for ix in true.values() if pred[predicted[ix[0]]] == ix) / len(truth)


def _loghub(system: str) -> tuple[list[str], list[str]]:
    path = LOGHUB / system / f"{system}_2k.log_structured_corrected.csv"
    if not path.is_file():
        pytest.skip(f"Loghub-2k not found at {LOGHUB}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


# Floors a little under the measured GA (bench/results/log_signatures.md: Linux 0.8775, Proxifier
# 1.0): a regression in masking or merging fails here. Linux needs dates, host names and empty
# values folded; Proxifier needs host:port and "1190 bytes (1.16 KB)"-style quantities folded, and
# SOCKS5 kept apart from HTTPS. Plain Drain scores 0.42 and 0.03 on them.
@pytest.mark.parametrize(("system", "floor"), [("Linux", 0.85), ("Proxifier", 0.98)])
def test_grouping_accuracy_floor_on_loghub(system: str, floor: float) -> None:
    content, truth = _loghub(system)
    assert _grouping_accuracy(group_messages(content), truth) >= floor


def test_mean_grouping_accuracy_on_loghub_beats_published_drain() -> None:
    systems = ["HDFS", "Hadoop", "BGL", "HPC", "Linux", "HealthApp", "Proxifier", "OpenStack"]
    gas = []
    for system in systems:
        content, truth = _loghub(system)
        gas.append(_grouping_accuracy(group_messages(content), truth))
    assert sum(gas) / len(gas) >= 0.95  # published Drain: 0.815 (original labels); measured here: 0.979
