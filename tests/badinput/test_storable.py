"""The one rule that makes job-produced text storable (zapjobs.core.storable), unit by unit."""

from __future__ import annotations

import json

import pytest

from zapjobs.core.storable import (
    is_storable_json,
    is_storable_text,
    storable_json,
    storable_text,
    storable_value,
)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("plain", "plain"),
        ("a\x00b", "a\\x00b"),
        ("\ud800", "\\ud800"),
        ("x\udfffy\x00", "x\\udfffy\\x00"),
        ("\ud83d\ude00", "\\ud83d\\ude00"),  # a "pair" in a Python str is two code points
        ("😀 \x01 \t", "😀 \x01 \t"),  # everything else stays as it is
    ],
)
def test_unstorable_characters_become_visible_escapes(raw: str, stored: str) -> None:
    assert storable_text(raw) == stored
    assert is_storable_text(stored)
    assert is_storable_text(raw) is (raw == stored)


def test_clean_values_are_returned_unchanged() -> None:
    value = {"a": [1, "b", {"c": None}], "d": 2.5}
    assert storable_value(value) is value
    text = "plain"
    assert storable_text(text) is text


def test_json_like_values_are_escaped_recursively_keys_included() -> None:
    value = {"k\x00": ["\ud800", ("t\x00", 1)], "ok": True}
    assert storable_value(value) == {"k\\x00": ["\\ud800", ("t\\x00", 1)], "ok": True}
    assert storable_value(value)["k\\x00"][1].__class__ is tuple


@pytest.mark.parametrize(
    ("text", "storable"),
    [
        ('"a\\u0000b"', False),  # jsonb refuses the escape
        ('"\\ud800"', False),  # a lone surrogate escape
        ('"\\ud83d\\ude00"', True),  # a valid pair is one character
        ('"\\\\u0000"', True),  # an escaped backslash, then the text u0000
        ('"\\\\\\u0000"', False),  # an escaped backslash, then the escape
        ('"\\u0001"', True),
        ('"a\x00"', False),
    ],
)
def test_json_text_is_judged_like_jsonb_does(text: str, storable: bool) -> None:
    assert is_storable_json(text) is storable
    fixed = storable_json(text)
    assert is_storable_json(fixed)
    if storable:
        assert fixed is text
    else:
        assert json.loads(fixed) == storable_value(json.loads(text, strict=False))
