"""The job types this process knows: their code, declared types and defaults.

A ``JobType`` is what ``@zap.job`` or ``zap.add_job`` registered; ``definition()`` is the part
of it that is stored (so other processes and the CLI can see it and an operator can override it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from zapjobs.core.filters import JOB_TYPE_HINT, JOB_TYPE_RE
from zapjobs.core.flow import check_max_concurrency, parse_rate_limit
from zapjobs.core.retry import RetryPolicy, validate_max_retries
from zapjobs.core.schedule import make_schedule
from zapjobs.core.unique import NO_UNIQUENESS, UniqueOptions, unique_options
from zapjobs.errors import ConfigurationError, UnknownJobTypeError, ValidationError
from zapjobs.models import CatchUp, FlowLimit, JobDefinition, LimitScope, RateLimit, Schedule
from zapjobs.settings import Settings, duration_argument, queue_argument
from zapjobs.typed import Codec, encode_input, function_types, job_class_types

#: The attribute a decorated function carries so ``enqueue(fn, ...)`` finds its job type.
JOB_TYPE_ATTR = "__zapjobs_job_type__"


def validate_job_type_id(job_type: object) -> str:
    if not isinstance(job_type, str) or not JOB_TYPE_RE.fullmatch(job_type):
        raise ValidationError(
            f"invalid job type id {job_type!r}",
            hint=JOB_TYPE_HINT,
        )
    return job_type


@dataclass(frozen=True)
class JobType:
    id: str
    target: Callable[..., Any]  # the job function, or the Job subclass
    is_class: bool
    is_async: bool
    input_codec: Codec
    output_codec: Codec
    queue: str | None = None
    max_retries: int | None = None
    timeout: timedelta | None = None
    retry: RetryPolicy | None = None
    schedule: Schedule | None = None
    unique: UniqueOptions = NO_UNIQUENESS
    #: flow control (zapjobs.core.flow): a global cap on running runs, a rate of starts
    max_concurrency: int | None = None
    rate_limit: RateLimit | None = None

    def flow_limit(self) -> FlowLimit:
        """The declared limits, stored so every worker's claim enforces them."""
        return FlowLimit(
            LimitScope.JOB,
            self.id,
            max_concurrency=self.max_concurrency,
            rate_limit=self.rate_limit,
        )

    def retry_policy(self, settings: Settings) -> RetryPolicy:
        return self.retry or settings.default_retry_policy

    def code_max_retries(self, settings: Settings) -> int:
        if self.max_retries is not None:
            return self.max_retries
        return self.retry_policy(settings).max_retries

    def definition(self, settings: Settings) -> JobDefinition:
        return JobDefinition(
            job_type=self.id,
            queue=self.queue or settings.default_queue,
            max_retries=self.code_max_retries(settings),
            timeout_seconds=self.timeout.total_seconds() if self.timeout else None,
            schedule=self.schedule,
            unique=self.unique.settings(),
        )

    def bind(self) -> Callable[[Any], Any]:
        """The callable to run for one attempt (a fresh instance for class-based jobs)."""
        if self.is_class:
            instance = self.target()
            method: Callable[[Any], Any] = instance.execute
            return method
        return self.target


def _check_options(
    *,
    queue: str | None,
    max_retries: int | None,
    timeout: timedelta | float | str | None,
    retry: RetryPolicy | None,
) -> timedelta | None:
    if queue is not None:
        queue_argument(queue)
    if max_retries is not None:
        validate_max_retries(max_retries)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ValidationError("retry must be a zapjobs.RetryPolicy")
    if timeout is None:
        return None
    parsed = duration_argument(timeout, name="timeout")
    if parsed <= timedelta(0):
        raise ValidationError(f"timeout must be greater than zero, got {timeout!r}")
    return parsed


def flow_options(
    *, max_concurrency: object, rate_limit: object, job_type: str
) -> tuple[int | None, RateLimit | None]:
    """The validated flow control options of a job type's declaration."""
    cap = None
    if max_concurrency is not None:
        cap = check_max_concurrency(max_concurrency, what=f"job {job_type!r}: max_concurrency")
    rate = None
    if rate_limit is not None:
        rate = parse_rate_limit(rate_limit, what=f"job {job_type!r}: rate_limit")
    return cap, rate


def build_schedule(
    *,
    job_type: str,
    input_codec: Codec,
    cron: str | None,
    interval: timedelta | None,
    timezone: str,
    catch_up: CatchUp,
    input: Any,
) -> Schedule | None:
    """The recurring schedule declared with a job type (validated), or None."""
    if cron is None and interval is None:
        if input is not None:
            raise ValidationError(
                f"job {job_type!r}: input is only for recurring jobs", hint="add cron= or interval="
            )
        return None
    # The timing first: a wrong cron expression is the more useful message.
    schedule = make_schedule(cron=cron, interval=interval, timezone=timezone, catch_up=catch_up)
    input_json = encode_input(input_codec, input, job_type=job_type)
    return replace(schedule, input_json=input_json)


