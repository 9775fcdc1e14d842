"""Converters between Python values of a declared type and JSON-ready values.

``converter_for(tp)`` builds (and caches) the converter of one type annotation. ``dump`` checks
a value and returns plain JSON data; ``load`` rebuilds the declared type from decoded JSON.
Mismatches raise ``Invalid``; the field path is added on the way out (each container names its
key as the error passes through it), so a value that converts cleanly builds no path at all.
zapjobs.typed turns ``Invalid`` into a ValidationError for the caller.

Kept in the house rather than taken from msgspec, pydantic or cattrs (measured in
bench/converters.py): none of them rejects unknown fields of a dataclass or TypedDict and NaN in
one go, and pydantic and cattrs convert "5" or True to an int where a job expects an int.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

from zapjobs.errors import ValidationError

MISSING = object()


class Invalid(Exception):
    """A shape mismatch; the containers it passes through add their keys to ``parts``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.parts: list[str | int] = []  # innermost first

    def at(self, key: str | int) -> Invalid:
        self.parts.append(key)
        return self

    @property
    def path(self) -> str:
        """``items[0].qty``; empty for the value itself."""
        path = ""
        for key in reversed(self.parts):
            path = _join(path, key)
        return path


def _describe_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"str {shown!r}"
    return type(value).__name__


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise Invalid(f"expected a finite number, got {value!r} (JSON has no NaN/Infinity)")
    return value


class Converter:
    """Converts between Python values of one type and JSON-ready values."""

    expected: str = "a JSON value"

    def dump(self, value: Any) -> Any:
        raise NotImplementedError

    def load(self, value: Any) -> Any:
        raise NotImplementedError

    def fail(self, value: object) -> Invalid:
        return Invalid(f"expected {self.expected}, got {_describe_value(value)}")


