"""The configuration file's schema: reads and checks it, reporting every problem at once.

    settings = load_config("dossier.yaml")          # -> Settings, or raises ConfigError

The incident file is `dossier.incident`; both files are read by `read_file` (YAML loaded safely,
duplicate keys and alias bombs refused; JSON for *.json) and report their problems the same way.

A problem is an `Issue` printed as `path::to::key: message`; all of them are gathered (as the
OpenTelemetry Collector's `xconfmap.Validate` does) into one `ConfigError`, sorted by path.

The configuration file is checked in this order, and none of the steps stops the others:

1. `${env:VAR}` and `${env:VAR:-default}` are expanded in every string value (`$${` is a literal
   `${`); an unset variable without a default is an issue at the key that uses it.
2. The top level is validated by `ConfigFile` (unknown keys are errors, with a "did you mean").
3. Each `collectors.<type>[/<name>]` block is validated by its plugin's `Config`, which
   `dossier.registry` imports for the types the file names, and only those.
4. Cross-references: a service that depends on itself, aliases that clash, `output.formats`,
   and at least one collector. `depends_on` may name what is not configured (a database, a
   third party): change sources are asked about it all the same.

Plugin problems. A collector type or output format that is not installed is a configuration
issue like any other (usually a typo: "did you mean"). A plugin that is installed but cannot be
loaded (`PluginLoadError`: import error, not a plugin class, one name from two distributions) is
a `PluginIssue`, a subclass of `Issue`, in the same list. When every issue is a `PluginIssue`
the error raised is `PluginConfigError`, which is both a `ConfigError` and a `PluginLoadError`
and carries `exit_code == ExitCode.PLUGIN` (4); otherwise it is a plain `ConfigError` (3).
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from dossier import registry
from dossier.errors import ConfigError, ExitCode, Issue, PluginLoadError, UnknownPluginError
from dossier.model import CorrelateSettings, Incident, ServiceInfo
from dossier.plugin import Collector, Duration, PluginConfig, RelPath

__all__ = [
    "CollectorSpec",
    "ConfigFile",
    "CorrelateConfig",
    "OutputConfig",
    "PluginConfigError",
    "PluginIssue",
    "ServiceConfig",
    "Settings",
    "as_mapping",
    "expand_env",
    "load_config",
    "parse_config",
    "raise_issues",
    "read_file",
    "type_name",
    "validation_issues",
]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PluginIssue(Issue):
    """An issue caused by an installed plugin that cannot be loaded (exit 4 when alone)."""


class PluginConfigError(ConfigError, PluginLoadError):
    """A ConfigError whose every issue is a plugin that cannot be loaded: exit 4, not 3."""

    exit_code = ExitCode.PLUGIN


# ---- the configuration file: models ---------------------------------------------------------


class ServiceConfig(BaseModel):
    """A service, by the name the config uses for it everywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: list[str] = Field(
        default_factory=list,
        description="Other names the sources use for the service (a deployment, an app label, a job).",
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description=(
            "What this service depends on: configured services (by name or alias) or anything else "
            "(a database, a third party); their changes are candidate causes too."
        ),
    )
    description: str | None = Field(default=None, description="What the service does, for the draft.")


class CorrelateConfig(BaseModel):
    """How the correlation engine reads the evidence; durations in seconds (`30s`, `5m`, `1h`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline: Annotated[Duration, Field(gt=0)] = Field(
        default=3600.0,
        description="How long before the incident window the signals are read as their normal.",
    )
    late_alert_after: Duration = Field(
        default=300.0,
        description="An alert that fires later than this after the onset is a late_alert gap.",
    )
    cause_lookback: Duration = Field(
        default=7200.0,
        description="How far before the onset changes are considered as candidate causes.",
    )
    replay_history: Annotated[Duration, Field(ge=0)] = Field(
        default=30 * 86400.0,
        description=(
            "How far before the window's end the rules behind action items are replayed to count how often "
            "they would have fired (0: only the window)."
        ),
    )


class OutputConfig(BaseModel):
    """Where and how the draft is written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: RelPath | None = Field(
        default=None,
        description=(
            "The folder that receives <id>/ for each incident; relative to the config file. "
            "Not set: ./dossiers, relative to the working directory."
        ),
    )
    formats: list[str] = Field(
        default_factory=lambda: ["json", "md"],
        description="The exporters to run, by format name (`dossier plugins list`).",
    )
    template: RelPath | None = Field(
        default=None,
        description=(
            "A Jinja2 template for draft.md (the team's own postmortem layout), relative to the config "
            "file; not set: the default draft. See dossier/exporters/README.md for what it is given."
        ),
    )
    push: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "Where the draft is pushed once written: confluence, jira, github, gitlab, notion or webhook, "
            "each {type: ..., ...}; see dossier/exporters/push/README.md."
        ),
    )


