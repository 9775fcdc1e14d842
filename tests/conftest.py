"""Shared fixtures: a real PostgreSQL schema per test, a SQLite file per test, memory.

PostgreSQL tests use ZAPJOBS_TEST_DATABASE_URL (default: postgresql://postgres@127.0.0.1:5432/test).
Without a server they skip with the reason, unless ZAPJOBS_REQUIRE_POSTGRES=1 (set by CI), where
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from zapjobs.stores import Store, create_store

PG_BASE_URL = os.environ.get(
    "ZAPJOBS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("ZAPJOBS_REQUIRE_POSTGRES") == "1"

_pg_state: dict[str, str | None] = {}


def _pg_unavailable_reason() -> str | None:
    if "reason" not in _pg_state:
        try:
            with psycopg.connect(PG_BASE_URL, connect_timeout=3):
                _pg_state["reason"] = None
        except psycopg.Error as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            _pg_state["reason"] = f"PostgreSQL not reachable ({first_line})"
    return _pg_state["reason"]


def require_postgres() -> None:
    reason = _pg_unavailable_reason()
    if reason is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"{reason}; ZAPJOBS_REQUIRE_POSTGRES=1 makes this a failure")
    pytest.skip(reason)


def new_pg_schema() -> tuple[str, str]:
    """Create a fresh schema; return (schema, conninfo whose search_path is that schema)."""
    schema = "zt_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_BASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, make_conninfo(PG_BASE_URL, options=f"-csearch_path={schema}")


def drop_pg_schema(schema: str) -> None:
    with psycopg.connect(PG_BASE_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A conninfo string for a PostgreSQL schema of this test's own, dropped afterwards."""
    require_postgres()
    schema, url = new_pg_schema()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    return f"sqlite:///{tmp_path / 'zapjobs.db'}"


STORE_BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The URL of an empty store of each backend in turn (the conformance parameter)."""
    backend = request.param
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite":
        yield request.getfixturevalue("sqlite_url")
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An opened, migrated store of each backend in turn."""
    s = create_store(store_url)
    await s.open()
    await s.migrate()
    try:
        yield s
    finally:
        await s.close()


def _utf8_safe(value: object) -> object:
    """``value`` with every string made encodable as UTF-8 (lone surrogates as ``\\udXXX``).

    Tests of hostile job output capture lone surrogates in their output and reports; pytest-xdist
    sends reports between processes as UTF-8 and would stop the whole run on them
    (pytest-dev/pytest-xdist#843)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_utf8_safe(k): _utf8_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_utf8_safe(v) for v in value)
    return value


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(
    config: pytest.Config, report: pytest.CollectReport | pytest.TestReport
) -> Iterator[None]:
    data = yield
    return _utf8_safe(data)  # type: ignore[return-value]


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A parameter that holds a lone surrogate gets an id that can be printed and sent between
    test processes; every other id stays pytest's own (snapshot file names depend on them)."""
    if isinstance(val, str) and _utf8_safe(val) != val:
        return ascii(val)[1:-1]
    return None
