"""The demo: load config/demo/'s sample incident into a local Prometheus and draft it.

    python -m dossier.testing.demo              # what `bash deploy/demo/run.sh` runs
    python -m dossier.testing.demo --regenerate # rewrite config/demo/ from dossier.testing.synth

The sample (INC-2041, 2026-11-20): a bad payments deploy breaks payments and, downstream,
checkout; a later checkout deploy is innocent; the payments alert is late (`for: 5m`); nothing
alerts on payments latency; payments-1 cannot be scraped for five minutes; payments logs an error
never seen before; checkout's logs stop reaching the log store for six minutes; a rollback fixes it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from dossier.testing.prometheus import LocalPrometheus
from dossier.testing.synth import checkout_incident, checkout_logs

DEMO_DIR = Path(__file__).resolve().parents[2] / "config" / "demo"
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
URL_VARIABLE = "DOSSIER_DEMO_PROMETHEUS_URL"


def regenerate(folder: Path = DEMO_DIR) -> list[Path]:
    """Write the sample incident's data files (deterministic: the same bytes every time)."""
    openmetrics, rules, truth, changes = checkout_incident(START)
    logs = checkout_logs(truth)
    incident = dict(truth.incident)
    files = {
        "logs_truth.json": json.dumps(logs.truth.to_dict(), indent=2, sort_keys=True) + "\n",
        "metrics.om": openmetrics,
        "rules.yml": rules,
        "changes.jsonl": "".join(json.dumps(c, sort_keys=True) + "\n" for c in changes),
        "incident.yaml": yaml.safe_dump(incident, sort_keys=False),
        "truth.json": json.dumps(truth.to_dict(), indent=2, sort_keys=True) + "\n",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    with (folder / "logs.jsonl.gz").open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(logs.text.encode())  # mtime 0: the same bytes every time
    return [*(folder / n for n in files), folder / "logs.jsonl.gz"]


def run(out: Path, folder: Path = DEMO_DIR) -> int:
    from click.testing import CliRunner  # the real CLI, in-process, with its exit code

    from dossier.cli import cli

    with LocalPrometheus(folder / "metrics.om", folder / "rules.yml") as prom:
        print(f"prometheus: {prom.url} (sample incident loaded from {folder / 'metrics.om'})", file=sys.stderr)
        args = ["collect", "--config", str(folder / "dossier.yaml"), "--incident", str(folder / "incident.yaml")]
        result = CliRunner().invoke(
            cli, [*args, "--out", str(out)], env={**os.environ, URL_VARIABLE: prom.url}, catch_exceptions=False
        )
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.exit_code in (0, 1):
        draft = out / "INC-2041" / "draft.md"
        print(f"\nthe draft: {draft}\nthe evidence: {draft.parent / 'evidence'}")
    return result.exit_code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--regenerate", action="store_true", help="rewrite config/demo/ data from the generator")
    ap.add_argument("--out", type=Path, default=Path("dossiers"), help="output folder (default ./dossiers)")
    args = ap.parse_args()
    if args.regenerate:
        for path in regenerate():
            print(path)
        return
    sys.exit(run(args.out))


if __name__ == "__main__":
    main()
