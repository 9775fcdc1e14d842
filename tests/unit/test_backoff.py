"""The reconnect schedule (pure) and the one-line-per-outage reporter every loop shares."""

from __future__ import annotations

import logging

import pytest

from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.errors import ConnectionFailedError, StoreError
from zapjobs.runtime.backoff import Outages, Retry

LOST = ConnectionFailedError("lost the connection to PostgreSQL at db:5432")


def test_the_schedule_doubles_from_first_up_to_the_cap() -> None:
    schedule = ReconnectSchedule(first=0.5, factor=2.0, cap=5.0)
    assert [schedule.delay(n) for n in range(0, 7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert schedule.delay(10_000) == 5.0  # no overflow however long the outage


def test_a_schedule_that_shrinks_is_refused() -> None:
    with pytest.raises(ValueError):
        ReconnectSchedule(first=2.0, cap=1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_outage_and_one_per_recovery_whatever_the_loops_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outages = Outages(logging.getLogger("zapjobs.worker"), monotonic=clock)
    claims, results, beats = (Retry(name, outages) for name in ("claims", "results", "beat"))
    with caplog.at_level(logging.WARNING, logger="zapjobs.worker"):
        for _ in range(5):
            claims.failed(LOST)
            beats.failed(LOST)
        results.failed(LOST)
        claims.succeeded()
        beats.succeeded()
        assert outages.unreachable  # the results loop has not written yet
        clock.now = 112.5
        results.succeeded()
        claims.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("database unreachable (claims): lost the connection")
    assert messages[1] == "database reachable again after 12.5s"
    assert not outages.unreachable


def test_other_errors_are_logged_each_time_and_are_no_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outages = Outages(logging.getLogger("zapjobs.worker"))
    retry = Retry("claiming runs", outages)
    with caplog.at_level(logging.WARNING, logger="zapjobs.worker"):
        assert retry.failed(StoreError("PostgreSQL error: boom")) == 0.5
        assert retry.failed(StoreError("PostgreSQL error: boom")) == 1.0
        retry.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "claiming runs failed (retrying in 0.5s): PostgreSQL error: boom",
        "claiming runs failed (retrying in 1.0s): PostgreSQL error: boom",
    ]
    assert retry.failures == 0 and not outages.unreachable
