"""What ``zapjobs init`` writes: the zapjobs.toml text and an example jobs module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

JOBS_TEMPLATE = '''"""Example zapjobs jobs (written by `zapjobs init`): edit them, add yours.

Run a worker:    zapjobs worker
Enqueue a run:   zapjobs enqueue send-welcome-email --input '{{"email": "ada@example.com"}}'
From your code:  run_id = await zap.enqueue(send_welcome_email, WelcomeEmail(email="..."))
"""

from __future__ import annotations

from dataclasses import dataclass

from zapjobs import JobContext, ZapJobs
from zapjobs.config import load_settings

# The same settings as the zapjobs command: zapjobs.toml, ZAPJOBS_* variables, defaults.
{attr} = ZapJobs(settings=load_settings().settings)


@dataclass
class WelcomeEmail:
    email: str
    name: str = "there"


@{attr}.job("send-welcome-email", max_retries=5)
async def send_welcome_email(ctx: JobContext[WelcomeEmail]) -> str:
    await ctx.log.info("sending the welcome email", email=ctx.input.email)
    # ... call your mail service here; raising an exception retries the run ...
    return f"welcomed {{ctx.input.email}}"


@{attr}.job("nightly-cleanup", cron="0 3 * * *", timezone="UTC")
async def nightly_cleanup(ctx: JobContext[None]) -> int:
    await ctx.set_total(3)
    for step in ("sessions", "uploads", "caches"):
        await ctx.log.info("cleaning", step=step)
        await ctx.increment_processed()
    return 3
'''


@dataclass(frozen=True)
class Answers:
    database_url: str | None  # None: not written (it comes from the environment)
    table_prefix: str
    queues: tuple[str, ...]
    concurrency: int | None
    app: str


def toml_text(answers: Answers) -> str:
    lines = [
        "# zapjobs settings (written by `zapjobs init`). Flags and ZAPJOBS_<NAME> environment",
        "# variables override them; `zapjobs config show` prints what is in effect.",
    ]
    if answers.database_url is not None:
        lines.append(f"database_url = {_string(answers.database_url)}")
    lines.append(f"table_prefix = {_string(answers.table_prefix)}")
    lines.append("queues = [" + ", ".join(_string(q) for q in answers.queues) + "]")
    if answers.concurrency is not None:
        lines.append(f"concurrency = {answers.concurrency}")
    lines.append(f"app = {_string(answers.app)}")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


def module_file(app: str, folder: Path) -> Path:
    """The file an ``app`` module lives in under ``folder`` (``myproject/jobs.py``)."""
    module = app.partition(":")[0]
    parts = module.split(".")
    return folder.joinpath(*parts[:-1], parts[-1] + ".py")


def module_exists(app: str, folder: Path) -> bool:
    """The ``app`` module is there under ``folder``, as a file or as a package."""
    file = module_file(app, folder)
    return file.exists() or (file.with_suffix("") / "__init__.py").exists()


def write_jobs_module(app: str, folder: Path) -> list[Path]:
    """Write the example jobs module, with the package folders it lives in (each with an
    ``__init__.py``, so ``myproject.jobs`` imports); the files written, in order."""
    target = module_file(app, folder)
    written: list[Path] = []
    package = folder
    for part in target.relative_to(folder).parts[:-1]:
        package = package / part
        package.mkdir(exist_ok=True)
        init = package / "__init__.py"
        if not init.exists():
            init.write_text("", encoding="utf-8")
            written.append(init)
    target.write_text(jobs_module_text(app), encoding="utf-8")
    return [*written, target]


def jobs_module_text(app: str) -> str:
    attr = app.partition(":")[2] or "zap"
    return JOBS_TEMPLATE.format(attr=attr)