class _AnyJson(Converter):
    def dump(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            return value
        if kind is float:
            return _finite(value)
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            result: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise Invalid(f"object keys must be text, got {_describe_value(key)}")
                try:
                    result[key] = self.dump(item)
                except Invalid as exc:
                    raise exc.at(key) from None
            return result
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            return [self._item(item, i) for i, item in enumerate(value)]
        return self._other(value)

    def _item(self, item: Any, index: int) -> Any:
        try:
            return self.dump(item)
        except Invalid as exc:
            raise exc.at(index) from None

    def _other(self, value: Any) -> Any:
        if isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return _finite(value)
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return self.dump(value.value)
        kind = type(value)
        if dataclasses.is_dataclass(kind) or _is_pydantic_model(kind):
            return converter_for(cast(Any, kind)).dump(value)
        raise self.fail(value)

    def load(self, data: Any) -> Any:
        return data


class _Scalar(Converter):
    """str, int, float, bool or None, exactly (a bool is not an int); an int is a float too."""

    def __init__(self, kind: type, expected: str) -> None:
        self.kind: Any = kind  # Any: `type(value) is self.kind` must not narrow value for mypy
        self.expected = expected

    def dump(self, value: Any) -> Any:
        if type(value) is self.kind:
            return _finite(value) if self.kind is float else value
        kind = self.kind
        if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return _finite(float(value))
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return int(value)
        if kind is str and isinstance(value, str):
            return str.__str__(value)  # the text itself, also for a (str, Enum) member
        raise self.fail(value)

    load = dump


class _Parsed(Converter):
    """A value stored as text: datetime and date (ISO 8601), UUID."""

    _EXPECTED = {
        datetime: "datetime (ISO 8601 text)",
        date: "date (ISO 8601 text)",
        uuid.UUID: "UUID (text)",
    }

    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.expected = self._EXPECTED[kind]

    def _parse(self, value: Any) -> Any:
        if isinstance(value, self.kind) and not (self.kind is date and isinstance(value, datetime)):
            return value
        if isinstance(value, str):
            try:
                if self.kind is uuid.UUID:
                    return uuid.UUID(value)
                return self.kind.fromisoformat(value)  # type: ignore[attr-defined]
            except ValueError:
                pass
        raise self.fail(value)

    def dump(self, value: Any) -> Any:
        parsed = self._parse(value)
        return str(parsed) if self.kind is uuid.UUID else parsed.isoformat()

    def load(self, data: Any) -> Any:
        return self._parse(data)


class _Choice(Converter):
    """A Literal, or an Enum (stored by its value): an equal value of the same type."""

    def __init__(self, values: Sequence[Any], kind: type[enum.Enum] | None = None) -> None:
        self.kind = kind
        self.members: tuple[Any, ...] = tuple(kind) if kind is not None else tuple(values)
        self.values = tuple(m.value for m in self.members) if kind is not None else self.members
        self.expected = "one of " + ", ".join(repr(v) for v in self.values)

    def _index(self, value: Any) -> int:
        for i, allowed in enumerate(self.values):
            if value == allowed and type(value) is type(allowed):
                return i
        raise self.fail(value)

    def dump(self, value: Any) -> Any:
        if self.kind is not None and isinstance(value, self.kind):
            return value.value
        return self.values[self._index(value)]

    def load(self, data: Any) -> Any:
        if self.kind is not None and isinstance(data, self.kind):
            return data
        return self.members[self._index(data)]


class _Sequence(Converter):
    def __init__(self, item: Converter, item_name: str, kind: type) -> None:
        self.item = item
        self.kind = kind
        self.expected = f"{kind.__name__}[{item_name}]"

    def dump(self, value: Any) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(
            value, list | tuple | set | frozenset
        ):
            raise self.fail(value)
        return self._each(value, self.item.dump)

    def load(self, data: Any) -> Any:
        if not isinstance(data, list):
            raise self.fail(data)
        items = self._each(data, self.item.load)
        return items if self.kind is list else self.kind(items)

    @staticmethod
    def _each(values: Any, convert: Any) -> list[Any]:
        result = []
        for i, value in enumerate(values):
            try:
                result.append(convert(value))
            except Invalid as exc:
                raise exc.at(i) from None
        return result


class _FixedTuple(Converter):
    def __init__(self, items: list[Converter]) -> None:
        self.items = items
        self.expected = "tuple[" + ", ".join(c.expected for c in items) + "]"

    def _convert(self, value: Any, load: bool) -> list[Any]:
        if not isinstance(value, list | tuple) or len(value) != len(self.items):
            raise self.fail(value)
        result = []
        for i, (conv, item) in enumerate(zip(self.items, value, strict=True)):
            try:
                result.append(conv.load(item) if load else conv.dump(item))
            except Invalid as exc:
                raise exc.at(i) from None
        return result

    def dump(self, value: Any) -> Any:
        return self._convert(value, load=False)

    def load(self, data: Any) -> Any:
        return tuple(self._convert(data, load=True))


class _Dict(Converter):
    def __init__(self, value: Converter, value_name: str) -> None:
        self.value = value
        self.expected = f"dict[str, {value_name}]"

    def _convert(self, data: Any, load: bool) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(data)
        convert = self.value.load if load else self.value.dump
        result: dict[str, Any] = {}
        for key, item in data.items():
            if not isinstance(key, str):
                raise Invalid(f"expected text keys, got {_describe_value(key)}")
            try:
                result[key] = convert(item)
            except Invalid as exc:
                raise exc.at(key) from None
        return result

    def dump(self, value: Any) -> Any:
        return self._convert(value, load=False)

    def load(self, data: Any) -> Any:
        return self._convert(data, load=True)


class _Union(Converter):
    def __init__(self, options: list[Converter]) -> None:
        self.options = options
        self.expected = " or ".join(o.expected for o in options)

    def _first(self, value: Any, load: bool) -> Any:
        deepest: Invalid | None = None
        for option in self.options:
            try:
                return option.load(value) if load else option.dump(value)
            except Invalid as exc:
                # An error below this level (a field of a matching dataclass) is more useful
                # than "expected X or Y" at this level.
                if exc.parts and (deepest is None or len(exc.path) > len(deepest.path)):
                    deepest = exc
        if deepest is not None:
            raise deepest
        raise self.fail(value)

    def dump(self, value: Any) -> Any:
        return self._first(value, load=False)

    def load(self, data: Any) -> Any:
        return self._first(data, load=True)


class _Record(Converter):
    """Dataclasses and TypedDicts: exactly the declared fields, required ones present."""

    def __init__(self, kind: type, *, typed_dict: bool) -> None:
        self.kind = kind
        self.typed_dict = typed_dict
        self.expected = kind.__name__
        # Resolved on first use, so that a recursive type finds itself in converter_for's cache.
        self._fields: tuple[tuple[str, Converter, bool], ...] | None = None
        self._names: frozenset[str] = frozenset()

    def fields(self) -> tuple[tuple[str, Converter, bool], ...]:
        """(name, converter, required) of each field."""
        if self._fields is None:
            try:
                hints = get_type_hints(self.kind, include_extras=self.typed_dict)
            except Exception as exc:
                raise ValidationError(
                    f"cannot read the field types of {self.kind.__qualname__}: {exc}",
                    hint="define it at module level so its annotations resolve",
                ) from None
            if self.typed_dict:
                required = _typed_dict_required(self.kind, hints)
                types_ = {name: _strip_required(hint) for name, hint in hints.items()}
            else:
                declared = [f for f in dataclasses.fields(self.kind) if f.init]
                types_ = {f.name: hints[f.name] for f in declared}
                required = frozenset(
                    f.name
                    for f in declared
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                )
            self._fields = tuple(
                (name, converter_for(tp), name in required) for name, tp in types_.items()
            )
            self._names = frozenset(types_)
        return self._fields

    def _convert(self, value: Any, load: bool) -> dict[str, Any]:
        fields = self.fields()
        result: dict[str, Any] = {}
        if not self.typed_dict and isinstance(value, self.kind):
            for name, conv, _ in fields:
                try:
                    item = getattr(value, name)
                    result[name] = conv.load(item) if load else conv.dump(item)
                except Invalid as exc:
                    raise exc.at(name) from None
            return result
        if not isinstance(value, Mapping):
            raise self.fail(value)
        if not self._names.issuperset(value):
            raise self._unknown(value)
        for name, conv, required in fields:
            item = value.get(name, MISSING)
            if item is MISSING:
                if required:
                    raise Invalid(f"missing required field of type {conv.expected}").at(name)
                continue
            try:
                result[name] = conv.load(item) if load else conv.dump(item)
            except Invalid as exc:
                raise exc.at(name) from None
        return result

    def _unknown(self, value: Mapping[Any, Any]) -> Invalid:
        key = next(k for k in value if k not in self._names)
        names = ", ".join(name for name, _, _ in self.fields()) or "none"
        exc = Invalid(f"unknown field {key!r} for {self.expected} (fields: {names})")
        return exc.at(key) if isinstance(key, str) else exc

    def dump(self, value: Any) -> Any:
        return self._convert(value, load=False)

    def load(self, data: Any) -> Any:
        values = self._convert(data, load=True)
        if self.typed_dict:
            return values
        return self.kind(**values)


def _typed_dict_required(kind: type, hints: dict[str, Any]) -> frozenset[str]:
    """Required keys, also when ``from __future__ import annotations`` hid ``NotRequired`` from
    the class's own ``__required_keys__`` (Python < 3.14)."""
    optional = set(getattr(kind, "__optional_keys__", ()))
    required = set()
    for name, hint in hints.items():
        origin = get_origin(hint)
        if origin is typing.Required or (origin is not typing.NotRequired and name not in optional):
            required.add(name)
    return frozenset(required)


def _strip_required(hint: Any) -> Any:
    if get_origin(hint) in (typing.Required, typing.NotRequired):
        return get_args(hint)[0]
    return hint


class _Pydantic(Converter):
    """A pydantic v2 model, used through its own validation (never imported here)."""

    def __init__(self, kind: Any) -> None:
        self.kind = kind
        self.expected = kind.__name__

    def _validate(self, value: Any) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            return self.kind.model_validate(value)
        except Exception as exc:
            errors = getattr(exc, "errors", None)
            if not callable(errors):
                raise Invalid(str(exc)) from None
            first = errors()[0]
            invalid = Invalid(str(first.get("msg", exc)))
            for part in reversed(first.get("loc", ())):
                invalid.at(part if isinstance(part, int) else str(part))
            raise invalid from None

    def dump(self, value: Any) -> Any:
        return self._validate(value).model_dump(mode="json")

    def load(self, data: Any) -> Any:
        return self._validate(data)


def _is_pydantic_model(kind: object) -> bool:
    return (
        isinstance(kind, type)
        and callable(getattr(kind, "model_validate", None))
        and callable(getattr(kind, "model_dump", None))
        and hasattr(kind, "model_fields")
    )


def _is_typed_dict(kind: object) -> bool:
    """typing's TypedDict, and typing_extensions' (which typing.is_typeddict does not know
    before Python 3.12; pydantic asks for it there)."""
    return isinstance(kind, type) and (
        typing.is_typeddict(kind)
        or (
            issubclass(kind, dict)
            and hasattr(kind, "__required_keys__")
            and hasattr(kind, "__total__")
        )
    )


def type_name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


_SCALARS: dict[Any, Converter] = {
    kind: _Scalar(kind, name)
    for kind, name in [(str, "str"), (int, "int"), (float, "float"), (bool, "bool")]
}
_SCALARS[None] = _SCALARS[type(None)] = _Scalar(type(None), "null")


@lru_cache(maxsize=1024)
def converter_for(tp: Any) -> Converter:
    """The converter of one type annotation (cached; types are hashable)."""
    if tp is Any or tp is object or tp is MISSING or isinstance(tp, typing.TypeVar):
        return _AnyJson()
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Annotated:
        return converter_for(args[0])
    if origin is Union or origin is types.UnionType:
        return _Union([converter_for(a) for a in args])
    if origin is Literal:
        return _Choice(args)
    if origin in (list, set, frozenset, Sequence) or tp in (list, set, frozenset):
        item = args[0] if args else Any
        kind = origin if origin in (list, set, frozenset) else (tp if origin is None else list)
        return _Sequence(converter_for(item), type_name(item), kind)
    if origin is tuple or tp is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return _Sequence(converter_for(item), type_name(item), tuple)
        return _FixedTuple([converter_for(a) for a in args])
    if origin in (dict, Mapping) or tp is dict:
        if args and args[0] is not str:
            raise ValidationError(f"unsupported type {type_name(tp)}: JSON object keys are text")
        value = args[1] if args else Any
        return _Dict(converter_for(value), type_name(value))
    if tp in _Parsed._EXPECTED:
        return _Parsed(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _Choice((), tp)
    if _is_typed_dict(tp):
        return _Record(tp, typed_dict=True)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _Record(tp, typed_dict=False)
    if _is_pydantic_model(tp):
        return _Pydantic(tp)
    raise ValidationError(
        f"unsupported type {type_name(tp)} for a job's input or output",
        hint="use a dataclass, TypedDict, pydantic model, or JSON types (str, int, float, "
        "bool, None, list, dict[str, ...], datetime, date, UUID, Enum, Literal)",
    )


def nul_path(data: Any, path: str = "") -> str | None:
    """The path of the first text (a string or an object key) in JSON data that holds a NUL
    character, or None."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, dict):
        for key, item in data.items():
            sub = _join(path, key)
            if "\x00" in key:
                return sub
            found = nul_path(item, sub)
            if found is not None:
                return found
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found = nul_path(item, _join(path, i))
            if found is not None:
                return found
    return None


#: One encoder for every value: json.dumps() builds a new one per call when given options.
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
#: The C encoder that _ENCODER.encode() builds at every call (with a closure and a markers
#: dict: more than half of its time for a small value), built here the same way; None without
#: json's C extension.
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_ENCODE_STR = json.encoder.encode_basestring  # ensure_ascii=False
_DEFAULT = _ENCODER.default  # the TypeError of an unsupported value


def _encode(value: Any) -> str:
    if _C_MAKE_ENCODER is None:
        return _ENCODER.encode(value)
    # a fresh markers dict per call: the circular-reference check, left clean even after an error
    encoder = _C_MAKE_ENCODER({}, _DEFAULT, _ENCODE_STR, None, ":", ",", False, False, False)
    return "".join(encoder(value, 0))


def dumps_json(value: Any) -> tuple[str, int]:
    """Compact JSON text and its size in UTF-8 bytes; NaN/Infinity and lone surrogates are
    rejected with ValueError."""
    text = _encode(value)
    if text.isascii():  # known without a scan; then a character is a byte
        return text, len(text)
    return text, len(text.encode("utf-8"))  # raises UnicodeEncodeError on lone surrogates
