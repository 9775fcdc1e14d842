"""Typed job input and output: validated and serialised to JSON text once, at the caller.

A ``Codec`` is built from a type annotation. ``encode`` checks a value (an instance of the type,
or a dict/list of JSON values with exactly the right shape) and returns compact JSON text;
``decode`` rebuilds the declared type from stored JSON before the job runs. Errors name the
field path and the expected type, so the mistake is found where it was made.

Supported: dataclasses (nested, recursive), TypedDict, pydantic v2 models (duck-typed: pydantic
is never imported here), str/int/float/bool/None, list/tuple/set/dict[str, ...], Optional and
unions, Literal, Enum, datetime/date (ISO 8601 text), UUID (text), and ``Any`` (any JSON value).
JSON rules: no NaN/Infinity, no lone surrogates; an input also holds no NUL character and at
most ``MAX_INPUT_BYTES``.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin, get_type_hints

from zapjobs.converters import (
    MISSING,
    Invalid,
    converter_for,
    dumps_json,
    nul_path,
    type_name,
)
from zapjobs.errors import ValidationError

#: The largest serialised input (UTF-8 bytes of the JSON text) a run may carry.
MAX_INPUT_BYTES = 1024 * 1024


class Codec:
    """Validates and converts one declared type (``Any`` when nothing was declared)."""

    def __init__(self, tp: Any = Any, *, what: str = "input") -> None:
        self.type = tp
        self.what = what
        self._converter = converter_for(tp)

    @property
    def expected(self) -> str:
        return self._converter.expected

    def _error(self, exc: Invalid, job_type: str) -> ValidationError:
        where = f"field {exc.path!r}" if exc.path else self.what
        return ValidationError(f"invalid {self.what} for job {job_type!r}: {where}: {exc.message}")

    def encode(self, value: Any, *, job_type: str, max_bytes: int | None = None) -> str:
        """The JSON text of ``value``, validated; raises ValidationError naming the field."""
        try:
            data = self._converter.dump(value)
        except Invalid as exc:
            raise self._error(exc, job_type) from None
        except RecursionError:
            raise ValidationError(
                f"invalid {self.what} for job {job_type!r}: nested too deeply",
                hint="flatten the value; a few hundred levels of lists or objects at most",
            ) from None
        try:
            text, size = dumps_json(data)
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValidationError(
                f"invalid {self.what} for job {job_type!r}: not valid JSON text ({exc})"
            ) from None
        if max_bytes is not None and size > max_bytes:
            raise ValidationError(
                f"{self.what} for job {job_type!r} is {size:,} bytes of JSON, over the "
                f"limit of {max_bytes:,} bytes",
                hint="store large data elsewhere and pass a reference",
            )
        return text

    def decode(self, data: Any, *, job_type: str) -> Any:
        """Rebuild the declared type from decoded JSON; raises ValidationError."""
        try:
            return self._converter.load(data)
        except Invalid as exc:
            raise self._error(exc, job_type) from None


def encode_input(codec: Codec, value: Any, *, job_type: str) -> str:
    """The JSON text of a run's input: the codec's checks, the size cap, and no NUL character
    (PostgreSQL's jsonb cannot store ``\\u0000``; the rule holds on every store so that an
    application does not break when it moves to PostgreSQL)."""
    text = codec.encode(value, job_type=job_type, max_bytes=MAX_INPUT_BYTES)
    if "\\u0000" in text:  # the only way JSON text spells NUL; rare, so found only now
        where = nul_path(json.loads(text))
        if where is not None:
            shown = f"field {where!r}" if where else "input"
            raise ValidationError(
                f"invalid input for job {job_type!r}: {shown}: contains a NUL character "
                "(\\u0000), which cannot be stored",
                hint="remove it, or encode binary data as text, e.g. base64",
            )
    return text


def check_json_text(text: str, *, job_type: str) -> str:
    """Raw JSON text given by a caller (e.g. the CLI): parse, re-check and normalise it."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"input for job {job_type!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError(
            f"input for job {job_type!r} is nested too deeply",
            hint="flatten the value; a few hundred levels of lists or objects at most",
        ) from None
    return encode_input(Codec(Any), value, job_type=job_type)


# --- finding the declared types ---------------------------------------------------------------


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return get_type_hints(obj)
    except Exception as exc:
        name = getattr(obj, "__qualname__", repr(obj))
        raise ValidationError(
            f"cannot read the type annotations of {name}: {exc}",
            hint="make every annotated type importable at module level",
        ) from None


def context_input_type(annotation: Any) -> Any:
    """``JobContext[X]`` -> X; a bare JobContext or no annotation -> Any."""
    from zapjobs.job import JobContext

    if annotation is MISSING or annotation is JobContext:
        return Any
    if get_origin(annotation) is JobContext:
        return get_args(annotation)[0]
    raise ValidationError(
        f"the job's first parameter is annotated {type_name(annotation)}, expected JobContext[...]",
        hint="write `async def my_job(ctx: JobContext[MyInput]) -> MyOutput`",
    )


def function_types(fn: Callable[..., Any], *, method: bool = False) -> tuple[Any, Any]:
    """(input type, output type) of a job function (or a method: ``self`` skipped) from its
    annotations."""
    params = list(inspect.signature(fn).parameters.values())[1 if method else 0 :]
    hints = _hints(fn)
    first = hints.get(params[0].name, MISSING) if params else MISSING
    output = hints.get("return", Any)
    return context_input_type(first), output


def job_class_types(cls: type[Any]) -> tuple[Any, Any]:
    """(input type, output type) of a Job subclass: its ``Job[I, O]`` arguments, else the
    annotations of ``execute``."""
    from zapjobs.job import Job

    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if get_origin(base) is Job:
                input_type, output_type = get_args(base)
                return _concrete(input_type), _concrete(output_type)
    return function_types(cls.execute, method=True)


def _concrete(tp: Any) -> Any:
    return Any if isinstance(tp, typing.TypeVar) else tp
