"""SIGTERM/SIGINT handlers on the event loop, and the previous handlers restored afterwards."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_Previous = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class SignalHandlers:
    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self._on_signal = on_signal
        self._previous: dict[int, _Previous] = {}

    def install(self) -> None:
        """Route the stop signals to ``on_signal``; only possible in the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            try:
                self._previous[sig] = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                self._previous.pop(sig, None)

    def restore(self) -> None:
        if not self._previous:
            return
        loop = asyncio.get_running_loop()
        for sig, previous in self._previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous)
        self._previous.clear()
