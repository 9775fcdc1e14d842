"""The pure parts of flow control (zapjobs.core.flow): the one parser of rate limits, caps,
rate windows, and how a limited claim picks its runs; the queue_limits setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapjobs.core.flow import (
    LimitState,
    budgets,
    check_max_concurrency,
    choose_runs,
    parse_rate_limit,
    spend,
)
from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import FlowLimit, LimitScope, RateLimit
from zapjobs.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/s", RateLimit(10, 1)),
        ("10/sec", RateLimit(10, 1)),
        ("600/m", RateLimit(600, 60)),
        (" 600 / MIN ", RateLimit(600, 60)),
        ("5/minute", RateLimit(5, 60)),
        ("1000/h", RateLimit(1000, 3600)),
        ("1/hour", RateLimit(1, 3600)),
    ],
)
def test_rate_limits_parse(text: str, expected: RateLimit) -> None:
    assert parse_rate_limit(text) == expected


@pytest.mark.parametrize("text", ["10/fortnight", "10", "/s", "ten/s", "10/d", "-1/s", "1.5/s"])
def test_malformed_rate_limits_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_rate_limit(text)
    assert f"invalid rate_limit {text!r}" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_rate_of_zero_and_a_cap_below_one_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1 start per period"):
        parse_rate_limit("0/s")
    for bad in (0, -3, True, 2.5, "2"):
        with pytest.raises(ValidationError):
            check_max_concurrency(bad)


def test_a_rate_limit_prints_as_it_is_written() -> None:
    assert [str(parse_rate_limit(t)) for t in ("10/sec", "600/min", "5/hour")] == [
        "10/s",
        "600/m",
        "5/h",
    ]


def test_budgets_count_running_runs_and_the_current_window_only() -> None:
    cap = LimitState(FlowLimit(LimitScope.JOB, "a", max_concurrency=3))
    rate = LimitState(FlowLimit(LimitScope.QUEUE, "q", rate_limit=RateLimit(5, 60)), None, 0)
    now = T0 + timedelta(seconds=30)
    spent = spend([rate], [("b", "q")] * 5, now)
    allowed = budgets([cap, *spent], [("a", "q"), ("a", "q"), ("b", "x")], now)
    assert (allowed.jobs, allowed.queues) == ({"a": 1}, {"q": 0})
    assert allowed.reopens == T0 + timedelta(minutes=1)
    assert allowed.held_queues == {"q"}
    later = budgets(spent, [], T0 + timedelta(minutes=1))
    assert later.queues == {"q": 5}  # a new window


def test_an_override_wins_over_the_declared_limit() -> None:
    limit = FlowLimit(
        LimitScope.JOB, "a", max_concurrency=1, max_concurrency_override=4,
        rate_limit=RateLimit(1, 1), rate_limit_override=RateLimit(9, 60),
    )  # fmt: skip
    assert (limit.effective_max_concurrency, limit.effective_rate_limit) == (4, RateLimit(9, 60))


def test_choose_runs_skips_a_held_type_without_blocking_the_rest() -> None:
    candidates = [("x", "q"), ("x", "q"), ("y", "q"), ("x", "q"), ("y", "q")]
    chosen = choose_runs(
        candidates, key=lambda c: c, job_budgets={"x": 1}, queue_budgets={}, limit=3
    )
    assert chosen == [("x", "q"), ("y", "q"), ("y", "q")]


def test_queue_limits_setting_parses_and_refuses_bad_values() -> None:
    settings = Settings().with_changes(
        queue_limits={"mail": {"max_concurrency": 2, "rate_limit": "10/s"}}
    )
    assert settings.queue_limit("mail") == FlowLimit(
        LimitScope.QUEUE, "mail", max_concurrency=2, rate_limit=RateLimit(10, 1)
    )
    assert not settings.queue_limit("other").limited
    with pytest.raises(ConfigurationError, match=r"queue_limits\.mail\.rate_limit"):
        Settings().with_changes(queue_limits={"mail": {"rate_limit": "10/fortnight"}})
    with pytest.raises(ConfigurationError, match="takes max_concurrency and rate_limit"):
        Settings().with_changes(queue_limits={"mail": {"cap": 2}})
