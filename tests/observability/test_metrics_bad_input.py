"""Bad input to the metrics options, through the real entry point: a port that is not a number,
out of range or in use, and prometheus-client missing, each give one ``error:`` line and exit 2,
and the worker does not start half-way (no heartbeat, nothing claimed)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.cli.conftest import Cli, Result, assert_clean_error
from tests.observability.conftest import free_port
from zapjobs import ZapJobs
from zapjobs.models import RunStatus


def nothing_started(cli: Cli, run_id: int) -> None:
    async def read(zap: ZapJobs) -> tuple[int, RunStatus]:
        return len(await zap.list_workers()), (await zap.get_run(run_id)).status

    assert cli.query(read) == (0, RunStatus.PENDING)


def enqueue_greet(cli: Cli) -> int:
    done = cli("enqueue", "greet", "--input", '{"name": "Al"}')
    assert done.code == 0, str(done)
    return int(done.stdout.strip())


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("abc", "invalid --metrics-port 'abc': not a port number"),
        ("70000", "invalid --metrics-port '70000': not a port number"),
        ("0", "invalid --metrics-port '0'"),
        ("-1", "invalid --metrics-port '-1'"),
        ("", "invalid --metrics-port ''"),
    ],
)
def test_a_port_that_is_not_a_port_is_one_line(pg_app: Cli, given: str, fragment: str) -> None:
    run_id = enqueue_greet(pg_app)
    result = pg_app("worker", "--metrics-port", given)
    assert_clean_error(result, 2, fragment, "use a number from 1 to 65535")
    nothing_started(pg_app, run_id)


def test_a_port_in_use_stops_the_worker_before_it_claims(pg_app: Cli) -> None:
    run_id = enqueue_greet(pg_app)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pg_app("worker", "--metrics-port", str(port))
    assert_clean_error(result, 2, f"cannot serve metrics on 127.0.0.1:{port}", "already in use")
    nothing_started(pg_app, run_id)


def test_a_bad_metrics_port_setting_is_one_line(pg_app: Cli) -> None:
    env = {**pg_app.env, "ZAPJOBS_METRICS_PORT": "ninety"}
    result = Cli(pg_app.url, pg_app.cwd, env)("worker")
    assert_clean_error(result, 2, "ZAPJOBS_METRICS_PORT: invalid metrics_port 'ninety'")


def without_prometheus(cli: Cli, *args: str) -> Result:
    """The real entry point in a process where ``import prometheus_client`` fails."""
    code = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "from zapjobs_cli.main import run; sys.argv[0] = 'zapjobs'; run()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=cli.env,
        cwd=cli.cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def test_without_prometheus_client_the_worker_says_how_to_install_it(pg_app: Cli) -> None:
    run_id = enqueue_greet(pg_app)
    result = without_prometheus(pg_app, "worker", "--metrics-port", str(free_port()))
    assert_clean_error(result, 2, "prometheus-client", "pip install 'zapjobs[metrics]'")
    nothing_started(pg_app, run_id)


def test_without_prometheus_client_the_exporter_says_how_to_install_it(pg_app: Cli) -> None:
    result = without_prometheus(pg_app, "metrics", "--port", str(free_port()))
    assert_clean_error(result, 2, "pip install 'zapjobs[metrics]'")


def test_without_prometheus_client_a_worker_without_metrics_runs(pg_app: Cli) -> None:
    run_id = enqueue_greet(pg_app)
    result = without_prometheus(pg_app, "worker", "--burst")
    assert result.code == 0, str(result)

    async def status(zap: ZapJobs) -> RunStatus:
        return (await zap.get_run(run_id)).status

    assert pg_app.query(status) is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "http"], "invalid --port 'http'"),
        (["--port", "65536"], "invalid --port '65536'"),
        (["--host", "a b"], "invalid --host 'a b'"),
        (["--window", "0s"], "--window must be greater than zero"),
        (["--window", "soon"], "invalid --window 'soon'"),
    ],
)
def test_bad_exporter_options_are_one_line(pg_app: Cli, args: list[str], fragment: str) -> None:
    assert_clean_error(pg_app("metrics", *args), 2, fragment)


def test_exporter_port_in_use_is_one_line(pg_app: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pg_app("metrics", "--port", str(port))
    assert_clean_error(result, 2, f"cannot serve metrics on 127.0.0.1:{port}", "already in use")
