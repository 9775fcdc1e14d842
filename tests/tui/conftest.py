"""Helpers for driving the dashboard: a fake source, a frozen clock, and waiting on conditions
(never on a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from tests.tui.fakes import NOW, FakeSource
from zapjobs.clock import FakeClock
from zapjobs_cli.tui.app import DashboardApp, make_dashboard

SIZE = (120, 36)


@pytest.fixture
def fake() -> FakeSource:
    return FakeSource()


def dashboard(source: object, **options: object) -> DashboardApp:
    options.setdefault("clock", FakeClock(NOW))
    options.setdefault("refresh", 3600.0)  # no timer fires during a test unless asked for
    return make_dashboard(source, **options)  # type: ignore[arg-type]


async def settle(pilot: Pilot[None]) -> None:
    """Let pending messages run, then wait until no fetch or action worker is busy."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], *, timeout: float = 10.0
) -> None:
    """Poll ``condition`` while the app runs; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await pilot.pause(0.02)


async def press(pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
