"""Retry delays: exponential backoff with an optional, separate jitter step."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from zapjobs.errors import ValidationError


def validate_max_retries(value: object, *, name: str = "max_retries") -> int:
    """A retry budget is a whole number >= 0 (one check for the registry, overrides, policies)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed run is tried again.

    The n-th retry (n >= 1) waits ``min(initial_delay * backoff_multiplier ** (n - 1), max_delay)``.
    With ``use_jitter`` the wait is then drawn uniformly from [wait / 2, wait] ("equal jitter"):
    retries of many runs that failed together spread out, and none waits less than half.
    """

    max_retries: int = 3
    initial_delay: timedelta = timedelta(seconds=10)
    backoff_multiplier: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    use_jitter: bool = True

    def __post_init__(self) -> None:
        validate_max_retries(self.max_retries)
        if self.initial_delay < timedelta(0):
            raise ValidationError("initial_delay must not be negative")
        if self.backoff_multiplier < 1:
            raise ValidationError("backoff_multiplier must be 1 or more")
        if self.max_delay < self.initial_delay:
            raise ValidationError("max_delay must be at least initial_delay")


def backoff_delay(policy: RetryPolicy, retry_number: int) -> timedelta:
    """The wait before the ``retry_number``-th retry (1-based), before jitter."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    initial = policy.initial_delay.total_seconds()
    cap = policy.max_delay.total_seconds()
    if initial <= 0 or policy.backoff_multiplier == 1:
        return timedelta(seconds=min(initial, cap))
    # Compare in log space first, so a large exponent never overflows a float: the power is
    # computed only when the result is below the cap.
    growth = (retry_number - 1) * math.log(policy.backoff_multiplier)
    if math.log(initial) + growth >= math.log(cap):
        return timedelta(seconds=cap)
    return timedelta(seconds=min(initial * policy.backoff_multiplier ** (retry_number - 1), cap))


def apply_jitter(delay: timedelta, rng: random.Random) -> timedelta:
    """Equal jitter: uniform in [delay / 2, delay]."""
    seconds = delay.total_seconds()
    return timedelta(seconds=seconds / 2 + rng.random() * seconds / 2)


def next_retry_delay(
    policy: RetryPolicy, attempt: int, max_retries: int, rng: random.Random
) -> timedelta | None:
    """The wait before trying again after attempt number ``attempt`` (1-based) failed, or None
    when ``max_retries`` retries are used up. ``max_retries`` is passed separately because an
    operator's override may replace the policy's."""
    if attempt > max_retries:
        return None
    delay = backoff_delay(policy, attempt)
    return apply_jitter(delay, rng) if policy.use_jitter else delay
