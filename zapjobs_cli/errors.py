"""The one error policy of every command: a ZapJobsError becomes one line on stderr,
``error: <message>``, and its exit code; ``--debug`` adds the traceback. Nothing printed here
holds a password: the whole text (a traceback's source lines too) is scrubbed of the password of
every connection string the process saw, and of any connection string's password written in it
(``scheme://user:***@``, ``password=***``), e.g. a literal in the app module's source.

Exit codes: 0 ok, 1 the operation failed, 2 usage error, 3 cannot reach or use the database,
130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from zapjobs.errors import ZapJobsError
from zapjobs.settings import mask_passwords
from zapjobs_cli.display import visible

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 the operation failed (a run failed under --wait, a check failed), "
    "2 usage error (bad input, unknown job type or run, no config), 3 cannot reach or use "
    "the database (unreachable, wrong password, not migrated), 130 interrupted."
)


class OperationFailed(ZapJobsError):
    """The command ran but what it was asked to do did not succeed (exit 1)."""

    exit_code = EXIT_FAILED


def report(exc: BaseException, *, debug: bool, scrub: Callable[[str], str] | None = None) -> int:
    """Print ``exc`` the one way and return the exit code for it."""
    known = scrub or (lambda text: text)

    def clean(text: str) -> str:
        return mask_passwords(known(text))

    if debug:
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(clean(text))
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, ZapJobsError):
        sys.stderr.write(f"error: {_one_line(clean(str(exc)))}\n")
        return int(exc.exit_code)
    message = _one_line(clean(str(exc))) or "(no message)"
    sys.stderr.write(f"error: unexpected {type(exc).__name__}: {message}\n")
    if not debug:
        sys.stderr.write("run again with --debug for the traceback\n")
    return EXIT_FAILED


def _one_line(text: str) -> str:
    """One line, control characters visible: a message may quote what a job raised."""
    return visible(" ".join(text.split()))
