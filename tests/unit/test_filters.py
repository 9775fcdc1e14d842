"""The one filter language (zapjobs.core.filters): the CLI's options and the dashboard's words
give the same RunFilter for the same request, by one rule for pending and scheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapjobs.core.filters import FilterError, describe, parse_words, run_filter
from zapjobs.models import RunFilter, RunStatus
from zapjobs_cli.options import build_filter

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("words", "options"),
    [
        ("status:pending,failed", {"statuses": ["pending,failed"]}),
        ("status:pending status:failed", {"statuses": ["pending", "failed"]}),
        ("status:scheduled", {"statuses": ["scheduled"]}),
        ("status:pending,scheduled", {"statuses": ["pending", "scheduled"]}),
        ("status:FAILED,canceled", {"statuses": ["failed,cancelled"]}),
        ("job:a,b queue:low", {"job_types": ["a", "b"], "queues": ["low"]}),
        ("since:1h", {"since": "1h"}),
        ("since:2026-03-01T08:00", {"since": "2026-03-01T08:00"}),
        ("id:4,5 timeout", {"ids": [4, 5], "search": "timeout"}),
        ("worker:w-1,w-2 status:running", {"workers": ["w-1,w-2"], "statuses": ["running"]}),
        (
            "finished-since:2h finished-until:1h",
            {"finished_since": "2h", "finished_until": "1h"},
        ),
    ],
)
def test_cli_options_and_dashboard_words_select_the_same_runs(
    words: str, options: dict[str, object]
) -> None:
    assert build_filter(now=NOW, **options) == parse_words(words, NOW)  # type: ignore[arg-type]


def test_pending_means_due_now_whatever_it_is_combined_with() -> None:
    selection = parse_words("status:pending,failed", NOW)
    assert selection == RunFilter(
        statuses=(RunStatus.PENDING, RunStatus.FAILED), scheduled=False, now=NOW
    )
    assert parse_words("status:pending,scheduled", NOW) == RunFilter(statuses=(RunStatus.PENDING,))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"statuses": ["done"]}, "unknown status 'done'"),
        ({"statuses": ["scheduled,failed"]}, "--status scheduled combines only with pending"),
        ({"job_types": ["[/]"]}, "invalid job type '[/]'"),
        ({"queues": ["[b]x"]}, "invalid queue name '[b]x'"),
        ({"since": "soon"}, "invalid --since 'soon'"),
        ({"since": "99999999d"}, "invalid --since '99999999d'"),
        ({"ids": ["9" * 20]}, "invalid run id '99999999999999999999'"),
    ],
)
def test_option_mistakes_are_one_line_validation_errors(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(FilterError) as caught:
        run_filter(now=NOW, **options)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_describe_names_every_part() -> None:
    selection = parse_words('status:scheduled job:x queue:low since:1h until:10m id:3 "a b"', NOW)
    assert describe(selection) == (
        "id 3, status scheduled, job x, queue low, created after 2026-03-02 11:00:00 UTC, "
        "created before 2026-03-02 11:50:00 UTC, matching 'a b'"
    )
    assert describe(RunFilter()) == "all runs"
    assert run_filter(now=NOW, since="1h").created_after == NOW - timedelta(hours=1)


def test_worker_and_finish_time_words_make_their_filter_fields() -> None:
    selection = parse_words("worker:web-1 finished-since:2h finished-until:30m", NOW)
    assert selection == RunFilter(
        worker_ids=("web-1",),
        finished_after=NOW - timedelta(hours=2),
        finished_before=NOW - timedelta(minutes=30),
    )
    assert describe(selection) == (
        "worker web-1, finished after 2026-03-02 10:00:00 UTC, "
        "finished before 2026-03-02 11:30:00 UTC"
    )
    with pytest.raises(FilterError, match="finished-since: must be earlier than finished-until:"):
        parse_words("finished-since:10m finished-until:1h", NOW)
