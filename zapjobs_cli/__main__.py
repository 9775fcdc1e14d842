"""``python -m zapjobs_cli``: the same as the ``zapjobs`` console script."""

from zapjobs_cli.main import run

if __name__ == "__main__":
    run()
