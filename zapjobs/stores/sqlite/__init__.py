"""The SQLite store: zero setup, one file, several processes on one machine."""

from zapjobs.stores.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
