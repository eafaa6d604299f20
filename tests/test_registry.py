"""dossier.registry: finding plugins through entry points, loading one, and what stops a run.

The installed plugins are replaced by small distributions written to a temporary folder
(`<name>-<version>.dist-info/` with METADATA and entry_points.txt), read through the public
`importlib.metadata.distributions(path=...)`, so nothing here depends on the project's own
collectors and exporters being importable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, distributions
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from dossier import registry
from dossier.errors import PluginLoadError, UnknownPluginError
from dossier.model import Dossier
from dossier.plugin import Collector, CollectRequest, CollectResult, Duration, Exporter, PluginConfig, RelPath

HERE = __name__  # how entry points name the classes below


class FakeConfig(PluginConfig):
    url: str = "http://127.0.0.1:9090"


class FakeCollector(Collector[FakeConfig]):
    type = "fake"
    Config = FakeConfig
    kinds = frozenset({"metric", "alert"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


class AbstractCollector(Collector[FakeConfig]):
    type = "abstract"
    Config = FakeConfig
    kinds = frozenset({"metric"})


class NoConfigCollector(Collector[FakeConfig]):
    type = "noconfig"
    Config = dict  # type: ignore[assignment]
    kinds = frozenset({"metric"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


class NotACollector:
    type = "plain"


def not_a_class() -> None:
    pass


class TextExporter(Exporter):
    format = "txt"
    filename = "draft.txt"

    def render(self, dossier: Dossier) -> str:
        return dossier.incident.id


Installer = Callable[..., Path]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Installer]:
    """install(dist, version, collectors={name: value}, exporters={...}): one more distribution."""
    site = tmp_path / "site"
    site.mkdir()

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for dist in distributions(path=[str(site)]) for ep in dist.entry_points.select(group=group)]

    monkeypatch.setattr(registry, "entry_points", entry_points)
    registry.cache_clear()

    def installer(
        dist: str, version: str, collectors: dict[str, str] | None = None, exporters: dict[str, str] | None = None
    ) -> Path:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = []
        for group, eps in (("dossier.collectors", collectors), ("dossier.exporters", exporters)):
            if eps:
                lines.append(f"[{group}]")
                lines.extend(f"{name} = {value}" for name, value in eps.items())
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        return info

    yield installer
    registry.cache_clear()


def test_available_lists_by_name_and_imports_nothing(
    install: Installer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "boom_plugin.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(code))
    install("dossier", "0.1.0", collectors={"zeta": "boom_plugin:Boom", "fake": f"{HERE}:FakeCollector"})

    found = registry.available("collector")

    assert list(found) == ["fake", "zeta"]
    assert found["zeta"].value == "boom_plugin:Boom"
    assert "boom_plugin" not in sys.modules
    assert registry.available("exporter") == {}


def test_load_imports_only_the_named_plugin_and_caches_it(
    install: Installer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "boom_plugin.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(code))
    install("dossier", "0.1.0", collectors={"zeta": "boom_plugin:Boom", "fake": f"{HERE}:FakeCollector"})

    assert registry.load_collector("fake") is FakeCollector
    assert registry.load_collector("fake") is FakeCollector
    assert registry.load.cache_info().hits == 1
    assert "boom_plugin" not in sys.modules


def test_import_error_names_plugin_entry_point_and_cause(
    install: Installer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "boom_plugin.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(code))
    install("dossier", "0.1.0", collectors={"zeta": "boom_plugin:Boom", "gone": "no_such_module_xyz:Gone"})

    with pytest.raises(PluginLoadError) as exc:
        registry.load_collector("zeta")
    assert str(exc.value) == "collector \"zeta\": cannot import 'boom_plugin:Boom': RuntimeError: imported"

    with pytest.raises(PluginLoadError) as exc:
        registry.load_collector("gone")
    assert str(exc.value) == (
        "collector \"gone\": cannot import 'no_such_module_xyz:Gone': "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    )


def test_missing_attribute_is_an_import_error(install: Installer) -> None:
    install("dossier", "0.1.0", collectors={"fake": f"{HERE}:Missing"})

    with pytest.raises(PluginLoadError) as exc:
        registry.load_collector("fake")
    assert str(exc.value) == (
        f"collector \"fake\": cannot import '{HERE}:Missing': "
        f"AttributeError: module '{HERE}' has no attribute 'Missing'"
    )


def test_one_name_from_two_distributions(install: Installer) -> None:
    install("dossier", "0.3", collectors={"jaeger": f"{HERE}:FakeCollector", "fake": f"{HERE}:FakeCollector"})
    install("acme-pm", "1.2", collectors={"jaeger": "acme_pm.jaeger:JaegerCollector"})

    with pytest.raises(PluginLoadError) as exc:
        registry.available("collector")
    assert str(exc.value) == 'collector type "jaeger" is provided by both acme-pm 1.2 and dossier 0.3'

    with pytest.raises(PluginLoadError) as exc:
        registry.load_collector("jaeger")
    assert str(exc.value) == 'collector type "jaeger" is provided by both acme-pm 1.2 and dossier 0.3'

    # The clash stops a run only when the config names the contested type.
    assert registry.load_collector("fake") is FakeCollector


def test_unknown_plugin_suggests_a_close_name(install: Installer) -> None:
    install("dossier", "0.1.0", collectors={"elasticsearch": f"{HERE}:FakeCollector"}, exporters={"md": "x:Y"})

    with pytest.raises(UnknownPluginError) as exc:
        registry.load_collector("elasticsarch")
    assert str(exc.value) == 'unknown collector type "elasticsarch" (did you mean "elasticsearch"?)'

    with pytest.raises(UnknownPluginError) as exc:
        registry.load_collector("zzz")
    assert str(exc.value) == 'unknown collector type "zzz" (installed: elasticsearch)'

    with pytest.raises(UnknownPluginError) as exc:
        registry.load_exporter("mdd")
    assert str(exc.value) == 'unknown exporter format "mdd" (did you mean "md"?)'


def test_unknown_plugin_when_none_is_installed(install: Installer) -> None:
    with pytest.raises(UnknownPluginError) as exc:
        registry.load_exporter("json")
    assert str(exc.value) == 'unknown exporter format "json" (none is installed)'


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("plain", f"{HERE}:NotACollector", f"'{HERE}:NotACollector' is not a subclass of dossier.plugin.Collector"),
        ("plain", f"{HERE}:not_a_class", f"'{HERE}:not_a_class' is a function, not a class"),
        ("txt", f"{HERE}:TextExporter", f"'{HERE}:TextExporter' is not a subclass of dossier.plugin.Collector"),
        (
            "abstract",
            f"{HERE}:AbstractCollector",
            f"'{HERE}:AbstractCollector' is abstract: it does not implement collect",
        ),
        (
            "noconfig",
            f"{HERE}:NoConfigCollector",
            f"'{HERE}:NoConfigCollector' has no Config that is a dossier.plugin.PluginConfig subclass",
        ),
        (
            "fake2",
            f"{HERE}:FakeCollector",
            f'\'{HERE}:FakeCollector\' declares type "fake", but its entry point is named "fake2": '
            "the two must be equal",
        ),
    ],
)
def test_a_collector_entry_point_that_is_not_a_proper_plugin(
    install: Installer, name: str, value: str, message: str
) -> None:
    install("dossier", "0.1.0", collectors={name: value})

    with pytest.raises(PluginLoadError) as exc:
        registry.load_collector(name)
    assert str(exc.value) == f'collector "{name}": {message}'


def test_an_exporter_entry_point_that_is_not_a_proper_plugin(install: Installer) -> None:
    install(
        "dossier",
        "0.1.0",
        exporters={"txt": f"{HERE}:TextExporter", "text": f"{HERE}:TextExporter", "fake": f"{HERE}:FakeCollector"},
    )

    assert registry.load_exporter("txt") is TextExporter
    with pytest.raises(PluginLoadError) as exc:
        registry.load_exporter("text")
    assert str(exc.value) == (
        f'exporter "text": \'{HERE}:TextExporter\' declares format "txt", but its entry point is named "text": '
        "the two must be equal"
    )
    with pytest.raises(PluginLoadError) as exc:
        registry.load_exporter("fake")
    assert str(exc.value) == f"exporter \"fake\": '{HERE}:FakeCollector' is not a subclass of dossier.plugin.Exporter"


def test_describe_lists_every_plugin_with_its_distribution(install: Installer) -> None:
    install("dossier", "0.1.0", collectors={"fake": f"{HERE}:FakeCollector"}, exporters={"txt": f"{HERE}:TextExporter"})
    install("acme-pm", "1.2", collectors={"gone": "no_such_module_xyz:Gone"})

    rows = registry.describe()

    assert rows == [
        registry.PluginRow("collector", "fake", "dossier", "0.1.0", ("alert", "metric")),
        registry.PluginRow(
            "collector",
            "gone",
            "acme-pm",
            "1.2",
            (),
            "collector \"gone\": cannot import 'no_such_module_xyz:Gone': "
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        registry.PluginRow("exporter", "txt", "dossier", "0.1.0", (), filename="draft.txt"),
    ]
    assert [row.provides for row in rows] == [
        "alert, metric",
        "error: collector \"gone\": cannot import 'no_such_module_xyz:Gone': "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        "draft.txt",
    ]
    assert (rows[0]["name"], rows[0]["distribution"], rows[0]["version"]) == ("fake", "dossier", "0.1.0")


def test_plain_entry_points_without_a_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint("fake", f"{HERE}:FakeCollector", "dossier.collectors"),
        EntryPoint("fake", f"{HERE}:FakeCollector", "dossier.collectors"),  # the same one, found twice
    ]
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [ep for ep in eps if ep.group == group])
    registry.cache_clear()
    try:
        assert list(registry.available("collector")) == ["fake"]
        assert registry.load_collector("fake") is FakeCollector
    finally:
        registry.cache_clear()


def test_did_you_mean() -> None:
    assert registry.did_you_mean("urll", ["url", "headers"]) == ' (did you mean "url"?)'
    assert registry.did_you_mean("zzz", ["url", "headers"]) == ""


# ---- describe one plugin (`dossier plugins describe TYPE`) ---------------------------------


class RichSignal(PluginConfig):
    name: str = Field(description="Name of the signal.")
    direction: Literal["up", "down"] = Field(default="up", description="Which way is bad.")


class RichConfig(PluginConfig):
    url: str = Field(description="Where the source is.")
    timeout: Duration = Field(default=90.0, description="Per request.")
    step: Duration | None = Field(default=None, description="Query step.")
    path: RelPath | None = Field(default=None, description="A file.")
    signals: list[RichSignal] = Field(default_factory=list, description="What to watch.")
    query: str = Field(default='up{job="$service"}', description="A selector.")


class RichCollector(Collector[RichConfig]):
    """Reads a rich source.

    More text that is not the summary."""

    type = "rich"
    Config = RichConfig
    kinds = frozenset({"metric", "alert"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


def test_config_fields_give_type_default_and_description_of_every_key_nested_too() -> None:
    rows = {f.path: (f.type, f.required, f.default, f.description) for f in registry.config_fields(RichConfig)}
    assert rows == {
        "url": ("string", True, None, "Where the source is."),
        "timeout": ("duration", False, "1m30s", "Per request."),
        "step": ("duration | null", False, "null", "Query step."),
        "path": ("path | null", False, "null", "A file."),
        "signals": ("list of RichSignal", False, "[]", "What to watch."),
        "signals[].name": ("string", True, None, "Name of the signal."),
        "signals[].direction": ('"up" | "down"', False, '"up"', "Which way is bad."),
        "query": ("string", False, "'up{job=\"$service\"}'", "A selector."),
    }


def test_describe_plugin_finds_a_collector_or_an_exporter(install: Installer) -> None:
    install("dossier", "0.1.0", collectors={"rich": f"{HERE}:RichCollector"}, exporters={"txt": f"{HERE}:TextExporter"})

    rich = registry.describe_plugin("rich")
    assert (rich.kind, rich.target, rich.distribution) == ("collector", f"{HERE}:RichCollector", "dossier 0.1.0")
    assert rich.provides == "alert, metric" and rich.doc == "Reads a rich source."
    assert [f.path for f in rich.fields][:2] == ["url", "timeout"]
    txt = registry.describe_plugin("txt")
    assert (txt.kind, txt.provides, txt.fields) == ("exporter", "writes draft.txt", ())
    with pytest.raises(
        UnknownPluginError, match=r'unknown collector type or exporter format "rihc" \(did you mean "rich"\?\)'
    ):
        registry.describe_plugin("rihc")
    with pytest.raises(UnknownPluginError, match=r"\(installed: rich, txt\)"):
        registry.describe_plugin("zzzzzz")
