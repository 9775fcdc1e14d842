"""Values a job produces, made storable in every store, visibly.

PostgreSQL text refuses NUL characters and jsonb refuses the ``\\u0000`` escape; neither
PostgreSQL nor SQLite can take a lone surrogate (Python strings may hold one, UTF-8 cannot).
A job's log message, log fields, output and error text may contain any of them, and one such
value used to make a whole completion batch fail again and again. So before such a value
reaches a batch, every unstorable character is replaced by a visible escape of itself: NUL by
the four characters ``\\x00``, a surrogate by ``\\udXXX`` (six characters). Everything else is
left as it is; a value without such characters is returned unchanged (the same object).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Characters no store can keep in text: NUL and the surrogate code points (a Python string
#: holds a "pair" as two separate code points, which UTF-8 cannot encode either).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: A JSON escape that may stand for NUL or a surrogate (an odd run of backslashes before it):
#: jsonb refuses ``\u0000`` and unpaired surrogate escapes. A hint only; decoding decides.
_ESCAPE_HINT = re.compile(r"(?<!\\)(?:\\\\)*\\u(?:0000|[dD][89a-fA-F])")
_COMPACT = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\x00":
        return "\\x00"
    return f"\\u{ord(char):04x}"


def storable_text(text: str) -> str:
    """``text`` with NUL and surrogates replaced by visible escapes (unchanged when clean)."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(_escape, text)


def is_storable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def storable_value(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, strings, scalars) with every string, dict keys
    included, made storable. Other objects are returned as they are; so is a clean value."""
    if _clean(value):
        return value
    return _rebuilt(value)


def _rebuilt(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {_rebuilt(k): _rebuilt(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_rebuilt(item) for item in value]
        return tuple(items) if type(value) is tuple else items
    return value


def _clean(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is None
    if isinstance(value, dict):
        return all(_clean(key) and _clean(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_clean(item) for item in value)
    return True


def is_storable_json(text: str) -> bool:
    """Whether a JSON text can be stored as it is: no NUL or surrogate, raw or escaped (a valid
    escaped surrogate pair is one character, and fine). Text that is not JSON is not judged
    here."""
    if _UNSTORABLE.search(text) is not None:
        return False
    if _ESCAPE_HINT.search(text) is None:
        return True
    try:
        return _clean(json.loads(text, strict=False))
    except (ValueError, RecursionError):
        return True


def storable_json(text: str) -> str:
    """JSON text every store takes: ``text`` itself when it is, else the same value re-encoded
    with its strings made storable. Raises ValueError when ``text`` is not JSON."""
    if is_storable_json(text):
        return text
    return _COMPACT.encode(storable_value(json.loads(text, strict=False)))
