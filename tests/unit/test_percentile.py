"""The percentile rule every store follows (PostgreSQL's percentile_cont)."""

from __future__ import annotations

import pytest

from zapjobs.core.percentile import percentile_cont


def test_percentile_interpolates_between_the_closest_ranks() -> None:
    values = [10.0, 1.0, 7.0, 3.0]  # sorted: 1, 3, 7, 10
    assert percentile_cont(values, 0.5) == pytest.approx(5.0)  # rank 1.5
    assert percentile_cont(values, 0.95) == pytest.approx(9.55)  # rank 2.85
    assert percentile_cont(values, 0) == 1.0
    assert percentile_cont(values, 1) == 10.0


def test_percentile_of_one_value_and_of_none() -> None:
    assert percentile_cont([4.0], 0.95) == 4.0
    assert percentile_cont([], 0.5) is None
    with pytest.raises(ValueError):
        percentile_cont([1.0], 1.5)
