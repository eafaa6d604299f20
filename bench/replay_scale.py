"""`dossier replay` as the evidence grows: 1k to 1M events, today's code and a baseline side by side.

For each size, an evidence archive is written once to disk (the events of bench/correlate_scale.py:
alert episodes, changes across 500 services, scrape gaps, chat messages, plus 50 signal series) and
replayed, in a fresh process per tree and size, by `dossier.jobs.replay(folder)`: wall time (and its
parts: archive.read, jobs.draft, the exporters), peak RSS of the process (VmHWM, else
`resource.getrusage`) and its growth over the process after imports, the sizes of dossier.json and
draft.md, and the number of timeline entries. The baseline is another checkout of the project, e.g.
the commit before this work: `git worktree add /tmp/dossier-base 632b7ae`.

    python bench/replay_scale.py --base /tmp/dossier-base                 # 1k, 10k, 100k, 1M
    python bench/replay_scale.py --base /tmp/dossier-base --sizes 1000,100000 --repeat 3
    python bench/replay_scale.py --profile 1000000     # where correlation time goes, per correlate module

`--profile N` runs `correlate.draft` under cProfile on the archive of N events (current tree) and
writes the top functions by cumulative time, per correlate module, to the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / "dossier-replay-scale"

# Runs in a fresh process with the tree under test first on sys.path.
CHILD = r"""
import gc, json, resource, sys, time
from pathlib import Path
tree, folder = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, tree)
from dossier import archive, jobs, registry
import correlate
registry.load_exporter("json"), registry.load_exporter("md")
def peak_kib():  # VmHWM: this process's own peak (ru_maxrss carries the parent's over fork and exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base_rss = peak_kib()
parts = {}
def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
    return wrapper
