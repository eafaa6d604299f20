"""`dossier backfill`: resumable across SIGKILLs, each draft exactly once, never half-written.

The incidents are small (a deploy_file source, windows of 20 to 60 minutes), so a few hundred
take seconds; the backfill process is killed with SIGKILL three times while it works, then
rerun to the end.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dossier import jobs
from dossier.backfill import read_incidents, shard_of
from dossier.cli import cli
from dossier.errors import ConfigError
from dossier.model import parse_time
from dossier.store import JobStore
from tests.jobs.conftest import ROOT, dossier_cmd

DEMO = ROOT / "config" / "demo"
N = 240


def write_case(folder: Path, n: int = N) -> tuple[Path, Path]:
    shutil.copy(DEMO / "changes.jsonl", folder / "changes.jsonl")
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "services": {"checkout": {"depends_on": ["payments"]}, "payments": {}, "inventory": {}},
        "output": {"dir": "out", "formats": ["json", "md"]},
    }
    (folder / "dossier.yaml").write_text(yaml.safe_dump(config))
    t0 = parse_time("2026-11-20T09:30:00Z")
    with (folder / "incidents.jsonl").open("w") as fh:
        for i in range(n):
            start = t0 + timedelta(minutes=i % 40)
            row = {
                "id": f"INC-{i:04d}",
                "title": f"incident {i}",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=20 + i % 41)).isoformat(),
                "services": [["checkout"], ["payments"], ["checkout", "payments"]][i % 3],
            }
            fh.write(json.dumps(row) + "\n")
    return folder / "dossier.yaml", folder / "incidents.jsonl"


def published(out: Path) -> dict[str, tuple[int, int]]:
    """id -> (inode of its folder, mtime of its dossier.json) for every folder in place."""
    found = {}
    for p in out.iterdir() if out.exists() else ():
        if p.is_dir() and not p.name.startswith("."):
            found[p.name] = (p.stat().st_ino, (p / "dossier.json").stat().st_mtime_ns)
    return found


def assert_complete(folder: Path) -> None:
    for name in ("dossier.json", "draft.md", "evidence/manifest.json", "evidence/deploy_file/changes.jsonl"):
        assert (folder / name).is_file(), f"{folder.name} is half-written: no {name}"
    json.loads((folder / "dossier.json").read_text())


@pytest.mark.slow
def test_backfill_killed_three_times_then_rerun_drafts_each_incident_once(tmp_path):
    config, incidents = write_case(tmp_path)
    out = tmp_path / "out"
    cmd = dossier_cmd("backfill", "--config", str(config), "--incidents", str(incidents), "--concurrency", "4")
    seen: dict[str, tuple[int, int]] = {}
    kills = 0
    for step in (25, 60, 60):  # SIGKILL once this many more drafts are in place
        before = len(published(out))
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(published(out)) < before + step and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the backfill ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
        now = published(out)
        for job_id in now:
            assert_complete(out / job_id)  # whatever is in place is whole
        for job_id, stamp in seen.items():
            assert now[job_id] == stamp, f"{job_id} was redone"  # what was done stays as it was
        seen = now
    assert kills == 3 and 0 < len(seen) < N

    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.splitlines()[0]
    assert f"backfill: {N} incidents:" in summary and "0 failed" in summary, summary
    assert f"{N - len(seen)} drafted" in summary or "skipped" in summary, summary

    final = published(out)
    assert sorted(final) == [f"INC-{i:04d}" for i in range(N)]  # each exactly once, none missing
    for job_id, stamp in seen.items():
        assert final[job_id] == stamp, f"{job_id} was redone by the rerun"
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".jobs.db"] in (
        [],
        [".jobs.db-wal", ".jobs.db-shm"],
        [".jobs.db-shm", ".jobs.db-wal"],
    )  # no temporary folder left behind
    store = JobStore(f"sqlite:///{out / '.jobs.db'}")
    assert store.counts() == {"queued": 0, "running": 0, "done": N, "failed": 0}
    for run_id in [f"INC-{i:04d}" for i in range(0, N, 7)]:
        assert len([r for r in store.runs(run_id) if r["outcome"] == "done"]) == 1

    # complete: replay from the archive alone gives the same bytes
    for job_id in sorted(final):
        folder = out / job_id
        assert_complete(folder)
        before = (folder / "dossier.json").read_bytes(), (folder / "draft.md").read_bytes()
        jobs.replay(folder)
        assert ((folder / "dossier.json").read_bytes(), (folder / "draft.md").read_bytes()) == before, job_id

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and f"0 drafted (0 with gaps), {N} skipped" in again.stdout, again.stdout


def test_a_failed_incident_is_in_the_summary_and_redone_by_a_rerun(tmp_path):
    config, incidents = write_case(tmp_path, n=3)
    data = yaml.safe_load(config.read_text())
    data["collectors"]["deploy_file/changes"]["path"] = "missing.jsonl"
    config.write_text(yaml.safe_dump(data))
    args = ["backfill", "--config", str(config), "--incidents", str(incidents), "--backoff", "0", "--attempts", "2"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 1, first.output
    assert "0 drafted" in first.stdout and "3 failed" in first.stdout
    assert "failed  INC-0000: every source failed: deploy_file/changes:" in first.stdout
    assert "(after 2 attempts)" in first.stdout
    assert not (tmp_path / "out" / "INC-0000").exists()
    shutil.copy(DEMO / "changes.jsonl", tmp_path / "missing.jsonl")
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert "3 drafted" in second.stdout and "0 failed" in second.stdout
    assert "[3/3]" in second.stderr  # plain progress lines when not on a terminal


def test_incident_lists_csv_yaml_and_their_errors(tmp_path):
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "id,title,start,end,services,labels\n"
        "INC-1,one,2026-11-20T10:00:00Z,2026-11-20T11:00:00Z,checkout;payments,team=payments\n"
        "INC-2,two,2026-11-21T10:00:00Z,2026-11-21T11:00:00Z,,\n"
    )
    one, two = read_incidents(csv_file)
    assert one.services == ("checkout", "payments") and one.labels == {"team": "payments"}
    assert two.services == () and two.title == "two"
    yml = tmp_path / "list.yaml"
    yml.write_text(
        yaml.safe_dump({"incidents": [{"id": "A", "start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}]})
    )
    assert [i.id for i in read_incidents(yml)] == ["A"]
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,start,end\nINC-1,2026-11-20T10:00:00,2026-11-20T11:00:00Z\nINC-1,2026-11-20T10:00:00Z,2026-11-20T11:00:00Z\n"
        "INC-1,2026-11-20T10:00:00Z,2026-11-20T11:00:00Z\n"
    )
    with pytest.raises(ConfigError) as exc:
        read_incidents(bad)
    lines = exc.value.lines()
    assert lines[0].startswith(f"{bad}: row 2::start: naive time")
    assert lines[1] == f'{bad}: row 4::id: "INC-1" is already the id of row 3'


def test_shards_split_a_list_without_overlap():
    ids = [f"INC-{i}" for i in range(400)]
    shards = [{i for i in ids if shard_of(i, 4) == k} for k in range(4)]
    assert set().union(*shards) == set(ids) and sum(map(len, shards)) == 400
    assert all(60 < len(s) < 140 for s in shards)


def test_per_source_bound_keeps_collections_of_one_source_apart(checkout_prometheus, slow_proxy, tmp_path):
    """--concurrency 4 --per-source 1: four incidents at once, but their requests to the one
    Prometheus never interleave (each incident's window shows in its query's start)."""
    from urllib.parse import parse_qs, urlsplit

    from dossier import backfill as backfill_mod
    from dossier.config import load_config
    from dossier.worker import WorkerOptions
    from tests.harness.synth import ERROR_RATE_QUERY

    proxy = slow_proxy(checkout_prometheus.url, 0.02)
    (tmp_path / "changes.jsonl").write_text("")
    config = {
        "collectors": {
            "prometheus/test": {
                "url": proxy.url,
                "signals": [{"name": "error_rate", "query": ERROR_RATE_QUERY, "direction": "up"}],
            },
            "deploy_file/changes": {"path": "changes.jsonl"},
        },
        "services": {"payments": {}},
        "correlate": {"baseline": "30m"},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    t0 = parse_time("2026-11-20T09:50:00Z")
    incidents = [
        parse_time_incident(f"P-{i}", t0 + timedelta(minutes=7 * i), t0 + timedelta(minutes=7 * i + 30))
        for i in range(4)
    ]
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    summary = backfill_mod.backfill(
        load_config(tmp_path / "c.yaml"),
        incidents,
        tmp_path / "out",
        store=store,
        concurrency=4,
        options=WorkerOptions(per_source=1, poll=0.05),
    )
    assert len(summary.done) == 4, summary.lines()
    spans: dict[str, list[float]] = {}
    for began, ended, _method, path, body in proxy.log:
        query = parse_qs(urlsplit(path).query) | parse_qs((body or b"").decode())
        key = (query.get("start") or [None])[0]
        if key is None:
            continue
        owners = [i for i in incidents if i.start.timestamp() - 1800 == _epoch(key)]  # start - baseline
        if len(owners) != 1:
            continue
        window = owners[0]
        lo, hi = spans.setdefault(window.id, [began, ended])
        spans[window.id] = [min(lo, began), max(hi, ended)]
    assert len(spans) == 4, spans
    ordered = sorted(spans.values())
    for (_, end_a), (start_b, _) in itertools.pairwise(ordered):
        assert start_b >= end_a - 0.001, ordered  # one incident's collection at a time against this source


def _epoch(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return parse_time(text).timestamp()


def parse_time_incident(incident_id, start, end):
    from dossier.model import Incident

    return Incident(id=incident_id, title=incident_id, start=start, end=end, services=("payments",))


def test_on_a_terminal_the_progress_is_a_rich_bar(tmp_path):
    import os
    import pty

    config, incidents = write_case(tmp_path, n=3)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        dossier_cmd("backfill", "--config", str(config), "--incidents", str(incidents)),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    assert proc.returncode == 0, shown.decode(errors="replace")
    text = shown.decode(errors="replace")
    assert "backfill" in text and "3/3" in text and "━" in text, text  # rich's bar, its count
    assert "[3/3]" not in text  # not the plain lines
    assert out.decode().startswith("backfill: 3 incidents: 3 drafted")  # the summary on stdout
