"""The `/` filter language: text in, a typed RunFilter out, a one-line FilterError otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapjobs.core.filters import FilterError
from zapjobs.core.filters import parse_words as parse_filter
from zapjobs.models import RunFilter, RunStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_empty_text_matches_everything() -> None:
    assert parse_filter("", NOW) == RunFilter()
    assert parse_filter("   ", NOW) == RunFilter()


def test_every_qualifier_and_free_text() -> None:
    selection = parse_filter("status:failed job:email-sender queue:low since:1h timeout", NOW)
    assert selection == RunFilter(
        statuses=(RunStatus.FAILED,),
        job_types=("email-sender",),
        queues=("low",),
        created_after=NOW - timedelta(hours=1),
        search="timeout",
    )


def test_repeated_and_comma_separated_values_widen() -> None:
    selection = parse_filter("status:failed,cancelled status:failed job:a,b job:c", NOW)
    assert selection.statuses == (RunStatus.FAILED, RunStatus.CANCELLED)
    assert selection.job_types == ("a", "b", "c")


def test_pending_alone_means_due_now_and_scheduled_means_due_later() -> None:
    assert parse_filter("status:pending", NOW) == RunFilter(
        statuses=(RunStatus.PENDING,), scheduled=False, now=NOW
    )
    assert parse_filter("status:scheduled", NOW) == RunFilter(
        statuses=(RunStatus.PENDING,), scheduled=True, now=NOW
    )
    assert parse_filter("status:pending,scheduled", NOW) == RunFilter(statuses=(RunStatus.PENDING,))


def test_status_words_are_case_insensitive_with_common_spellings() -> None:
    assert parse_filter("STATUS:Failed status:canceled status:ok", NOW).statuses == (
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
    )


def test_quoted_text_is_searched_as_is_even_with_a_colon() -> None:
    selection = parse_filter("job:x \"KeyError: 'id'\"", NOW)
    assert selection.search == "KeyError: 'id'"
    assert selection.job_types == ("x",)


def test_words_without_a_qualifier_join_into_one_search() -> None:
    assert parse_filter("connection   reset 12:30", NOW).search == "connection reset 12:30"


def test_since_and_until_take_durations_or_iso_times() -> None:
    selection = parse_filter("since:2d until:30m", NOW)
    assert selection.created_after == NOW - timedelta(days=2)
    assert selection.created_before == NOW - timedelta(minutes=30)
    selection = parse_filter("since:2026-03-01T08:00", NOW)
    assert selection.created_after == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_ids_and_job_types_with_colons() -> None:
    selection = parse_filter("id:4,5 job:billing:invoice", NOW)
    assert selection.ids == (4, 5)
    assert selection.job_types == ("billing:invoice",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status:faild", "unknown status 'faild': use one of pending, scheduled"),
        ("sttaus:failed", "unknown qualifier sttaus:"),
        ("status:", "status: needs a value, e.g. status:failed"),
        ("since:yesterday", "invalid since: 'yesterday'"),
        ("queue:bad/queue", "invalid queue name 'bad/queue'"),
        ("job:a*b", "invalid job type 'a*b'"),
        ("id:12x", "invalid run id '12x'"),
        ('"unclosed', "a quote is not closed"),
        ("status:scheduled,failed", "status:scheduled combines only with pending"),
        ("since:1h until:2h", "since: must be earlier than until:"),
    ],
)
def test_mistakes_become_one_line_messages(text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text, NOW)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
