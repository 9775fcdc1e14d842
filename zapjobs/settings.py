"""Settings, durations, table prefixes and connection strings (parsing and password masking).

Config discovery (zapjobs.toml, pyproject.toml, ZAPJOBS_* environment variables) lives in
``zapjobs.config``; this module only defines the values and their validation.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from zapjobs.core.flow import check_max_concurrency, parse_rate_limit
from zapjobs.core.retry import RetryPolicy
from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import FlowLimit, LimitScope, sequence_argument

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
    millis = seconds * 1000
    if seconds < 1 and millis == int(millis):
        return f"{int(millis)}ms"
    return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"  # exact to the microsecond


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


def parse_queue_limits(value: object) -> tuple[FlowLimit, ...]:
    """Per-queue flow control, ``{"mail": {"max_concurrency": 2, "rate_limit": "10/s"}}`` (a
    toml table, or its JSON text from the environment), as declared limits by queue name."""
    if isinstance(value, tuple) and all(isinstance(x, FlowLimit) for x in value):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise ConfigurationError(
            "queue_limits must be a table of queues",
            hint='e.g. [zapjobs.queue_limits.mail] max_concurrency = 2, rate_limit = "10/s"',
        )
    limits = []
    for queue, options in sorted(value.items()):
        name = validate_queue(str(queue))
        where = f"queue_limits.{name}"
        if not isinstance(options, dict) or not set(options) <= {"max_concurrency", "rate_limit"}:
            raise ConfigurationError(
                f"{where} takes max_concurrency and rate_limit",
                hint='e.g. {max_concurrency = 2, rate_limit = "10/s"}',
            )
        try:
            cap = options.get("max_concurrency")
            rate = options.get("rate_limit")
            limits.append(
                FlowLimit(
                    LimitScope.QUEUE,
                    name,
                    max_concurrency=None
                    if cap is None
                    else check_max_concurrency(cap, what=f"{where}.max_concurrency"),
                    rate_limit=None
                    if rate is None
                    else parse_rate_limit(rate, what=f"{where}.rate_limit"),
                )
            )
        except ValidationError as exc:
            raise ConfigurationError(exc.message, hint=exc.hint) from None
    return tuple(limits)


# --- the same checks for values passed to a call: a wrong one is a ValidationError -------------


def duration_argument(value: str | int | float | timedelta, *, name: str) -> timedelta:
    """``parse_duration`` for an argument of a call (``delay=``, ``timeout=``)."""
    try:
        return parse_duration(value, name=name)
    except ConfigurationError as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


def queue_argument(queue: str) -> str:
    """``validate_queue`` for an argument of a call (``queue=``)."""
    try:
        return validate_queue(queue)
    except ConfigurationError as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


def queues_argument(value: Iterable[str], *, name: str = "queues") -> tuple[str, ...]:
    """A list of queue names passed to a call, validated and de-duplicated (priority order kept).

    A bare string is refused: ``queues="critical"`` would otherwise be the queues c, r, i, ...
    """
    items = sequence_argument(value, name=name, example="['critical', 'default']")
    queues: list[str] = []
    for item in items:
        queue = queue_argument(item)
        if queue not in queues:
            queues.append(queue)
    if not queues:
        raise ValidationError(f"no queue given in {name}", hint="name at least one queue")
    return tuple(queues)


def parse_port(value: object, *, name: str = "port") -> int:
    """A TCP port to listen on, 1-65535, from a number or its text (``"9464"``)."""
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        number = int(text) if text.isdigit() and len(text) <= 6 else None
    if number is None or not 1 <= number <= 65535:
        raise ConfigurationError(
            f"invalid {name} {value!r}: not a port number", hint="use a number from 1 to 65535"
        )
    return number


def validate_host(value: object, *, name: str = "host") -> str:
    """An address to listen on: an IP address or a host name, without spaces or a port."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or any(c.isspace() or c in "/@" for c in text) or len(text) > 253:
        raise ConfigurationError(
            f"invalid {name} {value!r}", hint="use an address like 127.0.0.1 or 0.0.0.0"
        )
    return text


#: Npgsql (.NET) connection-string keywords -> libpq's; the seed's CLI example is written so.
_NPGSQL_KEYS = {
    "host": "host",
    "server": "host",
    "port": "port",
    "database": "dbname",
    "db": "dbname",
    "username": "user",
    "user id": "user",
    "userid": "user",
    "user name": "user",
    "user": "user",
    "password": "password",
    "pwd": "password",
    "ssl mode": "sslmode",
    "sslmode": "sslmode",
    "timeout": "connect_timeout",
    "application name": "application_name",
    "applicationname": "application_name",
}


def is_npgsql_dsn(dsn: str) -> bool:
    """``Host=localhost;Database=myapp;User Id=postgres;Password=...`` (semicolons between
    ``Key=Value`` pairs), as opposed to a URI or libpq's space-separated key=value."""
    text = dsn.strip()
    if "://" in text or ";" not in text or "=" not in text:
        return False
    first = text.split(";", 1)[0].split("=", 1)[0].strip().lower()
    return first in _NPGSQL_KEYS


