"""Grouping accuracy and speed of ``correlate.signatures.group_messages`` on Loghub-2k.

Data: ``../shared/datasets/loghub2k`` (see its README): 2,000 lines from each of 8 systems with their
true templates, in the corrected labelling of logpai/logparser. For each system the ``Content``
column of ``<S>_2k.log_structured_corrected.csv`` is grouped in one call and scored against the
``EventTemplate`` column.

Grouping accuracy (GA): the fraction of lines whose predicted group holds exactly the same lines as
their true group (lines grouped by ``EventTemplate``).

Side by side, in the same run and on the same lines:

* ``plain Drain``: a minimal Drain (He et al., ICWS 2017) re-implemented below as the paper describes
  it: a tree routed by token count, then by the first ``depth - 2`` tokens (a token holding a digit
  routes to ``<*>``; at most 100 children per node), then the most similar cluster of the leaf if the
  share of equal tokens is at least ``st``; depth 4, st 0.4; lines in file order; the only masking is
  digits-only tokens -> ``<*>``.
* ``Drain + mask``: the same Drain fed ``correlate.signatures.mask(line)``, to show what the masking
  alone buys and what the rest of group_messages adds.
* the published Drain GA (Zhu et al., ICSE-SEIP 2019), measured with per-system masking rules on the
  *original* labels; and, as a like-for-like check, our GA on those original labels too
  (``<S>_2k.log_structured.csv``).

Throughput: 100,000 messages made by cycling the 16,000 lines of the 8 systems with every number
replaced by a random one (seeded; the new number may be one digit longer or shorter), grouped in one
call on one core; plus a worst case where each message also carries a random hex request id, so no
two messages are alike even up to their digits and every one must be masked.

The same parameters are used for every system; nothing is tuned to one. A sensitivity table shows
the two parameters of group_messages (FEW_VALUES, SIMILARITY) moved around their defaults.

Usage: python bench/log_signatures.py [--data DIR] [--out FILE] [--repeat N] [--no-sensitivity]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import correlate.signatures as signatures  # noqa: E402
from correlate.signatures import group_messages, mask  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "loghub2k"
DEFAULT_OUT = REPO / "bench" / "results" / "log_signatures.md"
SYSTEMS = ["HDFS", "Hadoop", "BGL", "HPC", "Linux", "HealthApp", "Proxifier", "OpenStack"]
PUBLISHED_DRAIN = {  # Zhu et al., ICSE-SEIP 2019, original labels (datasets README)
    "HDFS": 0.9975,
    "Hadoop": 0.9475,
    "BGL": 0.9625,
    "HPC": 0.887,
    "Linux": 0.69,
    "HealthApp": 0.78,
    "Proxifier": 0.5265,
    "OpenStack": 0.7325,
}
PUBLISHED_DRAIN_MEAN = 0.815
THROUGHPUT_N = 100_000

# ------------------------------------------------------------------------------------- data, score


def load(data: Path, system: str, corrected: bool = True) -> tuple[list[str], list[str]]:
    suffix = "_structured_corrected.csv" if corrected else "_structured.csv"
    path = data / system / f"{system}_2k.log{suffix}"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventTemplate"] for r in rows]


def grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Share of lines whose predicted group is exactly their true group."""
    pred_groups: dict[str, list[int]] = defaultdict(list)
    true_groups: dict[str, list[int]] = defaultdict(list)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].append(i)
        true_groups[t].append(i)
    correct = sum(len(lines) for lines in true_groups.values() if pred_groups[predicted[lines[0]]] == lines)
    return correct / len(truth) if truth else 1.0


# ------------------------------------------------------------------------------------- plain Drain

_DIGITS_ONLY = re.compile(r"[0-9]+")
_HAS_DIGIT = re.compile(r"[0-9]")
STAR = "<*>"


def digits_only(line: str) -> str:
    return " ".join(STAR if _DIGITS_ONLY.fullmatch(t) else t for t in line.split())


