"""Dossier's exceptions, and the exit code each one means.

    DossierError
      + ConfigError(issues)           exit 3  bad config, incident file or command-line input
      + PluginError                   exit 4
      |   - UnknownPluginError           no collector or exporter of that name is installed
      |   - PluginLoadError              the entry point cannot be imported or is not a plugin
      + CollectorError(instance, retriable, status, kind)   a whole source failed: a gap, never a crash
      |   - SourceUnavailable            retriable: connection refused, timeout, 429, 5xx
      |   - SourceAuthError              401/403: check the credential
      |   - SourceQueryError             the source rejected a query (quoted with !r)
      + ExportError                   an exporter could not write its output

`CollectorError.status` is the HTTP status of the answer that decided the failure (None when
there was no answer), `kind` how the request failed without one (refused, dns, connect_timeout,
timeout, tls, connection, protocol, deadline): collectors branch on these, never on the text.

Only `dossier.cli` turns these into exit codes. Messages are one lowercase line:
"what failed: why: hint"; user values quoted with !r; never a secret.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    OK = 0
    PARTIAL = 1  # written, but some source failed or was partial: the gaps say which
    USAGE = 2
    CONFIG = 3
    PLUGIN = 4
    ALL_FAILED = 5
    INTERNAL = 70


class DossierError(Exception):
    exit_code: ExitCode = ExitCode.INTERNAL


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in one input file: `path::to::key: message`."""

    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        key = "::".join(str(p) for p in self.path)
        return f"{key}: {self.message}" if key else self.message


class ConfigError(DossierError):
    """Every problem found in one input (config file, incident file, option), reported at once."""

    exit_code = ExitCode.CONFIG

    def __init__(self, file: str | None, issues: Iterable[Issue | str]) -> None:
        self.file = file
        self.issues: tuple[Issue, ...] = tuple(i if isinstance(i, Issue) else Issue((), i) for i in issues)
        super().__init__(self._text())

    def _text(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        return "\n".join(f"{prefix}{issue}" for issue in self.issues)

    def lines(self) -> Sequence[str]:
        prefix = f"{self.file}: " if self.file else ""
        return [f"{prefix}{issue}" for issue in self.issues]


class PluginError(DossierError):
    exit_code = ExitCode.PLUGIN


class UnknownPluginError(PluginError):
    pass


class PluginLoadError(PluginError):
    pass


class CollectorError(DossierError):
    """A source failed as a whole. `retriable` marks failures that may pass on a later try.

    `status`: the HTTP status that decided it, if an answer came; `kind`: how the request failed
    when none did (see the module docstring).
    """

    retriable = False

    def __init__(self, instance: str, message: str, *, status: int | None = None, kind: str | None = None) -> None:
        self.instance = instance
        self.status = status
        self.kind = kind
        super().__init__(message)


class SourceUnavailable(CollectorError):
    retriable = True


class SourceAuthError(CollectorError):
    pass


class SourceQueryError(CollectorError):
    pass


class ExportError(DossierError):
    exit_code = ExitCode.INTERNAL
