"""A job (serve, backfill, worker) writes the output folder `dossier collect` writes.

The same incident, the same config (a team's draft template in `output.template`, a webhook in
`output.push`), once with `dossier collect` and once as a backfill job: the same files, the same
draft from the team's template (kept as `draft.md.j2` so `replay` uses it), pushed once each with
the remote state in `pushed.json`. A recollection updates what was pushed instead of creating a
second copy; a destination that fails leaves the draft written, the job done with exit 1 and the
failure stated (as `dossier collect` exits 1 and says it).
"""

from __future__ import annotations

import io
import json
import shutil
import socket
from pathlib import Path

import yaml
from click.testing import CliRunner

from dossier import backfill as backfill_mod
from dossier import jobs
from dossier.cli import cli
from dossier.config import load_config
from dossier.model import Incident, parse_time
from dossier.store import JobStore, worker_name
from dossier.worker import Worker, WorkerOptions
from tests.jobs.conftest import ROOT
from tests.standins.webhook import WebhookReceiver

TEMPLATE = """# {{ dossier.incident.id }}: {{ dossier.incident.title }} (our team's layout)

Started {{ dossier.milestones.started or "unknown" }}.
{% for cause in dossier.candidate_causes %}
- cause: {{ cause.evidence }} ({{ cause.score }})
{% endfor %}
"""

INCIDENT = Incident(
    id="INC-7",
    title="payments errors",
    start=parse_time("2026-11-20T10:00:00Z"),
    end=parse_time("2026-11-20T10:40:00Z"),
    services=("payments",),
)


def write_config(folder: Path, push: list[dict[str, object]]) -> Path:
    shutil.copy(ROOT / "config" / "demo" / "changes.jsonl", folder / "changes.jsonl")
    (folder / "team.md.j2").write_text(TEMPLATE)
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "services": {"checkout": {"depends_on": ["payments"]}, "payments": {}},
        "output": {"dir": "out", "formats": ["json", "md"], "template": "team.md.j2", "push": push},
    }
    path = folder / "dossier.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def files_of(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def without_times(path: Path) -> dict[str, object]:
    """dossier.json less when it was written and how long each source took."""
    data = json.loads(path.read_text())
    data.pop("generated_at")
    for source in data["sources"]:
        source.pop("duration")
    return data


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_a_backfill_job_writes_what_dossier_collect_writes(tmp_path):
    with WebhookReceiver() as hook:
        config = write_config(tmp_path, [{"type": "webhook", "name": "hook", "url": hook.url + "/hooks/dossier"}])
        (tmp_path / "incident.yaml").write_text(
            "id: INC-7\ntitle: payments errors\nservices: [payments]\n"
            "start: 2026-11-20T10:00:00Z\nend: 2026-11-20T10:40:00Z\n"
        )
        incident_file = str(tmp_path / "incident.yaml")
        by_cli = CliRunner().invoke(
            cli,
            ["collect", "--config", str(config), "--incident", incident_file, "--out", str(tmp_path / "by-cli")],
            catch_exceptions=False,
        )
        assert by_cli.exit_code == 0, by_cli.output
        settings = load_config(config)
        store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
        summary = backfill_mod.backfill(
            settings, [INCIDENT], tmp_path / "by-job", store=store, concurrency=1, stream=io.StringIO()
        )
        assert summary.done == ["INC-7"] and not summary.push_failed, summary.lines()

        a, b = tmp_path / "by-cli" / "INC-7", tmp_path / "by-job" / "INC-7"
        assert files_of(a) == files_of(b)
        assert {"draft.md.j2", "pushed.json", "dossier.json", "draft.md"} <= set(files_of(b))
        assert (b / "draft.md.j2").read_text() == TEMPLATE
        draft = (b / "draft.md").read_text()
        assert draft.startswith("# INC-7: payments errors (our team's layout)"), draft
        assert draft == (a / "draft.md").read_text()
        assert without_times(a / "dossier.json") == without_times(b / "dossier.json")
        state = json.loads((b / "pushed.json").read_text())["destinations"]
        assert state["hook"]["type"] == "webhook" and state["hook"]["delivery"] == 1
        assert [d["event"] for d in hook.deliveries] == ["dossier.created", "dossier.created"]
        assert hook.deliveries[1]["dossier"]["incident"]["id"] == "INC-7"

        # replay uses the kept template: the same bytes
        before = (b / "draft.md").read_bytes()
        jobs.replay(b)
        assert (b / "draft.md").read_bytes() == before

        # a recollection (serve's on_repeat: recollect) updates the pushed record, no second copy
        job, created = store.enqueue(INCIDENT, out_dir=tmp_path / "by-job", source="incident", on_repeat="recollect")
        assert not created and job.state == "queued"
        worker = Worker(settings, store, name=worker_name("t"), options=WorkerOptions(poll=0.05))
        claimed = store.claim(worker.name, lease=30)
        assert claimed is not None
        result = worker.process(claimed)
        assert result.outcome == "done" and result.exit_code == 0, result
        assert [d["event"] for d in hook.deliveries][-1] == "dossier.updated"
        assert hook.deliveries[-1]["delivery"] == 2
        state = json.loads((b / "pushed.json").read_text())["destinations"]
        assert state["hook"]["delivery"] == 2
        assert (b / "draft.md.j2").read_text() == TEMPLATE


def test_a_failed_push_leaves_the_draft_and_says_so(tmp_path):
    port = closed_port()
    config = write_config(
        tmp_path, [{"type": "webhook", "name": "down", "url": f"http://127.0.0.1:{port}/hooks", "timeout": "2s"}]
    )
    args = ["backfill", "--config", str(config), "--incidents", str(tmp_path / "list.csv"), "--backoff", "0"]
    (tmp_path / "list.csv").write_text(
        "id,start,end,services\nINC-8,2026-11-20T10:00:00Z,2026-11-20T10:40:00Z,payments\n"
    )
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 1, run.output  # written, but a destination failed: as `dossier collect`
    assert "1 drafted (1 with gaps)" in run.stdout, run.stdout
    assert "push    INC-8: push down:" in run.stdout, run.stdout
    folder = tmp_path / "out" / "INC-8"
    assert (folder / "draft.md").is_file() and not (folder / "pushed.json").exists()
    store = JobStore(f"sqlite:///{tmp_path / 'out' / '.jobs.db'}")
    (job,) = store.jobs()
    assert job.state == "done" and job.exit_code == 1 and "push down" in (job.error or ""), job
