"""The README's "Testing your own jobs" example runs as written, and every call of the testing
helpers in the README is awaited (without ``await`` an assertion never runs and passes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
HELPERS = ("run_inline", "assert_enqueued", "drain")


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else None]


def test_every_testing_helper_call_in_the_readme_is_awaited() -> None:
    text = README.read_text(encoding="utf-8")
    calls = re.findall(rf"(\S*\s?)\b({'|'.join(HELPERS)})\(zap", text)
    assert calls, "the README shows the testing helpers"
    for before, name in calls:
        assert before.strip().endswith("await"), f"{name}( without await in the README"


async def test_the_readme_testing_example_runs() -> None:
    [code] = re.findall(r"```python\n(.*?)```", section("Testing your own jobs"), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    await namespace["test_welcome_email"]()


def test_the_readme_says_how_to_install_from_a_checkout() -> None:
    install = section("Install")
    assert "not on PyPI yet" in install
    assert "pipx install zapjobs " not in install and "pip install zapjobs " not in install