class AlertmanagerServeConfig(BaseModel):
    """How `dossier serve` reads Alertmanager's webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_label: str = Field(default="service", description="The alert label that names the service.")
    padding: Duration = Field(
        default=1800.0, description="Widens the alerts' [startsAt, endsAt] both ways to make the incident window."
    )
    notification_log: RelPath | None = Field(
        default=None,
        description=(
            "Append every notification received (firing and resolved) to this JSON-lines file, the "
            "notification_log the alertmanager collector reads (relative to the config file)."
        ),
    )


class PagerDutyServeConfig(BaseModel):
    """How `dossier serve` reads PagerDuty's v3 webhook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    padding: Duration = Field(
        default=1800.0, description="Widens the incident's [created_at, resolved] both ways to make the window."
    )


class ServeConfig(BaseModel):
    """The webhook receiver (`dossier serve`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(
        default=None, description="Bearer token required by /webhooks/alertmanager and /webhooks/incident."
    )
    pagerduty_secret: SecretStr | None = Field(
        default=None, description="PagerDuty v3 webhook signing secret; /webhooks/pagerduty is refused without it."
    )
    alertmanager: AlertmanagerServeConfig = Field(default_factory=AlertmanagerServeConfig)
    pagerduty: PagerDutyServeConfig = Field(default_factory=PagerDutyServeConfig)
    on_repeat: Literal["skip", "recollect"] = Field(
        default="skip", description="What a second notification of the same incident does."
    )
    max_body: Annotated[int, Field(gt=0)] = Field(
        default=1_048_576, description="Largest request body accepted, in bytes (larger: 413)."
    )


def _check_store(value: str | None) -> str | None:
    if value is None:
        return None
    if not (value.startswith("sqlite:") or value.startswith(("postgresql://", "postgres://"))):
        raise ValueError(f"{value!r} is not a store URL: use sqlite:///PATH or postgresql://USER@HOST/DB")
    return value


class ConfigFile(BaseModel):
    """The top level of the configuration file (pass 1; collector blocks are checked in pass 2)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collectors: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Collector instances, keyed `type` or `type/name`, each with its plugin's config.",
    )
    services: dict[str, ServiceConfig] = Field(
        default_factory=dict, description="The services, with their aliases and dependencies."
    )
    correlate: CorrelateConfig = Field(default_factory=CorrelateConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    store: Annotated[str | None, AfterValidator(_check_store)] = Field(
        default=None,
        description="The job store: sqlite:///PATH (default: .jobs.db in the output dir) or postgresql://...",
    )


# ---- the configuration file: the result -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """One configured collector instance, its config validated by its plugin."""

    instance: str  # "prometheus/prod", or "prometheus"
    type: str  # "prometheus"
    name: str | None  # "prod", or None
    config: PluginConfig
    cls: builtins.type[Collector]  # (`type` above is the field)


DEFAULT_OUTPUT_DIR = Path("dossiers")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """A checked configuration file."""

    collectors: Mapping[str, CollectorSpec]
    services: Mapping[str, ServiceConfig] = field(default_factory=dict)
    correlate: CorrelateConfig = field(default_factory=CorrelateConfig)
    output_dir: Path = DEFAULT_OUTPUT_DIR
    formats: tuple[str, ...] = ("json", "md")
    file: Path | None = None
    serve: ServeConfig = field(default_factory=ServeConfig)
    store: str | None = None  # the job store's URL; None: the SQLite default beside the drafts
    template: Path | None = None  # output.template: the Jinja2 template of draft.md, when the team has one
    push: tuple[Any, ...] = ()  # output.push: checked destinations (dossier.exporters.push configs)

    def correlate_settings(self) -> CorrelateSettings:
        """What `correlate` needs: durations in seconds and every configured service."""
        return CorrelateSettings(
            baseline=self.correlate.baseline,
            late_alert_after=self.correlate.late_alert_after,
            cause_lookback=self.correlate.cause_lookback,
            services=tuple(self._info(name) for name in self.services),
        )

    def canonical(self, name: str) -> str:
        """The configured service's name for `name` (its name or an alias); else `name` itself."""
        return _canonical_names(self.services).get(name, name)

    def is_configured(self, name: str) -> bool:
        """`name` is a configured service or an alias of one."""
        return name in _canonical_names(self.services)

    def unknown_services(self, names: Iterable[str]) -> list[str]:
        """The names that are neither a configured service nor an alias of one, in order."""
        known = _canonical_names(self.services)
        return list(dict.fromkeys(n for n in names if n not in known))

    def dependency_hints(self) -> list[str]:
        """`services::a::depends_on: "paymnts" ...` for each dependency that is not configured but
        is close to a configured name: accepted (it may be a database, a third party), but
        perhaps a typo."""
        known = _canonical_names(self.services)
        hints = []
        for name, svc in self.services.items():
            for dep in svc.depends_on:
                if dep in known:
                    continue
                close = registry.did_you_mean(dep, known)
                if close:
                    hints.append(
                        f'services::{name}::depends_on: "{dep}" is not a configured service{close}; '
                        "kept as an outside dependency"
                    )
        return hints

    def canonical_incident(self, incident: Incident) -> Incident:
        """`incident` with each service named by its configured name (an alias is mapped), once."""
        services = tuple(dict.fromkeys(self.canonical(n) for n in incident.services))
        if services == incident.services:
            return incident
        return dataclasses.replace(incident, services=services)

    def service_infos(self, names: Iterable[str]) -> tuple[ServiceInfo, ...]:
        """The incident's services, in order, without repeats.

        A name that is an alias of a configured service stands for that service; a name that
        is not configured at all gets a bare `ServiceInfo(name)`.
        """
        infos: dict[str, ServiceInfo] = {}
        for raw in names:
            name = self.canonical(raw)
            if name not in infos:
                infos[name] = self._info(name)
        return tuple(infos.values())

    def _info(self, name: str) -> ServiceInfo:
        svc = self.services.get(name)
        if svc is None:
            return ServiceInfo(name=name)
        return ServiceInfo(name=name, aliases=tuple(svc.aliases), depends_on=tuple(svc.depends_on))


# ---- reading files --------------------------------------------------------------------------


YAML_MAX_NODES = 100_000  # values in a file once its aliases are expanded (a config has a few hundred)


def yaml_expanded_size(root: yaml.Node) -> int:
    """How many nodes `root` stands for once every alias is expanded (a shared node counts each
    time it is used), counted without expanding anything: "billion laughs" documents are ~10^9."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
        elif key not in sizes:
            sizes[key] = 1  # while counting: a node that contains itself counts once
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys (PyYAML keeps the last one silently) and
    documents whose aliases expand past `YAML_MAX_NODES` values (billion laughs)."""

    def construct_document(self, node: yaml.Node) -> Any:
        if yaml_expanded_size(node) > YAML_MAX_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"anchors and aliases expand to more than {YAML_MAX_NODES:,} values", node.start_mark
            )
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f'duplicate key "{key}"',
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _cannot_read(file: str | None, why: str) -> ConfigError:
    return ConfigError(file, [Issue((), f"cannot read: {why}")])


