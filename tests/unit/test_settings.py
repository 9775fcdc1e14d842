"""Settings values: durations, queues, table prefixes, DSN masking and scrubbing, coercion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zapjobs import ConfigurationError, RetryPolicy, Settings
from zapjobs.settings import (
    coerce_settings,
    dsn_password,
    format_duration,
    mask_dsn,
    parse_duration,
    parse_queues,
    scrub,
    validate_prefix,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15s", timedelta(seconds=15)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("30d", timedelta(days=30)),
        ("250ms", timedelta(milliseconds=250)),
        ("2w", timedelta(weeks=2)),
        ("90", timedelta(seconds=90)),
        ("1.5", timedelta(seconds=1.5)),
        ("00:00:15", timedelta(seconds=15)),
        ("30.00:00:00", timedelta(days=30)),
        (" 1H ", timedelta(hours=1)),
        (7, timedelta(seconds=7)),
        (0.5, timedelta(milliseconds=500)),
        (timedelta(minutes=2), timedelta(minutes=2)),
    ],
)
def test_durations_parse_in_every_documented_form(text: object, expected: timedelta) -> None:
    assert parse_duration(text, name="x") == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "abc", "1h 30m", "10x", "00:61:00", "-5s", True, -1])
def test_bad_durations_say_what_to_write(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_duration(bad, name="polling_interval")  # type: ignore[arg-type]
    assert "polling_interval" in str(info.value)


@given(st.integers(min_value=0, max_value=10**7))
def test_format_duration_parses_back(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_format_duration_picks_the_largest_whole_unit() -> None:
    assert format_duration(timedelta(minutes=2)) == "2m"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(milliseconds=250)) == "250ms"
    assert format_duration(timedelta(0)) == "0s"


def test_queues_keep_their_priority_order_without_duplicates() -> None:
    assert parse_queues("critical, default,low,default") == ("critical", "default", "low")
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        parse_queues(["ok", "bad queue"])
    with pytest.raises(ConfigurationError, match="no queue"):
        parse_queues([])


@pytest.mark.parametrize("prefix", ["zapjobs_", "_x", "a1"])
def test_valid_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "Zap", "1a", "zap;drop", "a" * 31, "zap-"])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid table prefix"):
        validate_prefix(prefix)


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("host=h user=u password=s3cret dbname=d", "host=h user=u password=*** dbname=d"),
        ("host=h password='a b c' dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://h/db?password=s3cret&x=1", "postgresql://h/db?password=***&x=1"),
        ("sqlite:////abs/path/z.db", "sqlite:////abs/path/z.db"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
    ],
)
def test_mask_dsn_hides_the_password(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked
    assert "s3cret" not in mask_dsn(dsn)


def test_scrub_removes_the_password_and_its_url_encoded_form() -> None:
    dsn = "postgresql://u:p%40ss@h/db"
    assert dsn_password(dsn) == "p%40ss"
    message = "could not connect with p@ss (p%40ss)"
    assert scrub(message, dsn) == "could not connect with *** (***)"
    assert scrub("nothing secret", None) == "nothing secret"


def test_settings_validate_on_creation_and_on_change() -> None:
    settings = Settings().with_changes(polling_interval="50ms", queues="a,b", worker_count="4")
    assert settings.polling_interval == timedelta(milliseconds=50)
    assert settings.queues == ("a", "b")
    assert settings.worker_count == 4
    with pytest.raises(ConfigurationError, match="worker_count"):
        Settings(worker_count=0)
    with pytest.raises(ConfigurationError, match="polling_interval must be greater than zero"):
        Settings().with_changes(polling_interval=0)
    with pytest.raises(ConfigurationError, match="unknown setting 'pollinginterval'"):
        Settings().with_changes(pollinginterval="1s")


def test_coerce_settings_parses_strings_from_env_and_toml() -> None:
    values = coerce_settings(
        {
            "enable_scheduler": "off",
            "auto_migrate": "yes",
            "default_retry_policy": {"max_retries": "5", "initial_delay": "2s"},
        }
    )
    assert values["enable_scheduler"] is False
    assert values["auto_migrate"] is True
    assert values["default_retry_policy"] == RetryPolicy(
        max_retries=5, initial_delay=timedelta(seconds=2)
    )
    with pytest.raises(ConfigurationError, match="use true or false"):
        coerce_settings({"auto_migrate": "maybe"})
    with pytest.raises(ConfigurationError, match="unknown retry policy field"):
        coerce_settings({"default_retry_policy": {"tries": 1}})


def test_npgsql_connection_strings_become_libpq_key_value() -> None:
    from zapjobs.settings import Settings, dsn_password, libpq_dsn, mask_dsn

    seed = "Host=localhost;Database=myapp;User Id=postgres;Password=postgres"
    assert libpq_dsn(seed) == "host=localhost dbname=myapp user=postgres password=postgres"
    assert Settings(database_url=seed).database_url == libpq_dsn(seed)
    quoted = libpq_dsn("Server=db; Port=5433; Username=a b; Pwd=it's;")
    assert quoted == "host=db port=5433 user='a b' password='it\\'s'"
    assert dsn_password(quoted) == "it's"
    assert mask_dsn(seed + ";Port=5432") == (
        "Host=localhost;Database=myapp;User Id=postgres;Password=***;Port=5432"
    )
    assert dsn_password(seed + ";Port=5432") == "postgres"
    for unchanged in ("host=x dbname=y", "postgresql://u:p@h/db", "sqlite:///a;b=c.db"):
        assert libpq_dsn(unchanged) == unchanged


def test_an_unknown_npgsql_key_is_refused_by_name() -> None:
    import pytest

    from zapjobs.errors import ConfigurationError
    from zapjobs.settings import libpq_dsn

    with pytest.raises(ConfigurationError, match="'Pooling'"):
        libpq_dsn("Host=h;Pooling=true")
