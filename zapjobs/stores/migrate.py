"""Migration files: ``migrations/<backend>/NNNN_name.sql``, shipped in the wheel.

In an installed wheel they live at ``zapjobs/_migrations`` (hatchling's force-include); in a
checkout (or an editable install) they are read from the top-level ``migrations/`` folder.
Each file may use ``{prefix}`` for the table prefix, which is validated before substitution.
Applying them (in a transaction each, recorded in ``{prefix}migrations``, under a lock) is each
store's job, since locking differs per backend.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from zapjobs.errors import MigrationError, NotMigratedError
from zapjobs.models import Migration, MigrationStatus
from zapjobs.settings import validate_prefix

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def _migrations_root() -> Traversable:
    packaged = resources.files("zapjobs") / "_migrations"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if checkout.is_dir():
        return checkout
    raise MigrationError("zapjobs is installed without its migrations folder")


def load_migrations(backend: str, prefix: str) -> list[Migration]:
    """Every migration of ``backend`` in version order, with ``{prefix}`` substituted."""
    validate_prefix(prefix)
    folder = _migrations_root() / backend
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME_RE.match(entry.name)
        if not match:
            continue
        sql = entry.read_text(encoding="utf-8").replace("{prefix}", prefix)
        found.append(Migration(version=int(match.group(1)), name=match.group(2), sql=sql))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two {backend} migrations share a version number")
    return found


def require_migrated(status: MigrationStatus) -> None:
    """Raise NotMigratedError naming the pending migrations, if any."""
    if status.pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in status.pending)
        raise NotMigratedError(
            f"the database is not migrated: {len(status.pending)} migration(s) pending ({names})"
        )
