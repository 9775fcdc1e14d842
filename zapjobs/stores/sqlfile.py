"""The named-block format of every backend's ``queries.sql``: ``-- name: x`` starts a statement,
``-- fragment: y`` a piece other statements include; whole-line comments are dropped."""

from __future__ import annotations

import re

from zapjobs.errors import StoreError

_HEADER = re.compile(r"^--\s*(name|fragment):\s*([a-z][a-z0-9_]*)\s*$")


def parse_queries(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(statements, fragments) by name."""
    statements: dict[str, str] = {}
    fragments: dict[str, str] = {}
    kind, name, lines = "", "", list[str]()

    def flush() -> None:
        if not name:
            return
        body = "\n".join(lines).strip().rstrip(";").strip()
        if name in statements or name in fragments:
            raise StoreError(f"queries.sql defines {name!r} twice")
        if not body:
            raise StoreError(f"queries.sql block {name!r} is empty")
        (statements if kind == "name" else fragments)[name] = body

    for line in text.splitlines():
        header = _HEADER.match(line.strip())
        if header:
            flush()
            kind, name, lines = header.group(1), header.group(2), []
        elif not line.lstrip().startswith("--") and name:
            lines.append(line)
    flush()
    return statements, fragments