def read_file(path: Path, file: str) -> Any:
    """The parsed content of a YAML (or, for *.json, JSON) file; ConfigError with a one-line reason."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise _cannot_read(file, "no such file") from None
    except IsADirectoryError:
        raise _cannot_read(file, "is a directory, not a file") from None
    except OSError as exc:
        raise _cannot_read(file, (exc.strerror or str(exc)).lower()) from None
    except UnicodeDecodeError as exc:
        raise _cannot_read(file, f"not UTF-8 text (byte {exc.start})") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            msg = exc.msg[:1].lower() + exc.msg[1:]
            raise _cannot_read(file, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {msg}") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise _cannot_read(file, f"invalid YAML{where}: {what}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _cannot_read(file, f"invalid YAML: {first}") from None


def as_mapping(data: Any, file: str | None) -> dict[Any, Any]:
    if data is None:
        raise _cannot_read(file, "the file is empty")
    if not isinstance(data, dict):
        raise _cannot_read(file, f"expected a mapping of keys to values, got {type_name(data)}")
    return data


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


# ---- ${env:VAR} expansion ------------------------------------------------------------------

_SUBST = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_ENV = re.compile(r"env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?\Z", re.DOTALL)


def _expand_text(text: str, env: Mapping[str, str], problems: list[str]) -> str:
    def replace(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "$${":
            return "${"
        body = m.group("body")
        if body is None:
            problems.append("unterminated ${: close it with } or write $${ for a literal ${")
            return token
        ref = _ENV.match(body)
        if ref is None:
            problems.append(
                f'unsupported substitution "{token}": use ${{env:NAME}} or ${{env:NAME:-default}}, '
                "or $${ for a literal ${"
            )
            return token
        name, default = ref.group("name"), ref.group("default")
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problems.append(f'environment variable "{name}" is not set (export it or use ${{env:{name}:-default}})')
                return token
            return default
        return value

    return _SUBST.sub(replace, text)


def expand_env(data: Any, env: Mapping[str, str] | None = None) -> tuple[Any, list[Issue]]:
    """`data` with `${env:VAR}`/`${env:VAR:-default}` expanded in every string value (not keys).

    `${env:VAR:-default}` uses the default when VAR is unset or empty, as the shell does;
    `$${` stands for a literal `${`. Returns the new data and an issue per unset variable.
    """
    env = os.environ if env is None else env
    issues: list[Issue] = []

    def walk(value: Any, path: KeyPath) -> Any:
        if isinstance(value, str):
            problems: list[str] = []
            out = _expand_text(value, env, problems)
            issues.extend(Issue(path, p) for p in problems)
            return out
        if isinstance(value, dict):
            return {k: walk(v, (*path, _key(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        return value

    return walk(data, ()), issues


def _key(key: Any) -> str | int:
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


# ---- pydantic errors -> issues -------------------------------------------------------------

_PREFIXES = ("Value error, ", "Assertion failed, ")


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _arms(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(tp) if a is not type(None)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_names(model: type[BaseModel]) -> dict[str, str]:
    """What the user writes for each field (its alias, else its name) -> the field's name."""
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        names[info.alias or name] = name
        if isinstance(info.validation_alias, str):
            names[info.validation_alias] = name
    return names


