"""The run detail of a long log, at both terminal sizes: the newest lines at once, the title
saying how many are not shown, and a separator where each attempt starts."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import dashboard, settle
from tests.tui.fakes import LongLogSource

Compare = Any


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_run_detail_of_a_long_log_with_attempts(
    snap_compare: Compare, size: tuple[int, int]
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_run(21)  # type: ignore[attr-defined]
        await settle(pilot)

    source = LongLogSource(6000, starts=(1, 3000, 5992))
    assert snap_compare(dashboard(source), terminal_size=size, run_before=run_before)
