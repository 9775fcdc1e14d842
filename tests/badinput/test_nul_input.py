"""A NUL character (U+0000) anywhere in a run's input is a ValidationError at enqueue, naming the
field, on every store: PostgreSQL's jsonb cannot hold it, and the memory and SQLite stores used
to accept what PostgreSQL then refused with a raw driver error (issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from zapjobs import JobContext, ValidationError, ZapJobs
from zapjobs.stores.postgres.runs import COPY_MIN_RUNS
from zapjobs.typed import Codec, check_json_text, encode_input

from .support import assert_clear


@dataclass
class Line:
    sku: str
    note: str = ""


@dataclass
class Order:
    lines: list[Line]


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = ZapJobs(store_url, auto_migrate=True)

    @app.job("echo")
    async def echo(ctx: JobContext[Any]) -> Any:
        return ctx.input

    @app.job("order")
    async def order(ctx: JobContext[Order]) -> None:
        return None

    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def _run_count(zap: ZapJobs) -> int:
    return await zap.count_runs()


# (value, the path the message names)
NUL_VALUES: list[tuple[Any, str]] = [
    ("a\x00b", "input: "),
    ({"a": {"b": ["ok", "x\x00"]}}, "field 'a.b[1]'"),
    ({"k\x00": 1}, "field 'k\\x00'"),
    ([{"deep": {"\x00": None}}], "field '[0].deep.\\x00'"),
]


@pytest.mark.parametrize(("value", "where"), NUL_VALUES)
async def test_nul_in_input_is_a_validation_error_naming_the_field(
    zap: ZapJobs, value: Any, where: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await zap.enqueue("echo", value)
    assert_clear(info.value)
    message = str(info.value)
    assert message.startswith("invalid input for job 'echo': ")
    assert where in message and "NUL" in message, message
    assert "\x00" not in message
    assert await _run_count(zap) == 0


async def test_nul_in_a_typed_input_names_the_dataclass_field(zap: ZapJobs) -> None:
    with pytest.raises(ValidationError, match=r"field 'lines\[1\]\.note': .*NUL"):
        await zap.enqueue("order", Order([Line("a"), Line("b", note="x\x00y")]))
    assert await _run_count(zap) == 0


@pytest.mark.parametrize("count", [3, COPY_MIN_RUNS], ids=["insert", "copy"])
async def test_one_nul_in_enqueue_many_rejects_the_whole_batch(zap: ZapJobs, count: int) -> None:
    inputs: list[Any] = [{"n": i} for i in range(count)]
    inputs[-1] = {"n": "\x00"}
    with pytest.raises(ValidationError, match="field 'n'"):
        await zap.enqueue_many("echo", inputs)
    assert await _run_count(zap) == 0


async def test_nul_in_json_text_and_in_a_recurring_input(zap: ZapJobs) -> None:
    with pytest.raises(ValidationError, match=r"field 'a'.*NUL"):
        await zap.enqueue_json("echo", '{"a": "x\\u0000"}')
    with pytest.raises(ValidationError, match="NUL"):
        await zap.recurring("echo", interval=60, input={"a": "\x00"})
    assert (await zap.get_definition("echo")).schedule is None
    assert await _run_count(zap) == 0


async def test_text_that_only_looks_like_an_escaped_nul_is_stored(zap: ZapJobs) -> None:
    value = {"path": "C:\\u0000\\x", "\\u0000": "key"}
    run_id = await zap.enqueue("echo", value)
    assert (await zap.get_run(run_id)).input == value


def test_the_rule_is_for_inputs_only() -> None:
    """Outputs are made storable by the executor (escaped, visibly), not refused here."""
    assert check_json_text('"ok"', job_type="t") == '"ok"'
    assert Codec(str, what="output").encode("a\x00", job_type="t") == '"a\\u0000"'
    with pytest.raises(ValidationError, match="NUL"):
        encode_input(Codec(str), "a\x00", job_type="t")
