"""A long-running worker: enqueue --wait against it, health probes, graceful stop on SIGTERM,
status --watch until Ctrl-C, and the password kept out of the banner and config show."""

from __future__ import annotations

import json
import re
import signal
import subprocess

from tests.cli.conftest import APP, SECRET, Cli, Lines, assert_clean_error, migrate, stop
from tests.cli.waiting import wait_until
from zapjobs import ZapJobs


def worker_alive(cli: Cli, worker_id: str) -> bool:
    async def read(zap: ZapJobs) -> bool:
        return any(w.id == worker_id and w.stopped_at is None for w in await zap.list_workers())

    return cli.query(read)


def test_wait_health_and_graceful_stop(pg_app: Cli, processes: list) -> None:
    worker = pg_app.start("worker", "--worker-id", "cli-test-worker", "--log-format", "json")
    processes.append(worker)
    wait_until(lambda: worker_alive(pg_app, "cli-test-worker"), "the worker's first heartbeat")

    ok = pg_app("enqueue", "greet", "--input", '{"name": "Bo"}', "--wait", "--timeout", "30s")
    assert ok.code == 0, str(ok)
    assert json.loads(ok.stdout) == "hello, Bo!"

    failed = pg_app("enqueue", "fail", "--wait")
    assert_clean_error(failed, 1, "failed after 1 attempt(s): RuntimeError: this job always fails")

    healthy = pg_app("health", "--worker", "cli-test-worker", "--json")
    assert healthy.code == 0, str(healthy)
    report = json.loads(healthy.stdout)
    assert report["ok"] is True and report["database"]["migrated"] is True
    assert report["worker"]["id"] == "cli-test-worker" and report["worker"]["state"] == "alive"

    unknown = pg_app("health", "--worker", "no-such-worker")
    assert unknown.code == 1 and "worker 'no-such-worker' is not known" in unknown.stderr

    code, _, err = stop(worker)
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    events = {line.get("event"): line for line in lines}
    assert events["worker_started"]["worker_id"] == "cli-test-worker"
    assert events["worker_started"]["job_types"] == ["fail", "greet", "wait-forever"]
    finished = [line for line in lines if line.get("event") == "run_finished"]
    assert {(f["job_type"], f["status"]) for f in finished} == {
        ("greet", "succeeded"),
        ("fail", "failed"),
    }
    assert events["worker_stopping"]["message"] == "stopping (signal)"
    assert events["worker_stopped"]["succeeded"] == 1 and events["worker_stopped"]["failed"] == 1


def test_worker_needs_an_app(pg_cli: Cli) -> None:
    migrate(pg_cli.url)
    result = pg_cli("worker", "--burst")
    assert_clean_error(result, 2, "no app given", "--app module:attr")


def test_password_masked_in_banner_config_and_health(pg_url: str, pg_cli: Cli) -> None:
    migrate(pg_url)
    url = f"{pg_url} password={SECRET}"  # the test server trusts: the password is only carried
    env = {**pg_cli.env, "ZAPJOBS_DATABASE_URL": url, "ZAPJOBS_APP": "cli_jobs:zap"}
    cli = Cli(url, pg_cli.cwd, env)

    shown = cli("config", "show")
    assert shown.code == 0, str(shown)
    assert "password=***" in shown.stdout and "env ZAPJOBS_DATABASE_URL" in shown.stdout
    as_json = json.loads(cli("config", "show", "--json").stdout)
    assert "password=***" in as_json["settings"]["database_url"]
    assert as_json["sources"]["app"] == "env ZAPJOBS_APP"

    banner = cli("worker", "--burst")
    assert banner.code == 0, str(banner)
    assert "password=***" in banner.stderr

    health = cli("health", "--json")
    assert "password=***" in json.loads(health.stdout)["database"]["url"]
    for result in (shown, banner, health):
        assert SECRET not in result.output


def test_status_watch_redraws_until_interrupted(pg_app: Cli, processes: list) -> None:
    watcher = pg_app.start("status", "--watch", "--interval", "200ms")
    processes.append(watcher)
    stdout = Lines(watcher.stdout)  # type: ignore[arg-type]

    def frames() -> int:
        return sum(line.startswith("zapjobs status") for line in list(stdout.lines))

    wait_until(lambda: frames() >= 2, "two frames of status --watch")
    watcher.send_signal(signal.SIGINT)
    try:
        code = watcher.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("status --watch did not stop on Ctrl-C") from None
    assert code == 130
    assert "Traceback" not in watcher.stderr.read()  # type: ignore[union-attr]


def test_logs_follow_until_the_run_ends(pg_app: Cli, processes: list) -> None:
    run_id = pg_app("enqueue", "greet", "--input", '{"name": "F"}').stdout.strip()
    follower = pg_app.start("runs", "logs", run_id, "--follow")
    processes.append(follower)
    assert pg_app("worker", "--burst").code == 0
    try:
        out, err = follower.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("runs logs --follow did not stop when the run ended") from None
    assert follower.returncode == 0, err
    assert "info    greeting" in out and '"name": "F"' in out


def test_colors_only_on_a_terminal_and_never_with_no_color(sqlite_cli: Cli) -> None:
    from tests.cli.terminal import Terminal

    migrate(sqlite_cli.url)
    assert sqlite_cli("enqueue", "greet", "--input", '{"name": "C"}', "--app", APP).code == 0
    color = re.compile(r"\x1b\[[0-9;]*3[0-7]m")  # a foreground colour
    env = {k: v for k, v in sqlite_cli.env.items() if k != "NO_COLOR"}
    seen = {}
    for name, args, extra in (
        ("plain", ["runs", "list"], {}),
        ("flag", ["--no-color", "runs", "list"], {}),
        ("env", ["runs", "list"], {"NO_COLOR": "1"}),
    ):
        terminal = Terminal(args, cwd=sqlite_cli.cwd, env={**env, **extra})
        try:
            terminal.expect("pending")
            assert terminal.wait() == 0
        finally:
            terminal.close()
        seen[name] = bool(color.search(terminal.raw))
    assert seen == {"plain": True, "flag": False, "env": False}


def test_second_signal_cancels_running_jobs_and_puts_them_back(
    pg_app: Cli, processes: list
) -> None:
    worker = pg_app.start("worker", "--shutdown-timeout", "60s")
    processes.append(worker)
    run_id = int(pg_app("enqueue", "wait-forever").stdout)

    def status() -> str:
        async def read(zap: ZapJobs) -> str:
            return (await zap.get_run(run_id)).status.value

        return pg_app.query(read)

    wait_until(lambda: status() == "running", "the run to start")
    stderr = Lines(worker.stderr)  # type: ignore[arg-type]
    worker.send_signal(signal.SIGTERM)  # first: stop claiming, let the job finish (it will not)
    wait_until(lambda: stderr.has("SIGTERM: finishing running jobs"), "the first signal's notice")
    assert worker.poll() is None and status() == "running"  # still waiting for the job
    worker.send_signal(signal.SIGTERM)  # second: cancel now
    assert worker.wait(timeout=20) == 0
    err = stderr.text()
    assert "second SIGTERM: cancelling running jobs now" in err
    assert f"run {run_id} wait-forever put back" in err
    assert status() == "pending"
