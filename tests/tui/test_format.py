"""Display helpers: the chart's columns, durations and progress text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zapjobs.models import Progress
from zapjobs.settings import format_duration
from zapjobs_cli.display import (
    age,
    bar_rows,
    fold_zapjobs_frames,
    progress_bar,
    setting_duration,
    span,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_bar_rows_scale_from_zero_to_the_peak() -> None:
    assert bar_rows([0, 4, 6, 8], 2) == ["  ▄█", " ███"]
    assert bar_rows([0, 0], 3) == ["  ", "  ", "  "]


def test_bar_rows_show_any_non_zero_value() -> None:
    rows = bar_rows([1, 1000], 1)
    assert rows == ["▁█"]


def test_span_and_age() -> None:
    assert span(timedelta(milliseconds=850).total_seconds(), tenths=False) == "850ms"
    assert span(timedelta(seconds=185).total_seconds(), tenths=False) == "3m05s"
    assert span(timedelta(hours=2, minutes=10).total_seconds(), tenths=False) == "2h10m"
    assert age(NOW - timedelta(minutes=14, seconds=18), NOW) == "14m ago"
    assert age(NOW + timedelta(seconds=90), NOW) == "in 1m30s"
    assert age(None, NOW) == "-"


def test_progress_bar_shows_counts_of_the_total() -> None:
    text = progress_bar(Progress(total=200, processed=100, succeeded=90, failed=10), 10)
    assert text.plain == "█████░░░░░ 100/200 ✓90 ✗10"
    assert progress_bar(Progress(processed=7), 10).plain == "7 done"
    assert progress_bar(Progress(), 10).plain == ""


def test_a_whole_unit_is_written_alone_as_a_setting_is() -> None:
    """One rule for "5m": a measured span of whole minutes, hours or days reads as the same
    duration written in settings (format_duration), never "5m00s" beside "5m"."""
    for value in (timedelta(minutes=5), timedelta(hours=1), timedelta(days=2)):
        assert span(value.total_seconds()) == format_duration(value)
    assert span(timedelta(minutes=5).total_seconds()) == "5m"
    assert span(timedelta(hours=3).total_seconds()) == "3h"
    assert span(timedelta(hours=1, minutes=5).total_seconds()) == "1h05m"
    assert setting_duration(600) == "10m"
    assert age(NOW - timedelta(minutes=3), NOW) == "3m ago"


def test_folding_keeps_a_zapjobs_frame_that_raised() -> None:
    """Only frames that called further are folded: an error raised inside zapjobs stays shown."""
    inside = (
        "Traceback (most recent call last):\n"
        '  File "/venv/site-packages/zapjobs/runtime/executor.py", line 3, in _call\n'
        "    g()\n"
        "RuntimeError: inside\n"
    )
    assert fold_zapjobs_frames(inside) == inside
    called = inside.replace(
        "RuntimeError: inside\n",
        '  File "/app/jobs.py", line 9, in job\n    raise ValueError()\nValueError\n',
    )
    assert fold_zapjobs_frames(called).splitlines()[1:3] == [
        "  … 1 zapjobs frame",
        '  File "/app/jobs.py", line 9, in job',
    ]