def _step(tp: Any, part: str | int) -> Any:
    """The type found at `part` inside a value of type `tp`, or None."""
    for arm in _arms(tp):
        if _is_model(arm):
            if isinstance(part, str):
                if part == arm.__name__:  # a union member's tag in the loc
                    return arm
                name = _field_names(arm).get(part)
                if name is not None:
                    return arm.model_fields[name].annotation
            continue
        origin, args = get_origin(arm), get_args(arm)
        if origin is None or not args:
            continue
        if origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
            return args[-1]
        if isinstance(part, int):
            if origin is tuple and args[-1] is not Ellipsis:
                return args[part] if part < len(args) else None
            return args[0]
    return None


def _model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    tp: Any = root
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return None
    models = [arm for arm in _arms(tp) if _is_model(arm)]
    return models[0] if len(models) == 1 else None


def validation_issues(exc: ValidationError, root: type[BaseModel], prefix: KeyPath = ()) -> list[Issue]:
    """One issue per pydantic error, at `prefix` + its loc; "extra" keys get a did-you-mean."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc:
            key = str(loc[-1])
            model = _model_at(root, loc[:-1])
            hint = registry.did_you_mean(key, _field_names(model)) if model is not None else ""
            message = f'unknown key "{key}"{hint}'
        else:
            message = err["msg"]
            for p in _PREFIXES:
                message = message.removeprefix(p)
        issues.append(Issue((*prefix, *loc), message))
    return issues


def _sort_key(issue: Issue) -> tuple[Any, ...]:
    return (tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in issue.path), issue.message)


def raise_issues(file: str | None, issues: list[Issue]) -> None:
    if not issues:
        return
    ordered = sorted(issues, key=_sort_key)
    if all(isinstance(i, PluginIssue) for i in ordered):
        raise PluginConfigError(file, ordered)
    raise ConfigError(file, ordered)


# ---- the configuration file: checking ------------------------------------------------------

_INSTANCE = re.compile(r"(?P<type>[A-Za-z0-9_.-]+)(?:/(?P<name>[A-Za-z0-9_.-]+))?\Z")
_SECTIONS_BY_ENTRY = ("collectors", "services")  # sections whose entries are checked one by one


def _normalize(data: dict[Any, Any]) -> dict[Any, Any]:
    """An empty YAML value (`services:`, `prometheus/prod:`) means an empty mapping."""
    out = dict(data)
    for section in ("collectors", "services", "correlate", "output", "serve"):
        if section in out and out[section] is None:
            out[section] = {}
    for section in _SECTIONS_BY_ENTRY:
        if isinstance(out.get(section), dict):
            out[section] = {k: ({} if v is None else v) for k, v in out[section].items()}
    return out


def _valid_part(data: dict[Any, Any], exc: ValidationError, context: dict[str, Any]) -> tuple[ConfigFile, set[str]]:
    """The top level without the sections and entries that have errors, and the bad sections."""
    bad_sections: set[str] = set()
    bad_entries: set[tuple[Any, Any]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if not loc:
            continue
        if loc[0] in _SECTIONS_BY_ENTRY and len(loc) >= 2:
            bad_entries.add((loc[0], loc[1]))
        else:
            bad_sections.add(str(loc[0]))
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        if key not in ConfigFile.model_fields or key in bad_sections:
            continue
        if key in _SECTIONS_BY_ENTRY and isinstance(value, dict):
            value = {k: v for k, v in value.items() if (key, k) not in bad_entries}
        cleaned[key] = value
    try:
        return ConfigFile.model_validate(cleaned, context=context), bad_sections
    except ValidationError:  # pragma: no cover - removing the bad parts leaves valid ones
        return ConfigFile(), set(ConfigFile.model_fields)


def _check_collectors(raw: Any, context: dict[str, Any], issues: list[Issue]) -> dict[str, CollectorSpec]:
    """Pass 2: each collector block against its plugin's Config."""
    specs: dict[str, CollectorSpec] = {}
    if not isinstance(raw, dict):
        return specs  # pass 1 said what is wrong
    for key, block in raw.items():
        if not isinstance(key, str):
            continue  # pass 1: keys must be strings
        path: KeyPath = ("collectors", key)
        m = _INSTANCE.match(key)
        if m is None:
            issues.append(
                Issue(
                    path,
                    f'"{key}" is not a valid instance name: use type or type/name, '
                    "with letters, digits, '.', '_' and '-'",
                )
            )
            continue
        type_, name = m.group("type"), m.group("name")
        try:
            cls = registry.load_collector(type_)
        except UnknownPluginError as exc:
            issues.append(Issue(path, str(exc)))
            continue
        except PluginLoadError as exc:
            issues.append(PluginIssue(path, str(exc)))
            continue
        if not isinstance(block, dict):
            continue  # pass 1: must be a mapping
        try:
            config = cls.Config.model_validate(block, context=context)
        except ValidationError as exc:
            issues.extend(validation_issues(exc, cls.Config, path))
            continue
        except Exception as exc:  # a bug in the plugin's validators: name it, do not crash
            issues.append(PluginIssue(path, f'collector "{type_}": its Config raised {type(exc).__name__}: {exc}'))
            continue
        specs[key] = CollectorSpec(instance=key, type=type_, name=name, config=config, cls=cls)
    return specs


