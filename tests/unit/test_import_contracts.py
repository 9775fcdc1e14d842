"""The import contracts of pyproject.toml (`lint-imports`): kept by the code as it is, and broken
by each kind of import they exist to stop (checked on a copy of the packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_each_forbidden_import_breaks_its_contract(tmp_path: Path) -> None:
    for package in ("zapjobs", "zapjobs_cli"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = "\n".join(
        "[[tool.importlinter.contracts]]\n"
        + "".join(f"{key} = {_toml(value)}\n" for key, value in contract.items())
        for contract in config["contracts"]
    )
    roots = _toml(config["root_packages"])
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.importlinter]\nroot_packages = {roots}\ninclude_external_packages = true\n"
        + contracts
    )
    assert lint_imports(tmp_path).returncode == 0  # the copy keeps them, as the code does

    forbidden = {
        "zapjobs_cli/commands/prune.py": "from zapjobs.stores import create_store",
        "zapjobs/core/retry.py": "import asyncio",
        "zapjobs/runtime/signals.py": "from zapjobs.stores.memory import MemoryStore",
    }
    for path, line in forbidden.items():
        with (tmp_path / path).open("a") as module:
            module.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1
    assert "zapjobs_cli.commands.prune -> zapjobs.stores" in result.stdout
    assert "zapjobs.core.retry -> asyncio" in result.stdout
    assert "zapjobs.runtime.signals -> zapjobs.stores.memory" in result.stdout
    assert "3 broken" in result.stdout


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
