"""A private event loop in a background thread, for the sync twins (``enqueue_sync`` and co).

Synchronous callers (Django views, scripts) hand a coroutine to the portal and block on its
result. One portal per ZapJobs, started lazily; the async core runs there unchanged, with its own
store instance opened on that loop (a connection pool belongs to one loop).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from zapjobs.errors import ZapJobsError

T = TypeVar("T")


class Portal:
    def __init__(self, name: str = "zapjobs-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._on_close: Callable[[], Coroutine[Any, Any, None]] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                atexit.register(self.close)
            return self._loop

    def call(self, coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``coro_factory()`` on the portal's loop and wait for its result."""
        loop = self._start()
        if self._thread is threading.current_thread():
            raise ZapJobsError(
                "a *_sync method was called from inside zapjobs' own event loop",
                hint="use the async method (await zap.enqueue(...)) in async code",
            )
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro_factory(), loop)
        return future.result()

    def on_close(self, cleanup: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A coroutine to run on the portal's loop before it stops (closing its store)."""
        self._on_close = cleanup

    def close(self) -> None:
        """Run the cleanup, stop the loop and join the thread. Safe to call twice."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        atexit.unregister(self.close)
        if self._on_close is not None and thread.is_alive():
            # closing on the way out: nothing useful to do with an error
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._on_close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not threading.current_thread():
            thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
