"""Every question the CLI asks, through questionary, in one place. A Ctrl-C in a question is a
KeyboardInterrupt (exit 130); validators return an error text or True."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from zapjobs.errors import ConfigurationError

Validator = Callable[[str], bool | str]


class Prompter:
    """Asks on the terminal. Tests drive it through the real command in a pseudo-terminal."""

    def __init__(self, **prompt_kwargs: Any) -> None:
        self._kwargs = prompt_kwargs  # e.g. input=/output= for prompt_toolkit

    @staticmethod
    def require_terminal(what: str) -> None:
        if not sys.stdin.isatty():
            raise ConfigurationError(
                f"{what} asks questions, but stdin is not a terminal",
                hint="answer them with flags and --yes (see --help)",
            )

    def select(self, message: str, choices: Sequence[tuple[str, str]], default: str) -> str:
        """``choices`` are (value, title) pairs; returns the value chosen."""
        import questionary

        options = [questionary.Choice(title=title, value=value) for value, title in choices]
        answer = questionary.select(
            message,
            choices=options,
            default=next(c for c in options if c.value == default),
            **self._kwargs,
        ).unsafe_ask()
        return str(answer)

    def text(self, message: str, default: str = "", validate: Validator | None = None) -> str:
        import questionary

        answer = questionary.text(
            message, default=default, validate=validate, **self._kwargs
        ).unsafe_ask()
        return str(answer).strip()

    def confirm(self, message: str, default: bool) -> bool:
        import questionary

        return bool(questionary.confirm(message, default=default, **self._kwargs).unsafe_ask())


def validator(check: Callable[[str], object]) -> Validator:
    """A questionary validator from a function that raises ConfigurationError / ValueError."""

    def validate(text: str) -> bool | str:
        try:
            check(text)
        except ConfigurationError as exc:
            return str(exc)
        except ValueError as exc:
            return str(exc)
        return True

    return validate
