"""Loads ``queries.sql`` once: named statements and fragments, rendered for one table prefix.

Keeping every statement in one file lets a reader (and the tests) see all the SQL the store can
run; rendering only substitutes the validated prefix and fragments, never values.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from importlib import resources

from zapjobs.errors import StoreError
from zapjobs.settings import validate_prefix
from zapjobs.stores.sqlfile import parse_queries

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: the driving terms of filtered statements, by variant name (see queries.sql)
DRIVE_VARIANTS = ("all", "ids", "status", "job_type", "queue")


@cache
def _parsed() -> tuple[dict[str, str], dict[str, str]]:
    text = resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


def render_queries(prefix: str) -> dict[str, str]:
    """Every statement with fragments included and ``{prefix}`` replaced; a statement using
    ``{drive}`` appears once per variant, as ``name:variant``."""
    validate_prefix(prefix)
    statements, fragments = _parsed()
    rendered: dict[str, str] = {}
    for name, body in statements.items():
        if "{drive}" not in body:
            rendered[name] = _render(name, body, fragments, prefix)
            continue
        for variant in DRIVE_VARIANTS:
            driven = body.replace("{drive}", fragments[f"drive_{variant}"])
            rendered[f"{name}:{variant}"] = _render(name, driven, fragments, prefix)
    return rendered


def _render(name: str, body: str, fragments: dict[str, str], prefix: str) -> str:
    text = _PLACEHOLDER.sub(lambda m: fragments.get(m.group(1), m.group(0)), body)
    text = text.replace("{prefix}", prefix)
    leftover = _PLACEHOLDER.findall(text)
    if leftover:
        raise StoreError(f"queries.sql block {name!r} uses unknown {sorted(set(leftover))}")
    return text


def split_statements(script: str) -> list[str]:
    """The complete statements of a script, in order (sqlite3 decides where one ends, so a ';'
    inside a string or a comment does not split). Lets a migration run inside our own
    transaction, which ``executescript`` would commit first."""
    found: list[str] = []
    current: list[str] = []
    for char in script:
        current.append(char)
        if char == ";" and sqlite3.complete_statement("".join(current)):
            found.append("".join(current).strip())
            current = []
    rest = "".join(current).strip()
    if rest and _has_code(rest):
        found.append(rest)
    return [s for s in found if _has_code(s)]


def _has_code(text: str) -> bool:
    """False for text made only of comments and whitespace."""
    return any(line.strip() and not line.strip().startswith("--") for line in text.splitlines())
