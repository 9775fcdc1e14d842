"""The CLI fixtures of tests/cli (the real ``zapjobs`` entry point in subprocesses), a free
port, and scraping ``/metrics`` with prometheus-client's own parser."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.conftest import (  # noqa: F401  (fixtures)
    pg_app,
    pg_cli,
    processes,
    sqlite_cli,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    """A port nothing listens on now (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


def scrape(port: int) -> Samples | None:
    """Every sample of http://127.0.0.1:port/metrics by (name, labels); None if nothing
    answers there (yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there: a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
