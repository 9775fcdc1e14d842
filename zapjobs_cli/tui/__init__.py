"""The `zapjobs dashboard` terminal UI (Textual)."""

from zapjobs_cli.tui.app import make_dashboard, run_dashboard

__all__ = ["make_dashboard", "run_dashboard"]
