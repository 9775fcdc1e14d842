"""Typed input/output: validation at the caller with field-naming messages, JSON rules, and the
rebuild of the declared type before a job runs."""

from __future__ import annotations

import enum
import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, NotRequired, Optional, TypedDict

import pytest
import typing_extensions
from hypothesis import given
from hypothesis import strategies as st

from zapjobs import Job, JobContext, ValidationError
from zapjobs.converters import dumps_json
from zapjobs.typed import (
    MAX_INPUT_BYTES,
    Codec,
    check_json_text,
    encode_input,
    function_types,
    job_class_types,
)


@dataclass
class Address:
    street: str
    zip: str | None = None


@dataclass
class Customer:
    name: str
    age: int
    score: float
    active: bool
    tags: list[str]
    address: Address
    extra: dict[str, int] = field(default_factory=dict)
    plan: Literal["free", "pro"] = "free"
    since: datetime | None = None


@dataclass
class Tree:
    label: str
    children: list[Tree] = field(default_factory=list)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Film(typing_extensions.TypedDict):
    title: str
    year: int
    rating: typing_extensions.NotRequired[float]


def enc(tp: Any, value: Any) -> Any:
    return json.loads(Codec(tp).encode(value, job_type="t"))


def roundtrip(tp: Any, value: Any) -> Any:
    codec = Codec(tp)
    return codec.decode(json.loads(codec.encode(value, job_type="t")), job_type="t")


def error_of(tp: Any, value: Any) -> str:
    with pytest.raises(ValidationError) as info:
        Codec(tp).encode(value, job_type="my-job")
    return str(info.value)


CUSTOMER = Customer(
    name="Ada",
    age=36,
    score=9.5,
    active=True,
    tags=["a", "b"],
    address=Address("Main St 1"),
    since=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
)


def test_a_nested_dataclass_round_trips_to_the_same_value() -> None:
    assert roundtrip(Customer, CUSTOMER) == CUSTOMER


def test_a_dict_with_the_right_fields_is_accepted_and_rebuilt_as_the_dataclass() -> None:
    data = {
        "name": "Ada",
        "age": 36,
        "score": 9,
        "active": False,
        "tags": [],
        "address": {"street": "x"},
        "since": "2026-01-02T03:04:05+00:00",
    }
    rebuilt = roundtrip(Customer, data)
    assert isinstance(rebuilt, Customer)
    assert isinstance(rebuilt.address, Address)
    assert rebuilt.score == 9.0 and isinstance(rebuilt.score, float)
    assert rebuilt.since == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_datetime_is_stored_as_iso_text() -> None:
    assert enc(Customer, CUSTOMER)["since"] == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"name": "Ada"}, "field 'age': missing required field of type int"),
        (
            {**vars(CUSTOMER), "address": {"street": 5}},
            "field 'address.street': expected str, got int",
        ),
        ({**vars(CUSTOMER), "tags": ["ok", 3]}, "field 'tags[1]': expected str, got int"),
        ({**vars(CUSTOMER), "age": True}, "field 'age': expected int, got bool"),
        ({**vars(CUSTOMER), "age": 1.5}, "field 'age': expected int, got float"),
        ({**vars(CUSTOMER), "plan": "gold"}, "field 'plan': expected one of 'free', 'pro'"),
        ({**vars(CUSTOMER), "extra": {"k": "v"}}, "field 'extra.k': expected int, got str"),
        ({**vars(CUSTOMER), "nickname": "x"}, "field 'nickname': unknown field 'nickname'"),
        ("Ada", "input: expected Customer, got str"),
    ],
)
def test_a_wrong_shape_names_the_field_and_the_expected_type(value: Any, fragment: str) -> None:
    message = error_of(Customer, value)
    assert message.startswith("invalid input for job 'my-job': ")
    assert fragment in message


def test_optional_accepts_none_and_says_both_alternatives_when_wrong() -> None:
    assert enc(Optional[int], None) is None  # noqa: UP045 - the spelling under test
    assert enc(int | None, 3) == 3
    assert "expected int or null, got str 'x'" in error_of(int | None, "x")


def test_recursive_dataclasses_round_trip() -> None:
    tree = Tree("root", [Tree("a", [Tree("a1")]), Tree("b")])
    assert roundtrip(Tree, tree) == tree
    message = error_of(Tree, {"label": "r", "children": [{"label": 1}]})
    assert "field 'children[0].label': expected str, got int" in message


def test_typed_dict_checks_required_and_optional_keys() -> None:
    assert roundtrip(Movie, {"title": "Alien", "year": 1979}) == {"title": "Alien", "year": 1979}
    assert "field 'year': missing required" in error_of(Movie, {"title": "Alien"})
    assert "field 'rating': expected float" in error_of(
        Movie, {"title": "A", "year": 1, "rating": "x"}
    )


def test_enums_are_stored_by_value_and_rebuilt() -> None:
    assert enc(Colour, Colour.RED) == "red"
    assert roundtrip(list[Colour], ["blue", Colour.RED]) == [Colour.BLUE, Colour.RED]
    assert "expected one of 'red', 'blue'" in error_of(Colour, "green")


def test_tuples_and_dates() -> None:
    assert roundtrip(tuple[int, str], (1, "a")) == (1, "a")
    assert roundtrip(tuple[int, ...], [1, 2, 3]) == (1, 2, 3)
    assert roundtrip(date, date(2026, 3, 1)) == date(2026, 3, 1)
    assert "expected tuple[int, str]" in error_of(tuple[int, str], [1])


