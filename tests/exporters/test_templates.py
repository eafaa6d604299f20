"""draft.md from Jinja2 templates: the default follows the usual postmortem structure with marked
prompts for what only people know; a team's own template (`output.template`) gets the same parts;
a broken template is one error line naming its file and line, with the contract's exit code."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dossier.cli import cli
from dossier.config import load_config
from dossier.errors import ConfigError, ExitCode
from dossier.exporters.markdown import KEPT_TEMPLATE, MarkdownExporter, render_draft
from dossier.model import ActionItem
from tests.exporters.builders import checkout_dossier, render, section

STRUCTURE = [
    "## Summary",
    "## Impact",
    "### Impact window",
    "## Trigger",
    "## Detection",
    "### Detection review",
    "### Detection gaps",
    "## Resolution",
    "## Timeline",
    "## Root causes and contributing factors",
    "### Candidate causes",
    "## Action items",
    "## Lessons learned",
    "## Evidence",
    "### Sources",
    "### Signals",
]


def headings(md: str, deepest: int = 3) -> list[str]:
    return [line for line in md.splitlines() if re.match(rf"#{{2,{deepest}}} ", line)]


def test_the_default_draft_follows_the_postmortem_structure() -> None:
    md = render(checkout_dossier())
    assert headings(md) == STRUCTURE
    lessons = section(md, "Lessons learned")
    for prompt in ("What went well", "What went wrong", "Where we got lucky"):
        assert f"- **{prompt}:** **TODO**" in lessons
    for name, part in (
        ("Impact", "**Impact on users:** **TODO**"),
        ("Trigger", "**Trigger:** **TODO**"),
        ("Resolution", "**Resolution:** **TODO**"),
        ("Root causes and contributing factors", "**Contributing factors:** **TODO**"),
    ):
        assert part in section(md, name)


def test_trigger_and_resolution_list_the_events_of_their_phases() -> None:
    d = checkout_dossier()
    md = render(d)
    trigger, resolution = section(md, "Trigger"), section(md, "Resolution")
    for entry in d.timeline:
        line = f"- {entry.event.at.strftime('%Y-%m-%d %H:%M:%SZ')}"
        in_trigger = any(x.startswith(line) for x in trigger.splitlines())
        in_resolution = any(x.startswith(line) for x in resolution.splitlines())
        assert in_trigger == (entry.phase == "trigger"), entry
        assert in_resolution == (entry.phase in ("mitigation", "recovery")), entry
    assert "(payments): [**Roll back payments to v2.13.2**](https://ci.example.com/payments/deployments/2292)" in (
        resolution
    )


def test_a_teams_template_gets_the_same_parts_and_filters(tmp_path: Path) -> None:
    team = tmp_path / "team.md.j2"
    team.write_text(
        "# {{ dossier.incident.id }} postmortem\n\n"
        "Detected after {{ durations.time_to_detect | duration }}, at {{ dossier.milestones.detected | time }}.\n\n"
        "## What happened\n\n{{ draft.summary }}\n\n## Owner\n\n{{ TODO }}\n",
        encoding="utf-8",
    )
    md = MarkdownExporter(template=team).render(checkout_dossier())
    assert md.startswith("# INC-2041 postmortem\n\nDetected after 6m, at 2026-11-20 10:08:15Z.\n")
    assert section(render(checkout_dossier()), "Summary").split("\n\n", 1)[1].strip() in md
    assert md.endswith("## Owner\n\n**TODO**\n")


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("# x\n\n{{ draft.summary }\n", 3, "unexpected '}'"),
        ("# x\n{% for a in b %}\n", 2, "Unexpected end of template"),
        ("# x\n\n\n{{ draft.sumary }}\n", 4, "draft has no part 'sumary' (did you mean 'summary'?)"),
        ("# x\n{{ dossier.incident.id | nosuch }}\n", 2, "No filter named 'nosuch'"),
        ("a\nb\n{{ 1 // 0 }}\n", 3, "ZeroDivisionError"),
    ],
)
def test_a_template_error_names_the_file_and_line(tmp_path: Path, source: str, line: int, message: str) -> None:
    team = tmp_path / "team.md.j2"
    team.write_text(source, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        render_draft(checkout_dossier(), team)
    text = str(caught.value)
    assert text.startswith(f"{team}: line {line}: "), text
    assert message in text and "\n" not in text
    assert text.endswith("(fix the template, or remove output.template to use the default draft)")
    assert caught.value.exit_code == ExitCode.CONFIG


def test_action_items_of_the_dossier_are_rendered_when_present() -> None:
    base = checkout_dossier()
    items = (
        ActionItem(
            "a2",
            "systemic",
            "tune_alert",
            "Shorten the `for` of HighErrorRate to 2m",
            "with `for: 2m` it would have fired at 2026-11-20T10:05:15Z, 3m 0s earlier",
            evidence=(base.alert_review[0].alert,),
        ),
        ActionItem(
            "a3",
            "systemic",
            "new_alert",
            "Alert on latency_p99 of payments",
            "it went anomalous and no alert watched it",
            rule="- alert: PaymentsLatency\n  expr: latency > 1\n  for: 2m\n",
            checked="Prometheus evaluated the rule over the window",
        ),
        ActionItem("a1", "proximate", "fix_change", "Fix payments v2.14.0", "it set the incident off"),
    )
    md = render(dataclasses.replace(base, action_items=items))
    actions = section(md, "Action items")
    assert (
        actions.index("Proximate cause:")
        < actions.index("- [ ] **Fix payments v2.14.0.**")
        < (actions.index("Systemic weaknesses:"))
    )
    assert (
        "- [ ] **Shorten the `for` of HighErrorRate to 2m.** with `for: 2m` it would have fired at "
        "2026-11-20T10:05:15Z, 3m earlier (evidence `HighErrorRate`)."
    ) in actions
    assert "Prometheus evaluated the rule over the window." in actions
    assert "  ```yaml\n  - alert: PaymentsLatency\n    expr: latency > 1\n    for: 2m\n  ```" in actions
    assert "Suggested by the detection gaps" not in actions  # the proposed items take their place
    assert "Suggested by the detection gaps" in section(render(base), "Action items")


# ---- through the configuration and the CLI -----------------------------------------------------


def write_config(folder: Path, **output: object) -> Path:
    (folder / "changes.jsonl").write_text("")
    config = {
        "collectors": {"deploy_file/changes": {"path": "changes.jsonl"}},
        "output": {"dir": "out", "formats": ["json", "md"], **output},
    }
    path = folder / "dossier.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_config_validate_names_the_template_line(tmp_path: Path) -> None:
    (tmp_path / "team.md.j2").write_text("# {{ dossier.incident.id }}\n{% if %}\n")
    path = write_config(tmp_path, template="team.md.j2")
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == ExitCode.CONFIG
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}: output::template: {tmp_path / 'team.md.j2'}: line 2: ")
    missing = write_config(tmp_path, template="nowhere.md.j2")
    result = CliRunner().invoke(cli, ["config", "validate", str(missing)])
    assert result.exit_code == ExitCode.CONFIG and "nowhere.md.j2: no such template file" in result.stderr
    assert load_config(write_config(tmp_path)).template is None


def test_collect_drafts_with_the_teams_template_and_replay_keeps_it(tmp_path: Path) -> None:
    team = tmp_path / "team.md.j2"
    team.write_text("# {{ dossier.incident.id }}: our own layout\n\n{{ draft.impact }}\n")
    path = write_config(tmp_path, template="team.md.j2")
    args = ["collect", "--config", str(path), "--id", "INC-7", "--start", "2026-11-20T10:00:00Z"]
    result = CliRunner().invoke(cli, [*args, "--end", "2026-11-20T11:00:00Z"])
    assert result.exit_code == 0, result.stderr
    folder = tmp_path / "out" / "INC-7"
    draft = (folder / "draft.md").read_text()
    assert draft.startswith("# INC-7: our own layout\n\n_Started is the onset")
    assert (folder / KEPT_TEMPLATE).read_text() == team.read_text()
    team.write_text("{{ broken\n")  # replay uses the copy in the folder, not the file named by the config
    (folder / "draft.md").unlink()
    result = CliRunner().invoke(cli, ["replay", str(folder)])
    assert result.exit_code == 0, result.stderr
    assert (folder / "draft.md").read_text() == draft
    assert json.loads((folder / "dossier.json").read_text())["incident"]["id"] == "INC-7"
