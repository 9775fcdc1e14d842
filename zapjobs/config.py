"""Config discovery: flags, then ``ZAPJOBS_*`` environment variables, then a config file
(``zapjobs.toml`` searched upward, or ``[tool.zapjobs]`` in a pyproject.toml), then defaults.

``ResolvedSettings.sources`` names where each setting came from, in these forms:
``"flag"``, ``"env ZAPJOBS_QUEUES"``, ``"env DATABASE_URL"``, ``"file /abs/zapjobs.toml"``,
``"file /abs/pyproject.toml [tool.zapjobs]"`` and ``"default"``. A relative SQLite path is
resolved against the folder of the file that named it (or the current folder), so the
database does not move when a command runs from a sub-folder.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zapjobs.errors import ConfigurationError
from zapjobs.settings import (
    DEPRECATED_SETTINGS,
    SETTING_NAMES,
    Settings,
    canonical_setting_name,
    coerce_settings,
    scrub,
)

CONFIG_FILE = "zapjobs.toml"
PYPROJECT_FILE = "pyproject.toml"
ENV_PREFIX = "ZAPJOBS_"
DEFAULT_SQLITE_FILE = "zapjobs.db"
SOURCE_FLAG = "flag"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True)
class ResolvedSettings:
    """The settings in effect, where each came from, and the config file used (if any)."""

    settings: Settings
    sources: dict[str, str]
    config_path: Path | None

    def source(self, name: str) -> str:
        return self.sources.get(name, SOURCE_DEFAULT)

    def is_default(self, name: str) -> bool:
        return self.source(name) == SOURCE_DEFAULT


@dataclass(frozen=True)
class ConfigFile:
    """A found config file: its path, its settings table and how to name it as a source."""

    path: Path
    values: dict[str, Any]
    source: str


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> ResolvedSettings:
    """Resolve every setting; ``flags`` maps setting names to raw values (None = not given).

    ``config_path`` is an explicit file (``--config``) used instead of the upward search.
    Raises ConfigurationError naming the file (or variable) and key of a bad value.
    """
    folder = (cwd or Path.cwd()).resolve()
    environ = os.environ if env is None else env
    found = read_config_file(config_path, folder) if config_path else find_config(folder)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if found is not None:
        _take(values, sources, found.values, found.source, base=found.path.parent)
    _take(values, sources, _from_env(environ), None, base=folder)
    given_flags = {k: v for k, v in (flags or {}).items() if v is not None}
    _take(values, sources, {k: (v, SOURCE_FLAG) for k, v in given_flags.items()}, None, folder)

    if "database_url" not in values:
        base = found.path.parent if found is not None else folder
        values["database_url"] = f"sqlite:///{base / DEFAULT_SQLITE_FILE}"
    settings = Settings(**values)
    all_sources = {f.name: sources.get(f.name, SOURCE_DEFAULT) for f in fields(Settings)}
    return ResolvedSettings(
        settings=settings,
        sources=all_sources,
        config_path=found.path if found is not None else None,
    )


def _take(
    values: dict[str, Any],
    sources: dict[str, str],
    raw: Mapping[str, Any],
    source: str | None,
    base: Path,
) -> None:
    """Coerce and validate each raw value (``source`` None: each value is a (value, source)
    pair), overriding what ``values`` held; errors name the source and the key."""
    for given, item in raw.items():
        value, where = (item, source) if source is not None else item
        assert where is not None
        name = canonical_setting_name(given, where=where.removeprefix("file "))
        try:
            coerced = coerce_settings({name: value})[name]
            if name == "database_url":
                coerced = resolve_sqlite_path(_text(coerced, name), base)
            Settings(**{name: coerced})  # the per-value checks of Settings (e.g. concurrency)
        except ConfigurationError as exc:
            raise _located(exc, where, given, value) from None
        values[name] = coerced
        sources[name] = where


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def _located(exc: ConfigurationError, where: str, name: str, value: Any) -> ConfigurationError:
    message = exc.message
    if name == "database_url" and isinstance(value, str):
        message = scrub(message, value)
    if where == SOURCE_FLAG:
        return ConfigurationError(message, hint=exc.hint)
    if where.startswith("env "):
        return ConfigurationError(f"{where.removeprefix('env ')}: {message}", hint=exc.hint)
    return ConfigurationError(
        f"{where.removeprefix('file ')}: key {name!r}: {message}", hint=exc.hint
    )


def resolve_sqlite_path(url: str, base: Path) -> str:
    """A ``sqlite:///relative.db`` URL made absolute against ``base``; other URLs unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not sep or not rest.startswith("/"):
        return url
    path = rest[1:]
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    return f"sqlite:///{(base / path).resolve()}"


def _from_env(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Settings from ``ZAPJOBS_<NAME>`` variables (and DATABASE_URL); empty ones are unset.

    Other ``ZAPJOBS_*`` variables (e.g. test settings) are ignored, not errors."""
    found: dict[str, tuple[Any, str]] = {}
    for name in sorted(SETTING_NAMES | DEPRECATED_SETTINGS.keys()):
        variables = [ENV_PREFIX + name.upper()]
        if name == "database_url":
            variables.append("DATABASE_URL")
        for variable in variables:
            raw = environ.get(variable, "").strip()
            if raw and DEPRECATED_SETTINGS.get(name) not in found:  # the new name wins
                found[name] = (_env_value(name, raw, variable), f"env {variable}")
                break
    return found


def _env_value(name: str, raw: str, variable: str) -> Any:
    if name != "default_retry_policy":
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        raise ConfigurationError(
            f"{variable}: default_retry_policy is not JSON",
            hint='write e.g. {"max_retries": 5, "initial_delay": "10s"}',
        ) from None


def find_config(start: Path) -> ConfigFile | None:
    """The first zapjobs.toml, or pyproject.toml with ``[tool.zapjobs]``, from ``start`` up."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return read_config_file(candidate, start)
        pyproject = folder / PYPROJECT_FILE
        if pyproject.is_file():
            found = _read_pyproject(pyproject)
            if found is not None:
                return found
    return None


def read_config_file(path: Path, cwd: Path) -> ConfigFile:
    """An explicit config file: a zapjobs.toml-style file, or a pyproject.toml."""
    resolved = (cwd / path).resolve() if not path.is_absolute() else path.resolve()
    if not resolved.is_file():
        raise ConfigurationError(
            f"config file {resolved} does not exist", hint="fix --config, or run `zapjobs init`"
        )
    if resolved.name == PYPROJECT_FILE:
        found = _read_pyproject(resolved)
        if found is None:
            raise ConfigurationError(
                f"{resolved} has no [tool.zapjobs] table", hint="add one, or use a zapjobs.toml"
            )
        return found
    document = _read_toml(resolved)
    table = document.get("zapjobs", document)
    if not isinstance(table, dict):
        raise ConfigurationError(f"{resolved}: key 'zapjobs' must be a table")
    return ConfigFile(resolved, dict(table), f"file {resolved}")


def _read_pyproject(path: Path) -> ConfigFile | None:
    tool = _read_toml(path).get("tool", {})
    table = tool.get("zapjobs") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [tool.zapjobs] must be a table")
    return ConfigFile(path.resolve(), dict(table), f"file {path.resolve()} [tool.zapjobs]")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not valid TOML: {exc}", hint="fix the file, or move it away"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