def job_type_from_function(
    fn: Callable[..., Any],
    job_type: str,
    *,
    queue: str | None = None,
    max_retries: int | None = None,
    timeout: timedelta | None = None,
    retry: RetryPolicy | None = None,
    cron: str | None = None,
    interval: timedelta | None = None,
    timezone: str = "UTC",
    catch_up: CatchUp = CatchUp.LATEST,
    input: Any = None,
    unique_by_input: bool = False,
    unique_for: timedelta | None = None,
    unique_states: Iterable[str] | None = None,
    max_concurrency: int | None = None,
    rate_limit: str | None = None,
) -> JobType:
    validate_job_type_id(job_type)
    if not callable(fn) or inspect.isclass(fn):
        raise ValidationError(f"@job({job_type!r}) must decorate a function")
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        raise ValidationError(f"job {job_type!r} must be a function, not a generator")
    parsed_timeout = _check_options(
        queue=queue, max_retries=max_retries, timeout=timeout, retry=retry
    )
    cap, rate = flow_options(
        max_concurrency=max_concurrency, rate_limit=rate_limit, job_type=job_type
    )
    input_type, output_type = function_types(fn)
    input_codec = Codec(input_type, what="input")
    schedule = build_schedule(
        job_type=job_type,
        input_codec=input_codec,
        cron=cron,
        interval=interval,
        timezone=timezone,
        catch_up=catch_up,
        input=input,
    )
    return JobType(
        id=job_type,
        target=fn,
        is_class=False,
        is_async=inspect.iscoroutinefunction(fn),
        input_codec=input_codec,
        output_codec=Codec(output_type, what="output"),
        queue=queue,
        max_retries=max_retries,
        timeout=parsed_timeout,
        retry=retry,
        schedule=schedule,
        unique=unique_options(
            by_input=unique_by_input, period=unique_for, states=unique_states, job_type=job_type
        ),
        max_concurrency=cap,
        rate_limit=rate,
    )


def job_type_from_class(cls: type[Any]) -> JobType:
    execute = getattr(cls, "execute", None)
    if not inspect.isclass(cls) or not callable(execute):
        raise ValidationError(f"add_job expects a Job subclass with an execute method, got {cls!r}")
    job_type = getattr(cls, "job_type_id", None)
    if job_type is None:
        raise ValidationError(
            f"{cls.__qualname__} has no job_type_id", hint='add job_type_id = "my-job"'
        )
    validate_job_type_id(job_type)
    queue = getattr(cls, "queue", None)
    max_retries = getattr(cls, "max_retries", None)
    retry = getattr(cls, "retry", None)
    parsed_timeout = _check_options(
        queue=queue, max_retries=max_retries, timeout=getattr(cls, "timeout", None), retry=retry
    )
    cap, rate = flow_options(
        max_concurrency=getattr(cls, "max_concurrency", None),
        rate_limit=getattr(cls, "rate_limit", None),
        job_type=job_type,
    )
    input_type, output_type = job_class_types(cls)
    input_codec = Codec(input_type, what="input")
    schedule = build_schedule(
        job_type=job_type,
        input_codec=input_codec,
        cron=getattr(cls, "cron", None),
        interval=getattr(cls, "interval", None),
        timezone=getattr(cls, "timezone", "UTC"),
        catch_up=getattr(cls, "catch_up", CatchUp.LATEST),
        input=None,
    )
    return JobType(
        id=job_type,
        target=cls,
        is_class=True,
        is_async=inspect.iscoroutinefunction(execute),
        input_codec=input_codec,
        output_codec=Codec(output_type, what="output"),
        queue=queue,
        max_retries=max_retries,
        timeout=parsed_timeout,
        retry=retry,
        schedule=schedule,
        unique=unique_options(
            by_input=getattr(cls, "unique_by_input", False),
            period=getattr(cls, "unique_for", None),
            states=getattr(cls, "unique_states", None),
            job_type=job_type,
        ),
        max_concurrency=cap,
        rate_limit=rate,
    )


class Registry:
    """Job types by id. Arguments of a registration that are wrong raise ValidationError; a
    second registration of one id is a ConfigurationError (the app is put together wrongly)."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def add(self, registration: JobType) -> JobType:
        if registration.id in self._types:
            existing = self._types[registration.id].target
            raise ConfigurationError(
                f"job type {registration.id!r} is already registered "
                f"(by {getattr(existing, '__qualname__', existing)!r})",
                hint="give each job type a unique id",
            )
        self._types[registration.id] = registration
        return registration

    def get(self, job_type: str) -> JobType | None:
        return self._types.get(job_type)

    def require(self, job_type: str) -> JobType:
        found = self._types.get(job_type)
        if found is None:
            raise UnknownJobTypeError(job_type, known=list(self._types))
        return found

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._types

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    @property
    def ids(self) -> list[str]:
        return sorted(self._types)
