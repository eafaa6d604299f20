"""Imports point one way (ARCHITECTURE.md): dossier.model <- correlate <- dossier.jobs; dossier.plugin <- collectors.

`correlate` is pure: it imports only the standard library, numpy, `dossier.model`, `dossier.units` and itself, and
never reads the clock, the environment or randomness. Collectors never import `correlate`, the
exporters, the CLI, the server or the jobs.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", files("correlate"), ids=lambda p: p.name)
def test_correlate_is_pure(path):
    allowed_top = {"correlate", "numpy", "__future__"}
    banned_stdlib = {"os", "time", "random", "logging", "socket", "subprocess", "pathlib", "io", "secrets"}
    for line, name in imports(path):
        top = name.split(".")[0]
        if top == "dossier":
            assert name in ("dossier.model", "dossier.units"), (
                f"{path.name}:{line} imports {name}: only dossier.model and dossier.units (pure formatting)"
            )
        elif top in STDLIB:
            assert top not in banned_stdlib, f"{path.name}:{line} imports {name}: correlate does no I/O, clock or env"
        else:
            assert top in allowed_top, f"{path.name}:{line} imports {name}"
    text = path.read_text(encoding="utf-8")
    for call in ("datetime.now(", "datetime.utcnow(", "time.time(", "os.environ", "open("):
        assert call not in text, f"{path.name} calls {call}: correlate reads no clock, environment or files"


@pytest.mark.parametrize("path", files("collectors"), ids=lambda p: str(p.relative_to(ROOT)))
def test_collectors_do_not_reach_up(path):
    banned = (
        "correlate",
        "dossier.exporters",
        "dossier.cli",
        "dossier.server",
        "dossier.jobs",
        "dossier.config",
        "dossier.incident",
    )
    for line, name in imports(path):
        assert not name.startswith(banned), f"{path.relative_to(ROOT)}:{line} imports {name}"


@pytest.mark.parametrize("path", files("dossier/exporters"), ids=lambda p: p.name)
def test_exporters_render_from_the_model(path):
    for line, name in imports(path):
        assert not name.startswith(("collectors", "dossier.jobs", "dossier.cli")), f"{path.name}:{line} imports {name}"


@pytest.mark.parametrize(
    "path", files("dossier") + files("collectors") + files("correlate"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_product_does_not_import_the_harness(path):
    """tests/ and deploy/ are not installed (pyproject.toml packages): the product never imports them."""
    for line, name in imports(path):
        assert name.split(".")[0] not in ("tests", "deploy"), f"{path.relative_to(ROOT)}:{line} imports {name}"