def _strings(block: Any, key: str) -> list[str]:
    """The strings of list `key` of a raw service block (pass 1 reports anything else)."""
    value = block.get(key) if isinstance(block, dict) else None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _check_services(raw: Mapping[Any, Any], issues: list[Issue]) -> None:
    """A service does not depend on itself; an alias belongs to one service only.

    `depends_on` may name anything a service depends on (a configured service, one of its
    aliases, a database, a third party): what is not configured is still asked of change sources.
    Reads the raw blocks, so that a service with another problem is still cross-checked.
    """
    services = {name: block for name, block in raw.items() if isinstance(name, str)}
    for name, block in services.items():
        path: KeyPath = ("services", name, "depends_on")
        for dep in _strings(block, "depends_on"):
            if dep == name:
                issues.append(Issue(path, f'service "{name}" cannot depend on itself'))
            elif dep in _strings(block, "aliases"):
                issues.append(Issue(path, f'service "{name}" cannot depend on itself ("{dep}" is its alias)'))
    owner: dict[str, str] = {}
    for name, block in services.items():
        path = ("services", name, "aliases")
        for alias in _strings(block, "aliases"):
            if alias == name:
                continue
            if alias in services:
                issues.append(Issue(path, f'alias "{alias}" is the name of another service'))
            elif owner.setdefault(alias, name) != name:
                issues.append(Issue(path, f'alias "{alias}" is also an alias of service "{owner[alias]}"'))


def _canonical_dependencies(services: Mapping[str, ServiceConfig]) -> dict[str, ServiceConfig]:
    """The services with each dependency named by its service's name where it is an alias."""
    canonical = _canonical_names(services)
    return {
        name: svc.model_copy(update={"depends_on": list(dict.fromkeys(canonical.get(d, d) for d in svc.depends_on))})
        for name, svc in services.items()
    }


