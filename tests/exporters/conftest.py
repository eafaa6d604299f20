"""Golden files of the exporters: `pytest --update-golden` (declared in tests/conftest.py) rewrites them;
a missing one fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"


def check_golden(path: Path, actual: str, *, update: bool) -> None:
    """Compare `actual` with the golden file at `path`, or rewrite it when `update` is set."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing: run pytest with --update-golden and review it")
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs: run pytest with --update-golden and review the diff"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(name, text)`: compare `text` with `golden/<name>`."""
    update = bool(request.config.getoption("--update-golden", default=False))
    return lambda name, actual: check_golden(GOLDEN_DIR / name, actual, update=update)
