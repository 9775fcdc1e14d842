"""Hostile durations, table prefixes and connection strings: a clear ZapJobsError (never a
password in it) or a value that parses back exactly."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zapjobs import ZapJobs
from zapjobs.errors import ConfigurationError, ZapJobsError
from zapjobs.settings import format_duration, mask_dsn, parse_duration, validate_prefix

from .support import SECRET, assert_clear

FAST = settings(max_examples=60, deadline=None)

duration_texts = st.text(max_size=20) | st.lists(
    st.sampled_from(["1", "15", "0.5", "-3", "1e9", "s", "m", "h", "d", "w", "ms", ":", ".", " "]),
    max_size=6,
).map("".join)


@FAST
@given(text=duration_texts)
@example(text=".0001")  # 100 us was shown as "0ms"
@example(text="1.2345678s")
def test_random_durations(text: str) -> None:
    try:
        value = parse_duration(text)
    except ZapJobsError as exc:
        assert_clear(exc)
        return
    assert value >= timedelta(0)
    assert parse_duration(format_duration(value)) == value  # the shortest form reads back exactly


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "9" * 400, "infinity s"])
def test_non_finite_durations(text: str) -> None:
    with pytest.raises(ZapJobsError) as info:
        parse_duration(text)
    assert_clear(info.value)


@FAST
@given(
    prefix=st.text(max_size=40)
    | st.sampled_from(['x"; DROP TABLE t; --', "a'b", "zap jobs", "zapjobs_;", "ZAP", "_" * 31])
)
def test_random_table_prefixes(prefix: str) -> None:
    try:
        assert validate_prefix(prefix) == prefix
    except ConfigurationError as exc:
        assert_clear(exc)
        return
    assert all(c.isalnum() or c == "_" for c in prefix) and prefix.isascii()


dsn_parts = st.sampled_from(
    [
        f"postgresql://user:{SECRET}@127.0.0.1:1/db",
        f"postgresql://user:{SECRET}@127.0.0.1:1/db?sslmode=bogus",
        f"postgresql://user:{SECRET}@127.0.0.1:notaport/db",
        f"postgresql://user:{SECRET}@[::1:1/db",
        f"host=127.0.0.1 port=1 password={SECRET} user=u",
        f"host=127.0.0.1 port=1 password='{SECRET}' user=u dbname='x",
        f"host=127.0.0.1 port=1 password={SECRET} bogus_key=1",
        f"postgres://:{SECRET}@127.0.0.1:1",
        f"mysql://user:{SECRET}@127.0.0.1/db",
        "",
        "   ",
        "not a connection string",
        "sqlite:///nonexistent-dir/x.db",
    ]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dsn=dsn_parts, suffix=st.text(max_size=10))
@example(dsn=f"postgres://:{SECRET}@127.0.0.1:1", suffix="\n")  # the port was shown as "1\n"
async def test_bad_connection_strings_never_leak_the_password(dsn: str, suffix: str) -> None:
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        zap = ZapJobs(dsn + suffix)
        try:
            await zap.open()
        finally:
            await zap.close()
    except ZapJobsError as exc:
        assert_clear(exc)
    else:
        pytest.fail(f"opening {mask_dsn(dsn + suffix)!r} succeeded")
    finally:
        logging.getLogger().removeHandler(handler)
    assert not [r for r in records if SECRET in r]
    assert SECRET not in mask_dsn(dsn + suffix)
