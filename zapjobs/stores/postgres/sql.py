"""Loads ``queries.sql`` once: named statements and fragments, rendered per installation.

Keeping every statement in one file lets a reader (and the drift test) see all the SQL the
store can run; rendering only substitutes the schema-qualified prefix and fragments, never values.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from zapjobs.errors import StoreError
from zapjobs.settings import validate_prefix
from zapjobs.stores.sqlfile import parse_queries

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: placeholders left in the rendered text on purpose (filled with a quoted identifier at use)
_LATE_PLACEHOLDERS = frozenset({"channel"})

#: The hot statements: the claim, called for every few runs, and the enqueues. They go through
#: the hot pool (session_setup_hot: generic plans, no sequential scans), prepared once per
#: connection, so the server neither parses nor plans them at each call; tests pin their generic
#: plans as index-bound. Every other statement goes through the general pool unprepared, so the
#: server plans it with its values each time.
PREPARED = frozenset({"enqueue_run", "enqueue_runs", "claim_runs"})


@cache
def _parsed() -> tuple[dict[str, str], dict[str, str]]:
    text = resources.files(__package__).joinpath("queries.sql").read_text(encoding="utf-8")
    return parse_queries(text)


def render_queries(qualified_prefix: str) -> dict[str, str]:
    """Every statement with fragments included and ``{prefix}`` replaced.

    ``qualified_prefix`` is ``"schema".prefix`` built from a validated prefix and a quoted schema
    name, so tables are found even on a caller's connection with another search_path.
    """
    statements, fragments = _parsed()
    rendered: dict[str, str] = {}
    for name, body in statements.items():
        text = _PLACEHOLDER.sub(lambda m: fragments.get(m.group(1), m.group(0)), body)
        text = text.replace("{prefix}", qualified_prefix)
        leftover = set(_PLACEHOLDER.findall(text)) - _LATE_PLACEHOLDERS
        if leftover:
            raise StoreError(f"queries.sql block {name!r} uses unknown {sorted(leftover)}")
        rendered[name] = text
    return rendered


def qualify(schema: str | None, prefix: str) -> str:
    """``"schema".prefix`` (or the bare prefix when the session has no current schema)."""
    validate_prefix(prefix)
    if schema is None:
        return prefix
    return '"' + schema.replace('"', '""') + '".' + prefix
