"""Stores and the one function that picks a store from a database URL."""

from __future__ import annotations

from zapjobs.errors import ConfigurationError
from zapjobs.stores.base import Listener, NotificationHandler, Store

__all__ = ["Listener", "NotificationHandler", "Store", "create_store", "store_backend"]


def store_backend(url: str) -> str:
    """The backend of a database URL: "postgres" (also libpq key=value), "sqlite" or "memory"."""
    text = url.strip()
    lowered = text.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if lowered.startswith("sqlite:"):
        return "sqlite"
    if lowered.startswith("memory:"):
        return "memory"
    if "=" in text and "://" not in text:
        return "postgres"
    raise ConfigurationError(
        "the database URL is not recognised",
        hint="use postgresql://user@host/db, a libpq 'key=value' string, "
        "sqlite:///path/to/file.db or memory://",
    )


def create_store(url: str, *, prefix: str = "zapjobs_") -> Store:
    """A store for ``url`` (not yet opened)."""
    backend = store_backend(url)
    if backend == "postgres":
        from zapjobs.stores.postgres.store import PostgresStore

        return PostgresStore(url, prefix=prefix)
    if backend == "sqlite":
        from zapjobs.stores.sqlite.store import SQLiteStore

        return SQLiteStore(url, prefix=prefix)
    from zapjobs.stores.memory import MemoryStore

    return MemoryStore(prefix=prefix)
