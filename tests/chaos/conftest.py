"""Fixtures of the chaos scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .pgcluster import PgCluster, private_cluster


@pytest.fixture(scope="module")
def pgcluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster (see pgcluster.py), shared by a module's tests; each test
    leaves it running and uses a database of its own."""
    with private_cluster() as cluster:
        yield cluster
