"""The worker's stderr: one line per event or log record, as text or as JSON lines, every line
scrubbed of the database password. Job logs (``zapjobs.jobs.<type>``) and the engine's own
warnings go through the same handler, so a log collector sees one consistent stream."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from zapjobs.events import RunFinished, WorkerStarted, WorkerStopped, WorkerStopping
from zapjobs.models import RunStatus
from zapjobs_cli.display import clip, visible

EVENT_LOGGER = "zapjobs.cli.worker"
_STANDARD = frozenset(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "event_fields",
}


def _time(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, "event_fields", {}) or {})
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields.setdefault(key, value)
    return fields


class TextFormatter(logging.Formatter):
    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        """One line (a job's own text cannot start another: its line feeds are escaped), and
        nothing a job wrote reaches the terminal as a control character (``visible``)."""
        message = record.getMessage()
        extras = _extras(record)
        if record.name.startswith("zapjobs.jobs."):
            message = visible(message)
            if "run_id" in extras:
                job_type = visible(str(extras.get("job_type", "?")))
                message = f"[{job_type} #{extras['run_id']}] {message}"
        line = f"{_time(record)} {record.levelname.lower():<7} {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self._scrub(visible(line, multiline=True))


class JsonFormatter(logging.Formatter):
    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return self._scrub(json.dumps(data, ensure_ascii=False, default=str))


def configure_logging(
    *, json_lines: bool, quiet: bool, scrub: Callable[[str], str], stream: TextIO | None = None
) -> logging.Handler:
    """Send zapjobs' loggers (INFO, or WARNING with ``quiet``; the banner and summary always)
    and other loggers' warnings to stderr in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(scrub) if json_lines else TextFormatter(scrub))
    zapjobs_logger = logging.getLogger("zapjobs")
    zapjobs_logger.handlers = [handler]
    zapjobs_logger.setLevel(logging.WARNING if quiet else logging.INFO)
    zapjobs_logger.propagate = False
    logging.getLogger(EVENT_LOGGER).setLevel(logging.INFO)  # banner and summary even if quiet
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    return handler


class EventPrinter:
    """``run_worker(on_event=...)``: the banner, a line per finished attempt, the summary."""

    def __init__(self, *, store: str, server_version: str, quiet: bool) -> None:
        self._log = logging.getLogger(EVENT_LOGGER)
        self._store = store
        self._server_version = server_version
        self._quiet = quiet

    def __call__(self, event: object) -> None:
        if isinstance(event, WorkerStarted):
            self.started(event)
        elif isinstance(event, RunFinished):
            if not self._quiet:
                self.finished(event)
        elif isinstance(event, WorkerStopping):
            self._log.info("stopping (%s)", event.reason, extra=_fields(event="worker_stopping"))
        elif isinstance(event, WorkerStopped):
            s = event.summary
            self._log.info(
                "stopped after %.1fs: %d claimed, %d succeeded, %d failed, %d retried, "
                "%d cancelled, %d put back, %d snoozed",
                s.duration_seconds,
                s.claimed,
                s.succeeded,
                s.failed,
                s.retried,
                s.cancelled,
                s.requeued,
                s.snoozed,
                extra=_fields(
                    event="worker_stopped",
                    worker_id=s.worker_id,
                    claimed=s.claimed,
                    succeeded=s.succeeded,
                    failed=s.failed,
                    retried=s.retried,
                    cancelled=s.cancelled,
                    requeued=s.requeued,
                    snoozed=s.snoozed,
                ),
            )

    def started(self, event: WorkerStarted) -> None:
        """The banner (printed even with --quiet: it is how an operator knows what runs)."""
        types = ", ".join(event.job_types) if event.job_types else "none (scheduler only)"
        self._log.info(
            "worker %s started\n  store:       %s (%s)\n  queues:      %s\n  concurrency: %d\n"
            "  job types:   %s (%d)\n  stop:        Ctrl-C or SIGTERM finishes running jobs; "
            "a second one cancels them",
            event.worker_id,
            self._store,
            self._server_version,
            ", ".join(event.queues),
            event.concurrency,
            types,
            len(event.job_types),
            extra=_fields(
                event="worker_started",
                worker_id=event.worker_id,
                store=self._store,
                server_version=self._server_version,
                queues=list(event.queues),
                concurrency=event.concurrency,
                job_types=list(event.job_types),
            ),
        )

    def finished(self, event: RunFinished) -> None:
        outcome = event.status.value
        if event.status is RunStatus.PENDING:
            outcome = "put back" if event.requeued else "failed, will retry"
            if event.snoozed:
                outcome = "snoozed"
        message = (
            f"run {event.run_id} {event.job_type} {outcome} "
            f"(attempt {event.attempt}, {event.duration_seconds:.3f}s)"
        )
        if event.error_type and event.status is not RunStatus.SUCCEEDED:
            error = f": {event.error_type}: {event.error_message or ''}".rstrip(": ")
            message += visible(clip(error)[0])  # one line, whatever the job raised
        level = logging.WARNING if event.status is RunStatus.FAILED else logging.INFO
        self._log.log(
            level,
            "%s",
            message,
            extra=_fields(
                event="run_finished",
                run_id=event.run_id,
                job_type=event.job_type,
                status=event.status.value,
                attempt=event.attempt,
                duration_seconds=round(event.duration_seconds, 6),
                error_type=event.error_type,
                error_message=event.error_message,
            ),
        )


def _fields(**fields: Any) -> dict[str, Any]:
    return {"event_fields": fields}
