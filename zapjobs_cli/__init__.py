"""The ``zapjobs`` terminal tool: a thin layer over the zapjobs public API (no SQL here)."""
