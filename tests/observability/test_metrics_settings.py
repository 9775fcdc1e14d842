"""The metrics_port and metrics_host settings: parsed and validated like the other settings,
from a file, the environment or a call; a wrong value is one line naming where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from zapjobs import Settings, ZapJobs
from zapjobs.config import load_settings
from zapjobs.errors import ConfigurationError, ValidationError


def test_metrics_are_off_by_default_and_listen_on_loopback() -> None:
    settings = Settings()
    assert (settings.metrics_port, settings.metrics_host) == (None, "127.0.0.1")


def test_metrics_port_from_a_file_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "zapjobs.toml").write_text('metrics_port = 9464\nmetrics_host = "0.0.0.0"\n')
    resolved = load_settings(cwd=tmp_path, env={})
    assert (resolved.settings.metrics_port, resolved.settings.metrics_host) == (9464, "0.0.0.0")
    from_env = load_settings(cwd=tmp_path, env={"ZAPJOBS_METRICS_PORT": "9500"})
    assert from_env.settings.metrics_port == 9500
    assert from_env.source("metrics_port") == "env ZAPJOBS_METRICS_PORT"


@pytest.mark.parametrize("bad", ["abc", "70000", "0", "-5", "9464.5", True])
def test_a_bad_metrics_port_is_one_line_naming_its_source(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(cwd=tmp_path, env={"ZAPJOBS_METRICS_PORT": str(bad)})
    assert str(caught.value).startswith("ZAPJOBS_METRICS_PORT: invalid metrics_port")
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="use a number from 1 to 65535"):
        Settings(metrics_port=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a b", "host/x", "user@host"])
def test_a_bad_metrics_host_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid metrics_host"):
        Settings(metrics_host=bad)


async def test_run_worker_refuses_a_bad_metrics_port_before_anything_starts() -> None:
    zap = ZapJobs("memory://")
    with pytest.raises(ValidationError, match="invalid metrics_port 70000"):
        await zap.run_worker(burst=True, metrics_port=70000, install_signal_handlers=False)
