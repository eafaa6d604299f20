"""Finds collector and exporter plugins through entry points, and loads only what is asked for.

    [project.entry-points."dossier.collectors"]     # exporters: "dossier.exporters"
    prometheus = "collectors.prometheus:PrometheusCollector"

`available(kind)` lists the installed plugins without importing any of them; `load_collector`
and `load_exporter` import exactly one, check that it is a proper plugin, and cache the class.

Errors (both stop the run, exit 4; the message names the plugin):

* `UnknownPluginError`  no plugin of that name: `unknown collector type "x" (did you mean "y"?)`
* `PluginLoadError`     one name from two distributions, an import error, a class that is not a
                        `Collector`/`Exporter`, or whose `type`/`format` is not its entry-point name
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dossier.errors import PluginError, PluginLoadError, UnknownPluginError
from dossier.plugin import Collector, Exporter, PluginConfig, parse_duration

__all__ = [
    "GROUPS",
    "ConfigField",
    "Kind",
    "PluginDescription",
    "PluginRow",
    "available",
    "cache_clear",
    "config_fields",
    "config_schema",
    "describe",
    "describe_plugin",
    "did_you_mean",
    "load",
    "load_collector",
    "load_exporter",
]

Kind = Literal["collector", "exporter"]

GROUPS: dict[str, str] = {"collector": "dossier.collectors", "exporter": "dossier.exporters"}

# What the name of a plugin is called in messages, and the class attribute that must equal it.
_NOUN = {"collector": "collector type", "exporter": "exporter format"}
_NAME_ATTR = {"collector": "type", "exporter": "format"}
_BASE: dict[str, type] = {"collector": Collector, "exporter": Exporter}


@dataclass(frozen=True, slots=True)
class PluginRow:
    """One line of `dossier plugins list`; fields read as attributes or as `row["name"]`."""

    kind: Kind
    name: str
    distribution: str  # "" when the entry point comes from no known distribution
    version: str
    kinds: tuple[str, ...]  # evidence kinds of a collector (metric, alert, ...); () for exporters
    error: str | None = None  # why the plugin cannot be loaded, or None
    filename: str | None = None  # what an exporter writes (draft.md)

    @property
    def provides(self) -> str:
        """What the plugin gives, for people: its evidence kinds, its file, or why it fails."""
        if self.error is not None:
            return f"error: {self.error}"
        if self.kind == "collector":
            return ", ".join(self.kinds)
        return self.filename or ""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def did_you_mean(word: str, choices: Iterable[str], quote: str = '"') -> str:
    """` (did you mean "close"?)`, or "" when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1)
    return f" (did you mean {quote}{close[0]}{quote}?)" if close else ""


def _dist_label(ep: EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return f"an unknown distribution ({ep.value})"
    return f"{dist.name} {dist.version}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _group(kind: Kind) -> list[EntryPoint]:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r}: use 'collector' or 'exporter'")
    return list(entry_points(group=GROUPS[kind]))


def _dist_key(ep: EntryPoint) -> str | None:
    return ep.dist.name.lower().replace("_", "-") if ep.dist is not None else None


def _same(a: EntryPoint, b: EntryPoint) -> bool:
    """The same entry point seen twice (one distribution found on two sys.path entries)."""
    return a.value == b.value and _dist_key(a) == _dist_key(b)


def _index(kind: Kind) -> dict[str, list[EntryPoint]]:
    """Entry points by name, sorted by name; more than one when distributions disagree."""
    found: dict[str, list[EntryPoint]] = {}
    for ep in _group(kind):
        seen = found.setdefault(ep.name, [])
        if not any(_same(ep, other) for other in seen):
            seen.append(ep)
    return dict(sorted(found.items()))


def _duplicate(kind: Kind, name: str, eps: list[EntryPoint]) -> PluginLoadError:
    who = sorted(_dist_label(ep) for ep in eps)
    both = "both " if len(who) == 2 else ""
    return PluginLoadError(f'{_NOUN[kind]} "{name}" is provided by {both}{_and(who)}')


def available(kind: Kind) -> dict[str, EntryPoint]:
    """The installed plugins of `kind`, by name, sorted; imports nothing.

    Raises PluginLoadError when two distributions provide the same name.
    """
    index = _index(kind)
    for name, eps in index.items():
        if len(eps) > 1:
            raise _duplicate(kind, name, eps)
    return {name: eps[0] for name, eps in index.items()}


def _unknown(kind: Kind, name: str, names: Iterable[str]) -> UnknownPluginError:
    names = sorted(names)
    hint = did_you_mean(name, names)
    if not hint:
        hint = f" (installed: {', '.join(names)})" if names else " (none is installed)"
    return UnknownPluginError(f'unknown {_NOUN[kind]} "{name}"{hint}')


