"""What every command gets from the root callback: the resolved settings (resolved once, on
first use, so ``--help`` works even with a broken config), the consoles, and a ZapJobs built
from the settings and the user's job code (``--app module:attr``).

Only the commands that need the app's job types in the store (the worker, enqueue, trigger,
pause, resume, recurring, migrate) get the app's own ZapJobs, which writes its definitions when
it opens; every other command gets one that never writes them (nor migrates), so a database
role with SELECT only is enough to look (see "Least privilege" in the README)."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from zapjobs import ZapJobs
from zapjobs.config import ResolvedSettings, load_settings
from zapjobs.errors import ConfigurationError
from zapjobs.models import JobDefinition
from zapjobs.settings import Settings, scrub
from zapjobs_cli.display import visible
from zapjobs_cli.render import consoles, display_dsn

T = TypeVar("T")

_APP_RE = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")
_DEFAULTS = Settings()


@dataclass
class CliState:
    flags: dict[str, Any] = field(default_factory=dict)  # setting name -> raw flag value
    config_path: Path | None = None
    debug: bool = False
    no_color: bool = False
    cwd: Path = field(default_factory=Path.cwd)
    _resolved: ResolvedSettings | None = None
    _app_settings: Settings | None = None
    _code_definitions: dict[str, JobDefinition] = field(default_factory=dict)
    _warned_app: bool = False
    _warned_conflict: bool = False

    @property
    def resolved(self) -> ResolvedSettings:
        if self._resolved is None:
            self._resolved = load_settings(self.flags, cwd=self.cwd, config_path=self.config_path)
        return self._resolved

    @property
    def settings(self) -> Settings:
        return self.resolved.settings

    @cached_property
    def _consoles(self) -> tuple[Console, Console]:
        return consoles(self.no_color)

    @property
    def out(self) -> Console:
        """stdout: data."""
        return self._consoles[0]

    @property
    def err(self) -> Console:
        """stderr: messages and progress."""
        return self._consoles[1]

    def note(self, message: str, style: str | None = None) -> None:
        """A message on stderr; text from the database in it is shown literally (visible)."""
        self.err.print(
            self.scrub(visible(message, multiline=True)),
            style=style,
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    # --- secrets ----------------------------------------------------------------------------
    def connection_strings(self) -> list[str]:
        """Every DSN this process may have seen, for scrubbing passwords out of messages."""
        found = [str(self.flags.get("database_url") or "")]
        found += [os.environ.get(n, "") for n in ("ZAPJOBS_DATABASE_URL", "DATABASE_URL")]
        if self._resolved is not None:
            found.append(self._resolved.settings.database_url)
        if self._app_settings is not None:
            found.append(self._app_settings.database_url)
        return [dsn for dsn in found if dsn]

    def scrub(self, text: str) -> str:
        for dsn in self.connection_strings():
            text = scrub(text, dsn)
        return text

    # --- ZapJobs ------------------------------------------------------------------------------
    def zap(
        self, *, need_app: bool = False, allow_unconfigured: bool = False, register: bool = False
    ) -> ZapJobs:
        """A ZapJobs for this command: the user's app (when configured) with the settings that
        flags, environment or config file set winning over the app's own.

        With ``register`` (commands that write and need the app's job types stored) it holds
        the app's job types, written to the store when it opens. Without, it holds none and
        never migrates: it only reads what the store has (the app's job types are in
        ``code_definitions`` for display)."""
        resolved = self.resolved
        ref = resolved.settings.app
        if ref is None:
            if need_app:
                raise ConfigurationError(
                    "no app given: the worker needs to know where your job code lives",
                    hint="pass --app module:attr, set ZAPJOBS_APP, or app = 'module:attr' "
                    "in zapjobs.toml",
                )
            self._require_configured(resolved, None, allow_unconfigured)
            return ZapJobs(settings=resolved.settings if register else _reader(resolved.settings))
        try:
            user = import_app(ref, *self.code_folders())
        except ConfigurationError as exc:
            if need_app:
                raise
            self.warn_app_unavailable(exc)
            self._require_configured(resolved, None, allow_unconfigured)
            return ZapJobs(settings=resolved.settings if register else _reader(resolved.settings))
        self._app_settings = user.settings
        merged = merge_settings(user.settings, resolved)
        self.warn_conflicts(ref, user.settings, resolved)
        self._require_configured(resolved, user.settings, allow_unconfigured)
        if not register:
            self._code_definitions = {
                t: user.registration(t).definition(merged) for t in user.job_types
            }
            return ZapJobs(settings=_reader(merged))
        if merged == user.settings:
            return user
        return user.with_settings(merged)

    def warn_app_unavailable(self, exc: ConfigurationError) -> None:
        """Only the worker needs the app's code: another command goes on without it (the
        store holds the job types a worker registered), after one line saying so."""
        if not self._warned_app:
            self._warned_app = True
            self.note(
                f"warning: {exc.message}; going on without the app's job types "
                "(only `zapjobs worker` needs them)",
                style="yellow",
            )

    def warn_conflicts(self, ref: str, app: Settings, resolved: ResolvedSettings) -> None:
        """The app's own ZapJobs(...) names another database than the CLI's settings: its
        enqueues would go where this worker never looks. Said once."""
        if self._warned_conflict:
            return
        for name, app_value, used in app_conflicts(app, resolved):
            self._warned_conflict = True
            self.note(
                f"warning: the app {ref} sets {name} = {app_value}, but "
                f"{resolved.source(name)} sets {used}, which the CLI uses (flags, environment "
                "and config file win over the app's own settings); the app's own code uses "
                f"{app_value}: make them agree",
                style="yellow",
            )

    def _require_configured(
        self, resolved: ResolvedSettings, app: Settings | None, allow: bool
    ) -> None:
        """No database named anywhere and no default SQLite file yet: say how to set one up
        instead of creating an empty database file."""
        if allow or not resolved.is_default("database_url"):
            return
        if app is not None and app.database_url != _DEFAULTS.database_url:
            return
        url = resolved.settings.database_url
        if url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).exists():
            return
        raise ConfigurationError(
            "no zapjobs configuration found (no --database-url, ZAPJOBS_DATABASE_URL, "
            "DATABASE_URL, zapjobs.toml or [tool.zapjobs] in pyproject.toml)",
            hint="run `zapjobs init`, or pass -c DSN",
        )

    @property
    def code_definitions(self) -> dict[str, JobDefinition]:
        """The definitions the app's code declares (filled by ``zap()`` without ``register``):
        what a worker will register, shown by listings before any worker did."""
        return self._code_definitions

    def code_folders(self) -> list[Path]:
        """Where ``--app`` modules are looked for: here, and the config file's folder."""
        folders = [self.cwd]
        config = self.resolved.config_path
        if config is not None and config.parent not in folders:
            folders.append(config.parent)
        return folders

    def run(
        self,
        work: Callable[[ZapJobs], Awaitable[T]],
        *,
        need_app: bool = False,
        allow_unconfigured: bool = False,
        register: bool = False,
    ) -> T:
        """Build the ZapJobs, run ``work`` with it on a fresh event loop, always close it."""
        zap = self.zap(need_app=need_app, allow_unconfigured=allow_unconfigured, register=register)

        async def main() -> T:
            try:
                return await work(zap)
            finally:
                await zap.close()

        return asyncio.run(main())


