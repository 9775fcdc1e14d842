"""OpenTelemetry tracing of runs (optional: ``pip install 'zapjobs[otel]'``).

An enqueue opens a PRODUCER span ("<job type> publish") and stores its W3C trace context on the
runs; each attempt of a run is a CONSUMER span ("<job type> process"), a child of that context,
so a trace shows the request that enqueued a job and every attempt that ran it. The job's
``ctx.log`` lines become events of the attempt's span, and a failed attempt records its error.

Nothing happens unless the application installed opentelemetry and set a TracerProvider
(``opentelemetry.trace.set_tracer_provider``): without the package, or with the API's default
(proxy, no-op) provider, each function here returns after one check and nothing is stored.
The package is imported at the first enqueue or attempt, never by ``import zapjobs``.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Awaitable, Mapping, Sequence
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from zapjobs.models import JobRun, RunOutcome, RunStatus

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from opentelemetry.util.types import AttributeValue

#: ``messaging.system`` of every span (OpenTelemetry's messaging semantic conventions)
SYSTEM = "zapjobs"
#: the error type of a run put back to pending by a stopping worker (executor's)
_SHUTDOWN_ERROR = "WorkerShutdown"
#: a log line longer than this is cut in its span event's name (the stored line stays whole)
_MAX_EVENT_NAME = 1_000

_UNLOADED: Any = object()
_trace_api: Any = _UNLOADED  # the opentelemetry.trace module, None when not importable
_context_api: Any = None  # the opentelemetry.context module, loaded with it
_provider: object = None  # the TracerProvider _tracer came from
_tracer: Tracer | None = None
#: a tracer was handed out at least once: only then are log lines worth offering to a span
_active = False
_w3c: Any = None  # the W3C propagator, made once


def _api() -> ModuleType | None:
    global _trace_api, _context_api
    if _trace_api is _UNLOADED:
        try:
            from opentelemetry import context, trace
        except ImportError:
            trace = None  # type: ignore[assignment]
        else:
            _context_api = context
        _trace_api = trace
    api: ModuleType | None = _trace_api
    return api


def preload() -> None:
    """Import the opentelemetry API now, when installed (about 10 ms), so that a worker's first
    run does not wait for it between its claim and its first line."""
    _api()


def tracer() -> Tracer | None:
    """zapjobs' tracer, or None when opentelemetry is missing or no TracerProvider is set."""
    global _provider, _tracer, _active
    api = _api()
    if api is None:
        return None
    provider = api.get_tracer_provider()
    if provider is _provider:
        return _tracer
    if isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
        return None  # the API's default: the application configured no tracing
    _tracer = provider.get_tracer("zapjobs", _version())
    _provider = provider
    _active = True
    return _tracer


def _version() -> str | None:
    try:
        return importlib.metadata.version("zapjobs")
    except importlib.metadata.PackageNotFoundError:
        return None


def _propagator() -> Any:
    """The W3C Trace Context format, whatever the application's global propagators are: the
    stored text must be readable by any worker."""
    global _w3c
    if _w3c is None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        _w3c = TraceContextTextMapPropagator()
    return _w3c


def _context_text() -> str | None:
    """The current span's context as stored on a run: {"traceparent": ..., "tracestate": ...}."""
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return json.dumps(carrier, sort_keys=True) if carrier else None


def extract(trace_context: str | None) -> Context:
    """The stored context as a parent; an empty one (a new trace, whatever span the worker
    itself runs in) when absent or unreadable."""
    carrier: dict[str, str] = {}
    if trace_context:
        try:
            found = json.loads(trace_context)
        except (ValueError, RecursionError):
            found = None
        if isinstance(found, dict):
            carrier = {str(k): str(v) for k, v in found.items()}
    context: Context = _propagator().extract(carrier)
    return context


# --- enqueue -------------------------------------------------------------------------------------


class Publication:
    """An enqueue in progress: the trace context its runs store, and its PRODUCER span.
    The untraced one (``context`` None) does nothing."""

    __slots__ = ("_manager", "_span", "context")

    def __init__(self, manager: Any = None) -> None:
        self._manager = manager
        self._span: Span | None = None
        self.context: str | None = None

    def __enter__(self) -> Publication:
        if self._manager is not None:
            self._span = self._manager.__enter__()
            self.context = _context_text()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._manager is not None:
            self._manager.__exit__(kind, exc, tb)  # records an exception the enqueue raised

    def sent(self, ids: Sequence[int]) -> None:
        """The runs were stored with these ids."""
        if self._span is not None and len(ids) == 1:
            self._span.set_attribute("messaging.message.id", str(ids[0]))


