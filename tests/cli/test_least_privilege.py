"""Least privilege, as the README documents it, on the real shared PostgreSQL: the README's own
GRANT statements are run for two roles of this test's own; a worker on the worker role drains
runs, and every read-only command, through the real ``zapjobs`` entry point with ``--app``,
works on a role that may only SELECT (it never tries to write)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.cli.conftest import APP, Cli, assert_clean_error, clean_env
from tests.cli.terminal import Terminal

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_grants() -> list[str]:
    """The statements of the SQL block in the README's "Least privilege" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Least privilege\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [" ".join(part.split()) for part in block.split(";") if part.strip()]
    assert statements and all(s.startswith("GRANT ") for s in statements), statements
    return statements


def renamed(statement: str, names: dict[str, str]) -> str:
    """A README statement for this test's roles and schema instead of the documented ones."""
    pattern = r"\b(" + "|".join(names) + r")\b"
    return re.sub(pattern, lambda m: f'"{names[m.group(1)]}"', statement)


@dataclass(frozen=True)
class Roles:
    admin: Cli
    worker: Cli
    reader: Cli


def as_role(url: str, role: str, cwd: Path) -> Cli:
    role_url = make_conninfo(url, user=role)
    return Cli(role_url, cwd, clean_env(ZAPJOBS_DATABASE_URL=role_url, ZAPJOBS_APP=APP))


@pytest.fixture
def roles(pg_url: str, tmp_path: Path) -> Iterator[Roles]:
    """A migrated schema (by the admin, with the app's definitions), and a worker and a reader
    role given exactly the README's GRANTs; both roles dropped at the end."""
    admin = Cli(pg_url, tmp_path, clean_env(ZAPJOBS_DATABASE_URL=pg_url, ZAPJOBS_APP=APP))
    migrated = admin("migrate")
    assert migrated.code == 0, str(migrated)
    suffix = uuid.uuid4().hex[:10]
    worker, reader = f"zt_wk_{suffix}", f"zt_ro_{suffix}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        names = {"zapjobs_worker": worker, "zapjobs_reader": reader, "public": schema[0]}
        for role in (worker, reader):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        try:
            for statement in readme_grants():
                conn.execute(renamed(statement, names))
            yield Roles(admin, as_role(pg_url, worker, tmp_path), as_role(pg_url, reader, tmp_path))
        finally:
            for role in (worker, reader):
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def ok(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, f"zapjobs {' '.join(args)}\n{result}"
    assert "permission denied" not in result.output, str(result)
    return result.stdout


def test_worker_role_enqueues_and_drains(roles: Roles) -> None:
    ids = [
        int(ok(roles.worker, "enqueue", "greet", "--input", json.dumps({"name": f"n{i}"})))
        for i in range(3)
    ]
    ok(roles.worker, "worker", "--burst", "--concurrency", "2")
    runs = json.loads(ok(roles.admin, "runs", "list", "--json"))
    assert sorted(r["id"] for r in runs) == ids
    assert {r["status"] for r in runs} == {"succeeded"}
    assert ok(roles.worker, "prune") is not None
    ok(roles.worker, "runs", "delete", str(ids[0]), "--yes")
    ok(roles.worker, "queues", "pause", "default")
    ok(roles.worker, "queues", "resume", "default")
    ok(roles.worker, "queues", "purge", "default", "--status", "succeeded", "--yes")


def test_worker_role_drains_a_capped_job_type(roles: Roles) -> None:
    """A cap far from reached: the worker's claims are granted a share of it (flow_grants)."""
    ok(roles.worker, "jobs", "limit", "greet", "--max-concurrency", "1000")
    for i in range(12):
        ok(roles.worker, "enqueue", "greet", "--input", json.dumps({"name": f"n{i}"}))
    ok(roles.worker, "worker", "--burst", "--concurrency", "2")
    runs = json.loads(ok(roles.admin, "runs", "list", "--json"))
    assert [r["status"] for r in runs] == ["succeeded"] * 12
    with psycopg.connect(roles.admin.url, autocommit=True) as conn:
        [(claims,)] = conn.execute("SELECT claims FROM zapjobs_flow_limits").fetchall()
    assert claims < 6  # 12 runs two at a time: most claims were granted ones


def test_worker_role_cannot_change_the_schema(roles: Roles) -> None:
    result = roles.worker("--prefix", "other_", "migrate")
    assert result.code == 3, str(result)
    assert "permission denied" in result.stderr


def test_read_only_role_runs_every_read_only_command(roles: Roles) -> None:
    ok(roles.worker, "enqueue", "greet", "--input", '{"name": "Ada"}')
    ok(roles.worker, "worker", "--burst")
    reader = roles.reader

    assert "runs" in ok(reader, "status")
    assert json.loads(ok(reader, "status", "--json"))["runs"]["succeeded"] == 1
    jobs = json.loads(ok(reader, "jobs", "list", "--json"))
    assert [j["job_type"] for j in jobs] == ["fail", "greet", "wait-forever"]
    assert json.loads(ok(reader, "jobs", "show", "greet", "--json"))["job_type"] == "greet"
    runs = json.loads(ok(reader, "runs", "list", "--json"))
    assert [(r["job_type"], r["status"]) for r in runs] == [("greet", "succeeded")]
    run_id = str(runs[0]["id"])
    assert json.loads(ok(reader, "runs", "show", run_id, "--json"))["output"] == "hello, Ada!"
    assert "greeting" in ok(reader, "runs", "logs", run_id)
    assert json.loads(ok(reader, "workers", "list", "--json"))[0]["state"] == "stopped"
    queues = json.loads(ok(reader, "queues", "list", "--json"))
    assert [(q["name"], q["paused"]) for q in queues] == [("default", False)]
    assert json.loads(ok(reader, "health", "--json"))["ok"] is True
    assert "database_url" in ok(reader, "config", "show")
    assert json.loads(ok(reader, "migrate", "--status", "--json"))["pending"] == []


def test_a_job_type_no_worker_registered_is_shown_from_the_code(roles: Roles) -> None:
    """Before any worker ran, the app's job types are listed from the code, written nowhere."""
    with psycopg.connect(roles.admin.url, autocommit=True) as conn:
        conn.execute("DELETE FROM zapjobs_definitions")
    jobs = json.loads(ok(roles.reader, "jobs", "list", "--json"))
    assert [j["job_type"] for j in jobs] == ["fail", "greet", "wait-forever"]
    assert json.loads(ok(roles.reader, "jobs", "show", "fail", "--json"))["max_retries"] == 0
    with psycopg.connect(roles.admin.url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM zapjobs_definitions").fetchone() == (0,)


def test_read_only_role_cannot_write(roles: Roles) -> None:
    """The role is the boundary: a write through it fails (exit 3), whatever the CLI does."""
    assert_clean_error(roles.reader("jobs", "pause", "greet"), 3, "permission denied")


def test_read_only_dashboard_starts_on_a_read_only_role(roles: Roles) -> None:
    terminal = Terminal(["dashboard", "--read-only"], cwd=roles.reader.cwd, env=roles.reader.env)
    try:
        terminal.expect("Overview", timeout=30)
        terminal.send("2")
        terminal.expect("wait-forever", timeout=30)
        terminal.send("q")
        assert terminal.wait(30) == 0
    finally:
        terminal.close()
    assert "disconnected" not in terminal.text
    assert "permission denied" not in terminal.text
