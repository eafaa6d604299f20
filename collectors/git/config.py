"""Configuration of the `git` collector (`collectors: git/<name>: {...}`)."""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from dossier.plugin import Duration, PluginConfig, RelPath

ChangeKind = Literal["deploy", "config_change", "feature_flag"]
LINK_FIELDS: tuple[str, ...] = ("sha", "short_sha")

# What `git check-ref-format` refuses, roughly, and what would read as an option.
_BAD_REF = re.compile(r"(^-)|(\.\.)|([\s~^:?*\[\\])|(@\{)|(^/)|(/$)|(\.lock$)|(^@$)")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("dossier", message)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The paths a `paths` glob matches, as git's `:(glob)` pathspec does: `*` and `?` stay within
    a directory, `**/` is any number of directories, a trailing `/**` everything below; a
    pattern without wildcards matches that file or everything below that directory."""
    text = pattern.strip("/")
    if not any(ch in text for ch in "*?["):
        return re.compile(re.escape(text) + r"(/.*)?")
    out, i = "", 0
    while i < len(text):
        ch = text[i]
        if text.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif text.startswith("/**", i) and i + 3 == len(text):
            out += "/.*"
            i += 3
        elif text.startswith("**", i):
            out += ".*"
            i += 2
        elif ch == "*":
            out += "[^/]*"
            i += 1
        elif ch == "?":
            out += "[^/]"
            i += 1
        elif ch == "[":
            end = text.find("]", i + 2)
            if end < 0:
                raise ValueError(f"unclosed [ in {pattern!r}")
            body = text[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end + 1
        else:
            out += re.escape(ch)
            i += 1
    return re.compile(out)


class GitConfig(PluginConfig):
    """A local clone of a GitOps or config repository, and which paths belong to which service."""

    repository: RelPath = Field(
        description="The local clone (a working tree or a bare clone); a relative path is relative to the config file."
    )
    branch: str | None = Field(
        default=None, description="Branch or other revision to read, e.g. main or origin/main; default: HEAD."
    )
    paths: dict[str, str | None] = Field(
        description=(
            "Which paths to watch and whose they are, as {glob: service}, e.g. {'apps/payments/**': payments}; "
            "null: watched, but no service. A file counts for the first glob that matches it."
        ),
    )
    kind: ChangeKind = Field(
        default="config_change",
        description="The kind of the changes: config_change, deploy or feature_flag; reverts are rollbacks.",
    )
    url_template: str | None = Field(
        default=None,
        description="Link of a commit, with {sha} and {short_sha}, e.g. https://github.com/acme/gitops/commit/{sha}.",
    )
    first_parent: bool = Field(
        default=True,
        description=(
            "Follow only the first parent of merges: a merged pull request is one change, at the time of the "
            "merge; false: every commit, at its own time, merges left out."
        ),
    )
    fetch: bool = Field(
        default=False, description="Run `git fetch --quiet` before reading (needs a branch such as origin/main)."
    )
    timeout: Duration = Field(default=60.0, description="Longest time each git command may take.")

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value or _BAD_REF.search(value):
            raise _error(f"{value!r} is not a branch or revision name (e.g. main, origin/main, v1.2)")
        return value

    @field_validator("paths")
    @classmethod
    def _paths(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        if not value:
            raise _error("give at least one path glob, e.g. {'apps/payments/**': payments}")
        for pattern, service in value.items():
            text = pattern.strip()
            if not text or text != pattern:
                raise _error(f"{pattern!r} is not a path glob")
            if text.startswith("/") or text.startswith(":") or ".." in text.split("/"):
                raise _error(f"{pattern!r}: write paths relative to the repository's root, e.g. apps/payments/**")
            try:
                glob_regex(text)
            except ValueError as exc:
                raise _error(str(exc)) from None
            if service is not None and not service.strip():
                raise _error(f"{pattern!r}: the service is empty: name one, or write null")
        return value

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise _error(f"not a link template: {exc}: write placeholders as {{sha}}") from None
        for name in names:
            if name not in LINK_FIELDS:
                raise _error(f"unknown placeholder {{{name}}}: use {{sha}} or {{short_sha}}")
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise _error("must be more than 0s")
        return value

    @model_validator(mode="after")
    def _fetch_needs_branch(self) -> GitConfig:
        if self.fetch and self.branch is None:
            raise _error("fetch: true updates the remote-tracking branches, not HEAD: set branch, e.g. origin/main")
        return self

    def link(self, sha: str, short_sha: str) -> str | None:
        if self.url_template is None:
            return None
        return self.url_template.format(sha=sha, short_sha=short_sha)