def test_any_accepts_json_and_rejects_what_json_cannot_hold() -> None:
    assert enc(Any, {"a": [1, 2.5, None, True, "x"]}) == {"a": [1, 2.5, None, True, "x"]}
    assert "object keys must be text" in error_of(Any, {1: "x"})
    assert "expected a JSON value, got set" in error_of(Any, {1, 2})
    assert "expected a JSON value, got bytes" in error_of(Any, b"x")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_rejected(bad: float) -> None:
    assert "finite number" in error_of(Any, {"x": bad})
    assert "finite number" in error_of(float, bad)


def test_lone_surrogates_are_rejected() -> None:
    message = error_of(str, "bad \ud800 text")
    assert "not valid JSON text" in message


def test_the_size_limit_is_enforced_with_the_size_in_the_message() -> None:
    big = "x" * MAX_INPUT_BYTES
    with pytest.raises(ValidationError) as info:
        encode_input(Codec(str), big, job_type="big")
    assert f"{MAX_INPUT_BYTES + 2:,} bytes" in str(info.value)
    assert f"limit of {MAX_INPUT_BYTES:,}" in str(info.value)
    assert encode_input(Codec(str), "x" * (MAX_INPUT_BYTES - 2), job_type="big")


def test_multibyte_text_counts_in_utf8_bytes() -> None:
    text = "é" * (MAX_INPUT_BYTES // 2)  # 2 bytes each: just over the limit with the quotes
    with pytest.raises(ValidationError):
        encode_input(Codec(str), text, job_type="t")


def test_raw_json_text_is_parsed_and_normalised() -> None:
    assert check_json_text(' { "a" : [1, 2] } ', job_type="t") == '{"a":[1,2]}'
    with pytest.raises(ValidationError, match="not valid JSON"):
        check_json_text("{nope", job_type="t")
    with pytest.raises(ValidationError, match="finite number"):
        check_json_text('{"a": NaN}', job_type="t")


def test_decode_rejects_stored_data_of_the_wrong_shape() -> None:
    with pytest.raises(ValidationError, match="field 'age': expected int"):
        Codec(Customer).decode({**enc(Customer, CUSTOMER), "age": "old"}, job_type="t")


#: Any JSON value (lone surrogates left out: JSON text cannot carry them to the database).
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_json_value_round_trips_exactly(value: Any) -> None:
    assert roundtrip(Any, value) == value


@given(JSON_VALUES)
def test_dumps_json_writes_what_the_json_module_writes(value: Any) -> None:
    text, size = dumps_json(value)
    assert text == json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    assert size == len(text.encode("utf-8"))


def test_dumps_json_refuses_what_the_json_module_refuses() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_json(looped)
    looped[0] = [1]  # no loop now: the failed call left no marker of looped behind
    assert dumps_json(looped) == ("[[1]]", 5)
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps_json([float("nan")])
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_json({"a": object()})


@pytest.mark.skipif(importlib.util.find_spec("pydantic") is None, reason="pydantic not installed")
def test_pydantic_models_are_validated_by_pydantic() -> None:
    from pydantic import BaseModel

    class Point(BaseModel):
        x: int
        y: int

    assert roundtrip(Point, {"x": 1, "y": 2}) == Point(x=1, y=2)
    assert enc(Point, Point(x=1, y=2)) == {"x": 1, "y": 2}
    assert "field 'y'" in error_of(Point, {"x": 1, "y": "many"})


# --- finding the declared types ----------------------------------------------------------------


async def typed_job(ctx: JobContext[Customer]) -> Address:
    raise NotImplementedError


def untyped_job(ctx):  # type: ignore[no-untyped-def]
    raise NotImplementedError


def bare_context_job(ctx: JobContext) -> None:  # type: ignore[type-arg]
    raise NotImplementedError


def wrongly_annotated(ctx: int) -> None:
    raise NotImplementedError


class ReportJob(Job[Movie, list[int]]):
    job_type_id = "report"

    async def execute(self, ctx: JobContext[Movie]) -> list[int]:
        return []


class UngenericJob(Job):  # type: ignore[type-arg]
    job_type_id = "ungeneric"

    async def execute(self, ctx: JobContext[int]) -> str:
        return ""


def test_types_come_from_the_context_annotation_and_return_annotation() -> None:
    assert function_types(typed_job) == (Customer, Address)
    assert function_types(untyped_job) == (Any, Any)
    assert function_types(bare_context_job) == (Any, type(None))


def test_a_first_parameter_that_is_not_a_job_context_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected JobContext"):
        function_types(wrongly_annotated)


def test_job_classes_take_types_from_their_generic_arguments_else_execute() -> None:
    assert job_class_types(ReportJob) == (Movie, list[int])
    assert job_class_types(UngenericJob) == (int, str)


def test_an_unsupported_type_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="unsupported type"):
        Codec(complex)
    with pytest.raises(ValidationError, match="keys are text"):
        Codec(dict[int, str])


def test_uuids_are_stored_as_text_and_rebuilt() -> None:
    order_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert enc(uuid.UUID, order_id) == "12345678-1234-5678-1234-567812345678"
    assert roundtrip(uuid.UUID, order_id) == order_id
    assert roundtrip(list[uuid.UUID], [str(order_id)]) == [order_id]
    assert "expected UUID (text), got str 'nope'" in error_of(uuid.UUID, "nope")


def test_typing_extensions_typed_dicts_are_typed_dicts() -> None:
    """pydantic asks for typing_extensions.TypedDict before Python 3.12, so users have them."""
    assert roundtrip(Film, {"title": "Alien", "year": 1979}) == {"title": "Alien", "year": 1979}
    assert "field 'year': missing required" in error_of(Film, {"title": "Alien"})
    assert "field 'rating': expected float" in error_of(
        Film, {"title": "A", "year": 1, "rating": "x"}
    )
