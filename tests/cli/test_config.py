"""Config discovery (zapjobs.config) and how the CLI combines it with an app's own settings."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from zapjobs import ConfigurationError, RetryPolicy, Settings, ZapJobs
from zapjobs.config import load_settings, resolve_sqlite_path
from zapjobs_cli.context import import_app, merge_settings
from zapjobs_cli.main import hoist_global_options


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source(tmp_path: Path) -> None:
    resolved = load_settings({}, cwd=tmp_path, env={})
    assert resolved.config_path is None
    assert resolved.settings.database_url == f"sqlite:///{tmp_path.resolve() / 'zapjobs.db'}"
    assert resolved.settings.queues == ("critical", "default", "low")
    assert set(resolved.sources.values()) == {"default"}


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    write(
        tmp_path / "zapjobs.toml",
        'queues = ["low"]\npolling_interval = "1m"\ntable_prefix = "file_"\nworker_count = 3\n',
    )
    env = {"ZAPJOBS_QUEUES": "critical,default", "ZAPJOBS_TABLE_PREFIX": "env_"}
    resolved = load_settings({"table_prefix": "flag_", "app": None}, cwd=tmp_path, env=env)
    s = resolved.settings
    assert s.table_prefix == "flag_"
    assert s.queues == ("critical", "default")
    assert s.polling_interval == timedelta(minutes=1)
    assert s.worker_count == 3
    assert s.heartbeat_interval == Settings().heartbeat_interval
    config = tmp_path / "zapjobs.toml"
    assert resolved.sources["table_prefix"] == "flag"
    assert resolved.sources["queues"] == "env ZAPJOBS_QUEUES"
    assert resolved.sources["polling_interval"] == f"file {config}"
    assert resolved.sources["heartbeat_interval"] == "default"
    assert resolved.sources["app"] == "default"  # a None flag is "not given"


def test_zapjobs_table_and_upward_search(tmp_path: Path) -> None:
    write(tmp_path / "zapjobs.toml", '[zapjobs]\ndatabase_url = "sqlite:///data/jobs.db"\n')
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    resolved = load_settings({}, cwd=deep, env={})
    assert resolved.config_path == tmp_path / "zapjobs.toml"
    # relative to the config file's folder, not to where the command runs
    assert resolved.settings.database_url == f"sqlite:///{tmp_path / 'data' / 'jobs.db'}"


def test_default_database_lives_beside_the_config_file(tmp_path: Path) -> None:
    write(tmp_path / "zapjobs.toml", 'queues = "a,b"\n')
    (tmp_path / "sub").mkdir()
    resolved = load_settings({}, cwd=tmp_path / "sub", env={})
    assert resolved.settings.database_url == f"sqlite:///{tmp_path / 'zapjobs.db'}"
    assert resolved.settings.queues == ("a", "b")


def test_pyproject_tool_table(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.zapjobs]\napp = "x.jobs:zap"\n'
    )
    resolved = load_settings({}, cwd=tmp_path, env={})
    assert resolved.settings.app == "x.jobs:zap"
    assert resolved.sources["app"] == f"file {tmp_path / 'pyproject.toml'} [tool.zapjobs]"


def test_pyproject_without_tool_table_is_not_a_config(tmp_path: Path) -> None:
    write(tmp_path / "zapjobs.toml", 'app = "outer:zap"\n')
    write(tmp_path / "inner" / "pyproject.toml", '[project]\nname = "inner"\n')
    resolved = load_settings({}, cwd=tmp_path / "inner", env={})
    assert resolved.settings.app == "outer:zap"


def test_zapjobs_toml_wins_over_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.zapjobs]\napp = "from_pyproject:zap"\n')
    write(tmp_path / "zapjobs.toml", 'app = "from_toml:zap"\n')
    assert load_settings({}, cwd=tmp_path, env={}).settings.app == "from_toml:zap"


def test_explicit_config_file_skips_the_search(tmp_path: Path) -> None:
    write(tmp_path / "zapjobs.toml", 'app = "searched:zap"\n')
    chosen = write(tmp_path / "deploy" / "prod.toml", 'app = "chosen:zap"\n')
    resolved = load_settings({}, cwd=tmp_path, env={}, config_path=Path("deploy/prod.toml"))
    assert resolved.settings.app == "chosen:zap"
    assert resolved.config_path == chosen
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings({}, cwd=tmp_path, env={}, config_path=Path("missing.toml"))


def test_database_url_from_zapjobs_variable_then_database_url(tmp_path: Path) -> None:
    both = {"ZAPJOBS_DATABASE_URL": "postgresql://a@h/one", "DATABASE_URL": "postgresql://a@h/two"}
    resolved = load_settings({}, cwd=tmp_path, env=both)
    assert resolved.settings.database_url == "postgresql://a@h/one"
    assert resolved.sources["database_url"] == "env ZAPJOBS_DATABASE_URL"
    only = load_settings({}, cwd=tmp_path, env={"DATABASE_URL": "postgresql://a@h/two"})
    assert only.settings.database_url == "postgresql://a@h/two"
    assert only.sources["database_url"] == "env DATABASE_URL"
    flagged = load_settings({"database_url": "host=x dbname=y"}, cwd=tmp_path, env=both)
    assert flagged.settings.database_url == "host=x dbname=y"


def test_unrelated_and_empty_variables_are_ignored(tmp_path: Path) -> None:
    env = {"ZAPJOBS_REQUIRE_POSTGRES": "1", "ZAPJOBS_TEST_DATABASE_URL": "x", "ZAPJOBS_QUEUES": ""}
    resolved = load_settings({}, cwd=tmp_path, env=env)
    assert resolved.settings.queues == ("critical", "default", "low")


def test_retry_policy_from_toml_table_and_env_json(tmp_path: Path) -> None:
    write(
        tmp_path / "zapjobs.toml",
        '[default_retry_policy]\nmax_retries = 5\ninitial_delay = "2s"\nuse_jitter = false\n',
    )
    policy = load_settings({}, cwd=tmp_path, env={}).settings.default_retry_policy
    assert policy == RetryPolicy(
        max_retries=5, initial_delay=timedelta(seconds=2), use_jitter=False
    )
    env = {"ZAPJOBS_DEFAULT_RETRY_POLICY": '{"max_retries": 1}'}
    from_env = load_settings({}, cwd=tmp_path, env=env).settings.default_retry_policy
    assert from_env.max_retries == 1


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "zapjobs.toml", "queues = [\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({}, cwd=tmp_path, env={})
    assert str(config) in str(caught.value)
    assert "not valid TOML" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ('polling_interval = "soon"\n', "polling_interval", "write a duration"),
        ('queus = ["a"]\n', "queus", "unknown setting"),
        ('table_prefix = "Bad-Prefix"\n', "table_prefix", "invalid table prefix"),
        ("worker_count = 0\n", "worker_count", "at least 1"),
        ("enable_scheduler = 3\n", "enable_scheduler", "true or false"),
    ],
)
def test_bad_value_names_the_file_and_the_key(
    tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    config = write(tmp_path / "zapjobs.toml", text)
    with pytest.raises(ConfigurationError) as caught:
        load_settings({}, cwd=tmp_path, env={})
    message = str(caught.value)
    assert str(config) in message
    assert repr(key) in message
    assert fragment in message


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"^ZAPJOBS_SHUTDOWN_TIMEOUT: invalid"):
        load_settings({}, cwd=tmp_path, env={"ZAPJOBS_SHUTDOWN_TIMEOUT": "forever"})


def test_bad_database_url_message_has_no_password(tmp_path: Path) -> None:
    write(tmp_path / "zapjobs.toml", "database_url = 42\n")
    with pytest.raises(ConfigurationError, match="database_url must be a non-empty string"):
        load_settings({}, cwd=tmp_path, env={})


def test_resolve_sqlite_path(tmp_path: Path) -> None:
    assert resolve_sqlite_path("sqlite:///a/b.db", tmp_path) == f"sqlite:///{tmp_path / 'a/b.db'}"
    assert resolve_sqlite_path("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert resolve_sqlite_path("postgresql://h/db", tmp_path) == "postgresql://h/db"
    assert resolve_sqlite_path("memory://", tmp_path) == "memory://"


def test_app_settings_fill_in_what_the_cli_leaves_at_default(tmp_path: Path) -> None:
    app = Settings(database_url="postgresql://app@h/db", queues=("app",), worker_count=7)
    write(tmp_path / "zapjobs.toml", "worker_count = 2\n")
    resolved = load_settings({}, cwd=tmp_path, env={})
    merged = merge_settings(app, resolved)
    assert merged.database_url == "postgresql://app@h/db"  # the app's: the CLI has only a default
    assert merged.queues == ("app",)
    assert merged.worker_count == 2  # the config file's
    flagged = load_settings({"database_url": "postgresql://flag@h/db"}, cwd=tmp_path, env={})
    assert merge_settings(app, flagged).database_url == "postgresql://flag@h/db"


@pytest.mark.parametrize(
    ("source", "ref", "fragment"),
    [
        ("", "no_such_module_xyz:zap", "no module named 'no_such_module_xyz'"),
        ("zap = 1\n", "appmod_a:zap", "is a int, not a ZapJobs object"),
        ("x = 1\n", "appmod_b:zap", "has no attribute 'zap'"),
        ("raise ValueError('boom at import')\n", "appmod_c:zap", "ValueError: boom at import"),
        ("", "not a ref", "invalid app"),
    ],
)
def test_import_app_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, ref: str, fragment: str
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # import_app puts the folder on sys.path
    module = ref.partition(":")[0]
    if source:
        write(tmp_path / f"{module}.py", source)
    with pytest.raises(ConfigurationError) as caught:
        import_app(ref, tmp_path)
    assert fragment in str(caught.value)


def test_import_app_finds_the_only_zapjobs_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    write(
        tmp_path / "appmod_single.py", "from zapjobs import ZapJobs\nmine = ZapJobs('memory://')\n"
    )
    found = import_app("appmod_single", tmp_path)
    assert isinstance(found, ZapJobs)
    assert found.settings.database_url == "memory://"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "-c", "DSN"], ["-c", "DSN", "status"]),
        (
            ["runs", "list", "--database-url=X", "--json"],
            ["--database-url=X", "runs", "list", "--json"],
        ),
        (
            ["--debug", "runs", "show", "1", "--app", "m:z"],
            ["--debug", "--app", "m:z", "runs", "show", "1"],
        ),
        (["-c", "A", "status", "--no-color"], ["-c", "A", "--no-color", "status"]),
        (["enqueue", "x", "--", "-c"], ["enqueue", "x", "--", "-c"]),
        (["--prefix", "p_", "migrate"], ["--prefix", "p_", "migrate"]),
    ],
)
def test_global_options_may_follow_the_command(argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(argv) == expected
