"""``zapjobs init``: the set-up wizard. Every question has a flag, so ``--yes`` plus flags runs
it without a terminal; the connection string is tested live before it is written."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.config import CONFIG_FILE, resolve_sqlite_path
from zapjobs.errors import ConfigurationError, ZapJobsError
from zapjobs.settings import Settings, dsn_password, parse_queues, scrub, validate_prefix
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.errors import OperationFailed
from zapjobs_cli.options import CONCURRENCY, in_range
from zapjobs_cli.prompts import Prompter, validator
from zapjobs_cli.render import display_dsn
from zapjobs_cli.scaffold import (
    Answers,
    module_exists,
    module_file,
    toml_text,
    write_jobs_module,
)

POSTGRES, SQLITE = "postgres", "sqlite"
DEFAULT_PG = "postgresql://postgres@localhost:5432/postgres"
DEFAULT_SQLITE_PATH = "zapjobs.db"
_APP_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def register(root: typer.Typer) -> None:
    root.command("init")(init)


def init(
    ctx: typer.Context,
    queues: Annotated[
        str | None, typer.Option("--queues", metavar="Q1,Q2", help="Queues in priority order.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            callback=in_range("--concurrency", CONCURRENCY),
            help="Jobs a worker runs at once (the setting).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            callback=in_range("--workers", CONCURRENCY),
            hidden=True,
            help="Deprecated: use --concurrency.",
        ),
    ] = None,
    scaffold: Annotated[
        bool | None,
        typer.Option(
            "--scaffold/--no-scaffold", help="Write an example jobs module.", show_default=False
        ),
    ] = None,
    migrate: Annotated[
        bool | None,
        typer.Option("--migrate/--no-migrate", help="Create the tables now.", show_default=False),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Take the default for every question not given.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing zapjobs.toml.")
    ] = False,
) -> None:
    """Set zapjobs up in this folder: store, connection (tested live), table prefix, queues,
    concurrency and where your job code lives; writes zapjobs.toml, can create the tables and
    an example jobs module.

    The global --database-url, --prefix and --app answer their questions too.

    Example: `zapjobs init`

    Without questions: `zapjobs init --yes --database-url postgresql://app@db/app
    --queues critical,default --app jobs:zap`
    """
    state = get_state(ctx)
    wizard = Wizard(state, Prompter(), yes=yes)
    target = state.config_path or state.cwd / CONFIG_FILE
    target = target if target.is_absolute() else state.cwd / target
    wizard.check_target(target, force=force)

    url = wizard.database_url()
    prefix = wizard.ask_text(
        "Table prefix:", state.flags.get("table_prefix"), "zapjobs_", validate_prefix
    )
    queue_text = wizard.ask_text(
        "Queues, in priority order (comma-separated):",
        queues,
        ",".join(Settings().queues),
        parse_queues,
    )
    if workers is not None:
        state.note("warning: --workers is deprecated; use --concurrency (same meaning)")
        concurrency = workers if concurrency is None else concurrency
    runs_at_once: str | None = None  # with --yes and no --concurrency: the machine's CPU count
    if concurrency is not None or not yes:
        runs_at_once = wizard.ask_text(
            "Jobs one worker runs at once:",
            None if concurrency is None else str(concurrency),
            str(os.cpu_count() or 1),
            _positive_int,
        )
    app = wizard.ask_text(
        "Where your job code lives (module:attribute):", state.flags.get("app"), "jobs:zap", _app
    )
    from_env = url is None
    answers = Answers(
        database_url=url,
        table_prefix=prefix,
        queues=parse_queues(queue_text),
        concurrency=int(runs_at_once) if runs_at_once is not None else None,
        app=app,
    )
    wizard.write(target, answers)
    effective_url = url or wizard.env_url() or ""
    folder = target.parent
    jobs_file = module_file(app, folder)
    if not module_exists(app, folder) and wizard.ask_confirm(
        f"Write an example jobs module {jobs_file.relative_to(folder)} ({app})?", scaffold, True
    ):
        for path in write_jobs_module(app, folder):
            state.note(f"wrote {path}")
    wizard.maybe_migrate(effective_url, prefix, folder, migrate)
    with_env = "" if not from_env else "  (with ZAPJOBS_DATABASE_URL set)"
    if module_exists(app, folder):
        state.note("next: zapjobs worker" + with_env)
    else:  # the worker would fail to import it: say what to do first
        state.note(
            f"next: write your job code in {jobs_file.relative_to(folder)} (the app {app}), "
            "then: zapjobs worker" + with_env
        )


def _positive_int(text: str) -> None:
    low, high = CONCURRENCY
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise ValueError(f"write a whole number from {low} to {high}")


def _app(text: str) -> None:
    if not _APP_RE.fullmatch(text.strip()):
        raise ValueError("write module:attribute, e.g. jobs:zap or myproject.jobs:zap")


class Wizard:
    """The questions; each is skipped when its flag is given (or with --yes, defaulted)."""

    def __init__(self, state: CliState, prompter: Prompter, *, yes: bool) -> None:
        self.state = state
        self.prompter = prompter
        self.yes = yes
        self.connected = False

    def _asking(self) -> bool:
        if self.yes:
            return False
        self.prompter.require_terminal("zapjobs init")
        return True

    def ask_text(
        self, message: str, given: object, default: str, check: Callable[[str], object]
    ) -> str:
        validate = validator(check)
        if given is not None:
            verdict = validate(str(given))
            if verdict is not True:
                raise ConfigurationError(f"{message.rstrip(':')}: {verdict}")
            return str(given).strip()
        if not self._asking():
            return default
        return self.prompter.text(message, default=default, validate=validate)

    def ask_confirm(self, message: str, given: bool | None, default: bool) -> bool:
        if given is not None:
            return given
        if not self._asking():
            return default
        return self.prompter.confirm(message, default=default)

    def check_target(self, target: Path, *, force: bool) -> None:
        if not target.exists() or force:
            return
        if self.yes or not os.isatty(0):
            raise ConfigurationError(f"{target} already exists", hint="use --force to overwrite it")
        if not self.prompter.confirm(f"{target.name} already exists. Overwrite it?", default=False):
            raise OperationFailed(f"kept {target}; nothing changed")

    def env_url(self) -> str | None:
        for name in ("ZAPJOBS_DATABASE_URL", "DATABASE_URL"):
            if os.environ.get(name, "").strip():
                return os.environ[name].strip()
        return None

    def database_url(self) -> str | None:
        """The connection string to write (None: it comes from the environment), tested live;
        asked again until it connects when there is a terminal."""
        given = self.state.flags.get("database_url")
        if given is not None or self.yes:
            url = str(given) if given is not None else None
            check = url or self.env_url() or f"sqlite:///{DEFAULT_SQLITE_PATH}"
            self.connected = self.test_connection(check, quiet_failure=True)
            return url if url is not None or self.env_url() else check
        self.prompter.require_terminal("zapjobs init")
        kind = self.prompter.select(
            "Where should zapjobs keep its jobs?",
            [
                (POSTGRES, "PostgreSQL (production: many workers on many machines)"),
                (SQLITE, "SQLite file (one machine, nothing to install)"),
            ],
            default=POSTGRES if (self.env_url() or "").startswith("postgres") else SQLITE,
        )
        default = (self.env_url() or DEFAULT_PG) if kind == POSTGRES else DEFAULT_SQLITE_PATH
        while True:
            if kind == POSTGRES:
                url = self.prompter.text(
                    "PostgreSQL connection string (URI or key=value):", default
                )
            else:
                path = self.prompter.text("SQLite database file:", default)
                url = path if path.startswith("sqlite:") else f"sqlite:///{path}"
            if self.test_connection(url, quiet_failure=False):
                self.connected = True
                return url
            default = without_password(url) if kind == POSTGRES else url.removeprefix("sqlite:///")
            self.state.note("try again (Ctrl-C to stop)")

    def test_connection(self, url: str, *, quiet_failure: bool) -> bool:
        folder = self.target_folder()
        checked = resolve_sqlite_path(url, folder)
        try:
            ZapJobs(checked).backend  # noqa: B018  an unrecognised URL fails before connecting
            version = asyncio.run(server_version(checked))
        except ZapJobsError as exc:
            prefix = "warning: cannot connect" if quiet_failure else "error"
            self.state.note(f"{prefix}: {scrub(str(exc), checked)}")
            return False
        self.state.note(f"connected to {display_dsn(checked)}: {version}")
        return True

    def target_folder(self) -> Path:
        path = self.state.config_path
        if path is None:
            return self.state.cwd
        return (path if path.is_absolute() else self.state.cwd / path).parent

    def write(self, target: Path, answers: Answers) -> None:
        secret = answers.database_url is not None and bool(dsn_password(answers.database_url))
        write_config(target, toml_text(answers), owner_only=secret)
        self.state.note(f"wrote {target}")
        if answers.database_url is None:
            self.state.note("database_url is not written: it comes from the environment")
        elif secret:
            self.state.note(
                f"note: {target.name} holds the database password, so it is readable by you "
                "only (mode 0600); keep it out of version control, or set "
                "ZAPJOBS_DATABASE_URL instead"
            )

    def maybe_migrate(self, url: str, prefix: str, folder: Path, given: bool | None) -> None:
        if not url:
            return
        if not self.connected:
            if given:  # asked for explicitly: the failure is the command's failure
                asyncio.run(run_migrations(resolve_sqlite_path(url, folder), prefix))
            self.state.note("run `zapjobs migrate` once the database is reachable")
            return
        if not self.ask_confirm("Create the zapjobs tables now (zapjobs migrate)?", given, True):
            self.state.note("later: zapjobs migrate")
            return
        applied = asyncio.run(run_migrations(resolve_sqlite_path(url, folder), prefix))
        self.state.note(
            f"applied {len(applied)} migration(s)" if applied else "the tables are up to date"
        )


def write_config(path: Path, text: str, *, owner_only: bool) -> None:
    """Create or replace the config file. Holding a password it is made owner-only (0600)
    before a byte is written; an existing file's permissions are kept, never loosened."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if owner_only else 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        if owner_only and hasattr(os, "fchmod"):
            os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & 0o600)
        file.write(text)


def without_password(dsn: str) -> str:
    """The connection string minus its password: offered again after a failed attempt without
    printing the secret back (the person types it again)."""
    password = dsn_password(dsn)
    if not password:
        return dsn
    if "://" in dsn:
        scheme, _, rest = dsn.partition("://")
        userinfo, at, host = rest.partition("@")
        return f"{scheme}://{userinfo.split(':', 1)[0]}{at}{host}"
    return " ".join(part for part in dsn.split() if not part.lower().startswith("password="))


async def server_version(url: str) -> str:
    zap = ZapJobs(url)
    try:
        await zap.open(require_migrated=False)
        return await zap.server_version()
    finally:
        await zap.close()


async def run_migrations(url: str, prefix: str) -> list[int]:
    zap = ZapJobs(url, table_prefix=prefix)
    try:
        return await zap.migrate()
    finally:
        await zap.close()