def _check(kind: Kind, name: str, ep: EntryPoint, obj: object) -> type:
    """The loaded object, if it is a proper plugin class named `name`; else PluginLoadError."""
    where = f"{kind} \"{name}\": '{ep.value}'"
    base = _BASE[kind]
    if not inspect.isclass(obj):
        raise PluginLoadError(f"{where} is a {type(obj).__name__}, not a class")
    if not issubclass(obj, base):
        raise PluginLoadError(f"{where} is not a subclass of dossier.plugin.{base.__name__}")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise PluginLoadError(f"{where} is abstract: it does not implement {missing}")
    attr = _NAME_ATTR[kind]
    declared = getattr(obj, attr, None)
    if declared is None:
        raise PluginLoadError(f'{where} declares no {attr}: set {attr} = "{name}"')
    if declared != name:
        raise PluginLoadError(
            f'{where} declares {attr} "{declared}", but its entry point is named "{name}": the two must be equal'
        )
    if kind == "collector":
        config = getattr(obj, "Config", None)
        if not (inspect.isclass(config) and issubclass(config, PluginConfig)):
            raise PluginLoadError(f"{where} has no Config that is a dossier.plugin.PluginConfig subclass")
        kinds = getattr(obj, "kinds", None)
        if not isinstance(kinds, frozenset | set | tuple | list):
            raise PluginLoadError(f"{where} declares no kinds: set kinds = frozenset({{...}})")
    return obj


@functools.cache
def load(kind: Kind, name: str) -> type:
    """Import the one plugin `name` of `kind` and check it (cached: each is imported once)."""
    index = _index(kind)  # a name provided twice stops the run only when it is the one asked for
    eps = index.get(name)
    if not eps:
        raise _unknown(kind, name, index)
    if len(eps) > 1:
        raise _duplicate(kind, name, eps)
    ep = eps[0]
    try:
        obj = ep.load()
    except Exception as exc:  # an import runs arbitrary code: translate whatever it raises
        raise PluginLoadError(f"{kind} \"{name}\": cannot import '{ep.value}': {type(exc).__name__}: {exc}") from exc
    return _check(kind, name, ep, obj)


def load_collector(name: str) -> type[Collector]:
    """The collector class registered as `name` (the `type` of `type/name` in the config)."""
    return cast("type[Collector]", load("collector", name))


def load_exporter(name: str) -> type[Exporter]:
    """The exporter class registered as `name` (a value of `output.formats`)."""
    return cast("type[Exporter]", load("exporter", name))


def cache_clear() -> None:
    """Forget loaded classes (tests that swap the installed plugins)."""
    load.cache_clear()


def describe() -> list[PluginRow]:
    """Every installed plugin, collectors then exporters, by name, for `dossier plugins list`.

    Loads each one to read its `kinds`; a plugin that cannot be loaded is listed too, with
    the reason in `error`; a name provided twice gets one row per distribution.
    """
    rows: list[PluginRow] = []
    for kind in cast("tuple[Kind, ...]", ("collector", "exporter")):
        for name, eps in _index(kind).items():
            kinds: tuple[str, ...] = ()
            error: str | None = None
            filename: str | None = None
            try:
                cls = load(kind, name)
            except PluginError as exc:
                error = str(exc)
            else:
                if kind == "collector":
                    kinds = tuple(sorted(getattr(cls, "kinds", ())))
                else:
                    filename = getattr(cls, "filename", None)
            for ep in eps:
                dist = ep.dist
                rows.append(
                    PluginRow(
                        kind=kind,
                        name=name,
                        distribution=dist.name if dist is not None else "",
                        version=dist.version if dist is not None else "",
                        kinds=kinds,
                        error=error,
                        filename=filename,
                    )
                )
    return rows


def config_schema(name: str) -> dict[str, Any]:
    """JSON Schema of a collector's config, for `dossier plugins describe <type>`."""
    return load_collector(name).Config.model_json_schema()


# ---- `dossier plugins describe TYPE` ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One key of a plugin's config: `signals[].name`, its type, default and description."""

    path: str
    type: str
    required: bool
    default: str | None  # as written in YAML/JSON; None when required
    description: str


@dataclass(frozen=True, slots=True)
class PluginDescription:
    kind: Kind
    name: str
    target: str  # "collectors.prometheus:PrometheusCollector"
    distribution: str
    provides: str  # evidence kinds of a collector, the file an exporter writes
    doc: str
    fields: tuple[ConfigField, ...]
    sample: str | None  # the plugin's sample.yaml, when it ships one
    sample_path: str | None


_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "true/false",
    Path: "path",
    SecretStr: "secret string",
    Any: "any",
}


def _validators(metadata: Iterable[Any]) -> set[Any]:
    return {getattr(m, "func", None) for m in metadata}


