"""Converters between Python values of a declared type and JSON-ready values.

``converter_for(tp)`` builds (and caches) the converter of one type annotation. ``dump`` checks
a value and returns plain JSON data; ``load`` rebuilds the declared type from decoded JSON.
Mismatches raise ``Invalid`` with the field path; zapjobs.typed turns that into a
ValidationError for the caller.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

from zapjobs.errors import ValidationError

MISSING = object()


class Invalid(Exception):
    """A shape mismatch at ``path``; turned into a ValidationError with context by Codec."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


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


class Converter:
    """Converts between Python values of one type and JSON-ready values."""

    expected: str = "a JSON value"

    def dump(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def load(self, data: Any, path: str) -> Any:
        raise NotImplementedError

    def fail(self, value: object, path: str) -> Invalid:
        return Invalid(path, f"expected {self.expected}, got {_describe_value(value)}")


class _AnyJson(Converter):
    expected = "a JSON value"

    def dump(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return _finite(value, path)
        if isinstance(value, Mapping):
            result: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise Invalid(path, f"object keys must be text, got {_describe_value(key)}")
                result[key] = self.dump(item, _join(path, key))
            return result
        if isinstance(value, list | tuple):
            return [self.dump(item, _join(path, i)) for i, item in enumerate(value)]
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return self.dump(value.value, path)
        kind = type(value)
        if dataclasses.is_dataclass(kind) or _is_pydantic_model(kind):
            return converter_for(cast(Any, kind)).dump(value, path)
        raise self.fail(value, path)

    def load(self, data: Any, path: str) -> Any:
        return data


def _finite(value: float, path: str) -> float:
    if math.isnan(value) or math.isinf(value):
        raise Invalid(path, f"expected a finite number, got {value!r} (JSON has no NaN/Infinity)")
    return value


class _Scalar(Converter):
    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.expected = {str: "str", int: "int", float: "float", bool: "bool"}[kind]

    def _check(self, value: Any, path: str) -> Any:
        if self.kind is bool:
            if isinstance(value, bool):
                return value
        elif self.kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return int(value)
        elif self.kind is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return _finite(float(value), path)
        elif isinstance(value, str):
            return str.__str__(value)  # the text itself, also for a (str, Enum) member
        raise self.fail(value, path)

    def dump(self, value: Any, path: str) -> Any:
        return self._check(value, path)

    def load(self, data: Any, path: str) -> Any:
        return self._check(data, path)


class _NoneType(Converter):
    expected = "null"

    def dump(self, value: Any, path: str) -> Any:
        if value is not None:
            raise self.fail(value, path)
        return None

    def load(self, data: Any, path: str) -> Any:
        return self.dump(data, path)


class _DateTime(Converter):
    def __init__(self, kind: type) -> None:
        self.kind = kind
        self.expected = "datetime (ISO 8601 text)" if kind is datetime else "date (ISO 8601 text)"

    def _parse(self, value: Any, path: str) -> Any:
        if self.kind is datetime and isinstance(value, datetime):
            return value
        if self.kind is date and isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                if self.kind is datetime:
                    return datetime.fromisoformat(value)
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(value, path)

    def dump(self, value: Any, path: str) -> Any:
        return self._parse(value, path).isoformat()

    def load(self, data: Any, path: str) -> Any:
        return self._parse(data, path)


class _Enum(Converter):
    def __init__(self, kind: type[enum.Enum]) -> None:
        self.kind = kind
        self.expected = "one of " + ", ".join(repr(m.value) for m in kind)

    def _member(self, value: Any, path: str) -> enum.Enum:
        if isinstance(value, self.kind):
            return value
        for member in self.kind:
            if member.value == value and type(member.value) is type(value):
                return member
        raise self.fail(value, path)

    def dump(self, value: Any, path: str) -> Any:
        return self._member(value, path).value

    def load(self, data: Any, path: str) -> Any:
        return self._member(data, path)


class _Literal(Converter):
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        self.expected = "one of " + ", ".join(repr(v) for v in values)

    def dump(self, value: Any, path: str) -> Any:
        for allowed in self.values:
            if value == allowed and type(value) is type(allowed):
                return value
        raise self.fail(value, path)

    def load(self, data: Any, path: str) -> Any:
        return self.dump(data, path)


class _Sequence(Converter):
    def __init__(self, item: Callable[[], Converter], item_name: str, kind: type) -> None:
        self._item = item
        self.kind = kind
        self.expected = f"{kind.__name__}[{item_name}]"

    def dump(self, value: Any, path: str) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(
            value, list | tuple | set | frozenset
        ):
            raise self.fail(value, path)
        item = self._item()
        return [item.dump(v, _join(path, i)) for i, v in enumerate(value)]

    def load(self, data: Any, path: str) -> Any:
        if not isinstance(data, list):
            raise self.fail(data, path)
        item = self._item()
        return self.kind(item.load(v, _join(path, i)) for i, v in enumerate(data))


class _FixedTuple(Converter):
    def __init__(self, items: list[Converter]) -> None:
        self.items = items
        self.expected = "tuple[" + ", ".join(c.expected for c in items) + "]"

    def _check(self, value: Any, path: str) -> None:
        if not isinstance(value, list | tuple) or len(value) != len(self.items):
            raise self.fail(value, path)

    def dump(self, value: Any, path: str) -> Any:
        self._check(value, path)
        return [
            c.dump(v, _join(path, i))
            for i, (c, v) in enumerate(zip(self.items, value, strict=True))
        ]

    def load(self, data: Any, path: str) -> Any:
        self._check(data, path)
        return tuple(
            c.load(v, _join(path, i)) for i, (c, v) in enumerate(zip(self.items, data, strict=True))
        )


class _Dict(Converter):
    def __init__(self, value: Callable[[], Converter], value_name: str) -> None:
        self._value = value
        self.expected = f"dict[str, {value_name}]"

    def _convert(self, data: Any, path: str, load: bool) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(data, path)
        conv = self._value()
        result: dict[str, Any] = {}
        for key, item in data.items():
            if not isinstance(key, str):
                raise Invalid(path, f"expected text keys, got {_describe_value(key)}")
            sub = _join(path, key)
            result[key] = conv.load(item, sub) if load else conv.dump(item, sub)
        return result

    def dump(self, value: Any, path: str) -> Any:
        return self._convert(value, path, load=False)

    def load(self, data: Any, path: str) -> Any:
        return self._convert(data, path, load=True)


class _Union(Converter):
    def __init__(self, options: list[Converter]) -> None:
        self.options = options
        self.expected = " or ".join(o.expected for o in options)

    def _first(self, value: Any, path: str, load: bool) -> Any:
        deepest: Invalid | None = None
        for option in self.options:
            try:
                return option.load(value, path) if load else option.dump(value, path)
            except Invalid as exc:
                # An error below this level (a field of a matching dataclass) is more useful
                # than "expected X or Y" at this level.
                if exc.path != path and (deepest is None or len(exc.path) > len(deepest.path)):
                    deepest = exc
        if deepest is not None:
            raise deepest
        raise self.fail(value, path)

    def dump(self, value: Any, path: str) -> Any:
        return self._first(value, path, load=False)

    def load(self, data: Any, path: str) -> Any:
        return self._first(data, path, load=True)


class _Record(Converter):
    """Dataclasses and TypedDicts: exactly the declared fields, required ones present."""

    def __init__(self, kind: type, *, typed_dict: bool) -> None:
        self.kind = kind
        self.typed_dict = typed_dict
        self.expected = kind.__name__
        self._fields: dict[str, Converter] | None = None
        self._required: frozenset[str] = frozenset()

    def fields(self) -> dict[str, Converter]:
        if self._fields is None:
            try:
                hints = get_type_hints(self.kind, include_extras=self.typed_dict)
            except Exception as exc:
                raise ValidationError(
                    f"cannot read the field types of {self.kind.__qualname__}: {exc}",
                    hint="define it at module level so its annotations resolve",
                ) from None
            if self.typed_dict:
                names = list(hints)
                self._required = _typed_dict_required(self.kind, hints)
                hints = {name: _strip_required(hint) for name, hint in hints.items()}
            else:
                declared = [f for f in dataclasses.fields(self.kind) if f.init]
                names = [f.name for f in declared]
                self._required = frozenset(
                    f.name
                    for f in declared
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                )
            self._fields = {name: converter_for(hints[name]) for name in names}
        return self._fields

    def _as_mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not self.typed_dict and isinstance(value, self.kind):
            return {name: getattr(value, name) for name in self.fields()}
        if isinstance(value, Mapping):
            return value
        raise self.fail(value, path)

    def _convert(self, value: Any, path: str, load: bool) -> dict[str, Any]:
        data = self._as_mapping(value, path)
        fields = self.fields()
        for key in data:
            if key not in fields:
                where = _join(path, key) if isinstance(key, str) else path
                raise Invalid(
                    where,
                    f"unknown field {key!r} for {self.expected} "
                    f"(fields: {', '.join(fields) or 'none'})",
                )
        result: dict[str, Any] = {}
        for name, conv in fields.items():
            item = data.get(name, MISSING)
            if item is MISSING:
                if name in self._required:
                    raise Invalid(
                        _join(path, name), f"missing required field of type {conv.expected}"
                    )
                continue
            sub = _join(path, name)
            result[name] = conv.load(item, sub) if load else conv.dump(item, sub)
        return result

    def dump(self, value: Any, path: str) -> Any:
        return self._convert(value, path, load=False)

    def load(self, data: Any, path: str) -> Any:
        values = self._convert(data, path, load=True)
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

    def _validate(self, value: Any, path: str) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            return self.kind.model_validate(value)
        except Exception as exc:
            errors = getattr(exc, "errors", None)
            if callable(errors):
                first = errors()[0]
                where = path
                for part in first.get("loc", ()):
                    where = _join(where, part if isinstance(part, int) else str(part))
                raise Invalid(where, str(first.get("msg", exc))) from None
            raise Invalid(path, str(exc)) from None

    def dump(self, value: Any, path: str) -> Any:
        return self._validate(value, path).model_dump(mode="json")

    def load(self, data: Any, path: str) -> Any:
        return self._validate(data, path)


def _is_pydantic_model(kind: object) -> bool:
    return (
        isinstance(kind, type)
        and callable(getattr(kind, "model_validate", None))
        and callable(getattr(kind, "model_dump", None))
        and hasattr(kind, "model_fields")
    )


def _is_typed_dict(kind: object) -> bool:
    return isinstance(kind, type) and typing.is_typeddict(kind)


def _lazy(tp: Any) -> Callable[[], Converter]:
    """Resolve a nested converter on first use, so recursive types do not recurse forever."""
    return lambda: converter_for(tp)


def type_name(tp: Any) -> str:
    if tp is Any:
        return "Any"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


@lru_cache(maxsize=1024)
def converter_for(tp: Any) -> Converter:
    """The converter of one type annotation (cached; types are hashable)."""
    if tp is Any or tp is object or tp is MISSING:
        return _AnyJson()
    if tp is None or tp is type(None):
        return _NoneType()
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is typing.Annotated:
        return converter_for(args[0])
    if origin is Union or origin is types.UnionType:
        return _Union([converter_for(a) for a in args])
    if origin is Literal:
        return _Literal(args)
    if origin in (list, set, frozenset, Sequence) or tp in (list, set, frozenset):
        item = args[0] if args else Any
        kind = origin if origin in (list, set, frozenset) else (tp if origin is None else list)
        return _Sequence(_lazy(item), type_name(item), kind)
    if origin is tuple or tp is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return _Sequence(_lazy(item), type_name(item), tuple)
        return _FixedTuple([converter_for(a) for a in args])
    if origin in (dict, Mapping) or tp is dict:
        if args and args[0] is not str:
            raise ValidationError(f"unsupported type {type_name(tp)}: JSON object keys are text")
        value = args[1] if args else Any
        return _Dict(_lazy(value), type_name(value))
    if tp in (str, int, float, bool):
        return _Scalar(tp)
    if tp in (datetime, date):
        return _DateTime(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _Enum(tp)
    if _is_typed_dict(tp):
        return _Record(tp, typed_dict=True)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _Record(tp, typed_dict=False)
    if _is_pydantic_model(tp):
        return _Pydantic(tp)
    if isinstance(tp, typing.TypeVar):
        return _AnyJson()
    raise ValidationError(
        f"unsupported type {type_name(tp)} for a job's input or output",
        hint="use a dataclass, TypedDict, pydantic model, or JSON types (str, int, float, "
        "bool, None, list, dict[str, ...])",
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


def dumps_json(value: Any) -> str:
    """Compact JSON text; NaN/Infinity and lone surrogates are rejected with ValueError."""
    text = _ENCODER.encode(value)
    text.encode("utf-8")  # raises UnicodeEncodeError on lone surrogates
    return text
