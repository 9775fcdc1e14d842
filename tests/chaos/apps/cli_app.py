"""The chaos job types for ``zapjobs worker --app tests.chaos.apps.cli_app:zap``.

The database and the short heartbeat come from the CLI's settings (ZAPJOBS_* variables).
"""

from __future__ import annotations

import argparse
import os

from tests.chaos.apps.chaos_worker import Recorder, build

_url = os.environ["ZAPJOBS_DATABASE_URL"]
zap = build(
    argparse.Namespace(
        url=_url,
        heartbeat=os.environ.get("ZAPJOBS_HEARTBEAT_INTERVAL", "0.5s"),
        stale=os.environ.get("ZAPJOBS_STALE_WORKER_THRESHOLD", "3s"),
        no_scheduler=False,
        no_processing=False,
    ),
    Recorder(_url),
)
