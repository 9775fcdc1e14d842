"""Settings, durations, table prefixes and connection strings (parsing and password masking).

Config discovery (zapjobs.toml, pyproject.toml, ZAPJOBS_* environment variables) lives in
``zapjobs.config``; this module only defines the values and their validation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from zapjobs.core.retry import RetryPolicy
from zapjobs.errors import ConfigurationError

_PREFIX_RE = re.compile(r"^[a-z_][a-z0-9_]{0,29}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_CLOCK_RE = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def parse_duration(value: str | int | float | timedelta, *, name: str = "duration") -> timedelta:
    """Parse ``15s``, ``30m``, ``1h30m``, ``30d``, ``250ms``, a number of seconds, or the .NET
    forms ``00:00:15`` and ``30.00:00:00``. Raises ConfigurationError saying what to write."""
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):
        raise _bad_duration(name, value)
    else:
        try:
            if isinstance(value, int | float):
                result = timedelta(seconds=value)
            else:
                result = _parse_duration_text(value.strip().lower(), name)
        except (OverflowError, ValueError):  # inf, nan, 1e400: beyond what a timedelta holds
            raise ConfigurationError(
                f"invalid {name} {value!r}: not a finite duration",
                hint="use at most 999999999 days, e.g. 30d",
            ) from None
    if result < timedelta(0):
        raise ConfigurationError(f"{name} must not be negative, got {value!r}")
    return result


def _parse_duration_text(text: str, name: str) -> timedelta:
    if not text:
        raise _bad_duration(name, text)
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    clock = _CLOCK_RE.match(text)
    if clock:
        days, hours, minutes, seconds = clock.groups()
        if int(minutes) > 59 or float(seconds) >= 60:
            raise _bad_duration(name, text)
        return timedelta(
            days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
        )
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            raise _bad_duration(name, text)
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise _bad_duration(name, text)
    return timedelta(seconds=total)


def _bad_duration(name: str, value: object) -> ConfigurationError:
    return ConfigurationError(
        f"invalid {name} {value!r}",
        hint="write a duration like 15s, 30m, 1h, 30d, 1h30m or 00:00:15",
    )


def format_duration(value: timedelta) -> str:
    """The shortest of our own duration forms that parses back to ``value``."""
    seconds = value.total_seconds()
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


def validate_prefix(prefix: str) -> str:
    """A table prefix is a lower-case SQL identifier fragment; nothing can be smuggled in it."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ConfigurationError(
            f"invalid table prefix {prefix!r}",
            hint="use 1-30 lower-case letters, digits or underscores, starting with a letter "
            "or underscore, e.g. zapjobs_",
        )
    return prefix


def validate_queue(queue: str) -> str:
    if not isinstance(queue, str) or not _QUEUE_RE.fullmatch(queue):
        raise ConfigurationError(
            f"invalid queue name {queue!r}",
            hint="use 1-64 letters, digits, '_', '-', '.' or ':'",
        )
    return queue


