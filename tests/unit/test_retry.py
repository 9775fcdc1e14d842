"""Retry delays: exponential backoff capped at max_delay, equal jitter kept apart, and the budget
of max_retries retries."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zapjobs.core.retry import RetryPolicy, apply_jitter, backoff_delay, next_retry_delay

S = timedelta(seconds=1)


def test_backoff_grows_by_the_multiplier_and_stops_at_max_delay() -> None:
    policy = RetryPolicy(initial_delay=10 * S, backoff_multiplier=2, max_delay=60 * S)
    delays = [backoff_delay(policy, n) for n in range(1, 6)]
    assert delays == [10 * S, 20 * S, 40 * S, 60 * S, 60 * S]


def test_a_huge_retry_number_is_capped_without_overflow() -> None:
    policy = RetryPolicy(initial_delay=S, backoff_multiplier=10, max_delay=timedelta(hours=1))
    assert backoff_delay(policy, 5000) == timedelta(hours=1)


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(RetryPolicy(), 0)


def test_without_jitter_the_delay_is_exact_and_the_budget_is_max_retries() -> None:
    policy = RetryPolicy(initial_delay=5 * S, backoff_multiplier=3, use_jitter=False)
    rng = random.Random(1)
    assert next_retry_delay(policy, 1, 2, rng) == 5 * S
    assert next_retry_delay(policy, 2, 2, rng) == 15 * S
    assert next_retry_delay(policy, 3, 2, rng) is None  # 1 try + 2 retries used up


def test_an_override_of_max_retries_replaces_the_policys_budget() -> None:
    policy = RetryPolicy(max_retries=10, use_jitter=False)
    assert next_retry_delay(policy, 1, 0, random.Random()) is None


@given(
    seconds=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_equal_jitter_stays_between_half_and_the_full_delay(seconds: float, seed: int) -> None:
    delay = timedelta(seconds=seconds)
    jittered = apply_jitter(delay, random.Random(seed))
    assert delay / 2 - timedelta(microseconds=1) <= jittered <= delay + timedelta(microseconds=1)


def test_jitter_spreads_retries_of_runs_that_failed_together() -> None:
    policy = RetryPolicy(initial_delay=100 * S)
    rng = random.Random(7)
    delays = {next_retry_delay(policy, 1, 3, rng) for _ in range(50)}
    assert len(delays) > 40


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -S},
        {"backoff_multiplier": 0.5},
        {"initial_delay": 10 * S, "max_delay": S},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
