"""Migrations ship inside the wheel (hatchling force-include) and load from there."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _build_wheel(out: Path) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(ROOT))
    built = list(builder.build(directory=str(out), versions=["standard"]))
    assert len(built) == 1
    return Path(built[0])


def test_wheel_contains_every_migration(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for backend in ("postgres", "sqlite"):
        for sql in sorted((ROOT / "migrations" / backend).glob("*.sql")):
            assert f"zapjobs/_migrations/{backend}/{sql.name}" in names


def test_installed_wheel_loads_its_own_migrations(tmp_path: Path) -> None:
    """Unpacked without the checkout on sys.path, load_migrations reads the packaged files."""
    wheel = _build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import zapjobs, zapjobs.stores.migrate as m;"
        f"assert zapjobs.__file__.startswith({str(site)!r}), zapjobs.__file__;"
        "print(len(m.load_migrations('postgres', 'zapjobs_')),"
        " len(m.load_migrations('sqlite', 'zapjobs_')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pg_count, sqlite_count = (int(x) for x in result.stdout.split())
    assert pg_count == len(list((ROOT / "migrations" / "postgres").glob("*.sql"))) >= 1
    assert sqlite_count == len(list((ROOT / "migrations" / "sqlite").glob("*.sql"))) >= 1