def libpq_dsn(dsn: str) -> str:
    """The connection string in a form libpq (psycopg) reads: an Npgsql-style string becomes
    key=value (quoted where needed); URIs and key=value strings are returned as they are."""
    if not is_npgsql_dsn(dsn):
        return dsn
    pairs: list[str] = []
    for part in dsn.strip().split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        name = _NPGSQL_KEYS.get(" ".join(key.lower().split()))
        if not sep or name is None:
            raise ConfigurationError(
                f"unknown key {key.strip()!r} in the Npgsql-style connection string",
                hint="use Host, Port, Database, Username (User Id), Password, SSL Mode, "
                "or a postgresql:// URI",
            )
        value = value.strip()
        if value == "" or any(c in value for c in " '\\"):
            value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        pairs.append(f"{name}={value}")
    return " ".join(pairs)


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


_PASSWORD_KV = re.compile(
    r"((?:password|pwd)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]*)", re.IGNORECASE
)  # libpq key=value, a URI's query, and Npgsql's Password=/Pwd= (up to the ";")
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
            value = re.sub(r"\\(.)", r"\1", value[1:-1])  # libpq's quoting: \' and \\
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
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)  # runs a worker runs
    default_queue: str = "default"
    queues: tuple[str, ...] = ("critical", "default", "low")  # the seed's default
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
    max_output_bytes: int = 1024 * 1024  # a larger output fails its run (OutputTooLargeError)
    #: serve Prometheus metrics from each worker on this port (None: off; zapjobs[metrics])
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"  # where the worker's /metrics listens
    #: per-queue concurrency caps and rate limits, declared by the workers serving each queue
    #: ({"mail": {"max_concurrency": 2, "rate_limit": "10/s"}}; zapjobs.core.flow)
    queue_limits: tuple[FlowLimit, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "database_url", libpq_dsn(self.database_url))
        validate_prefix(self.table_prefix)
        validate_queue(self.default_queue)
        object.__setattr__(self, "queues", parse_queues(self.queues))  # never a bare string
        object.__setattr__(self, "queue_limits", parse_queue_limits(self.queue_limits))
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}")
        if self.max_output_bytes < 1:
            raise ConfigurationError(
                f"max_output_bytes must be at least 1, got {self.max_output_bytes}",
                hint="the default is 1048576 (1 MiB)",
            )
        for name in ("polling_interval", "heartbeat_interval", "stale_worker_threshold"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigurationError(f"{name} must be greater than zero")
        if self.metrics_port is not None:
            object.__setattr__(
                self, "metrics_port", parse_port(self.metrics_port, name="metrics_port")
            )
        object.__setattr__(
            self, "metrics_host", validate_host(self.metrics_host, name="metrics_host")
        )

    def queue_limit(self, queue: str) -> FlowLimit:
        """The limits these settings declare for ``queue`` (none: an unlimited FlowLimit)."""
        for limit in self.queue_limits:
            if limit.name == queue:
                return limit
        return FlowLimit(LimitScope.QUEUE, queue)

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **coerce_settings(changes))

    @property
    def worker_count(self) -> int:
        """Deprecated name of ``concurrency``."""
        warn_deprecated_setting("worker_count")
        return self.concurrency


_settings_init = Settings.__init__


def _init_with_aliases(self: Settings, *args: Any, **kwargs: Any) -> None:
    """``Settings(worker_count=4)`` keeps working (deprecated) as ``Settings(concurrency=4)``."""
    given = [old for old in DEPRECATED_SETTINGS if old in kwargs]
    for old in given:
        warn_deprecated_setting(old)
        kwargs.setdefault(DEPRECATED_SETTINGS[old], kwargs.pop(old))
    try:
        _settings_init(self, *args, **kwargs)
    except ConfigurationError as exc:
        if not given:
            raise
        raise ConfigurationError(
            f"{exc.message} (given as {', '.join(given)})", hint=exc.hint
        ) from None


Settings.__init__ = _init_with_aliases  # type: ignore[method-assign]

#: Old setting names that still work, with a DeprecationWarning: old name -> new name.
DEPRECATED_SETTINGS = {"worker_count": "concurrency"}


def warn_deprecated_setting(old: str, *, where: str = "") -> None:
    new = DEPRECATED_SETTINGS[old]
    source = f"{where}: " if where else ""
    warn_deprecated(f"{source}the setting {old!r} is deprecated; use {new!r} (same meaning)")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_deprecated(message: str) -> None:
    """A DeprecationWarning attributed to the first caller outside zapjobs, so Python's default
    filters show it to the code that used the old name."""
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def canonical_setting_name(name: str, *, where: str = "") -> str:
    """The current name of a setting (a deprecated alias warns and maps to its new name)."""
    if name in DEPRECATED_SETTINGS:
        warn_deprecated_setting(name, where=where)
        return DEPRECATED_SETTINGS[name]
    return name


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
INT_SETTINGS = frozenset({"concurrency", "max_output_bytes"})
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
    for given, value in values.items():
        name = canonical_setting_name(given)
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
        elif name == "queue_limits":
            result[name] = parse_queue_limits(value)
        elif name == "metrics_port":
            result[name] = parse_port(value, name=name)
        elif name == "metrics_host":
            result[name] = validate_host(value, name=name)
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
