#!/usr/bin/env bash
# Create bench/.venv: zapjobs from this checkout plus the peers (procrastinate, pgqueuer with
# psycopg and asyncpg), pinned to the versions issue 8 measured (the `bench` extra). The peers live here only, so
# they never become zapjobs dependencies. Re-running recreates the venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
venv="$here/.venv"

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$root[bench]"
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
for name in ("zapjobs", "procrastinate", "pgqueuer", "asyncpg", "psycopg"):
    print(f"{name} {version(name)}")
PY
echo "bench venv ready: $venv (run: $venv/bin/python bench/run.py --help)"
