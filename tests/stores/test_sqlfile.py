"""The named-block format of queries.sql: statements, fragments, fragments inside fragments."""

from __future__ import annotations

import pytest

from zapjobs.errors import StoreError
from zapjobs.stores.sqlfile import parse_queries, render

TEXT = """
-- fragment: columns
id, {more}
-- fragment: more
name
-- fragment: loop_a
{loop_b}
-- fragment: loop_b
{loop_a}
-- name: listing
-- a comment line is dropped
SELECT {columns} FROM {prefix}runs WHERE channel = {channel};
"""


def test_fragments_may_include_fragments() -> None:
    statements, fragments = parse_queries(TEXT)
    text = render("listing", statements["listing"], fragments, "zj_", frozenset({"channel"}))
    assert text == "SELECT id, name FROM zj_runs WHERE channel = {channel}"


def test_an_unknown_placeholder_is_an_error() -> None:
    statements, fragments = parse_queries(TEXT)
    with pytest.raises(StoreError, match="channel"):
        render("listing", statements["listing"], fragments, "zj_")


def test_fragments_that_include_each_other_are_an_error() -> None:
    _, fragments = parse_queries(TEXT)
    with pytest.raises(StoreError, match="too deeply"):
        render("looping", "SELECT {loop_a}", fragments, "zj_")


def test_a_name_defined_twice_is_an_error() -> None:
    with pytest.raises(StoreError, match="twice"):
        parse_queries("-- name: a\nSELECT 1\n-- fragment: a\nx\n")