def _type_text(tp: Any, metadata: Iterable[Any] = ()) -> str:
    """A config type for people: `duration`, `list of Signal`, `"up" | "down" | "both"`."""
    funcs = _validators(metadata)
    while get_origin(tp) is Annotated:
        funcs |= _validators(tp.__metadata__)
        tp = get_args(tp)[0]
    if parse_duration in funcs:
        return "duration"
    if any(getattr(f, "__name__", "") == "_resolve_path" for f in funcs):
        return "path"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        arms = [_type_text(a) for a in get_args(tp) if a is not type(None)]
        nullable = type(None) in get_args(tp)
        return " | ".join(arms + (["null"] if nullable else []))
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(tp))
    if origin in (list, tuple, set, frozenset):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return "list of " + (_type_text(args[0]) if args else "any")
    if origin is dict:
        pair = get_args(tp)
        return f"mapping of {_type_text(pair[0])} to {_type_text(pair[1])}" if pair else "mapping"
    if tp in _SCALARS:
        return _SCALARS[tp]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " | ".join(json.dumps(m.value) for m in tp)
    return getattr(tp, "__name__", str(tp))


def _nested(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """The models inside a field's type, with the suffix their keys get: "", "[]", ".<key>"."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return [n for a in get_args(tp) for n in _nested(a)]
    if origin in (list, tuple, set, frozenset):
        return [("[]" + sfx, m) for a in get_args(tp) if a is not Ellipsis for sfx, m in _nested(a)]
    if origin is dict and get_args(tp):
        return [(".<key>" + sfx, m) for sfx, m in _nested(get_args(tp)[1])]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [("", tp)]
    return []


def _default_text(info: FieldInfo, duration: bool = False) -> str | None:
    if info.default is not PydanticUndefined:
        value = info.default
    elif info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except Exception:  # a factory that needs arguments: say so rather than guess
            return "(computed)"
    else:
        return None
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True) or {}
    if duration and isinstance(value, int | float) and not isinstance(value, bool):
        return _duration_text(float(value))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and '"' in value and "'" not in value:
        return f"'{value}'"
    return json.dumps(value, default=str, ensure_ascii=False)


def _duration_text(seconds: float) -> str:
    """3600 -> `1h`, 90 -> `1m30s`, 0.5 -> `500ms`: as a config file writes it."""
    if seconds == 0:
        return "0s"
    if not float(seconds).is_integer():
        return f"{round(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"
    rest, out = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def config_fields(model: type[BaseModel], prefix: str = "") -> list[ConfigField]:
    """Every key of `model`, nested models' keys after their parent's, in declaration order."""
    rows: list[ConfigField] = []
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        type_text = _type_text(info.annotation, info.metadata)
        default = _default_text(info, duration=type_text.split(" | ")[0] == "duration")
        rows.append(
            ConfigField(
                path=key,
                type=type_text,
                required=info.is_required(),
                default=default,
                description=" ".join((info.description or "").split()),
            )
        )
        seen: set[tuple[str, type[BaseModel]]] = set()
        for suffix, sub in _nested(info.annotation):
            if (suffix, sub) not in seen and sub is not model:
                seen.add((suffix, sub))
                rows.extend(config_fields(sub, f"{key}{suffix}."))
    return rows


def _sample(cls: type) -> tuple[str | None, str | None]:
    """The sample.yaml shipped beside the plugin's module (or its package's), if any."""
    module = sys.modules.get(cls.__module__)
    where = getattr(module, "__file__", None)
    if where is None:
        return None, None
    folder = Path(where).resolve().parent
    for candidate in (folder / "sample.yaml", folder.parent / "sample.yaml"):
        if candidate.is_file():
            try:
                return candidate.read_text(encoding="utf-8"), str(candidate)
            except (OSError, UnicodeDecodeError):
                return None, None
    return None, None


def describe_plugin(name: str) -> PluginDescription:
    """What `dossier plugins describe NAME` prints: a collector type, else an exporter format.

    Raises UnknownPluginError (with a did-you-mean over both kinds) when neither is installed.
    """
    for kind in cast("tuple[Kind, ...]", ("collector", "exporter")):
        eps = _index(kind).get(name)
        if not eps:
            continue
        cls = load(kind, name)
        ep = eps[0]
        config = getattr(cls, "Config", None)
        fields = config_fields(config) if inspect.isclass(config) and issubclass(config, BaseModel) else []
        if kind == "collector":
            provides = ", ".join(sorted(getattr(cls, "kinds", ())))
        else:
            provides = f"writes {getattr(cls, 'filename', '?')}"
        sample, sample_path = _sample(cls)
        doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")  # its own, not a base class's
        if not doc or "module docstring" in doc:
            doc = inspect.getdoc(sys.modules.get(cls.__module__)) or doc
        return PluginDescription(
            kind=kind,
            name=name,
            target=ep.value,
            distribution=_dist_label(ep),
            provides=provides,
            doc=doc.split("\n\n")[0].replace("\n", " "),
            fields=tuple(fields),
            sample=sample,
            sample_path=sample_path,
        )
    names = set(_index("collector")) | set(_index("exporter"))
    hint = did_you_mean(name, names)
    if not hint:
        hint = f" (installed: {', '.join(sorted(names))})" if names else " (none is installed)"
    raise UnknownPluginError(f'unknown collector type or exporter format "{name}"{hint}')