def drain(lines: Sequence[str], preprocess: Callable[[str], str], depth: int = 4, st: float = 0.4) -> list[str]:
    """A minimal Drain: length -> first depth-2 tokens -> most similar cluster (>= st) or a new one."""
    max_child = 100
    root: dict[int, dict] = {}
    clusters: list[list[str]] = []  # templates
    assigned: list[int] = []
    for line in lines:
        tokens = preprocess(line).split()
        node = root.setdefault(len(tokens), {})
        for tok in tokens[: depth - 2]:  # route, creating children as Drain does
            key = STAR if _HAS_DIGIT.search(tok) else tok
            if key not in node:
                if key != STAR and len(node) >= max_child - 1:
                    key = STAR
                node.setdefault(key, {})
            node = node[key]
        leaf = node.setdefault("", [])
        best, best_sim, best_par = -1, -1.0, -1
        for c in leaf:
            tmpl = clusters[c]
            same = sum(1 for a, b in zip(tmpl, tokens, strict=True) if a != STAR and a == b)
            par = sum(1 for a in tmpl if a == STAR)
            sim = same / len(tokens) if tokens else 1.0
            if sim > best_sim or (sim == best_sim and par > best_par):
                best, best_sim, best_par = c, sim, par
        if best >= 0 and best_sim >= st:
            clusters[best] = [a if a == b else STAR for a, b in zip(clusters[best], tokens, strict=True)]
        else:
            best = len(clusters)
            clusters.append(list(tokens))
            leaf.append(best)
        assigned.append(best)
    return [str(c) for c in assigned]  # a cluster's template changes as it grows: the id is the group


# ------------------------------------------------------------------------------------- runs


def timed(fn: Callable[[], list[str]], repeat: int) -> tuple[list[str], float]:
    times = []
    out: list[str] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def throughput_messages(all_lines: list[str], n: int, with_ids: bool) -> list[str]:
    rng = random.Random(20261128)

    def perturb(m: re.Match[str]) -> str:
        width = len(m.group())
        return str(rng.randrange(0, 10 ** max(1, width + rng.choice((-1, 0, 0, 1)))))

    out = []
    for i in range(n):
        msg = _DIGITS_ONLY.sub(perturb, all_lines[i % len(all_lines)])
        if with_ids:
            msg = f"{msg} req={rng.getrandbits(48):012x}"
        out.append(msg)
    return out


@dataclass
class Row:
    system: str
    ours: float  # GA, corrected labels
    plain: float
    masked: float
    published: float
    ours_orig: float  # GA, original labels
    groups: int
    true_groups: int
    t_ours: float
    t_plain: float
    misses: list[tuple[int, str, int]]  # (lines, true template, signatures they got), largest first


@dataclass
class Speed:
    label: str
    messages: int
    distinct: int
    signatures: int
    seconds: float