_UNTRACED = Publication()


def publishing(job_type: str, queue: str, count: int) -> Publication:
    """Use as ``with publishing(...) as published:``; the runs store ``published.context``."""
    found = tracer()
    if found is None:
        return _UNTRACED
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": queue,
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "zapjobs.job_type": job_type,
    }
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    manager = found.start_as_current_span(
        f"{job_type} publish", kind=_trace_api.SpanKind.PRODUCER, attributes=attributes
    )
    return Publication(manager)


# --- attempts ------------------------------------------------------------------------------------


class _AttemptFailed(Exception):
    """Stands for the job's exception, already turned into the run's stored error: its type,
    message and traceback are recorded as they were stored (a password in them scrubbed)."""


async def traced_attempt(run: JobRun, attempt: Awaitable[RunOutcome]) -> RunOutcome:
    """Await one attempt of ``run`` inside its CONSUMER span, a child of the enqueuer's context.

    The job runs with the span current (its own spans nest under it; a ``def`` job's thread
    gets a copy of the context). The attempt's outcome decides the span's status."""
    found = tracer()
    if found is None:
        return await attempt
    attributes: dict[str, AttributeValue] = {
        "messaging.system": SYSTEM,
        "messaging.destination.name": run.queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": str(run.id),
        "zapjobs.job_type": run.job_type,
        "zapjobs.attempt": run.attempt,
        "zapjobs.max_attempts": run.max_attempts,
    }
    # start_span and attach/detach, as start_as_current_span(record_exception=True,
    # set_status_on_exception=True) does, without its two layers of context managers per attempt
    span = found.start_span(
        f"{run.job_type} process",
        context=extract(run.trace_context),
        kind=_trace_api.SpanKind.CONSUMER,
        attributes=attributes,
    )
    token = _context_api.attach(_trace_api.set_span_in_context(span))
    try:
        outcome = await attempt
        if span.is_recording():  # a span the sampler dropped ignores what it is told
            _record_outcome(span, outcome)
    except Exception as exc:  # as use_span(): not a BaseException (CancelledError, exit)
        if span.is_recording():
            span.record_exception(exc)
            span.set_status(
                _trace_api.Status(_trace_api.StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
            )
        raise
    finally:
        _context_api.detach(token)
        span.end()
    return outcome


def _record_outcome(span: Span, outcome: RunOutcome) -> None:
    error = outcome.error
    if outcome.snoozed:  # the job asked to run later: not a failure, nothing to record
        span.set_attribute("zapjobs.outcome", "snoozed")
        return
    if outcome.status is RunStatus.SUCCEEDED or error is None:
        span.set_attribute("zapjobs.outcome", outcome.status.value)
        return
    if outcome.status is RunStatus.PENDING:
        requeued = error.type == _SHUTDOWN_ERROR  # not the job's failure: it runs again
        span.set_attribute("zapjobs.outcome", "requeued" if requeued else "retry")
        if requeued:
            return
    else:
        span.set_attribute("zapjobs.outcome", outcome.status.value)
    if outcome.status is not RunStatus.CANCELLED:
        span.record_exception(
            _AttemptFailed(error.message),
            attributes={
                "exception.type": error.type,
                "exception.message": error.message,
                "exception.stacktrace": error.traceback or "",
            },
        )
    span.set_status(_trace_api.StatusCode.ERROR, f"{error.type}: {error.message}")


def log_event(level_name: str, message: str, fields: Mapping[str, Any]) -> None:
    """A job's ``ctx.log`` line as an event of the current attempt's span (if it records)."""
    if not _active:
        return
    span = _trace_api.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, AttributeValue] = {"log.severity": level_name}
    for key, value in fields.items():
        attributes[f"zapjobs.log.{key}"] = (
            value if isinstance(value, str | bool | int | float) else str(value)
        )
    span.add_event(message[:_MAX_EVENT_NAME], attributes)
