"""The PostgreSQL store (psycopg 3, async, pooled; LISTEN/NOTIFY wake-ups)."""

from __future__ import annotations

from zapjobs.stores.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