def _canonical_names(services: Mapping[str, ServiceConfig]) -> dict[str, str]:
    """Every name and alias of the configured services -> the service's name."""
    canonical: dict[str, str] = {}
    for name, svc in services.items():
        for alias in svc.aliases:
            canonical.setdefault(alias, name)
    for name in services:
        canonical[name] = name
    return canonical


def _check_formats(formats: Sequence[str], issues: list[Issue]) -> None:
    seen: set[str] = set()
    for i, fmt in enumerate(formats):
        path: KeyPath = ("output", "formats", i)
        if fmt in seen:
            issues.append(Issue(path, f'"{fmt}" is listed twice'))
            continue
        seen.add(fmt)
        try:
            registry.load_exporter(fmt)
        except UnknownPluginError as exc:
            issues.append(Issue(path, str(exc)))
        except PluginLoadError as exc:
            issues.append(PluginIssue(path, str(exc)))


def _check_template(template: Path | None, issues: list[Issue]) -> None:
    """The draft's template must exist and compile: its error names the template's file and line."""
    if template is None:
        return
    from dossier.exporters.markdown import load_template  # the md exporter owns what a template is

    try:
        load_template(template)
    except ConfigError as exc:
        issues += [Issue(("output", "template"), f"{exc.file}: {issue}") for issue in exc.issues]


def _check_push(entries: Sequence[Mapping[str, Any]], issues: list[Issue]) -> tuple[Any, ...]:
    """Each output.push entry against its destination's config; names must tell them apart."""
    from dossier.exporters import push  # the push package owns what each destination needs

    out, seen = [], {}
    for i, entry in enumerate(entries):
        path: KeyPath = ("output", "push", i)
        kind = entry.get("type")
        cls = push.CONFIGS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            known = ", ".join(sorted(push.CONFIGS))
            hint = registry.did_you_mean(kind, list(push.CONFIGS)) if isinstance(kind, str) else ""
            what = f'unknown push destination "{kind}"{hint}' if kind is not None else "type is required"
            issues.append(Issue((*path, "type"), f"{what}; one of: {known}"))
            continue
        try:
            config = cls.model_validate(entry)
        except ValidationError as exc:
            issues.extend(validation_issues(exc, cls, path))
            continue
        if config.key in seen:
            issues.append(
                Issue(
                    (*path, "name"), f'"{config.key}" is also push entry {seen[config.key]}: give each a distinct name'
                )
            )
            continue
        seen[config.key] = i
        out.append(config)
    return tuple(out)


def parse_config(data: Any, *, file: str, base_dir: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Check parsed configuration `data` (relative paths against `base_dir`; `env` defaults to
    os.environ). Raises ConfigError (or PluginConfigError) listing every problem."""
    data = _normalize(as_mapping(data, file))
    data, env_issues = expand_env(data, env)
    context = {"base_dir": base_dir}
    issues: list[Issue] = []

    try:
        top = ConfigFile.model_validate(data, context=context)
        bad: set[str] = set()
    except ValidationError as exc:
        issues.extend(validation_issues(exc, ConfigFile))
        top, bad = _valid_part(data, exc, context)

    raw_collectors = data.get("collectors", {})
    specs = _check_collectors(raw_collectors, context, issues)
    if "collectors" not in bad and isinstance(raw_collectors, dict) and not raw_collectors:
        issues.append(Issue(("collectors",), "no collectors configured"))

    raw_services = data.get("services", {})
    if "services" not in bad and isinstance(raw_services, dict):
        _check_services(raw_services, issues)

    if "output" not in bad:
        _check_formats(top.output.formats, issues)
        _check_template(top.output.template, issues)
        push = _check_push(top.output.push, issues)

    # A value that still holds an unset ${env:...} fails its own validation too: say it once.
    env_paths = {i.path for i in env_issues}
    raise_issues(file, env_issues + [i for i in issues if i.path not in env_paths])

    return Settings(
        collectors=specs,
        services=_canonical_dependencies(top.services),
        correlate=top.correlate,
        output_dir=top.output.dir if top.output.dir is not None else DEFAULT_OUTPUT_DIR,
        formats=tuple(top.output.formats),
        serve=top.serve,
        store=top.store,
        template=top.output.template,
        push=push if "output" not in bad else (),
    )


def load_config(path: str | os.PathLike[str]) -> Settings:
    """Read and check the configuration file; relative paths in it are relative to its folder."""
    p = Path(path)
    file = str(path)
    settings = parse_config(read_file(p, file), file=file, base_dir=p.absolute().parent)
    return dataclasses.replace(settings, file=p)
