"""dossier.config: the configuration file, every problem at once (the incident file: test_incident.py).

Errors are user interface: each test compares the full text. The installed plugins are
replaced by the small fakes below (`registry.entry_points` is patched), so these tests do not
depend on the project's own collectors and exporters.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import Field

from dossier import config, registry
from dossier.config import PluginConfigError, PluginIssue, Settings
from dossier.errors import ConfigError, ExitCode, Issue, PluginError
from dossier.model import CorrelateSettings, Dossier, Incident, ServiceInfo
from dossier.plugin import Collector, CollectRequest, CollectResult, Exporter, PluginConfig, RelPath

HERE = __name__
ROOT = Path(__file__).resolve().parent.parent

# ---- fake plugins -------------------------------------------------------------------------


class Signal(PluginConfig):
    name: str
    query: str
    direction: Literal["up", "down", "both"] = "up"


class PromConfig(PluginConfig):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    signals: list[Signal] = Field(default_factory=list)
    alert_rules: bool = True


class PromCollector(Collector[PromConfig]):
    type = "prometheus"
    Config = PromConfig
    kinds = frozenset({"metric", "alert"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


class DeployConfig(PluginConfig):
    path: RelPath


class DeployCollector(Collector[DeployConfig]):
    type = "deploy_file"
    Config = DeployConfig
    kinds = frozenset({"change"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


class EsConfig(PluginConfig):
    hosts: list[str]
    index: str = "logs-*"


class EsCollector(Collector[EsConfig]):
    type = "elasticsearch"
    Config = EsConfig
    kinds = frozenset({"log"})

    def collect(self, request: CollectRequest) -> CollectResult:
        return CollectResult()


class JsonExporter(Exporter):
    format = "json"
    filename = "dossier.json"

    def render(self, dossier: Dossier) -> str:
        return "{}"


class MdExporter(Exporter):
    format = "md"
    filename = "draft.md"

    def render(self, dossier: Dossier) -> str:
        return ""


FAKE_PLUGINS = [
    EntryPoint("prometheus", f"{HERE}:PromCollector", "dossier.collectors"),
    EntryPoint("deploy_file", f"{HERE}:DeployCollector", "dossier.collectors"),
    EntryPoint("elasticsearch", f"{HERE}:EsCollector", "dossier.collectors"),
    EntryPoint("jaeger", "no_such_module_xyz:JaegerCollector", "dossier.collectors"),
    EntryPoint("json", f"{HERE}:JsonExporter", "dossier.exporters"),
    EntryPoint("md", f"{HERE}:MdExporter", "dossier.exporters"),
    EntryPoint("pdf", "no_such_module_xyz:PdfExporter", "dossier.exporters"),
]

JAEGER_ERROR = (
    "collector \"jaeger\": cannot import 'no_such_module_xyz:JaegerCollector': "
    "ModuleNotFoundError: No module named 'no_such_module_xyz'"
)


@pytest.fixture(autouse=True)
def fake_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [ep for ep in FAKE_PLUGINS if ep.group == group])
    registry.cache_clear()
    yield
    registry.cache_clear()


BASE = Path("/etc/dossier")
PROM = {"url": "http://127.0.0.1:9090"}


def parse(data: Any, env: dict[str, str] | None = None) -> Settings:
    return config.parse_config(data, file="dossier.yaml", base_dir=BASE, env=env or {})


def problems(data: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        parse(data, env)
    return str(exc.value)


# ---- configuration file: what is accepted --------------------------------------------------


def test_a_full_config() -> None:
    s = parse(
        {
            "collectors": {
                "prometheus/prod": {
                    **PROM,
                    "signals": [{"name": "error_rate", "query": 'sum(rate(x{service="$service"}[1m]))'}],
                },
                "deploy_file": {"path": "deploys.jsonl"},
            },
            "services": {"checkout": {"aliases": ["checkout-api"], "depends_on": ["payments"]}, "payments": None},
            "correlate": {"baseline": "30m", "late_alert_after": "2m", "cause_lookback": "1h30m"},
            "output": {"dir": "out", "formats": ["md"]},
        }
    )

    assert list(s.collectors) == ["prometheus/prod", "deploy_file"]
    prom = s.collectors["prometheus/prod"]
    assert (prom.instance, prom.type, prom.name, prom.cls) == ("prometheus/prod", "prometheus", "prod", PromCollector)
    assert prom.config == PromConfig(
        url="http://127.0.0.1:9090", signals=[Signal(name="error_rate", query='sum(rate(x{service="$service"}[1m]))')]
    )
    deploy = s.collectors["deploy_file"]
    assert (deploy.type, deploy.name, deploy.config) == ("deploy_file", None, DeployConfig(path=BASE / "deploys.jsonl"))
    assert s.output_dir == BASE / "out"
    assert s.formats == ("md",)
    assert s.file is None
    assert s.correlate_settings() == CorrelateSettings(
        baseline=1800.0,
        late_alert_after=120.0,
        cause_lookback=5400.0,
        services=(ServiceInfo("checkout", ("checkout-api",), ("payments",)), ServiceInfo("payments")),
    )


def test_defaults() -> None:
    s = parse({"collectors": {"prometheus": PROM}})

    assert s.output_dir == Path("dossiers")  # not set: relative to the working directory
    assert s.formats == ("json", "md")
    assert (s.correlate.baseline, s.correlate.late_alert_after, s.correlate.cause_lookback) == (3600.0, 300.0, 7200.0)
    assert s.services == {}


def test_service_infos_for_the_incident() -> None:
    s = parse(
        {
            "collectors": {"prometheus": PROM},
            "services": {"checkout": {"aliases": ["checkout-api"], "depends_on": ["payments"]}, "payments": {}},
        }
    )

    assert s.service_infos(["checkout-api", "checkout", "search"]) == (
        ServiceInfo("checkout", ("checkout-api",), ("payments",)),
        ServiceInfo("search"),
    )
    assert s.service_infos([]) == ()


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "dossier.yaml").write_text(
        "collectors:\n"
        "  deploy_file/changes: {path: changes/deploys.jsonl}\n"
        "  deploy_file/abs: {path: /var/log/deploys.jsonl}\n"
        "output: {dir: ../out}\n"
    )

    s = config.load_config(folder / "dossier.yaml")

    assert s.file == folder / "dossier.yaml"
    assert s.collectors["deploy_file/changes"].config == DeployConfig(path=folder / "changes/deploys.jsonl")
    assert s.collectors["deploy_file/abs"].config == DeployConfig(path=Path("/var/log/deploys.jsonl"))
    assert s.output_dir == folder / "../out"


# ---- configuration file: problems ----------------------------------------------------------


def test_unknown_top_level_key() -> None:
    assert problems({"collectors": {"prometheus": PROM}, "colectors": {}}) == (
        'dossier.yaml: colectors: unknown key "colectors" (did you mean "collectors"?)'
    )


def test_unknown_collector_type() -> None:
    assert problems({"collectors": {"elasticsarch": {"hosts": []}}}) == (
        'dossier.yaml: collectors::elasticsarch: unknown collector type "elasticsarch" (did you mean "elasticsearch"?)'
    )
    assert problems({"collectors": {"nagios/x": {}}}) == (
        'dossier.yaml: collectors::nagios/x: unknown collector type "nagios" '
        "(installed: deploy_file, elasticsearch, jaeger, prometheus)"
    )


def test_bad_instance_names() -> None:
    assert problems({"collectors": {"prometheus/": PROM, "prometheus/a b": PROM}}) == "\n".join(
        [
            'dossier.yaml: collectors::prometheus/: "prometheus/" is not a valid instance name: '
            "use type or type/name, with letters, digits, '.', '_' and '-'",
            'dossier.yaml: collectors::prometheus/a b: "prometheus/a b" is not a valid instance name: '
            "use type or type/name, with letters, digits, '.', '_' and '-'",
        ]
    )


def test_plugin_config_errors_are_prefixed_by_the_instance_path() -> None:
    data = {
        "collectors": {
            "prometheus/prod": {
                "urll": "http://127.0.0.1:9090",
                "signals": [{"name": "error_rate"}, {"name": "latency", "qurey": "x", "query": "y"}],
                "alert_rules": "sometimes",
            },
        }
    }

    assert problems(data) == "\n".join(
        [
            "dossier.yaml: collectors::prometheus/prod::alert_rules: Input should be a valid boolean, "
            "unable to interpret input",
            "dossier.yaml: collectors::prometheus/prod::signals::0::query: Field required",
            'dossier.yaml: collectors::prometheus/prod::signals::1::qurey: unknown key "qurey" (did you mean "query"?)',
            "dossier.yaml: collectors::prometheus/prod::url: Field required",
            'dossier.yaml: collectors::prometheus/prod::urll: unknown key "urll" (did you mean "url"?)',
        ]
    )


def test_a_plugin_that_cannot_be_loaded_is_a_plugin_issue() -> None:
    with pytest.raises(PluginConfigError) as exc:
        parse({"collectors": {"jaeger/edge": {}, "prometheus": PROM}})

    assert str(exc.value) == f"dossier.yaml: collectors::jaeger/edge: {JAEGER_ERROR}"
    assert exc.value.exit_code == ExitCode.PLUGIN
    assert isinstance(exc.value, ConfigError)
    assert isinstance(exc.value, PluginError)
    assert exc.value.issues == (PluginIssue(("collectors", "jaeger/edge"), JAEGER_ERROR),)


def test_plugin_and_config_problems_together_are_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        parse({"collectors": {"jaeger/edge": {}, "prometheus": {}}, "output": {"formats": ["pdf"]}})

    assert type(exc.value) is ConfigError
    assert exc.value.exit_code == ExitCode.CONFIG
    assert str(exc.value) == "\n".join(
        [
            f"dossier.yaml: collectors::jaeger/edge: {JAEGER_ERROR}",
            "dossier.yaml: collectors::prometheus::url: Field required",
            "dossier.yaml: output::formats::0: exporter \"pdf\": cannot import 'no_such_module_xyz:PdfExporter': "
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ]
    )
    assert [type(i) for i in exc.value.issues] == [PluginIssue, Issue, PluginIssue]


def test_no_collectors() -> None:
    assert problems({}) == "dossier.yaml: collectors: no collectors configured"
    assert problems({"collectors": None, "services": None}) == "dossier.yaml: collectors: no collectors configured"


def test_unknown_output_format() -> None:
    assert problems({"collectors": {"prometheus": PROM}, "output": {"formats": ["json", "mdd", "json"]}}) == "\n".join(
        [
            'dossier.yaml: output::formats::1: unknown exporter format "mdd" (did you mean "md"?)',
            'dossier.yaml: output::formats::2: "json" is listed twice',
        ]
    )


def test_depends_on_what_is_not_configured_is_accepted() -> None:
    """A dependency may be anything a team depends on (a database, a third party); an alias of a
    configured service stands for that service; only depending on oneself is refused."""
    data = {
        "collectors": {"prometheus": PROM},
        "services": {
            "checkout": {"depends_on": ["postgres", "pay-api", "stripe"]},
            "payments": {"aliases": ["pay-api"]},
        },
    }
    cfg = config.parse_config(data, file="dossier.yaml", base_dir=ROOT, env={})
    assert cfg.services["checkout"].depends_on == ["postgres", "payments", "stripe"]
    assert cfg.service_infos(["checkout"])[0].depends_on == ("postgres", "payments", "stripe")


def test_depends_on_itself() -> None:
    data = {
        "collectors": {"prometheus": PROM},
        "services": {"checkout": {"aliases": ["shop"], "depends_on": ["checkout", "shop", "payments"]}},
    }
    assert problems(data) == "\n".join(
        [
            'dossier.yaml: services::checkout::depends_on: service "checkout" cannot depend on itself',
            'dossier.yaml: services::checkout::depends_on: service "checkout" cannot depend on itself '
            '("shop" is its alias)',
        ]
    )


def test_aliases_map_to_the_service_name() -> None:
    data = {
        "collectors": {"prometheus": PROM},
        "services": {"checkout": {"aliases": ["checkout-api"]}, "payments": {}},
    }
    cfg = config.parse_config(data, file="dossier.yaml", base_dir=ROOT, env={})
    assert cfg.canonical("checkout-api") == "checkout"
    assert cfg.canonical("chekout") == "chekout"
    assert cfg.unknown_services(["checkout-api", "chekout", "payments", "chekout"]) == ["chekout"]
    incident = Incident(
        id="X",
        title="X",
        start=datetime(2026, 11, 20, 10, tzinfo=UTC),
        end=datetime(2026, 11, 20, 11, tzinfo=UTC),
        services=("checkout-api", "checkout", "payments"),
    )
    assert cfg.canonical_incident(incident).services == ("checkout", "payments")


def test_alias_clashes() -> None:
    data = {
        "collectors": {"prometheus": PROM},
        "services": {
            "checkout": {"aliases": ["payments", "api", "checkout"]},
            "payments": {"aliases": ["api"]},
        },
    }

    assert problems(data) == "\n".join(
        [
            'dossier.yaml: services::checkout::aliases: alias "payments" is the name of another service',
            'dossier.yaml: services::payments::aliases: alias "api" is also an alias of service "checkout"',
        ]
    )


def test_every_problem_at_once_sorted_by_path() -> None:
    data = {
        "output": {"formats": ["mdd"], "dirr": "x"},
        "services": {"checkout": {"depends_on": ["paymnts"], "aliasses": []}, "payments": {}},
        "correlate": {"baseline": "1x", "late_alert_after": "-5m"},
        "collectors": {
            "prometheus/prod": {"url": "${env:PROM_URL}", "signals": [{"query": "up"}]},
            "elasticsarch": {},
            "deploy_file": {},
        },
        "jobs": {},
    }

    assert problems(data) == "\n".join(
        [
            "dossier.yaml: collectors::deploy_file::path: Field required",
            'dossier.yaml: collectors::elasticsarch: unknown collector type "elasticsarch" '
            '(did you mean "elasticsearch"?)',
            "dossier.yaml: collectors::prometheus/prod::signals::0::name: Field required",
            'dossier.yaml: collectors::prometheus/prod::url: environment variable "PROM_URL" is not set '
            "(export it or use ${env:PROM_URL:-default})",
            "dossier.yaml: correlate::baseline: '1x' is not a duration: use e.g. 30s, 5m, 1h30m",
            "dossier.yaml: correlate::late_alert_after: '-5m' is not a duration: use e.g. 30s, 5m, 1h30m",
            'dossier.yaml: jobs: unknown key "jobs"',
            'dossier.yaml: output::dirr: unknown key "dirr" (did you mean "dir"?)',
            'dossier.yaml: services::checkout::aliasses: unknown key "aliasses" (did you mean "aliases"?)',
        ]
    )


def test_wrong_shapes() -> None:
    data = {
        "collectors": {"prometheus": ["http://x"]},
        "services": ["checkout"],
        "correlate": "1h",
        "output": {"formats": "json"},
    }

    assert problems(data) == "\n".join(
        [
            "dossier.yaml: collectors::prometheus: Input should be a valid dictionary",
            "dossier.yaml: correlate: Input should be a valid dictionary or instance of CorrelateConfig",
            "dossier.yaml: output::formats: Input should be a valid list",
            "dossier.yaml: services: Input should be a valid dictionary",
        ]
    )


def test_config_that_is_not_a_mapping() -> None:
    assert problems(["collectors"]) == ("dossier.yaml: cannot read: expected a mapping of keys to values, got a list")
    assert problems(None) == "dossier.yaml: cannot read: the file is empty"


# ---- ${env:...} ---------------------------------------------------------------------------


def headers(value: str, env: dict[str, str]) -> str:
    s = parse({"collectors": {"prometheus/prod": {**PROM, "headers": {"Authorization": value}}}}, env)
    config = s.collectors["prometheus/prod"].config
    assert isinstance(config, PromConfig)
    return config.headers["Authorization"]


def test_env_set_inside_a_longer_string() -> None:
    assert headers("Bearer ${env:PROM_TOKEN}", {"PROM_TOKEN": "s3cret"}) == "Bearer s3cret"
    assert headers("${env:A}:${env:B}", {"A": "1", "B": "2"}) == "1:2"


def test_env_default() -> None:
    assert headers("Bearer ${env:PROM_TOKEN:-none}", {}) == "Bearer none"
    assert headers("Bearer ${env:PROM_TOKEN:-none}", {"PROM_TOKEN": ""}) == "Bearer none"
    assert headers("Bearer ${env:PROM_TOKEN:-none}", {"PROM_TOKEN": "t"}) == "Bearer t"
    assert headers("x${env:PROM_TOKEN:-}y", {}) == "xy"


def test_env_escape() -> None:
    assert headers("$${env:PROM_TOKEN} and $$x", {"PROM_TOKEN": "t"}) == "${env:PROM_TOKEN} and $$x"
    assert headers("$service", {}) == "$service"


def test_env_expansion_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOSSIER_TEST_TOKEN", "from-env")
    data = {"collectors": {"prometheus": {**PROM, "headers": {"X": "${env:DOSSIER_TEST_TOKEN}"}}}}

    s = config.parse_config(data, file="dossier.yaml", base_dir=BASE)

    assert s.collectors["prometheus"].config == PromConfig(url=PROM["url"], headers={"X": "from-env"})


def test_env_unset_is_an_issue_at_its_key() -> None:
    data = {
        "collectors": {
            "prometheus/prod": {
                **PROM,
                "headers": {"Authorization": "Bearer ${env:PROM_TOKEN}"},
                "signals": [{"name": "${env:SIGNAL}", "query": "${env:Q:-up}"}],
            }
        }
    }

    assert problems(data) == "\n".join(
        [
            'dossier.yaml: collectors::prometheus/prod::headers::Authorization: environment variable "PROM_TOKEN" '
            "is not set (export it or use ${env:PROM_TOKEN:-default})",
            'dossier.yaml: collectors::prometheus/prod::signals::0::name: environment variable "SIGNAL" '
            "is not set (export it or use ${env:SIGNAL:-default})",
        ]
    )


def test_unsupported_substitutions() -> None:
    data = {"collectors": {"prometheus": {**PROM, "headers": {"A": "${service}", "B": "${env:X"}}}}

    assert problems(data) == "\n".join(
        [
            'dossier.yaml: collectors::prometheus::headers::A: unsupported substitution "${service}": '
            "use ${env:NAME} or ${env:NAME:-default}, or $${ for a literal ${",
            "dossier.yaml: collectors::prometheus::headers::B: unterminated ${: close it with } "
            "or write $${ for a literal ${",
        ]
    )


# ---- reading the configuration file --------------------------------------------------------


def test_missing_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as exc:
        config.load_config(path)
    assert str(exc.value) == f"{path}: cannot read: no such file"


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text("collectors:\n  prometheus:\n    url: http://x\n   headers: {}\n")

    with pytest.raises(ConfigError) as exc:
        config.load_config(path)
    assert str(exc.value) == (
        f"{path}: cannot read: invalid YAML at line 4, column 4: "
        "expected <block end>, but found '<block mapping start>'"
    )


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text("collectors:\n  prometheus:\n    url: http://a\n    url: http://b\n")

    with pytest.raises(ConfigError) as exc:
        config.load_config(path)
    assert str(exc.value) == f'{path}: cannot read: invalid YAML at line 4, column 5: duplicate key "url"'


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text(
        "collectors:\n"
        "  prometheus/a: &prom {url: http://a, alert_rules: false}\n"
        "  prometheus/b: {<<: *prom, url: http://b}\n"
    )

    s = config.load_config(path)

    assert s.collectors["prometheus/b"].config == PromConfig(url="http://b", alert_rules=False)


def test_config_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "dossier.yaml"
    path.write_text("- prometheus\n")
    with pytest.raises(ConfigError) as exc:
        config.load_config(path)
    assert str(exc.value) == f"{path}: cannot read: expected a mapping of keys to values, got a list"


# ---- config/example.yaml -------------------------------------------------------------------


def test_example_config_is_valid_yaml_with_the_documented_sections() -> None:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    assert set(data) == {"collectors", "services", "correlate", "output"}
    assert {key.split("/")[0] for key in data["collectors"]} == {"prometheus", "deploy_file"}


def test_example_config_validates_against_the_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real entry points, not the fakes
    registry.cache_clear()
    try:
        for name in ("prometheus", "deploy_file"):
            registry.load_collector(name)
        for name in ("json", "md"):
            registry.load_exporter(name)
    except PluginError as exc:
        pytest.skip(f"the project's plugins do not load yet: {exc}")

    s = config.load_config(ROOT / "config" / "example.yaml")

    assert s.output_dir == ROOT / "config" / "../dossiers"
    assert set(s.collectors) == {"prometheus/prod", "deploy_file/changes"}
