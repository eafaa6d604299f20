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
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, cast

from dossier.errors import PluginError, PluginLoadError, UnknownPluginError
from dossier.plugin import Collector, Exporter, PluginConfig

__all__ = [
    "GROUPS",
    "Kind",
    "PluginRow",
    "available",
    "cache_clear",
    "config_schema",
    "describe",
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


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean "close"?)`, or "" when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


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