def misses(predicted: Sequence[str], truth: Sequence[str], top: int = 3) -> list[tuple[int, str, int]]:
    """The largest true groups that were not found exactly."""
    pred_groups: dict[str, set[int]] = defaultdict(set)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].add(i)
        true_groups[t].add(i)
    out = []
    for t, lines in true_groups.items():
        if pred_groups[predicted[min(lines)]] != lines:
            out.append((len(lines), t, len({predicted[i] for i in lines})))
    return sorted(out, key=lambda x: (-x[0], x[1]))[:top]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--repeat", type=int, default=3, help="timing: best of N runs")
    ap.add_argument("--no-sensitivity", action="store_true")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"dataset folder not found: {args.data}", file=sys.stderr)
        return 2

    rows: list[Row] = []
    all_lines: list[str] = []
    data: dict[str, tuple[list[str], list[str]]] = {}
    for system in SYSTEMS:
        content, truth = load(args.data, system)
        _, truth_orig = load(args.data, system, corrected=False)
        data[system] = (content, truth)
        all_lines.extend(content)
        ours, t_ours = timed(partial(group_messages, content), args.repeat)
        plain, t_plain = timed(partial(drain, content, digits_only), args.repeat)
        masked = drain(content, mask)
        r = Row(
            system=system,
            ours=grouping_accuracy(ours, truth),
            plain=grouping_accuracy(plain, truth),
            masked=grouping_accuracy(masked, truth),
            published=PUBLISHED_DRAIN[system],
            ours_orig=grouping_accuracy(ours, truth_orig),
            groups=len(set(ours)),
            true_groups=len(set(truth)),
            t_ours=t_ours,
            t_plain=t_plain,
            misses=misses(ours, truth),
        )
        rows.append(r)
        print(
            f"{system:10s} GA ours {r.ours:.4f}  plain Drain {r.plain:.4f}  Drain+mask {r.masked:.4f}  "
            f"published Drain {r.published:.4f}  (original labels: ours {r.ours_orig:.4f})  {t_ours * 1000:.0f} ms"
        )
    print(
        f"{'mean':10s} GA ours {_mean(rows, 'ours'):.4f}  plain Drain {_mean(rows, 'plain'):.4f}  "
        f"Drain+mask {_mean(rows, 'masked'):.4f}  published Drain {PUBLISHED_DRAIN_MEAN:.4f}  "
        f"(original labels: ours {_mean(rows, 'ours_orig'):.4f})"
    )

    speed: list[Speed] = []
    for label, with_ids in (("loghub lines, numbers perturbed", False), ("same, plus a random hex id each", True)):
        msgs = throughput_messages(all_lines, THROUGHPUT_N, with_ids)
        sigs, secs = timed(partial(group_messages, msgs), args.repeat)
        sp = Speed(label, len(msgs), len(set(msgs)), len(set(sigs)), secs)
        speed.append(sp)
        print(
            f"throughput ({label}): {sp.messages:,} messages ({sp.distinct:,} distinct) in {secs:.3f} s, "
            f"{sp.messages / secs:,.0f} messages/s, {sp.signatures:,} signatures"
        )

    sensitivity: list[tuple[int, float, list[float]]] = []
    if not args.no_sensitivity:
        defaults = (signatures.FEW_VALUES, signatures.SIMILARITY)
        try:
            for few, sim in [(3, 0.5), (4, 0.5), (5, 0.5), (8, 0.5), (10**9, 0.5), (5, 0.4), (5, 0.6), (5, 0.7)]:
                signatures.FEW_VALUES, signatures.SIMILARITY = few, sim
                sensitivity.append((few, sim, [grouping_accuracy(group_messages(c), t) for c, t in data.values()]))
        finally:
            signatures.FEW_VALUES, signatures.SIMILARITY = defaults

    shown = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python bench/log_signatures.py", *shown])
    write_report(args.out, command, rows, speed, sensitivity)
    print(f"wrote {args.out}")
    return 0