def _reader(settings: Settings) -> Settings:
    """Settings for a ZapJobs that only reads: it never migrates on open."""
    return replace(settings, auto_migrate=False) if settings.auto_migrate else settings


def merge_settings(app: Settings, resolved: ResolvedSettings) -> Settings:
    """Flags, environment and config file beat the app's own settings; the app's settings beat
    the defaults (an app value equal to the library default counts as not set)."""
    changes: dict[str, Any] = {}
    for f in fields(Settings):
        cli_value = getattr(resolved.settings, f.name)
        app_value = getattr(app, f.name)
        cli_wins = not resolved.is_default(f.name) or app_value == getattr(_DEFAULTS, f.name)
        if cli_wins and cli_value != app_value:
            changes[f.name] = cli_value
    return replace(app, **changes) if changes else app


#: The settings that decide where the data is: an app and a CLI that disagree on them talk past
#: each other (the app enqueues where the worker never claims).
WHERE_THE_DATA_IS = ("database_url", "table_prefix")


def app_conflicts(app: Settings, resolved: ResolvedSettings) -> list[tuple[str, str, str]]:
    """(setting, the app's value, the value used) where the app's own (non-default) value
    loses to a flag, the environment or the config file; passwords masked."""
    found = []
    for name in WHERE_THE_DATA_IS:
        app_value, used = getattr(app, name), getattr(resolved.settings, name)
        if app_value == getattr(_DEFAULTS, name) or resolved.is_default(name) or app_value == used:
            continue
        if name == "database_url":
            app_value, used = display_dsn(app_value), display_dsn(used)
        found.append((name, str(app_value), str(used)))
    return found


def import_app(ref: str, cwd: Path, *more: Path) -> ZapJobs:
    """The ZapJobs object named by ``module:attr`` (or a module holding one), with the current
    folder (and ``more`` folders, e.g. the config file's) on sys.path."""
    if not _APP_RE.fullmatch(ref):
        raise ConfigurationError(
            f"invalid app {ref!r}", hint="write module:attribute, e.g. myproject.jobs:zap"
        )
    module_name, _, attr = ref.partition(":")
    for folder in reversed([str(cwd), *map(str, more)]):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigurationError(
                f"cannot import {module_name!r} for app {ref!r}: no module named {exc.name!r}",
                hint=f"run from the folder that holds it (now {cwd}), or fix the app setting",
            ) from None
        raise _import_failed(ref, exc) from exc
    except Exception as exc:
        raise _import_failed(ref, exc) from exc
    return _find_zap(module, attr, ref)


def _import_failed(ref: str, exc: BaseException) -> ConfigurationError:
    return ConfigurationError(
        f"importing the app {ref!r} failed: {type(exc).__name__}: {exc}",
        hint="fix the module (run with --debug for the traceback)",
    )


def _find_zap(module: Any, attr: str, ref: str) -> ZapJobs:
    if attr:
        if not hasattr(module, attr):
            raise ConfigurationError(
                f"module {module.__name__!r} has no attribute {attr!r}",
                hint="name the ZapJobs object, e.g. --app myproject.jobs:zap",
            )
        found = getattr(module, attr)
        if not isinstance(found, ZapJobs):
            raise ConfigurationError(
                f"{ref} is a {type(found).__name__}, not a ZapJobs object",
                hint="point --app at the ZapJobs(...) instance your jobs are registered on",
            )
        return found
    candidates = {id(v): v for v in vars(module).values() if isinstance(v, ZapJobs)}
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    raise ConfigurationError(
        f"cannot tell which ZapJobs object in {module.__name__!r} to use ({len(candidates)} found)",
        hint=f"name it, e.g. --app {module.__name__}:zap",
    )


def get_state(ctx: typer.Context) -> CliState:
    state = ctx.find_object(CliState)
    if state is None:  # a command invoked without the root callback (not via `zapjobs`)
        state = CliState()
        ctx.obj = state
    return state
