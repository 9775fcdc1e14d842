"""The typed-input converter on the hot path, side by side with the libraries that could replace it.

    .venv/bin/python bench/converters.py [--seconds 0.15] [--repeat 3] [--messages]

Measures, in one run, operations per second of

- **encode**: what ``zap.enqueue`` does with a value: check it against the declared type and turn
  it into compact JSON text (zapjobs: ``Codec.encode``);
- **decode**: what the worker does before a job runs: rebuild the declared type from the parsed
  JSON the store handed back (zapjobs: ``Codec.decode``);

for a small dataclass, a nested dataclass holding a list of 20 dataclasses, a TypedDict and a
plain dict (``Any``), with zapjobs' own converter and each candidate that is installed:
msgspec (``msgspec.convert(strict=True)`` + ``msgspec.json.Encoder``), pydantic
(``TypeAdapter.validate_python`` + ``dump_json``) and cattrs (the preconf JSON converter with
``forbid_extra_keys``). A candidate that is not installed is skipped with a note. Encoding with
a candidate checks the value too (``to_builtins``/``unstructure`` then ``convert``/``structure``),
as zapjobs does; "msgspec, no check" only serialises, the floor of what encoding can cost.

``--messages`` prints instead what each one says about a few wrong inputs (the field path, and
whether it refuses at all), the other half of the comparison.

Nothing here is imported by zapjobs; the candidates are never zapjobs dependencies.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import Any, NotRequired

if sys.version_info >= (3, 12) or find_spec("typing_extensions") is None:
    from typing import TypedDict
else:  # pydantic refuses typing.TypedDict before 3.12; the others take either
    from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zapjobs.typed import Codec


@dataclass
class Item:
    sku: str
    qty: int
    price: float
    gift: bool = False


@dataclass
class Address:
    street: str
    city: str
    zip: str | None = None


@dataclass
class Order:
    id: int
    customer: str
    address: Address
    items: list[Item]
    tags: list[str] = field(default_factory=list)
    note: str | None = None


class Movie(TypedDict):
    title: str
    year: int
    genres: list[str]
    rating: NotRequired[float]


SMALL = Item(sku="A-1", qty=3, price=9.5)
NESTED = Order(
    id=42,
    customer="Ada",
    address=Address("Main St 1", "Springfield", "12345"),
    items=[Item(sku=f"SKU-{i}", qty=i, price=i * 1.25, gift=i % 2 == 0) for i in range(20)],
    tags=["rush", "fragile"],
)
MOVIE: Movie = {"title": "Alien", "year": 1979, "genres": ["horror", "sf"], "rating": 8.5}
PLAIN: dict[str, Any] = {
    "user_id": 1234,
    "email": "ada@example.com",
    "flags": [True, False, None],
    "meta": {"source": "signup", "score": 0.75},
}


def _as_json(value: Any) -> Any:
    """The parsed JSON a store hands the worker for this value."""
    return json.loads(Codec(Any).encode(value, job_type="bench"))


# (name, declared type, value given to encode)
CASES: list[tuple[str, Any, Any]] = [
    ("small dataclass", Item, SMALL),
    ("nested dataclass, 20 items", Order, NESTED),
    ("TypedDict", Movie, MOVIE),
    ("plain dict (Any)", Any, PLAIN),
]

Op = Callable[[], object]
#: library -> (declared type, value, parsed JSON) -> (encode, decode), or None if not installed
Maker = Callable[[Any, Any, Any], tuple[Op, Op]]


def zapjobs_ops(tp: Any, value: Any, data: Any) -> tuple[Op, Op]:
    codec = Codec(tp)
    return (
        lambda: codec.encode(value, job_type="bench"),
        lambda: codec.decode(data, job_type="bench"),
    )


def msgspec_ops(tp: Any, value: Any, data: Any) -> tuple[Op, Op]:
    import msgspec

    encoder = msgspec.json.Encoder()
    to_builtins, convert = msgspec.to_builtins, msgspec.convert
    return (
        lambda: encoder.encode(convert(to_builtins(value), tp, strict=True)),
        lambda: convert(data, tp, strict=True),
    )


def msgspec_unchecked_ops(tp: Any, value: Any, data: Any) -> tuple[Op, Op]:
    import msgspec

    encoder = msgspec.json.Encoder()
    return (lambda: encoder.encode(value), lambda: msgspec.convert(data, tp, strict=True))


def pydantic_ops(tp: Any, value: Any, data: Any) -> tuple[Op, Op]:
    from pydantic import TypeAdapter

    adapter = TypeAdapter(tp)
    validate, dump = adapter.validate_python, adapter.dump_json
    return (lambda: dump(validate(value)), lambda: validate(data))


def cattrs_ops(tp: Any, value: Any, data: Any) -> tuple[Op, Op]:
    from cattrs.preconf.json import make_converter

    conv = make_converter(forbid_extra_keys=True)
    structure, unstructure, dumps = conv.structure, conv.unstructure, conv.dumps
    if tp is Any:
        return (lambda: dumps(unstructure(value)), lambda: data)
    return (
        lambda: dumps(unstructure(structure(unstructure(value), tp))),
        lambda: structure(data, tp),
    )


LIBRARIES: list[tuple[str, str, Maker]] = [
    ("zapjobs", "zapjobs", zapjobs_ops),
    ("msgspec", "msgspec", msgspec_ops),
    ("msgspec, no check", "msgspec", msgspec_unchecked_ops),
    ("pydantic", "pydantic", pydantic_ops),
    ("cattrs", "cattrs", cattrs_ops),
]


def ops_per_second(op: Op, seconds: float, repeat: int) -> float:
    timer = timeit.Timer(op)
    number, _ = timer.autorange()  # enough calls for 0.2 s
    number = max(1, int(number * seconds / 0.2))
    best = min(timer.repeat(repeat=repeat, number=number))
    return number / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.15, help="per timing (default 0.15)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per cell, best kept")
    parser.add_argument("--messages", action="store_true", help="error messages, not speed")
    args = parser.parse_args()

    libraries = []
    for name, module, maker in LIBRARIES:
        if find_spec(module) is None:
            print(f"note: {name} skipped ({module} is not installed)")
            continue
        libraries.append((name, maker))

    versions = [
        f"{module} {version(module)}"
        for module in ("msgspec", "pydantic", "cattrs")
        if find_spec(module) is not None
    ]
    print(f"python {sys.version.split()[0]}; " + ", ".join(versions))

    if args.messages:
        print_messages([name for name, _ in libraries if name != "msgspec, no check"])
        return

    header = ["case", "op"] + [name for name, _ in libraries]
    rows: list[list[str]] = []
    for case, tp, value in CASES:
        data = _as_json(value)
        cells: dict[str, dict[str, str]] = {"encode": {}, "decode": {}}
        for name, maker in libraries:
            try:
                encode, decode = maker(tp, value, data)
                for op_name, op in (("encode", encode), ("decode", decode)):
                    op()  # warm up (and fail here, not in the timer)
                    cells[op_name][name] = f"{ops_per_second(op, args.seconds, args.repeat):,.0f}"
            except Exception as exc:
                for op_name in cells:
                    cells[op_name][name] = f"n/a ({type(exc).__name__})"
        for op_name, by_lib in cells.items():
            rows.append([case, op_name] + [by_lib[name] for name, _ in libraries])

    print("ops/s, higher is better; best of --repeat timings")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


# (what is wrong, declared type, value): each should be refused, naming the field
BAD: list[tuple[str, Any, Any]] = [
    ("str for an int, nested", Order, {**_as_json(NESTED), "items": [{"sku": "a", "qty": "x"}]}),
    ("missing nested field", Order, {**_as_json(NESTED), "items": [{"sku": "a", "qty": 1}]}),
    ("unknown field", Order, {**_as_json(NESTED), "nick": "x"}),
    ("bool for an int", Item, {"sku": "a", "qty": True, "price": 1.0}),
    ('"5" for an int', Item, {"sku": "a", "qty": "5", "price": 1.0}),
    ("1.5 for an int", Item, {"sku": "a", "qty": 1.5, "price": 1.0}),
    ("NaN for a float", Item, {"sku": "a", "qty": 1, "price": float("nan")}),
    ("TypedDict missing key", Movie, {"title": "Alien", "genres": []}),
    ("set as Any", Any, {1, 2}),
]


def _message(lib: str, tp: Any, value: Any) -> str:
    try:
        if lib == "zapjobs":
            Codec(tp).encode(value, job_type="bench")
        elif lib == "msgspec":
            import msgspec

            msgspec.json.encode(msgspec.convert(value, tp, strict=True))
        elif lib == "pydantic":
            from pydantic import TypeAdapter

            adapter = TypeAdapter(tp)
            adapter.dump_json(adapter.validate_python(value))
        else:
            import cattrs
            from cattrs.preconf.json import make_converter

            conv = make_converter(forbid_extra_keys=True)
            try:
                conv.dumps(conv.unstructure(conv.structure(value, tp)))
            except Exception as exc:
                return "; ".join(cattrs.transform_error(exc))
    except Exception as exc:
        text = str(exc).splitlines()
        return text[0] if lib != "pydantic" else " ".join(line.strip() for line in text[1:3])
    return "ACCEPTED"


def print_messages(libraries: list[str]) -> None:
    for what, tp, value in BAD:
        print(f"## {what}")
        for lib in libraries:
            print(f"  {lib:9} {_message(lib, tp, value).removeprefix('invalid input for job ')}")


if __name__ == "__main__":
    main()
