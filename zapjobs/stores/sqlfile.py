"""The named-block format of every backend's ``queries.sql``: ``-- name: x`` starts a statement,
``-- fragment: y`` a piece other blocks include as ``{y}`` (a fragment may include fragments);
whole-line comments are dropped."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from zapjobs.errors import StoreError

_HEADER = re.compile(r"^--\s*(name|fragment):\s*([a-z][a-z0-9_]*)\s*$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: how deep fragments may include fragments (a cycle would never end)
_MAX_DEPTH = 8


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


@cache
def load_queries(package: str) -> tuple[dict[str, str], dict[str, str]]:
    """The parsed ``queries.sql`` of a backend's package, read once per process."""
    text = resources.files(package).joinpath("queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


def render(
    name: str,
    body: str,
    fragments: dict[str, str],
    prefix: str,
    late: frozenset[str] = frozenset(),
) -> str:
    """``body`` with its fragments included (recursively) and ``{prefix}`` replaced; a
    placeholder neither a fragment nor in ``late`` (filled at use) is an error."""
    text = body
    for _ in range(_MAX_DEPTH):
        expanded = PLACEHOLDER.sub(lambda m: fragments.get(m.group(1), m.group(0)), text)
        if expanded == text:
            break
        text = expanded
    else:
        raise StoreError(f"queries.sql block {name!r} includes fragments too deeply (a cycle?)")
    text = text.replace("{prefix}", prefix)
    leftover = set(PLACEHOLDER.findall(text)) - late
    if leftover:
        raise StoreError(f"queries.sql block {name!r} uses unknown {sorted(leftover)}")
    return text