def _mean(rows: list[Row], field: str) -> float:
    return statistics.fmean(float(getattr(r, field)) for r in rows)


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_report(
    out: Path, command: str, rows: list[Row], speed: list[Speed], sensitivity: list[tuple[int, float, list[float]]]
) -> None:
    lines = [
        "# Log signatures: grouping accuracy on Loghub-2k",
        "",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  ",
        f"Command: `{command}`  ",
        f"Machine: {_cpu()}, {os.cpu_count()} CPUs (nproc), {platform.system()} {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}; group_messages runs on one core; "
        f"load average at start {_load()}",
        "",
        "GA = share of lines whose predicted group holds exactly the lines of their true group (true groups: "
        "`EventTemplate` of `<S>_2k.log_structured_corrected.csv`). Same parameters for every system.",
        "",
        "**Labels.** The published Drain figures were measured on the *original* Loghub labels (with per-system "
        "masking rules); ours use the *corrected* labels of logpai/logparser, the ground truth of the shared "
        "dataset. For a like-for-like comparison the column *ours, original labels* scores the same run against "
        "`<S>_2k.log_structured.csv`.",
        "",
        "## Grouping accuracy",
        "",
        "| system | GA ours | plain Drain (this run) | Drain + our mask | published Drain | ours, original labels "
        "| signatures / true | time ours | time plain Drain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.ours:.4f} | {r.plain:.4f} | {r.masked:.4f} | {r.published:.4f} | "
            f"{r.ours_orig:.4f} | {r.groups} / {r.true_groups} | {r.t_ours * 1000:.0f} ms | {r.t_plain * 1000:.0f} ms |"
        )
    lines.append(
        f"| **mean** | **{_mean(rows, 'ours'):.4f}** | {_mean(rows, 'plain'):.4f} | {_mean(rows, 'masked'):.4f} | "
        f"{PUBLISHED_DRAIN_MEAN:.4f} | {_mean(rows, 'ours_orig'):.4f} | | "
        f"{sum(r.t_ours for r in rows) * 1000:.0f} ms | {sum(r.t_plain for r in rows) * 1000:.0f} ms |"
    )
    lines += [
        "",
        "plain Drain: depth 4, st 0.4, digits-only tokens masked, file order (minimal re-implementation in this "
        "script). Drain + our mask: the same Drain fed `correlate.signatures.mask(line)`. Times: best of the "
        "repeats, 2,000 lines per system.",
        "",
        "### Where ours still loses lines (corrected labels)",
        "",
        "| system | lines | true template | signatures given |",
        "|---|---:|---|---:|",
    ]
    for r in rows:
        for n, template, got in r.misses:
            shown = template if len(template) <= 90 else template[:87] + "..."
            lines.append(f"| {r.system} | {n} | `{shown}` | {got} |")
    lines += [
        "",
        "Reading the numbers:",
        "",
        "- Linux, `session opened/closed for user <*>`: only three or four user names (`cyrus`, `news`, `test`, "
        "`root`) appear, plain words, so they are taken for constant words that tell statements apart "
        "(FEW_VALUES); each name gets its own signature. This is the price of keeping `GET`/`POST`/`DELETE` "
        "(OpenStack), `HTTPS`/`SOCKS5` (Proxifier) or `succeeded`/`failed` apart; with more users in the input "
        "they merge.",
        "- Hadoop, `Transitioned from X to Y`: the corrected labels make every state pair its own template; the "
        "9 target states in one position exceed FEW_VALUES, so ours merges them. `EventType: CONTAINER_REMOTE_*` "
        "is the opposite case (2 values, labelled variable).",
        "- HPC: node lists whose shape varies (`node-[104-127]`, `node-[224\\ 228]`) and one-digit names "
        "(`node-D3`) kept as words; 13 lines in all.",
        "- Original labels, Linux 0.69: the original labelling keeps the value of `user=` in the template "
        "(`... rhost=<*>  user=root`, `user=guest`, `user=test`: 372 lines), which key=value masking folds by "
        "design; the corrected labels make it a variable.",
        "",
        "## Throughput",
        "",
        "| input | messages | distinct | signatures | time | messages/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for sp in speed:
        lines.append(
            f"| {sp.label} | {sp.messages:,} | {sp.distinct:,} | {sp.signatures:,} | {sp.seconds:.3f} s | "
            f"{sp.messages / sp.seconds:,.0f} |"
        )
    lines += [
        "",
        "Messages: the 16,000 lines of the 8 systems cycled, every number replaced by a random one (seeded), one "
        "`group_messages` call, best of the repeats. group_messages masks each message *shape* (the message with "
        "its runs of digits made one 0) once, so the first row masks a few thousand shapes; the second row adds a "
        "random hex id to every message, so all 100,000 must be masked (the worst case).",
    ]
    if sensitivity:
        lines += [
            "",
            "## Sensitivity to the two parameters",
            "",
            "FEW_VALUES: a position with at most this many distinct plain words separates statements (default 5). "
            "SIMILARITY: share of positions that must agree to join a candidate cluster (default 0.5). "
            "The default 5 is a bound on enum-like choices (HTTP methods, lifecycle events), not the best mean "
            "here: 3 scores higher on this data only because it merges Linux's three or four user names, while it "
            "merges OpenStack's four `VM Started/Stopped/Paused/Resumed` events and BGL's five interrupt kinds.",
            "",
            "| FEW_VALUES | SIMILARITY | " + " | ".join(SYSTEMS) + " | mean |",
            "|---:|---:|" + "---:|" * (len(SYSTEMS) + 1),
        ]
        for few, sim, gas in sensitivity:
            label = "no limit" if few >= 10**9 else str(few)
            lines.append(
                f"| {label} | {sim} | " + " | ".join(f"{g:.4f}" for g in gas) + f" | {statistics.fmean(gas):.4f} |"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
