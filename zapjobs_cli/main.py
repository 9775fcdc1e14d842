"""The ``zapjobs`` command: the root typer app, its global options, and the one entry point
(``run``) that applies the error policy of ``zapjobs_cli.errors`` to every command."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from zapjobs_cli import errors
from zapjobs_cli.commands import (
    bench,
    config,
    dashboard,
    demo,
    doctor,
    enqueue,
    health,
    init,
    jobs,
    metrics,
    migrate,
    prune,
    queues,
    recurring,
    runs,
    status,
    worker,
    workers,
)
from zapjobs_cli.context import CliState

HELP = """Run and steer zapjobs background jobs from the terminal.

Settings come from flags, then `ZAPJOBS_*` environment variables, then `zapjobs.toml`
(searched upward) or `[tool.zapjobs]` in pyproject.toml, then defaults. The options below
may also follow the command: `zapjobs status -c DSN`.

Start with `zapjobs init`, or see it work with no server: `zapjobs demo`.
"""


def _plain_help() -> None:
    """Typer's help writes ``<bool>`` beside every flag and a required argument as ``{JOB}``
    (braces read as "one of"); a flag takes no value and an argument is written ``JOB``."""
    from typer.core import TyperArgument, TyperOption

    def option_type(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown_type(self, ctx)

    def argument_usage(self: TyperArgument) -> str:
        name = self.display_name_raw.upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    shown_type = TyperOption.display_type_rich
    TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]


_plain_help()

root = typer.Typer(
    name="zapjobs",
    help=HELP,
    epilog=errors.EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_current: list[CliState] = []  # the state of this invocation, for the error policy


def _version(value: bool) -> None:
    if value:
        from zapjobs import __version__

        typer.echo(f"zapjobs {__version__}")
        raise typer.Exit()


@root.callback()
def main_callback(
    ctx: typer.Context,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            "--database-url",
            "-c",
            metavar="DSN",
            help="Database: postgresql://user@host/db, a libpq key=value string, "
            "or sqlite:///path.db.",
            show_default=False,
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Table prefix (default zapjobs_).")
    ] = None,
    app: Annotated[
        str | None,
        typer.Option(
            "--app", metavar="MODULE:ATTR", help="Where your ZapJobs object lives, e.g. jobs:zap."
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config", metavar="PATH", help="Use this config file (no search)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="Plain text output.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    state = CliState(
        flags={"database_url": connection, "table_prefix": prefix, "app": app},
        config_path=config_file,
        debug=debug,
        no_color=no_color,
    )
    _current[:] = [state]
    ctx.obj = state


for module in (
    init,
    migrate,
    worker,
    enqueue,
    status,
    health,
    doctor,
    prune,
    demo,
    dashboard,
    bench,
    metrics,
):
    module.register(root)
root.add_typer(jobs.app, name="jobs")
root.add_typer(recurring.app, name="recurring")
root.add_typer(runs.app, name="runs")
root.add_typer(workers.app, name="workers")
root.add_typer(queues.app, name="queues")
root.add_typer(config.app, name="config")


_VALUE_OPTIONS = frozenset(
    {"-c", "--connection", "--database-url", "--prefix", "--app", "--config"}
)
_FLAG_OPTIONS = frozenset({"--debug", "--no-color"})


def hoist_global_options(argv: list[str]) -> list[str]:
    """Global options may also follow the command (``zapjobs status -c DSN``): move them in
    front of it, where the root callback reads them. Nothing after ``--`` moves."""
    head: list[str] = []
    index = 0
    while index < len(argv):  # the root options, up to the command name
        token = argv[index]
        if not token.startswith("-") or token == "--":
            break
        head.append(token)
        if token in _VALUE_OPTIONS and index + 1 < len(argv):
            head.append(argv[index + 1])
            index += 1
        index += 1
    rest: list[str] = []
    while index < len(argv):
        token = argv[index]
        name = token.split("=", 1)[0]
        if token == "--":
            rest += argv[index:]
            break
        if token in _FLAG_OPTIONS or (name in _VALUE_OPTIONS and "=" in token):
            head.append(token)
        elif token in _VALUE_OPTIONS and index + 1 < len(argv):
            head += [token, argv[index + 1]]
            index += 1
        else:
            rest.append(token)
        index += 1
    return head + rest


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (errors already printed)."""
    command = typer.main.get_command(root)
    _current.clear()
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        with warnings.catch_warnings():
            _show_deprecations_as_notices()
            command.main(args=args, prog_name="zapjobs", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except (Exception, KeyboardInterrupt) as exc:
        state = _current[0] if _current else CliState(debug="--debug" in args)
        return errors.report(exc, debug=state.debug, scrub=state.scrub)
    return errors.EXIT_OK


def _show_deprecations_as_notices() -> None:
    """A deprecated setting name (e.g. worker_count in zapjobs.toml) still works; say so once,
    in one line on stderr, instead of Python's two-line warning (or nothing)."""

    def notice(message: Warning | str, *_: object, **__: object) -> None:
        sys.stderr.write(f"warning: {message}\n")

    warnings.filterwarnings(
        "default", message=r".* is deprecated; use ", category=DeprecationWarning
    )
    warnings.showwarning = notice


def _exit_code(code: object) -> int:
    if code is None:
        return errors.EXIT_OK
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return errors.EXIT_FAILED


def run() -> None:
    """The console script ``zapjobs``."""
    sys.exit(main())
