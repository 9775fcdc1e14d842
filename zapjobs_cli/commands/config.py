"""``zapjobs config show``: the settings in effect and where each came from."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import typer

from zapjobs.config import ResolvedSettings
from zapjobs.errors import ConfigurationError
from zapjobs.settings import Settings
from zapjobs_cli.context import app_conflicts, get_state, import_app, merge_settings
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import config_dict, new_table, print_json, setting_text

app = typer.Typer(help="Show the configuration.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print every setting, its value (the password masked) and its source.

    Sources: flag, env ZAPJOBS_..., file PATH, app MODULE:ATTR (set by your ZapJobs object) or
    default.

    Example: `zapjobs config show --json`
    """
    state = get_state(ctx)
    try:
        resolved, app = with_app_settings(state.resolved, state.code_folders())
    except ConfigurationError as exc:
        state.warn_app_unavailable(exc)
        resolved, app = state.resolved, None
    conflicts = app_conflicts(app, state.resolved) if app is not None else []
    if as_json:
        data = config_dict(resolved)
        data["app_overridden"] = {name: value for name, value, _ in conflicts}
        print_json(data)
        return
    for name, app_value, used in conflicts:  # both named, and which one the CLI uses
        state.note(
            f"warning: {name}: the CLI uses {used} ({state.resolved.source(name)}); the app "
            f"{resolved.settings.app} sets {app_value} for its own code: make them agree",
            style="yellow",
        )
    if resolved.config_path is not None:
        state.note(f"config file: {resolved.config_path}")
    else:
        state.note("config file: none found (flags, environment and defaults only)")
    table = new_table("SETTING", "VALUE", "SOURCE")
    for f in fields(resolved.settings):
        value = setting_text(f.name, getattr(resolved.settings, f.name))
        table.add_row(f.name, value, resolved.source(f.name))
    state.out.print(table)


def with_app_settings(
    resolved: ResolvedSettings, folders: list[Path]
) -> tuple[ResolvedSettings, Settings | None]:
    """The settings the commands really use when an app is configured (its own settings
    fill in what flags, environment and config file leave at the default), and the app's."""
    ref = resolved.settings.app
    if ref is None:
        return resolved, None
    user = import_app(ref, *folders)
    merged: Settings = merge_settings(user.settings, resolved)
    sources = dict(resolved.sources)
    for f in fields(Settings):
        if resolved.is_default(f.name) and getattr(merged, f.name) != getattr(
            resolved.settings, f.name
        ):
            sources[f.name] = f"app {ref}"
    return replace(resolved, settings=merged, sources=sources), user.settings
