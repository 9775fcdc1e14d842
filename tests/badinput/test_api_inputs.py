"""Hostile inputs through the public API on PostgreSQL: each is rejected with a clear
ZapJobsError or accepted and round-trips exactly, and a rejection never changes a row."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zapjobs import JobContext, ZapJobs
from zapjobs.errors import RunNotFoundError, ValidationError, ZapJobsError
from zapjobs.typed import MAX_INPUT_BYTES

from .support import assert_clear, snapshot

FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@pytest.fixture
async def zap(pg_url: str) -> AsyncIterator[ZapJobs]:
    app = ZapJobs(pg_url, auto_migrate=True)

    @app.job("echo")
    async def echo(ctx: JobContext[Any]) -> Any:
        return ctx.input

    await app.open()
    try:
        yield app
    finally:
        await app.close()


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values. Numbers compare as doubles: PostgreSQL's jsonb keeps a number's
    decimal text, so a large float written as 2.251799759896167e+16 reads back as the integer
    22517997598961670 (the same JSON number, a different Python type)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


async def _accept_or_reject(zap: ZapJobs, pg_url: str, value: Any) -> None:
    before = snapshot(pg_url)
    try:
        run_id = await zap.enqueue("echo", value)
    except ZapJobsError as exc:
        assert_clear(exc)
        assert snapshot(pg_url) == before, "a rejected input changed a row"
        return
    run = await zap.get_run(run_id)
    assert _same_json(run.input, value), (run.input, value)


@FAST
@given(value=json_values)
async def test_random_json_round_trips_or_is_rejected(
    zap: ZapJobs, pg_url: str, value: Any
) -> None:
    await _accept_or_reject(zap, pg_url, value)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: list[tuple[str, Any]] = [
    ("nan", math.nan),
    ("infinity", [1, {"x": math.inf}]),
    ("lone surrogate", "a\ud800b"),
    ("lone surrogate key", {"\udfff": 1}),
    ("nul character", "a\x00b"),
    ("over the size limit", "x" * (MAX_INPUT_BYTES + 1)),
    ("deep nesting", _nested(5000)),
    ("moderate nesting", _nested(200)),
    ("huge integer", 10**400),
    ("not JSON: set", {1, 2}),
    ("not JSON: bytes", b"\xff\xfe"),
    ("not JSON: object", object()),
    ("non-string key", {1: "a"}),
]


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_hostile_inputs(zap: ZapJobs, pg_url: str, name: str, value: Any) -> None:
    await _accept_or_reject(zap, pg_url, value)


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[1,]",
        "NaN",
        '{"a": Infinity}',
        '"\\ud800"',
        "\udcff",
        '"' + "y" * (MAX_INPUT_BYTES + 10) + '"',
        "[" * 100000 + "]" * 100000,
        "",
        '{"a": 1} trailing',
    ],
    ids=lambda t: repr(t[:20]),
)
async def test_hostile_json_text(zap: ZapJobs, pg_url: str, text: str) -> None:
    before = snapshot(pg_url)
    with pytest.raises(ZapJobsError) as info:
        await zap.enqueue_json("echo", text)
    assert_clear(info.value)
    assert snapshot(pg_url) == before


async def test_input_at_the_size_limit_round_trips(zap: ZapJobs) -> None:
    value = "z" * (MAX_INPUT_BYTES - 2)  # plus two quotes: exactly the limit
    run_id = await zap.enqueue("echo", value)
    assert (await zap.get_run(run_id)).input == value


@FAST
@given(run_id=st.integers() | st.text(max_size=20) | st.none() | st.floats())
async def test_random_run_ids(zap: ZapJobs, pg_url: str, run_id: Any) -> None:
    with pytest.raises(ZapJobsError) as info:
        await zap.get_run(run_id)
    assert_clear(info.value)


@pytest.mark.parametrize("run_id", [2**63, 2**70, -(2**63) - 1, 10**30])
async def test_run_ids_beyond_bigint_are_not_found(zap: ZapJobs, run_id: int) -> None:
    """Regression: these reached PostgreSQL and came back as "bigint out of range"."""
    with pytest.raises(RunNotFoundError):
        await zap.get_run(run_id)


async def test_delay_past_year_9999_is_rejected(zap: ZapJobs, pg_url: str) -> None:
    """Regression: timedelta.max as a delay raised a bare OverflowError."""
    before = snapshot(pg_url)
    with pytest.raises(ValidationError) as info:
        await zap.enqueue("echo", 1, delay=timedelta.max)
    assert_clear(info.value)
    assert snapshot(pg_url) == before


@FAST
@given(
    queue=st.text(max_size=80)
    | st.sampled_from(["'; DROP TABLE zapjobs_runs; --", 'a"b', "a b", "x" * 65, ""])
)
async def test_random_queue_names(zap: ZapJobs, pg_url: str, queue: str) -> None:
    before = snapshot(pg_url)
    try:
        run_id = await zap.enqueue("echo", 1, queue=queue)
    except ZapJobsError as exc:
        assert_clear(exc)
        assert snapshot(pg_url) == before
        return
    assert (await zap.get_run(run_id)).queue == queue


@FAST
@given(job_type=st.text(max_size=80) | st.sampled_from(["a'b", "x;--", "", " ", "é" * 300]))
async def test_random_job_type_ids(zap: ZapJobs, pg_url: str, job_type: str) -> None:
    before = snapshot(pg_url)
    try:
        await zap.enqueue(job_type, 1)
    except ZapJobsError as exc:
        assert_clear(exc)
        assert snapshot(pg_url) == before
        return
    raise AssertionError(f"enqueue of the unknown job type {job_type!r} was accepted")


cron_texts = st.text(max_size=40) | st.lists(
    st.sampled_from(["*", "*/0", "60", "-1", "1-", "L", "?", "MON", "99", "1,2", "5/", "#"]),
    min_size=1,
    max_size=7,
).map(" ".join)
HOST_ZONES = ["localtime", "posixrules", "Factory", "/etc/localtime", "../zoneinfo/UTC"]
time_zones = st.text(max_size=30) | st.sampled_from(
    [
        "UTC",
        "Europe/Paris",
        "Mars/Olympus",
        "../../etc/passwd",
        "",
        "+05:00",
        "Etc/GMT+99",
        *HOST_ZONES,
    ]
)
absurd_crons = st.one_of(
    st.integers(61, 10**30).map(lambda step: f"*/{step} * * * *"),
    st.integers(61, 5000).map(lambda n: ",".join(["1"] * n) + " * * * *"),
    st.text(alphabet="0123456789*/,- ", min_size=1001, max_size=3000),
)


@pytest.mark.parametrize("zone", HOST_ZONES)
async def test_time_zones_that_are_not_iana_names(zap: ZapJobs, pg_url: str, zone: str) -> None:
    before = snapshot(pg_url)
    with pytest.raises(ZapJobsError) as caught:
        await zap.recurring("echo", cron="0 3 * * *", timezone=zone)
    assert_clear(caught.value)
    assert str(caught.value).startswith(f"unknown time zone {zone!r}")
    assert snapshot(pg_url) == before


@FAST
@given(cron=absurd_crons)
async def test_absurd_cron_steps_lists_and_lengths(zap: ZapJobs, pg_url: str, cron: str) -> None:
    before = snapshot(pg_url)
    with pytest.raises(ZapJobsError) as caught:
        await zap.recurring("echo", cron=cron)
    assert_clear(caught.value)
    assert "invalid cron expression" in str(caught.value)
    assert len(str(caught.value)) < 1200  # never echoes more than the longest allowed expression
    assert snapshot(pg_url) == before


@FAST
@given(cron=cron_texts, timezone=time_zones)
async def test_random_cron_and_time_zones(
    zap: ZapJobs, pg_url: str, cron: str, timezone: str
) -> None:
    before = snapshot(pg_url)
    try:
        definition = await zap.recurring("echo", cron=cron, timezone=timezone)
    except ZapJobsError as exc:
        assert_clear(exc)
        assert snapshot(pg_url) == before
        return
    stored = await zap.get_definition("echo")
    assert stored == definition


@FAST
@given(
    interval=st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.timedeltas()
    | st.sampled_from([timedelta.max, timedelta.min, 1e400])
)
async def test_random_intervals(zap: ZapJobs, pg_url: str, interval: Any) -> None:
    """Regression included: timedelta.max and inf raised a bare OverflowError."""
    before = snapshot(pg_url)
    try:
        await zap.recurring("echo", interval=interval)
    except ZapJobsError as exc:
        assert_clear(exc)
        assert snapshot(pg_url) == before
        return
    assert (await zap.get_definition("echo")).schedule is not None