def parse_queues(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"critical,default"`` or a list, in priority order, without duplicates."""
    items = value.split(",") if isinstance(value, str) else list(value)
    queues: list[str] = []
    for item in items:
        name = validate_queue(str(item).strip())
        if name not in queues:
            queues.append(name)
    if not queues:
        raise ConfigurationError("no queue given", hint="name at least one queue, e.g. default")
    return tuple(queues)


def mask_dsn(dsn: str) -> str:
    """The connection string with its password replaced by ``***`` (URI or key=value form)."""
    text = dsn.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return "<unparseable connection string>"
        masked_query = _mask_keyvalues(parts.query) if parts.query else parts.query
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostinfo = netloc.rpartition("@")
            if ":" in userinfo:
                user = userinfo.split(":", 1)[0]
                netloc = f"{user}:***@{hostinfo}"
        if netloc == parts.netloc and masked_query == parts.query:
            return text  # nothing secret; urlunsplit would drop the slashes of sqlite:////abs
        return urlunsplit((parts.scheme, netloc, parts.path, masked_query, parts.fragment))
    return _mask_keyvalues(text)


_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:'\"]*:)([^\s/@'\"]+)(@)")


def _mask_keyvalues(text: str) -> str:
    return _PASSWORD_KV.sub(lambda m: m.group(1) + "***", text)


def mask_passwords(text: str) -> str:
    """Any free text (a traceback, its source lines) with the password of every connection
    string written in it replaced by ``***``: ``scheme://user:***@host`` and ``password=***``.
    For the secrets nobody told us about; ``scrub`` removes the known ones wherever they are."""
    return _mask_keyvalues(_URI_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), text))


def dsn_password(dsn: str) -> str | None:
    """The password inside a connection string, if any (so it can be scrubbed from messages)."""
    text = dsn.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
            if parts.password:
                return parts.password
        except ValueError:
            return None
    match = _PASSWORD_KV.search(text)
    if match:
        value = match.group(2)
        if value.startswith("'") and value.endswith("'"):
            value = value[1:-1]
        return value or None
    return None


def scrub(message: str, dsn: str | None) -> str:
    """``message`` with the DSN's password (and its URL-encoded form) replaced by ``***``."""
    if not dsn:
        return message
    from urllib.parse import unquote

    password = dsn_password(dsn)
    if not password:
        return message
    for secret in {password, unquote(password)}:
        if secret:
            message = message.replace(secret, "***")
    return message


@dataclass(frozen=True)
class Settings:
    """Every setting, with the defaults of the seed. Durations are timedeltas."""

    database_url: str = "sqlite:///zapjobs.db"
    app: str | None = None  # "module:attr" of the ZapJobs object holding the job types
    worker_count: int = field(default_factory=lambda: os.cpu_count() or 1)
    default_queue: str = "default"
    queues: tuple[str, ...] = ("default",)
    polling_interval: timedelta = timedelta(seconds=15)
    heartbeat_interval: timedelta = timedelta(seconds=30)
    stale_worker_threshold: timedelta = timedelta(minutes=5)
    default_timeout: timedelta = timedelta(minutes=60)
    job_retention: timedelta = timedelta(days=30)
    log_retention: timedelta = timedelta(days=7)
    enable_scheduler: bool = True
    enable_processing: bool = True
    default_retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    table_prefix: str = "zapjobs_"
    auto_migrate: bool = False
    shutdown_timeout: timedelta = timedelta(seconds=30)

    def __post_init__(self) -> None:
        validate_prefix(self.table_prefix)
        validate_queue(self.default_queue)
        parse_queues(self.queues)
        if self.worker_count < 1:
            raise ConfigurationError(f"worker_count must be at least 1, got {self.worker_count}")
        for name in ("polling_interval", "heartbeat_interval", "stale_worker_threshold"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigurationError(f"{name} must be greater than zero")

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **coerce_settings(changes))


DURATION_SETTINGS = frozenset(
    {
        "polling_interval",
        "heartbeat_interval",
        "stale_worker_threshold",
        "default_timeout",
        "job_retention",
        "log_retention",
        "shutdown_timeout",
    }
)
BOOL_SETTINGS = frozenset({"enable_scheduler", "enable_processing", "auto_migrate"})
INT_SETTINGS = frozenset({"worker_count"})
SETTING_NAMES = frozenset(f.name for f in fields(Settings))


def parse_bool(value: object, *, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"invalid {name} {value!r}", hint="use true or false")


def coerce_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Turn raw values (strings from env or toml) into typed setting values, by name."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        if name not in SETTING_NAMES:
            raise ConfigurationError(
                f"unknown setting {name!r}",
                hint="known settings: " + ", ".join(sorted(SETTING_NAMES)),
            )
        if name in DURATION_SETTINGS:
            result[name] = parse_duration(value, name=name)
        elif name in BOOL_SETTINGS:
            result[name] = parse_bool(value, name=name)
        elif name in INT_SETTINGS:
            try:
                result[name] = int(value)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"invalid {name} {value!r}", hint="use a whole number"
                ) from None
        elif name == "queues":
            result[name] = parse_queues(value)
        elif name == "table_prefix":
            result[name] = validate_prefix(str(value))
        elif name == "default_retry_policy":
            result[name] = _coerce_retry_policy(value)
        else:
            result[name] = value
    return result


def _coerce_retry_policy(value: object) -> RetryPolicy:
    if isinstance(value, RetryPolicy):
        return value
    if not isinstance(value, dict):
        raise ConfigurationError(
            "default_retry_policy must be a table",
            hint="e.g. {max_retries = 3, initial_delay = '10s', backoff_multiplier = 2}",
        )
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        if key in {"initial_delay", "max_delay"}:
            kwargs[key] = parse_duration(raw, name=f"default_retry_policy.{key}")
        elif key == "max_retries":
            kwargs[key] = int(raw)
        elif key == "backoff_multiplier":
            kwargs[key] = float(raw)
        elif key == "use_jitter":
            kwargs[key] = parse_bool(raw, name="default_retry_policy.use_jitter")
        else:
            raise ConfigurationError(f"unknown retry policy field {key!r}")
    try:
        return RetryPolicy(**kwargs)
    except ValueError as exc:
        raise ConfigurationError(f"invalid default_retry_policy: {exc}") from None
