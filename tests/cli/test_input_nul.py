"""``zapjobs enqueue --input`` with a NUL character (``\\u0000``) anywhere in the JSON: exit 2
with one line naming the field, nothing written (issue 12: it was exit 3 with a raw PostgreSQL
error, "unsupported Unicode escape sequence")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.conftest import Cli, assert_clean_error
from zapjobs import JobContext, ZapJobs


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["enqueue", "echo", "--input", '"a\\u0000b"'], "invalid input for job 'echo': input: "),
        (["enqueue", "greet", "--input", '{"name": "\\u0000"}'], "field 'name'"),
        (["enqueue", "echo", "--input", '{"x\\u0000": [1]}'], "field 'x\\x00'"),
        (["jobs", "trigger", "echo", "--input", '[0, "\\u0000"]'], "field '[1]'"),
    ],
    ids=["string", "typed field", "key", "trigger"],
)
def test_cli_enqueue_with_nul_exits_2_with_one_line(
    pg_app: Cli, args: list[str], fragment: str
) -> None:
    async def register_echo(zap: ZapJobs) -> None:  # stored, so the CLI knows it without --app
        @zap.job("echo")
        async def echo(ctx: JobContext[Any]) -> Any:
            return ctx.input

        await zap.open()

    pg_app.query(register_echo)
    result = pg_app(*args)
    assert_clean_error(result, 2, fragment, "NUL")

    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs()

    assert pg_app.query(count) == 0
