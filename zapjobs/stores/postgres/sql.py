"""Loads ``queries.sql`` once: named statements and fragments, rendered per installation.

Keeping every statement in one file lets a reader (and the drift test) see all the SQL the
store can run; rendering only substitutes the schema-qualified prefix and fragments, never values.
"""

from __future__ import annotations

from zapjobs.settings import validate_prefix
from zapjobs.stores.sqlfile import load_queries, render

#: placeholders left in the rendered text on purpose (filled with a quoted identifier at use)
_LATE_PLACEHOLDERS = frozenset({"channel"})

#: The hot statements: the claim, called for every few runs, the enqueues, and the completer's
#: usual batch of successes (complete_childless). They go through the hot pool
#: (session_setup_hot: generic plans, no sequential scans), prepared once per connection, so the
#: server neither parses nor plans them at each call; tests pin their generic plans as
#: index-bound. Every other statement goes through the general pool, unprepared, so the server
#: plans it with its values each time.
PREPARED = frozenset(
    {
        "enqueue_run",
        "enqueue_runs",
        "enqueue_unique_runs",
        "claim_runs",
        "claim_granted",
        "claim_limited",
        "complete_childless",
    }
)

#: The hot statements whose rows come back in binary: the claims, a whole run per row. In text,
#: the server formats each timestamp (timestamptz_out) and the worker parses it back, for every
#: claimed run; in binary both copy eight bytes.
BINARY_RESULTS = frozenset({"claim_runs", "claim_granted", "claim_limited"})

#: The lane of a hot statement: each lane keeps the connection it used last (database.py:
#: parking), so the completer, which runs beside the claims, does not take turns with them on
#: one backend (when it did, the claims of a one-process drain got a fifth slower). The others
#: are in the lane DEFAULT_LANE.
LANES = {"complete_childless": "completions"}
DEFAULT_LANE = "claims"


def render_queries(qualified_prefix: str) -> dict[str, str]:
    """Every statement with fragments included and ``{prefix}`` replaced.

    ``qualified_prefix`` is ``"schema".prefix`` built from a validated prefix and a quoted schema
    name, so tables are found even on a caller's connection with another search_path.
    """
    statements, fragments = load_queries("zapjobs.stores.postgres")
    return {
        name: render(name, body, fragments, qualified_prefix, _LATE_PLACEHOLDERS)
        for name, body in statements.items()
    }


def qualify(schema: str | None, prefix: str) -> str:
    """``"schema".prefix`` (or the bare prefix when the session has no current schema)."""
    validate_prefix(prefix)
    if schema is None:
        return prefix
    return '"' + schema.replace('"', '""') + '".' + prefix
