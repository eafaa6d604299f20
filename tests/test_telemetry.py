"""Dossier traces itself with OpenTelemetry only when asked, and never onto stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(tmp_path, env_extra):
    (tmp_path / "changes.jsonl").write_text(
        json.dumps({"at": "2026-11-20T09:58:00Z", "service": "checkout", "kind": "deploy", "id": "d1"}) + "\n"
    )
    (tmp_path / "c.yaml").write_text("collectors:\n  deploy_file/changes: {path: changes.jsonl}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DOSSIER_TRACE"))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dossier.cli",
            "collect",
            "--config",
            str(tmp_path / "c.yaml"),
            "--id",
            "X",
            "--start",
            "2026-11-20T10:00:00Z",
            "--end",
            "2026-11-20T11:00:00Z",
            "--out",
            str(tmp_path / "o"),
        ],
        env={**env, **env_extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_spans_go_to_stderr(tmp_path):
    proc = run(tmp_path, {"DOSSIER_TRACE": "console"})
    assert proc.returncode == 0, proc.stderr
    names = {line.split('"')[3] for line in proc.stderr.splitlines() if line.strip().startswith('"name"')}
    assert {"collect deploy_file/changes", "correlate", "export"} <= names, proc.stderr
    assert '"name"' not in proc.stdout


def test_off_by_default(tmp_path):
    proc = run(tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert '"name"' not in proc.stderr
