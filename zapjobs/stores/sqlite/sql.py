"""Loads ``queries.sql`` once: named statements and fragments, rendered for one table prefix.

Keeping every statement in one file lets a reader (and the tests) see all the SQL the store can
run; rendering only substitutes the validated prefix and fragments, never values.
"""

from __future__ import annotations

import sqlite3

from zapjobs.settings import validate_prefix
from zapjobs.stores.sqlfile import load_queries, render

#: the driving terms of filtered statements, by variant name (see queries.sql)
DRIVE_VARIANTS = ("all", "ids", "status", "job_type", "queue")


def render_queries(prefix: str) -> dict[str, str]:
    """Every statement with fragments included and ``{prefix}`` replaced; a statement using
    ``{drive}`` appears once per variant, as ``name:variant``."""
    validate_prefix(prefix)
    statements, fragments = load_queries("zapjobs.stores.sqlite")
    rendered: dict[str, str] = {}
    for name, body in statements.items():
        if "{drive}" not in body:
            rendered[name] = render(name, body, fragments, prefix)
            continue
        for variant in DRIVE_VARIANTS:
            driven = body.replace("{drive}", fragments[f"drive_{variant}"])
            rendered[f"{name}:{variant}"] = render(name, driven, fragments, prefix)
    return rendered


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
