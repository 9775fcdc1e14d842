"""Drive the real ``zapjobs`` command in a pseudo-terminal: what questionary shows is read back
(escape sequences stripped) and keys are typed, as a person would. Every wait has a deadline."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\r")
DOWN = "\x1b[B"
UP = "\x1b[A"
ENTER = "\r"
CTRL_U = "\x15"  # clears a questionary text answer (its default) before typing


class Terminal:
    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zapjobs_cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env={**env, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120"},
            close_fds=True,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.raw = ""
        self._eof = False
        self._seen = 0  # text before this offset was matched already

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw)

    def _read(self, timeout: float) -> None:
        if self._eof:
            time.sleep(min(timeout, 0.05))  # nothing more will come; just let time pass
            return
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                data = b""
            if not data:
                self._eof = True
            self.raw += data.decode("utf-8", "replace")

    def expect(self, needle: str, timeout: float = 15.0) -> str:
        """Wait until ``needle`` appears after what was matched before; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(needle, self._seen)
            if found >= 0:
                self._seen = found + len(needle)
                return self.text
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.process.poll() is not None and not self._pending()):
                raise AssertionError(f"{needle!r} did not appear; the terminal shows:\n{self.text}")
            self._read(min(remaining, 0.2))

    def _pending(self) -> bool:
        if self._eof:
            return False
        ready, _, _ = select.select([self.master], [], [], 0)
        return bool(ready)

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def answer(self, text: str) -> None:
        """Replace a text question's default with ``text`` and press Enter."""
        self.send(CTRL_U + text + ENTER)

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._pending():
            self._read(0)
        if self.process.poll() is None:
            raise AssertionError(f"the command did not finish; the terminal shows:\n{self.text}")
        return int(self.process.returncode)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)