archive.read = timed("read", archive.read)
jobs.draft = timed("draft", jobs.draft)
t = time.perf_counter()
outcome = jobs.replay(folder)
wall = time.perf_counter() - t
peak = peak_kib()
sizes = {p.name: p.stat().st_size for p in outcome.files}
print(json.dumps({
    "wall": wall, "read": parts.get("read", 0.0), "draft": parts.get("draft", 0.0),
    "export": wall - parts.get("read", 0.0) - parts.get("draft", 0.0),
    "rss_mib": peak / 1024, "rss_growth_mib": (peak - base_rss) / 1024,
    "json_bytes": sizes.get("dossier.json", 0), "md_bytes": sizes.get("draft.md", 0),
    "timeline": len(outcome.dossier.timeline),
}))
"""


def make_archive(size: int) -> Path:
    """The archive of `size` events, written once (by the current tree's archive.write) and reused."""
    folder = WORK / f"archive-{size}"
    if (folder / "evidence" / "manifest.json").exists():
        return folder
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import random

    import correlate_scale as cs

    from dossier import archive

    rng = random.Random(size)
    events = cs.make_events(size, rng)
    series = cs.make_series(rng)
    by_source: dict[str, list] = {}
    for e in events:
        by_source.setdefault(e.source, []).append(e)
    reports = {r.instance: r for r in cs.SOURCES}
    instances = [
        archive.InstanceEvidence(
            report=reports["prometheus/p"], events=by_source.pop("prometheus/p", []), series=series
        ),
        archive.InstanceEvidence(report=reports["deploy_file/c"], events=[e for v in by_source.values() for e in v]),
    ]
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write(
        tmp, incident=cs.INCIDENT, settings=cs.SETTINGS, generated_at=cs.T0, formats=("json", "md"), instances=instances
    )
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def replay_once(tree: Path, archive_folder: Path, label: str) -> dict:
    """A copy of the archive (evidence hard-linked), replayed by `tree` in a fresh process."""
    folder = WORK / f"replay-{label}-{archive_folder.name}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(archive_folder, folder, copy_function=os.link)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), str(folder)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"replay by {tree} failed:\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    shutil.rmtree(folder, ignore_errors=True)
    return result


def median_run(tree: Path, folder: Path, label: str, repeat: int) -> dict:
    runs = [replay_once(tree, folder, label) for _ in range(repeat)]
    best = dict(runs[0])
    for key in ("wall", "read", "draft", "export"):
        best[key] = statistics.median(r[key] for r in runs)
    best["rss_mib"] = max(r["rss_mib"] for r in runs)
    best["rss_growth_mib"] = max(r["rss_growth_mib"] for r in runs)
    return best


def profile(size: int, top: int = 12) -> list[str]:
    """cProfile of correlate.draft (GC paused, as jobs runs it) on the archive of `size` events."""
    import cProfile
    import gc
    import pstats
    import time

    sys.path.insert(0, str(ROOT))
    import correlate
    from dossier import archive

    stored = archive.read(make_archive(size))
    prof = cProfile.Profile()
    gc.disable()
    t = time.perf_counter()
    prof.enable()
    correlate.draft(stored.incident, stored.evidence, stored.settings, generated_at=stored.generated_at)
    prof.disable()
    wall = time.perf_counter() - t
    gc.enable()
    stats = pstats.Stats(prof)
    rows: dict[str, list[tuple[float, float, int, str]]] = {}
    for (file, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        path = Path(file)
        if path.parent.name != "correlate":
            continue
        rows.setdefault(path.stem, []).append((cumtime, tottime, ncalls, f"{name} (line {line})"))
    lines = [
        f"## Where correlation time goes at {size:,} events",
        "",
        f"`correlate.draft` under cProfile (GC paused), current tree: {wall:.1f} s profiled "
        "(cProfile adds roughly 1.5-2x). Top functions by cumulative time, per module; "
        "cumulative time includes the functions it calls.",
        "",
    ]
    for module in sorted(rows, key=lambda m: -max(r[0] for r in rows[m])):
        lines += [f"### correlate/{module}.py", "", "| function | calls | cumulative | own |", "|---|---:|---:|---:|"]
        for cum, tot, n, name in sorted(rows[module], reverse=True)[:top]:
            if cum < 0.01:
                continue
            lines.append(f"| {name} | {n:,} | {cum:.2f} s | {tot:.2f} s |")
        lines.append("")
    return lines


def fmt_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tree and size below 1M (1M: one)")
    ap.add_argument("--base", type=Path, help="checkout of the baseline, e.g. a git worktree of 632b7ae")
    ap.add_argument("--profile", type=int, metavar="N", help="also profile correlate.draft at N events")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "replay_scale.md")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    trees = [("base", args.base)] if args.base else []
    trees.append(("current", ROOT))
    rows = []
    for s in args.sizes.split(","):
        size = int(s)
        folder = make_archive(size)
        evidence = sum(f.stat().st_size for f in (folder / "evidence").rglob("*") if f.is_file())
        repeat = args.repeat if size < 1_000_000 else 1
        row = {"events": size, "evidence": evidence}
        for label, tree in trees:
            row[label] = median_run(tree, folder, label, repeat)
            print(size, label, row[label], flush=True)
        rows.append(row)

    lines = [
        "# `dossier replay` as the evidence grows",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores (shared with other work: timings vary by +-30%); command: "
        f"`python bench/replay_scale.py --sizes {args.sizes}" + (f" --base {args.base}`" if args.base else "`"),
        "",
        "Wall time of `dossier.jobs.replay(folder)` in a fresh process per tree and size (median of "
        f"{args.repeat} below 1M, one run at 1M), split into archive.read, jobs.draft (correlation) and the "
        "exporters (json, md); peak RSS of the process (and its growth over the process after imports); "
        "sizes of what it wrote. `base`: "
        + (f"`{args.base}`" if args.base else "none")
        + "; `current`: this tree as it stands (with other engineers' uncommitted work in it).",
        "",
    ]
    for label, _ in trees:
        lines += [
            f"## {label}",
            "",
            "| events | evidence | replay | read | draft | export | peak RSS | RSS growth | dossier.json "
            "| draft.md | timeline entries |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            r = row[label]
            lines.append(
                f"| {row['events']:,} | {fmt_bytes(row['evidence'])} | {r['wall']:.2f} s | {r['read']:.2f} s "
                f"| {r['draft']:.2f} s | {r['export']:.2f} s | {r['rss_mib']:.0f} MiB | {r['rss_growth_mib']:.0f} MiB "
                f"| {fmt_bytes(r['json_bytes'])} | {fmt_bytes(r['md_bytes'])} | {r['timeline']:,} |"
            )
        lines.append("")
    if args.base:
        lines += [
            "## current vs. base (ratio base / current: above 1 is faster or smaller now)",
            "",
            "| events | replay | read | draft | export | peak RSS | dossier.json | draft.md |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            b, c = row["base"], row["current"]

            def ratio(key: str, b: dict = b, c: dict = c) -> str:
                return f"{b[key] / c[key]:.1f}x" if c[key] else "-"

            lines.append(
                f"| {row['events']:,} | {ratio('wall')} | {ratio('read')} | {ratio('draft')} | {ratio('export')} "
                f"| {ratio('rss_mib')} | {ratio('json_bytes')} | {ratio('md_bytes')} |"
            )
        lines.append("")
    if args.profile:
        lines += profile(args.profile)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
